"""Load the facts the AI planner's context is built from (SPEC.md section 7.3, Context).

:func:`context_facts_for` loads only the pools a context can show, and computes their
figures as the analysis engine does, with the organization's analysis settings:
utilization, free space and largest free block (``pool_core``, or the same figures from
grouped counts), runway (``runway_of`` over the snapshots), compliance findings
(``evaluate_compliance``, on the pools loaded), the addresses discovered resources use
(``discovered_in_use``) and the naming patterns seen.

The pools a context can show (the candidates): the pools the request names (its
``focus``: a CIDR, the narrowest pool holding it, or a name), their ancestors and the
roots, then the focus subtrees and the tree level by level down to ``MAX_DEPTH``, as many
as the token budget can hold lines for (``pool_limit``: one line is at least
``LINE_CHARS`` characters), ``POOL_LIMIT`` at most. ``ContextFacts.total_pools`` counts
every live pool.

The cost is in the children of the candidates, not in the candidates: a /16 full of /24s
is one line of context and 256 child rows. So a candidate's children are counted in one
grouped query (live siblings never overlap, so the sum of their sizes is its used space,
exactly), and loaded only where a figure needs their places: a pool partly used (its
largest free block) and a pool with candidate children or deprecated (the compliance
rules look at siblings and children). A full pool, an empty one and a leaf need no child
row. The rows loaded stay within ``CHILDREN_LIMIT``: a pool whose children would pass it
is left out with its subtree (never the focus, its ancestors or the roots).

A fixed number of queries whatever the size (nine at most): the count, the focus lookup,
the focus subtrees, the levels, the children counts, the children, the snapshots, the
discovered usage and the count of discovered resources in no pool.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from functools import reduce
from operator import or_
from typing import Any

from django.db.models import Case, Count, Q, QuerySet, Value, When
from django.db.models.functions import Lower
from django.utils import timezone

from apps.analysis import engine
from apps.analysis.engine.compliance import finding_order
from apps.analysis.engine.gaps import largest_of
from apps.analysis.selectors import (
    analysis_settings,
    discovered_usage,
    finding_data,
    snapshot_history,
)
from apps.planning.ai.context import (
    CHARS_PER_TOKEN,
    DEFAULT_MAX_DEPTH,
    ContextFacts,
    PoolFacts,
    cidrs_in,
    focus_pools,
    naming_patterns_of,
)
from apps.planning.ai.sanitizer import is_credential_key
from apps.pools.cidr import Prefix, free_ranges, range_to_prefixes
from apps.pools.models import Pool
from apps.pools.selectors import containing_filter
from apps.pools.utilization import count_children, percent, utilization
from apps.tenancy.models import Organization

MAX_DEPTH = DEFAULT_MAX_DEPTH
# The shortest line a pool takes in a context (id, CIDR, type/status, name, figures).
LINE_CHARS = 90
# At most this many candidates, whatever the budget (and within SQLite's 999 parameters).
POOL_LIMIT = 900
CHILDREN_LIMIT = 12_000
FOCUS_LOOKUP_LIMIT = 200
NGRAM = 5
NAMES_SAMPLED = 600
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
)
_LIGHT = (
    "pk",
    "parent_id",
    "family",
    "first_key",
    "prefix_length",
    "name",
    "type",
    "status",
    "last_key",
)
_BITS = {4: 32, 6: 128}
_EDGE = re.compile(r"^[^\w]+|[^\w]+$")


def pool_limit(budget_tokens: int | None) -> int:
    """Return how many pools a context of ``budget_tokens`` can show at most."""
    if budget_tokens is None:
        return POOL_LIMIT
    return max(1, min(POOL_LIMIT, budget_tokens * CHARS_PER_TOKEN // LINE_CHARS))


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


def _line_floor(row: tuple[Any, ...]) -> int:
    """Return the fewest characters the context line of a detail row can take.

    A sanitized string may shrink to ``[redacted]``, so each counts 10 characters at most.
    """
    chars = LINE_CHARS + 2 * (row[11] - 1) + min(len(row[5]), 10)
    if row[10]:
        chars += 28 + min(len(row[10]), 10)
    tags = row[8]
    if isinstance(tags, dict) and any(not is_credential_key(key) for key in tags):
        chars += 21
    return chars


def _candidate_rows(
    pools: QuerySet[Pool], focus_paths: Sequence[str], budget_tokens: int | None
) -> tuple[dict[int, tuple[Any, ...]], set[int]]:
    """Return the detail rows of the pools a context may show, and those it must show.

    The focus pools, their ancestors and the roots always (the second set); then the
    focus subtrees and the other levels, level by level, while the lines they would take
    at the least fit in the budget. Every row comes after its parent's.
    """
    rows: dict[int, tuple[Any, ...]] = {}
    mandatory: set[int] = set()
    limit = pool_limit(budget_tokens)
    chars = 0
    budget = None if budget_tokens is None else budget_tokens * CHARS_PER_TOKEN

    def take(row: tuple[Any, ...], must: bool) -> bool:
        nonlocal chars
        if row[0] in rows:
            return True
        if must:
            mandatory.add(row[0])
        elif len(rows) >= limit or (budget is not None and chars >= budget):
            return False
        chars += _line_floor(row)
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
        for row in near.values_list(*_DETAIL)[: limit + len(must)]:
            if not take(row, row[12] in must):
                break
    levels = pools.filter(depth__lte=MAX_DEPTH).order_by("depth", "path")
    for row in levels.values_list(*_DETAIL)[: limit + len(rows)]:
        if not take(row, row[11] == 1):
            break
    return rows, mandatory


def _prefix(family: int, first_key: str, length: int) -> Prefix:
    return Prefix(family, int(first_key, 16), length)


def _child_lengths(pools: QuerySet[Pool], ids: Sequence[int]) -> dict[int, list[tuple[int, int]]]:
    """Return ``(prefix length, live children)`` pairs by parent, in one grouped query."""
    lengths: dict[int, list[tuple[int, int]]] = {}
    rows = (
        pools.filter(parent_id__in=list(ids))
        .values_list("parent_id", "prefix_length")
        .annotate(count=Count("pk"))
    )
    for parent_id, length, count in rows:
        lengths.setdefault(parent_id, []).append((length, count))
    return lengths


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


def _children_to_load(
    detail: Mapping[int, tuple[Any, ...]],
    mandatory: set[int],
    lengths: Mapping[int, list[tuple[int, int]]],
) -> tuple[set[int], set[int], set[int]]:
    """Return the candidates whose children go in the tree, those whose children only give
    places, and the candidates left out for ``CHILDREN_LIMIT`` (with their subtrees).

    Children go in the tree of a pool with candidate children (the compliance rules
    compare siblings) or deprecated (DEPRECATED_IN_USE counts them); a pool partly used
    needs its children's places for its largest free block. Candidates come parents
    first, so the limit leaves out the least important.
    """
    shown_kids: dict[int, int] = {}
    for row in detail.values():
        if row[1] in detail:
            shown_kids[row[1]] = shown_kids.get(row[1], 0) + 1
    in_tree: set[int] = set()
    places: set[int] = set()
    dropped: set[int] = set()
    loaded = 0
    for pk, row in detail.items():
        if row[1] in dropped and pk not in mandatory:
            dropped.add(pk)
            continue
        pairs = lengths.get(pk)
        if not pairs:
            continue
        used, children = count_children(_BITS[row[2]], pairs)
        tree = pk in shown_kids or row[7] == "deprecated"
        partial = used < 1 << (_BITS[row[2]] - row[4])
        if not tree and not partial:
            continue
        extra = children - shown_kids.get(pk, 0)
        if loaded + extra > CHILDREN_LIMIT and pk not in mandatory:
            dropped.add(pk)
            continue
        loaded += extra
        (in_tree if tree else places).add(pk)
    return in_tree, places, dropped


def _compliance(
    tree: engine.PoolTree,
    settings: engine.ComplianceSettings,
    utilizations: Mapping[int, Any],
    in_use: Mapping[int, int],
    complete: Sequence[int],
    partial: Sequence[int],
) -> list[engine.Finding]:
    """Return the findings of the candidates, most severe first.

    ``complete`` pools have all their children in ``tree``; ``partial`` ones have children
    that are not there, so EMPTY_POOL (a pool with no children) is off for them: they
    have some, which is all that rule asks.
    """
    now = timezone.now()
    findings = list(
        engine.evaluate_compliance(
            tree,
            now=now,
            settings=settings,
            utilization=utilizations,
            in_use=in_use,
            pool_ids=complete,
        )
    )
    if partial:
        rules = dict(settings.rules)
        rules["EMPTY_POOL"] = replace(rules["EMPTY_POOL"], enabled=False)
        findings.extend(
            engine.evaluate_compliance(
                tree,
                now=now,
                settings=engine.ComplianceSettings(rules),
                utilization=utilizations,
                in_use=in_use,
                pool_ids=partial,
            )
        )
        findings.sort(key=lambda finding: finding_order(finding, tree))
    return findings


def context_facts_for(
    organization: Organization, *, focus: str | None = None, budget_tokens: int | None = None
) -> ContextFacts:
    """Return the facts of ``organization`` a context can be built from, for ``focus``.

    ``budget_tokens`` (the context's budget) bounds the pools loaded to the lines it can
    hold. See the module docstring for which pools are loaded; nine queries at most.
    """
    settings = analysis_settings(organization=organization)
    pools = Pool.objects.for_organization(organization).live().order_by()
    total = pools.count()
    found = _focus_lookup(pools, focus)
    lite = [facts for facts, _path in found]
    paths = {facts.id: path for facts, path in found}
    focused = focus_pools(ContextFacts(organization.name, lite), focus) if lite else []
    detail, mandatory = _candidate_rows(pools, [paths[pool.id] for pool in focused], budget_tokens)
    lengths = _child_lengths(pools, list(detail))
    in_tree, places, dropped = _children_to_load(detail, mandatory, lengths)
    for pk in dropped:
        del detail[pk]
    names = [row[5] for row in detail.values()]
    data = _pool_data(detail.values())
    # The places of the children of a partly used pool, as address ranges in order: its
    # free ranges follow in one pass, with no Prefix to build for each child.
    places_of: dict[int, list[tuple[int, int]]] = {}
    if in_tree or places:
        rows = (
            pools.filter(parent_id__in=[*in_tree, *places])
            .order_by("parent_id", "first_key")
            .values_list(*_LIGHT)
        )
        for pk, parent_id, family, first_key, length, name, kind, status, last_key in rows:
            if pk in detail:
                continue
            names.append(name)
            if parent_id in in_tree:
                prefix = _prefix(family, first_key, length)
                data.append(engine.PoolData(pk, parent_id, prefix, name, kind, status))
            else:
                places_of.setdefault(parent_id, []).append((int(first_key, 16), int(last_key, 16)))
    tree = engine.build_tree(data)
    candidates = sorted(detail, key=lambda pk: detail[pk][12])  # path order
    in_use = discovered_usage(organization=organization)
    history = snapshot_history(
        organization=organization, pool_ids=candidates, days=settings.runway_window
    )
    # By pool: utilization, free addresses, largest free block, live children.
    figures: dict[int, tuple[Any, int, Prefix | None, int]] = {}
    complete: list[int] = []
    partial: list[int] = []
    for pool_id in candidates:
        pairs = lengths.get(pool_id, ())
        if pool_id in in_tree or not pairs:
            usage, gaps, _fragmentation = engine.pool_core(tree, pool_id, in_use)
            figures[pool_id] = (
                usage,
                gaps.total_free,
                gaps.largest_free_block,
                len(tree.children_of(pool_id)),
            )
            complete.append(pool_id)
            continue
        cidr = tree.get(pool_id).cidr
        used, children = count_children(cidr.bits, pairs)
        free, largest = 0, None
        if pool_id in places:  # Else full: its children cover it.
            for first, last in free_ranges(cidr.first, cidr.last, places_of.get(pool_id, ())):
                free += last - first + 1
                block = largest_of(range_to_prefixes(cidr.family, first, last))
                if largest is None or (block is not None and block.length < largest.length):
                    largest = block
        usage = utilization(
            total=cidr.size, used=used, children=children, in_use=in_use.get(pool_id)
        )
        figures[pool_id] = (usage, free, largest, children)
        partial.append(pool_id)
    facts: list[PoolFacts] = []
    for pool_id in candidates:
        pool = tree.get(pool_id)
        usage, free, largest, children = figures[pool_id]
        snapshots = history.get(pool_id)
        runway = (
            engine.runway_of(snapshots, total=usage.total, window=settings.runway_window)
            if snapshots
            else None
        )
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
                free_addresses=free,
                largest_free=str(largest) if largest is not None else None,
                children=children,
                runway_days=runway.days_until_exhaustion if runway is not None else None,
                description=detail[pool_id][10] or "",
                tags=dict(pool.tags),
            )
        )
    findings = _compliance(
        tree,
        settings.compliance,
        {pool_id: figure[0] for pool_id, figure in figures.items()},
        in_use,
        complete,
        partial,
    )
    return ContextFacts(
        organization=organization.name,
        pools=facts,
        findings=[
            {key: value for key, value in finding_data(finding).items() if key != "related"}
            for finding in findings
        ],
        discovered=_discovered(
            organization,
            in_use,
            {pool_id: figure[0].total for pool_id, figure in figures.items()},
        ),
        naming_patterns=_naming_patterns(organization, names),
        total_pools=total,
    )
