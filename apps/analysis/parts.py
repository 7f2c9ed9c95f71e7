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
one part. The parts are independent: on PostgreSQL they are spread over
``CLOUDPAM_ANALYSIS_PROCESSES`` fresh processes, each reading its parts itself, and only
their results come back; the big pools and the roots' consolidations follow in this one.
Live pools whose parent is soft-deleted (which the services never leave behind) are
outside every part.
"""

from __future__ import annotations

import heapq
import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import billiard
import psycopg
from billiard.exceptions import WorkerLostError
from django.conf import settings
from django.db import connection
from django.db.models import Count, Q
from django.db.models.functions import Substr
from django.utils import timezone

from apps.analysis import engine
from apps.analysis import processes as processes_module
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

logger = logging.getLogger(__name__)

# Pools analysed at once: a part and its context take some tens of megabytes.
PART_SIZE = 20_000
_TIMESTAMPTZ_LOADER = psycopg.adapters.get_loader(
    psycopg.adapters.types["timestamptz"].oid, psycopg.pq.Format.TEXT
)
# Pools whose snapshots are read with one query (an IN list; PostgreSQL takes an array).
HISTORY_CHUNK = 5_000
_TOP = 10


def _tags(value: Any) -> Any:
    """Return a pool's tags read as JSON text (or already decoded by the driver)."""
    if isinstance(value, str | bytes):
        return {} if value == "{}" else json.loads(value)
    return value


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

    def merge(self, other: _Summary) -> None:
        """Add a part's summary (the order parts are merged in does not matter)."""
        self.pools += other.pools
        self.findings += other.findings
        self.recommendations += other.recommendations
        self.by_severity.update(other.by_severity)
        self.by_rule.update(other.by_rule)
        self.by_type.update(other.by_type)
        self.utilized = heapq.nsmallest(
            _TOP, self.utilized + other.utilized, key=lambda item: item[:2]
        )
        self.exhausting = heapq.nsmallest(
            _TOP, self.exhausting + other.exhausting, key=lambda item: item[:2]
        )

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


@dataclass
class _Part:
    """What the analysis of one part hands to the whole (pickled from another process)."""

    totals: dict[int, SubtreeTotals]
    roots: dict[int, engine.PoolAnalysis]
    summary: _Summary
    pools: int
    all_roots: bool


class _Job:
    """One analysis in parts of one organization."""

    def __init__(
        self,
        organization: Organization,
        part_size: int,
        progress: Callable[[int, int], None] | None,
        *,
        now: datetime | None = None,
    ) -> None:
        self.organization = organization
        self.part_size = part_size
        self.progress = progress
        self.settings = analysis_settings(organization=organization)
        self.now = now or timezone.now()
        self.in_use = discovered_usage(organization=organization)
        self.summary = _Summary()
        self.totals: dict[int, SubtreeTotals] = {}
        self.root_analyses: dict[int, engine.PoolAnalysis] = {}
        self.all_roots_at_once = False
        self.done = 0
        self.total = 0

    def live(self) -> Any:
        return Pool.objects.for_organization(self.organization).live().order_by()

    def rows(self, queryset: Any) -> list[PoolData]:
        rows = queryset.values_list(*_POOL_FIELDS)
        if connection.vendor != "postgresql":
            return _pool_data(rows)
        # The ORM's statement on a plain cursor: the driver's values without Django's
        # per-value converters, which cost about as much as the engine on a million pools
        # (the tags arrive as JSON text and are decoded here, the usual empty ones aside).
        sql, params = rows.query.sql_with_params()
        with connection.cursor() as cursor:
            # And psycopg's own (C) loader for the creation times, not Django's, which
            # wraps its pure Python one: a tenth of a part's time. Both read them in the
            # session's time zone, UTC as Django sets it, so the instants are the same.
            cursor.cursor.adapters.register_loader("timestamptz", _TIMESTAMPTZ_LOADER)
            cursor.execute(sql, params)
            return _pool_data((*row[:8], _tags(row[8]), row[9]) for row in cursor.fetchall())

    def history(self, pool_ids: list[int]) -> dict[int, list[engine.Snapshot]]:
        """Return the snapshots of the runway window of ``pool_ids``.

        By pool id, which the (pool, day) index answers with a range scan per pool.
        Selected by a join on the pools' paths instead, the planner read every snapshot
        of the organization (a million a day at a million pools) for each part.
        """
        since = self.now.date() - timedelta(days=self.settings.runway_window)
        snapshots = UtilizationSnapshot.objects.for_organization(self.organization)
        history: dict[int, list[engine.Snapshot]] = {}
        ids = sorted(pool_ids)
        if connection.vendor == "postgresql":
            # One array parameter: an IN list of 20,000 costs more to build than to run.
            # Cast to the column's type: psycopg sends small ids as int4[] (or int2[]), and
            # bigint = ANY(int4[]) cannot be hashed, so where the planner filters rows
            # through the list (before the table's first ANALYZE, say) it compared each
            # with 20,000 ids one by one: 16 s a part at 200,000 pools, 71 ms with bigint[].
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT pool_id, day, used FROM {UtilizationSnapshot._meta.db_table}"  # noqa: S608 - table name only
                    " WHERE organization_id = %s AND day > %s AND pool_id = ANY(%s::bigint[])"
                    " ORDER BY pool_id, day",
                    [self.organization.pk, since, ids],
                )
                rows = cursor.fetchall()
        else:
            rows = [
                row
                for start in range(0, len(ids), HISTORY_CHUNK)
                for row in snapshots.filter(
                    pool_id__in=ids[start : start + HISTORY_CHUNK], day__gt=since
                )
                .order_by("pool_id", "day")
                .values_list("pool_id", "day", "used")
            ]
        for pool_id, day, used in rows:
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

    def part(self, parent: Pool | None, run: list[tuple[int, str]]) -> _Part:
        """Analyse one run of small children of ``parent`` with their subtrees."""
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
        summary = _Summary()
        summary.add(tree, result)
        return _Part(
            totals={pk: totals[pk] for pk in kids},
            # The roots' analyses, for the consolidations among them made last.
            roots={pk: result.pools[pk] for pk in kids} if parent is None else {},
            summary=summary,
            pools=len(result.pools),
            # The engine made the roots' consolidations itself.
            all_roots=parent is None and len(kids) == len(tree.roots),
        )

    def take(self, part: _Part) -> None:
        self.totals.update(part.totals)
        self.root_analyses.update(part.roots)
        self.all_roots_at_once = self.all_roots_at_once or part.all_roots
        self.summary.merge(part.summary)

    def parts(self, runs: list[tuple[Pool | None, list[tuple[int, str]]]]) -> Iterator[_Part]:
        """Yield the analyses of ``runs``, over several processes where that is possible."""
        processes = min(settings.CLOUDPAM_ANALYSIS_PROCESSES, len(runs))
        # Other processes see only what is committed: not a transaction's own rows.
        if processes > 1 and connection.vendor == "postgresql" and not connection.in_atomic_block:
            try:
                # All of them before any is handed on: after a failure part of the way,
                # the analysis in this process starts again from nothing.
                done = list(_in_processes(self, runs, processes))
            except (OSError, WorkerLostError, AssertionError) as exc:
                # A host that cannot start processes still gets its analysis.
                logger.warning("analysis parts in one process: %s", exc)
                self.done = 0
            else:
                yield from done
                return
        for parent, run in runs:
            part = self.part(parent, run)
            self.advance(part.pools)
            yield part

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
        self.total = self.live().count()
        big = self.big_pools()
        big_paths = {pool.path for pool in big}
        runs = [(parent, run) for parent in [None, *big] for run in self.runs(parent, big_paths)]
        for part in self.parts(runs):
            self.take(part)
        for pool in sorted(big, key=lambda pool: (-pool.depth, pool.path)):
            self.analyse_big(pool)
        self.roots_consolidation()
        return self.summary.data()


# Processes analysing parts


def _in_processes(
    job: _Job, runs: list[tuple[Pool | None, list[tuple[int, str]]]], processes: int
) -> Iterator[_Part]:
    """Yield the analyses of ``runs`` made by ``processes`` fresh processes, as they finish.

    Fresh (spawned) processes, not forks: a fork would share this process's database
    connection. Each reads its parts itself; only the runs go out and the parts' results
    (totals, root analyses, summary) come back. billiard's pool, not the standard
    library's: a Celery worker's pool processes are daemons, which the standard library
    does not let start processes.
    """
    tasks = [
        (
            job.organization.pk,
            job.part_size,
            job.now,
            None if parent is None else (parent.pk, parent.path, parent.depth),
            run,
        )
        for parent, run in runs
    ]
    context = billiard.get_context("spawn")
    database = connection.settings_dict["NAME"]
    with context.Pool(processes, initializer=processes_module.setup, initargs=(database,)) as pool:
        for part in pool.imap_unordered(processes_module.analyse_part, tasks):
            job.advance(part.pools)
            yield part


# One job per process and organization: its settings and discovered usage are read once.
_process_jobs: dict[tuple[int, datetime], _Job] = {}


def analyse_part_here(
    organization_id: int,
    part_size: int,
    now: datetime,
    parent: tuple[int, str, int] | None,
    run: list[tuple[int, str]],
) -> _Part:
    from apps.tenancy.rls import tenant_context

    job = _process_jobs.get((organization_id, now))
    organization = Organization.objects.get(pk=organization_id)
    with tenant_context(organization):
        if job is None:
            _process_jobs.clear()
            job = _process_jobs[(organization_id, now)] = _Job(
                organization, part_size, None, now=now
            )
        parent_pool = None
        if parent is not None:
            pk, path, depth = parent
            parent_pool = Pool(pk=pk, path=path, depth=depth)
        return job.part(parent_pool, run)


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
