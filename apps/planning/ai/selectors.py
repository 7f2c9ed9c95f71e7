"""Load the facts the AI planner's context is built from (SPEC.md section 7.3, Context).

:func:`context_facts_for` reads an organization's live pools in one query, builds the
analysis engine's tree, and computes, with the analysis engine's own functions and the
organization's analysis settings, what the model may be shown: utilization and the
largest free block per pool (``pool_core``, as a pool analysis does), runway
(``runway_of`` over the snapshots), compliance findings (``evaluate_compliance``), the
addresses discovered resources use (``discovered_in_use``) and the naming patterns seen.

Only the pools a context can show get these figures: the pools the request names (its
``focus``) with their ancestors and whole subtrees, then the tree level by level down to
``MAX_DEPTH``, at most ``POOL_LIMIT`` pools in all, far more than any token budget shows.
``ContextFacts.total_pools`` counts every live pool. Five queries whatever the size.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

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
    focus_pools,
    naming_patterns_of,
)
from apps.pools.cidr import Prefix
from apps.pools.models import Pool
from apps.pools.utilization import percent
from apps.tenancy.models import Organization

MAX_DEPTH = DEFAULT_MAX_DEPTH
POOL_LIMIT = 3_000
DISCOVERED_LIMIT = 50
_FIELDS = (
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
)


def _light_facts(tree: engine.PoolTree, depth: Mapping[int, int]) -> list[PoolFacts]:
    """Return every pool as facts without figures: enough to find what a request names."""
    return [
        PoolFacts(
            id=pool.id,
            cidr=str(pool.cidr),
            name=pool.name,
            type=pool.type,
            status=pool.status,
            parent_id=tree.effective_parent_id(pool.id),
            depth=depth[pool.id],
            utilization_percent=0.0,
            free_addresses=0,
            largest_free=None,
            children=0,
        )
        for pool in tree.pools.values()
    ]


def _depths(tree: engine.PoolTree) -> dict[int, int]:
    depth: dict[int, int] = {}
    level, current = 1, list(tree.roots)
    while current:
        for pool_id in current:
            depth[pool_id] = level
        level, current = (
            level + 1,
            [kid for pool_id in current for kid in tree.children_of(pool_id)],
        )
    return depth


def _candidates(
    tree: engine.PoolTree, depth: Mapping[int, int], focused: Sequence[int]
) -> list[int]:
    """Return the pools a context may show, at most ``POOL_LIMIT``: the focus, then by level."""
    chosen: dict[int, None] = {}
    for pool_id in focused:
        for ancestor in reversed(list(tree.ancestors(pool_id))):
            chosen.setdefault(ancestor.id, None)
        for member in tree.walk(pool_id):
            if len(chosen) >= POOL_LIMIT:
                break
            chosen.setdefault(member, None)
    level = list(tree.roots)
    while level and len(chosen) < POOL_LIMIT and depth[level[0]] <= MAX_DEPTH:
        for pool_id in level:
            if len(chosen) >= POOL_LIMIT:
                break
            chosen.setdefault(pool_id, None)
        level = [kid for pool_id in level for kid in tree.children_of(pool_id)]
    return list(chosen)


def _naming_patterns(organization: Organization, names: Sequence[str]) -> list[str]:
    """Return the name shapes seen, then the organization's NAMING rule patterns."""
    patterns = naming_patterns_of(names)
    compliance = organization.setting("compliance")
    naming = compliance.get("NAMING") if isinstance(compliance, Mapping) else None
    params = naming.get("params") if isinstance(naming, Mapping) else None
    rules = params.get("patterns") if isinstance(params, Mapping) else None
    if isinstance(rules, Mapping) and (
        not isinstance(naming, Mapping) or naming.get("enabled", True)
    ):
        patterns.extend(
            f"{kind} names must match {pattern}"
            for kind, pattern in sorted(rules.items(), key=lambda item: str(item[0]))
            if isinstance(pattern, str)
        )
    return patterns


def _discovered(
    organization: Organization,
    in_use: Mapping[int, int],
    tree: engine.PoolTree,
    shown: set[int],
) -> list[dict[str, Any]]:
    """Return the discovered usage of the candidate pools, the most used first."""
    from apps.discovery.choices import ResourceState
    from apps.discovery.models import DiscoveredResource

    rows: list[dict[str, Any]] = []
    ranked = sorted(
        ((used, pool_id) for pool_id, used in in_use.items() if pool_id in shown),
        reverse=True,
    )
    for used, pool_id in ranked[:DISCOVERED_LIMIT]:
        size = tree.get(pool_id).cidr.size
        rows.append(
            {
                "pool": pool_id,
                "addresses_in_use": used,
                "percent_in_use": percent(used, size),
            }
        )
    outside = (
        DiscoveredResource.objects.for_organization(organization)
        .filter(state=ResourceState.PRESENT, pool__isnull=True)
        .count()
    )
    if outside:
        rows.append({"pool": None, "resources_in_no_pool": outside})
    return rows


def context_facts_for(organization: Organization, *, focus: str | None = None) -> ContextFacts:
    """Return the facts of ``organization`` a context can be built from, for ``focus``.

    Five queries: the pools, the snapshots of the candidate pools, the discovered usage,
    the count of discovered resources in no pool (the organization's settings are on its
    row already).
    """
    settings = analysis_settings(organization=organization)
    rows = Pool.objects.for_organization(organization).live().order_by("path").values_list(*_FIELDS)
    data: list[engine.PoolData] = []
    descriptions: dict[int, str] = {}
    for pk, parent_id, family, first_key, length, name, kind, status, tags, created, text in rows:
        data.append(
            engine.PoolData(
                pk,
                parent_id,
                Prefix(family, int(first_key, 16), length),
                name=name,
                type=kind,
                status=status,
                tags=tags if isinstance(tags, dict) else {},
                created_at=created,
            )
        )
        if text:
            descriptions[pk] = text
    tree = engine.build_tree(data)
    depth = _depths(tree)
    light = _light_facts(tree, depth)
    focused = [pool.id for pool in focus_pools(ContextFacts(organization.name, light), focus)]
    # In path order: parents before children, as the tree is shown.
    position = {pool.id: index for index, pool in enumerate(data)}
    candidates = sorted(_candidates(tree, depth, focused), key=position.__getitem__)
    shown = set(candidates)
    in_use = discovered_usage(organization=organization)
    history = snapshot_history(
        organization=organization, pool_ids=candidates, days=settings.runway_window
    )
    cores = {pool_id: engine.pool_core(tree, pool_id, in_use) for pool_id in candidates}
    pools: list[PoolFacts] = []
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
        pools.append(
            PoolFacts(
                id=pool_id,
                cidr=str(pool.cidr),
                name=pool.name,
                type=pool.type,
                status=pool.status,
                parent_id=tree.effective_parent_id(pool_id),
                depth=depth[pool_id],
                utilization_percent=usage.percent,
                free_addresses=gaps.total_free,
                largest_free=str(largest) if largest is not None else None,
                children=len(tree.children_of(pool_id)),
                runway_days=runway.days_until_exhaustion if runway is not None else None,
                description=descriptions.get(pool_id, ""),
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
        pools=pools,
        findings=[
            {key: value for key, value in finding_data(finding).items() if key != "related"}
            for finding in findings
        ],
        discovered=_discovered(organization, in_use, tree, shown),
        naming_patterns=_naming_patterns(organization, [pool.name for pool in tree.pools.values()]),
        total_pools=len(tree),
    )
