"""The whole-organization analysis in parts, so its memory does not grow with the plan.

:func:`organization_summary_in_parts` gives the summary of
``selectors.organization_analysis`` + ``selectors.overview_data`` (what an analysis run
stores) without ever holding the whole plan: at a million pools the one-piece analysis
holds two gigabytes.

The plan is cut along its tree. A pool whose live subtree has more than ``part_size``
pools is *big*; they are few (at most ``depth x pools / part_size``), found with one
grouped count per level over the big pools' path ranges. Every other pool belongs to the
subtree of a *small* child of a big pool (or of a small root). The small children of one
parent are taken in path order, in runs of up to ``part_size`` pools, and each run is one
part: its subtrees (one index range scan on the path, since a run is contiguous), plus
the context the engine looks at (the parent, its ancestors and all its children), analysed
at once. Each part hands up, per small child, the totals its parent needs
(:class:`~apps.analysis.engine.SubtreeTotals`). The big pools come last, deepest first,
each with its children, siblings and ancestors, its subtree utilization summed from its
children's totals. Consolidations among the roots, which need every root at once, are
made last from the roots' analyses.

Every pool is analysed exactly once with the pools the engine reads for it, so the
figures are those of the one-piece analysis (a test compares them); the memory is that of
one part. Live pools whose parent is soft-deleted (which the services never leave behind)
are outside every part.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db.models import Count, Q
from django.db.models.functions import Substr
from django.utils import timezone

from apps.analysis import engine
from apps.analysis.engine import PoolData, PoolTree, SubtreeTotals
from apps.analysis.models import UtilizationSnapshot
from apps.analysis.selectors import (
    _POOL_FIELDS,
    _pool_data,
    _pool_ref,
    analysis_settings,
    discovered_usage,
)
from apps.pools.models import PATH_MAX_LENGTH, Pool
from apps.tenancy.models import Organization

__all__ = ["PART_SIZE", "organization_summary_in_parts"]

# Pools analysed at once: a part and its context take some tens of megabytes.
PART_SIZE = 20_000
# Pools whose snapshots are read with one query.
HISTORY_CHUNK = 5_000
_TOP = 10


def _end(path: str) -> str:
    return path.ljust(PATH_MAX_LENGTH, "Z")


def _in_ranges(paths: Iterable[str]) -> Q:
    condition = Q(pk__in=[])
    for path in paths:
        condition |= Q(path__range=(path, _end(path)))
    return condition


@dataclass
class _Summary:
    """Sum the parts' analyses into the summary of the whole."""

    pools: int = 0
    findings: int = 0
    recommendations: int = 0
    by_severity: Counter[str] = field(default_factory=Counter)
    by_rule: Counter[str] = field(default_factory=Counter)
    by_type: Counter[str] = field(default_factory=Counter)
    utilized: list[tuple[Any, int, dict[str, Any]]] = field(default_factory=list)
    exhausting: list[tuple[Any, int, dict[str, Any]]] = field(default_factory=list)

    def add(self, tree: PoolTree, result: engine.TreeAnalysis) -> None:
        summary = result.summary
        self.pools += summary.pools
        self.findings += len(result.findings)
        self.recommendations += len(result.recommendations)
        self.by_severity.update(summary.findings_by_severity)
        self.by_rule.update(summary.findings_by_rule)
        self.by_type.update(summary.recommendations_by_type)
        for pool_id in summary.most_utilized:
            usage = result.pools[pool_id].utilization
            entry = {**_pool_ref(tree.get(pool_id)), "percent": usage.percent}
            self.utilized.append((-usage.effective_used / usage.total, pool_id, entry))
        for pool_id in summary.soonest_exhaustion:
            runway = result.pools[pool_id].runway
            entry = {
                **_pool_ref(tree.get(pool_id)),
                "days_until_exhaustion": runway.days_until_exhaustion,
                "exhaustion_date": (
                    runway.exhaustion_date.isoformat() if runway.exhaustion_date else None
                ),
            }
            self.exhausting.append((runway.days_until_exhaustion, pool_id, entry))
        self.utilized = heapq.nsmallest(_TOP, self.utilized, key=lambda item: item[:2])
        self.exhausting = heapq.nsmallest(_TOP, self.exhausting, key=lambda item: item[:2])

    def add_recommendations(self, recommendations: Iterable[engine.Recommendation]) -> None:
        for recommendation in recommendations:
            self.recommendations += 1
            self.by_type[recommendation.type] += 1

    def data(self) -> dict[str, Any]:
        """Return the form of ``overview_data`` plus the two counts a run's summary adds."""
        return {
            "pools": self.pools,
            "findings_by_severity": {
                severity: self.by_severity[severity] for severity in engine.SEVERITIES
            },
            "findings_by_rule": {
                rule: self.by_rule[rule] for rule in engine.RULE_IDS if self.by_rule[rule]
            },
            "recommendations_by_type": {
                kind: self.by_type[kind]
                for kind in engine.RECOMMENDATION_TYPES
                if self.by_type[kind]
            },
            "most_utilized": [entry for _, _, entry in self.utilized],
            "soonest_exhaustion": [entry for _, _, entry in self.exhausting],
            "findings": self.findings,
            "recommendations": self.recommendations,
        }


class _Job:
    """One analysis in parts of one organization."""

    def __init__(
        self,
        organization: Organization,
        part_size: int,
        progress: Callable[[int, int], None] | None,
    ) -> None:
        self.organization = organization
        self.part_size = part_size
        self.progress = progress
        self.settings = analysis_settings(organization=organization)
        self.now = timezone.now()
        self.in_use = discovered_usage(organization=organization)
        self.summary = _Summary()
        self.totals: dict[int, SubtreeTotals] = {}
        self.root_analyses: dict[int, engine.PoolAnalysis] = {}
        self.all_roots_at_once = False
        self.done = 0
        self.total = self.live().count()

    def live(self) -> Any:
        return Pool.objects.for_organization(self.organization).live().order_by()

    def rows(self, queryset: Any) -> list[PoolData]:
        return _pool_data(queryset.values_list(*_POOL_FIELDS))

    def history(self, pool_ids: list[int]) -> dict[int, list[engine.Snapshot]]:
        """Return the snapshots of the runway window of ``pool_ids``.

        By pool id, a chunk at a time: each chunk is a range scan of the (pool, day)
        index. Selected by a join on the pools' paths instead, the planner scanned every
        snapshot of the organization (a million a day at a million pools) for each part.
        """
        since = self.now.date() - timedelta(days=self.settings.runway_window)
        snapshots = UtilizationSnapshot.objects.for_organization(self.organization)
        history: dict[int, list[engine.Snapshot]] = {}
        ids = sorted(pool_ids)
        for start in range(0, len(ids), HISTORY_CHUNK):
            chunk = snapshots.filter(pool_id__in=ids[start : start + HISTORY_CHUNK], day__gt=since)
            for pool_id, day, used in chunk.order_by("pool_id", "day").values_list(
                "pool_id", "day", "used"
            ):
                history.setdefault(pool_id, []).append(engine.Snapshot(day, int(used)))
        return history

    def advance(self, pools: int) -> None:
        self.done += pools
        if self.progress is not None:
            self.progress(self.done, self.total)

    # The cut

    def big_pools(self) -> list[Pool]:
        """Return the live pools with more than ``part_size`` live pools in their subtree."""
        big: dict[str, int] = {}
        parents: list[str] | None = None
        depth = 1
        while parents is None or parents:
            length = depth * Pool.steplen
            queryset = self.live().filter(depth__gte=depth)
            if parents is not None:
                queryset = queryset.filter(_in_ranges(parents))
            found = dict(
                queryset.annotate(prefix=Substr("path", 1, length))
                .values("prefix")
                .annotate(pools=Count("pk"))
                .filter(pools__gt=self.part_size)
                .values_list("prefix", "pools")
            )
            big.update(found)
            parents = list(found)
            depth += 1
        if not big:
            return []
        return list(self.live().filter(path__in=list(big)).only("pk", "path", "depth", "parent_id"))

    def subtree_sizes(self, parent: Pool | None) -> dict[str, int]:
        """Return the number of live pools below each child of ``parent``, by the child's path."""
        depth = 1 if parent is None else parent.depth + 1
        queryset = self.live().filter(depth__gte=depth)
        if parent is not None:
            queryset = queryset.filter(path__range=(parent.path, _end(parent.path)))
        return dict(
            queryset.annotate(prefix=Substr("path", 1, depth * Pool.steplen))
            .values("prefix")
            .annotate(pools=Count("pk"))
            .values_list("prefix", "pools")
        )

    def runs(self, parent: Pool | None, big_paths: set[str]) -> list[list[tuple[int, str]]]:
        """Return the runs of small children of ``parent``: contiguous, ``part_size`` at most."""
        children = (
            self.live().filter(parent__isnull=True)
            if parent is None
            else self.live().filter(parent_id=parent.pk)
        )
        sizes = self.subtree_sizes(parent)
        runs: list[list[tuple[int, str]]] = []
        current: list[tuple[int, str]] = []
        count = 0
        for pk, path in children.order_by("path").values_list("pk", "path"):
            if path in big_paths:
                if current:
                    runs.append(current)
                current, count = [], 0
                continue
            size = sizes.get(path, 1)
            if current and count + size > self.part_size:
                runs.append(current)
                current, count = [], 0
            current.append((pk, path))
            count += size
        if current:
            runs.append(current)
        return runs

    def context(self, parent: Pool | None) -> list[PoolData]:
        """Return the parent, its ancestors and all its live children (roots for None)."""
        if parent is None:
            return self.rows(self.live().filter(parent__isnull=True))
        steplen = Pool.steplen
        ancestors = [parent.path[:end] for end in range(steplen, len(parent.path) + 1, steplen)]
        return self.rows(self.live().filter(Q(path__in=ancestors) | Q(parent_id=parent.pk)))

    # The analysis

    def analyse_run(self, parent: Pool | None, run: list[tuple[int, str]]) -> None:
        first, last = run[0][1], run[-1][1]
        members = self.rows(self.live().filter(path__range=(first, _end(last))))
        known = {pool.id for pool in members}
        pools = members + [pool for pool in self.context(parent) if pool.id not in known]
        tree = engine.build_tree(pools)
        kids = [pk for pk, _ in run]
        totals: dict[int, SubtreeTotals] = {}
        result = engine.analyze_tree(
            tree,
            now=self.now,
            settings=self.settings,
            snapshots=self.history([pool.id for pool in members]),
            in_use=self.in_use,
            pool_ids=kids,
            totals=totals,
        )
        if parent is None and len(kids) == len(tree.roots):
            # The engine made the roots' consolidations itself.
            self.all_roots_at_once = True
        for pk in kids:
            self.totals[pk] = totals[pk]
            if parent is None:
                self.root_analyses[pk] = result.pools[pk]
        self.summary.add(tree, result)
        self.advance(len(result.pools))

    def analyse_big(self, pool: Pool) -> None:
        parent = None
        if pool.parent_id is not None:
            parent = self.live().only("pk", "path", "depth").get(pk=pool.parent_id)
        children = self.rows(self.live().filter(parent_id=pool.pk))
        pools = self.context(parent) + children
        tree = engine.build_tree(pools)
        data = tree.get(pool.pk)
        subtree, totals = engine.combine_subtree(
            data.cidr,
            self.in_use.get(pool.pk),
            (self.totals.pop(child.id) for child in children),
        )
        self.totals[pool.pk] = totals
        result = engine.analyze_part(
            tree,
            [pool.pk],
            subtree={pool.pk: subtree},
            now=self.now,
            settings=self.settings,
            snapshots=self.history([pool.pk]),
            in_use=self.in_use,
        )
        if parent is None:
            self.root_analyses[pool.pk] = result.pools[pool.pk]
            if len(tree.roots) == 1:
                self.all_roots_at_once = True
        self.summary.add(tree, result)
        self.advance(1)

    def roots_consolidation(self) -> None:
        roots = self.rows(self.live().filter(parent__isnull=True))
        if len(roots) < 2 or self.all_roots_at_once:
            return
        ids = [pool.id for pool in roots]
        children = self.rows(self.live().filter(parent_id__in=ids))
        tree = engine.build_tree(roots + children)
        self.summary.add_recommendations(
            engine.roots_consolidation(
                tree, self.root_analyses, now=self.now, settings=self.settings
            )
        )

    def run(self) -> dict[str, Any]:
        big = self.big_pools()
        big_paths = {pool.path for pool in big}
        for parent in [None, *big]:
            for run in self.runs(parent, big_paths):
                self.analyse_run(parent, run)
        for pool in sorted(big, key=lambda pool: (-pool.depth, pool.path)):
            self.analyse_big(pool)
        self.roots_consolidation()
        return self.summary.data()


def organization_summary_in_parts(
    *,
    organization: Organization,
    part_size: int = PART_SIZE,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Return the summary of the whole organization's analysis, computed part by part.

    The result has the keys of ``overview_data`` plus ``findings`` and ``recommendations``
    (their counts), as an analysis run stores it. ``progress`` is called with ``(pools
    analysed, live pools)`` after each part.
    """
    return _Job(organization, part_size, progress).run()
