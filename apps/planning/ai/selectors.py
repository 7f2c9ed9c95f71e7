"""Load the facts the AI planner's context is built from (SPEC.md section 7.3, Context).

:func:`context_facts_for` loads only the pools a context can show, and computes their
figures with the analysis engine's own functions and the organization's analysis
settings: utilization, free space and largest free block (``pool_core``, as a pool
analysis does), runway (``runway_of`` over the snapshots), compliance findings
(``evaluate_compliance``, on the pools loaded), the addresses discovered resources use
(``discovered_in_use``) and the naming patterns seen.

The pools a context can show (``POOL_LIMIT`` at most, more than a token budget shows):
the pools the request names (its ``focus``: a CIDR, the narrowest pool holding it, or a
name), their ancestors and the roots, then the focus subtrees and the tree level by
level down to ``MAX_DEPTH``, while their children number at most ``CHILDREN_LIMIT``.
The children come too, lightly (prefix, type, status, name), since a pool's free space
and some rules depend on them: they are the bulk of the work, so the limit keeps a
10,000-pool organization within the time of a chat message while loading more than an
8,000-token context shows. ``ContextFacts.total_pools`` counts every live pool. At most
eight queries whatever the size: the count, the focus lookup, the focus subtrees, the
levels, the children, the snapshots, the discovered usage and the count of discovered
resources in no pool.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from functools import reduce
from operator import or_
from typing import Any

from django.db.models import Case, Q, QuerySet, Value, When
from django.db.models.functions import Lower
from django.utils import timezone

from apps.analysis import engine
from apps.analysis.selectors import (
    analysis_settings,
    discovered_usage,
    finding_data,
    snapshot_history,
)
from apps.planning.ai.context import (
    DEFAULT_MAX_DEPTH,
    ContextFacts,
    PoolFacts,
    cidrs_in,
    focus_pools,
    naming_patterns_of,
)
from apps.pools.cidr import Prefix
from apps.pools.models import Pool
from apps.pools.selectors import containing_filter
from apps.pools.utilization import percent
from apps.tenancy.models import Organization

MAX_DEPTH = DEFAULT_MAX_DEPTH
POOL_LIMIT = 3_000
CHILDREN_LIMIT = 4_000
FOCUS_LOOKUP_LIMIT = 200
NGRAM = 5
NAMES_SAMPLED = 2_000
DISCOVERED_LIMIT = 50
_DETAIL = (
    "pk",
    "parent_id",
    "family",
    "first_key",
    "prefix_length",
    "name",
    "type",
    "status",
    "tags",
    "created_at",
    "description",
    "depth",
    "path",
    "numchild",
)
_LIGHT = ("pk", "parent_id", "family", "first_key", "prefix_length", "name", "type", "status")
_EDGE = re.compile(r"^[^\w]+|[^\w]+$")


def _phrases(focus: str) -> list[str]:
    """Return the word sequences of ``focus`` a pool name could be, lowercased."""
    words = [_EDGE.sub("", word) for word in focus.lower().split()]
    phrases = {
        " ".join(words[start : start + size])
        for size in range(1, NGRAM + 1)
        for start in range(len(words) - size + 1)
    }
    return sorted(phrase for phrase in phrases if len(phrase) >= 3)


def _focus_lookup(pools: QuerySet[Pool], focus: str | None) -> list[tuple[PoolFacts, str]]:
    """Return the pools ``focus`` may name, with their paths: by CIDR and by name, one query."""
    if not focus:
        return []
    conditions = [Q(**containing_filter(prefix)) for prefix in cidrs_in(focus)]
    phrases = _phrases(focus)
    if phrases:
        conditions.append(Q(lowered__in=phrases))
    if not conditions:
        return []
    rows = (
        pools.annotate(lowered=Lower("name"))
        .filter(reduce(or_, conditions))
        .order_by("-prefix_length", "pk")
        .values_list("pk", "cidr", "name", "depth", "path")[:FOCUS_LOOKUP_LIMIT]
    )
    return [
        (
            PoolFacts(
                id=pk,
                cidr=cidr,
                name=name,
                type="",
                status="",
                parent_id=None,
                depth=depth,
                utilization_percent=0.0,
                free_addresses=0,
                largest_free=None,
                children=0,
            ),
            path,
        )
        for pk, cidr, name, depth, path in rows
    ]


def _candidate_rows(
    pools: QuerySet[Pool], focus_paths: Sequence[str]
) -> dict[int, tuple[Any, ...]]:
    """Return the detail rows of the pools a context may show.

    The focus pools, their ancestors and the roots always; then the focus subtrees and
    the other levels, level by level, while the children to load (a pool's free space
    needs them; treebeard's ``numchild`` counts them without a query) stay within
    ``CHILDREN_LIMIT``, and ``POOL_LIMIT`` rows in all.
    """
    rows: dict[int, tuple[Any, ...]] = {}
    children = 0

    def take(row: tuple[Any, ...], mandatory: bool) -> bool:
        nonlocal children
        if row[0] in rows:
            return True
        if not mandatory:
            if len(rows) >= POOL_LIMIT or children + row[13] > CHILDREN_LIMIT:
                return False
            children += row[13]
        rows[row[0]] = row
        return True

    if focus_paths:
        steplen = Pool.steplen
        ancestors = {
            path[:end] for path in focus_paths for end in range(steplen, len(path), steplen)
        }
        must = ancestors | set(focus_paths)
        near = (
            pools.filter(
                reduce(
                    or_, (Q(path__startswith=path) for path in focus_paths), Q(path__in=ancestors)
                )
            )
            .annotate(first=Case(When(path__in=must, then=Value(0)), default=Value(1)))
            .order_by("first", "depth", "path")
        )
        for row in near.values_list(*_DETAIL)[: POOL_LIMIT + len(must)]:
            if not take(row, row[12] in must):
                break
    levels = pools.filter(depth__lte=MAX_DEPTH).order_by("depth", "path")
    for row in levels.values_list(*_DETAIL)[: POOL_LIMIT + len(rows)]:
        if not take(row, row[11] == 1):
            break
    return rows


def _prefix(family: int, first_key: str, length: int) -> Prefix:
    return Prefix(family, int(first_key, 16), length)


def _naming_patterns(organization: Organization, names: Sequence[str]) -> list[str]:
    """Return the name shapes seen (in a sample of names), then the NAMING rule patterns."""
    step = max(len(names) // NAMES_SAMPLED, 1)
    patterns = naming_patterns_of(names[::step])
    compliance = organization.setting("compliance")
    naming = compliance.get("NAMING") if isinstance(compliance, Mapping) else None
    params = naming.get("params") if isinstance(naming, Mapping) else None
    rules = params.get("patterns") if isinstance(params, Mapping) else None
    enabled = not isinstance(naming, Mapping) or naming.get("enabled", True)
    if isinstance(rules, Mapping) and enabled:
        patterns.extend(
            f"{kind} names must match {pattern}"
            for kind, pattern in sorted(rules.items(), key=lambda item: str(item[0]))
            if isinstance(pattern, str)
        )
    return patterns


def _discovered(
    organization: Organization, in_use: Mapping[int, int], sizes: Mapping[int, int]
) -> list[dict[str, Any]]:
    """Return the discovered usage of the pools loaded, the most used first."""
    from apps.discovery.choices import ResourceState
    from apps.discovery.models import DiscoveredResource

    ranked = sorted(
        ((used, pool_id) for pool_id, used in in_use.items() if pool_id in sizes), reverse=True
    )
    rows: list[dict[str, Any]] = [
        {
            "pool": pool_id,
            "addresses_in_use": used,
            "percent_in_use": percent(used, sizes[pool_id]),
        }
        for used, pool_id in ranked[:DISCOVERED_LIMIT]
    ]
    outside = (
        DiscoveredResource.objects.for_organization(organization)
        .filter(state=ResourceState.PRESENT, pool__isnull=True)
        .count()
    )
    if outside:
        rows.append({"pool": None, "resources_in_no_pool": outside})
    return rows


def _pool_data(rows: Iterable[tuple[Any, ...]]) -> list[engine.PoolData]:
    return [
        engine.PoolData(
            row[0],
            row[1],
            _prefix(row[2], row[3], row[4]),
            name=row[5],
            type=row[6],
            status=row[7],
            tags=row[8] if isinstance(row[8], dict) else {},
            created_at=row[9],
        )
        for row in rows
    ]


def context_facts_for(organization: Organization, *, focus: str | None = None) -> ContextFacts:
    """Return the facts of ``organization`` a context can be built from, for ``focus``.

    See the module docstring for which pools are loaded; at most eight queries.
    """
    settings = analysis_settings(organization=organization)
    pools = Pool.objects.for_organization(organization).live().order_by()
    total = pools.count()
    found = _focus_lookup(pools, focus)
    lite = [facts for facts, _path in found]
    paths = {facts.id: path for facts, path in found}
    focused = focus_pools(ContextFacts(organization.name, lite), focus) if lite else []
    detail = _candidate_rows(pools, [paths[pool.id] for pool in focused])
    # Children of the loaded pools, lightly: a pool's free space and rules depend on them.
    names = [row[5] for row in detail.values()]
    data = _pool_data(detail.values())
    for pk, parent_id, family, first_key, length, name, kind, status in pools.filter(
        parent_id__in=list(detail)
    ).values_list(*_LIGHT):
        if pk not in detail:
            data.append(
                engine.PoolData(
                    pk, parent_id, _prefix(family, first_key, length), name, kind, status
                )
            )
            names.append(name)
    tree = engine.build_tree(data)
    candidates = sorted(detail, key=lambda pk: detail[pk][12])  # path order
    in_use = discovered_usage(organization=organization)
    history = snapshot_history(
        organization=organization, pool_ids=candidates, days=settings.runway_window
    )
    cores = {pool_id: engine.pool_core(tree, pool_id, in_use) for pool_id in candidates}
    facts: list[PoolFacts] = []
    for pool_id in candidates:
        pool = tree.get(pool_id)
        usage, gaps, _fragmentation = cores[pool_id]
        snapshots = history.get(pool_id)
        runway = (
            engine.runway_of(snapshots, total=usage.total, window=settings.runway_window)
            if snapshots
            else None
        )
        largest = gaps.largest_free_block
        facts.append(
            PoolFacts(
                id=pool_id,
                cidr=str(pool.cidr),
                name=pool.name,
                type=pool.type,
                status=pool.status,
                parent_id=tree.effective_parent_id(pool_id),
                depth=detail[pool_id][11],
                utilization_percent=usage.percent,
                free_addresses=gaps.total_free,
                largest_free=str(largest) if largest is not None else None,
                children=len(tree.children_of(pool_id)),
                runway_days=runway.days_until_exhaustion if runway is not None else None,
                description=detail[pool_id][10] or "",
                tags=dict(pool.tags),
            )
        )
    findings = engine.evaluate_compliance(
        tree,
        now=timezone.now(),
        settings=settings.compliance,
        utilization={pool_id: core[0] for pool_id, core in cores.items()},
        in_use=in_use,
        pool_ids=candidates,
    )
    return ContextFacts(
        organization=organization.name,
        pools=facts,
        findings=[
            {key: value for key, value in finding_data(finding).items() if key != "related"}
            for finding in findings
        ],
        discovered=_discovered(
            organization, in_use, {pool_id: cores[pool_id][0].total for pool_id in candidates}
        ),
        naming_patterns=_naming_patterns(organization, names),
        total_pools=total,
    )
