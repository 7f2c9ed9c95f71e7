"""What a dry run shows before it is rolled back: the plan's preview, read from the database.

``PreviewState`` is taken before the plan's changes are made (what the affected pools are
now); ``preview_build`` runs after them, inside the same transaction that is then rolled
back, and reads what the plan did: the diff in tree order, the what-if utilization of each
affected parent, the risk findings and the pictures. The decisions are the pure engine's
(``apps.planning.engine.preview``).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.apps import apps as django_apps
from django.db.models import Count
from django.utils import timezone

from apps.analysis import engine as analysis_engine
from apps.analysis.selectors import analysis_settings
from apps.planning.engine import preview as risk
from apps.pools import allocation
from apps.pools import changes as batch
from apps.pools.models import Pool
from apps.pools.selectors import pool_utilization_map
from apps.pools.services import ChangesApplied
from apps.tenancy.models import Organization

# Compliance rules that judge the pools a plan adds or changes.
COMPLIANCE_RULES = frozenset(
    {"PUBLIC_SPACE", "SPECIAL_PURPOSE", "PREFIX_BOUNDS", "NAMING", "REQUIRED_TAGS"}
)
# Per-pool lookups (discovered overlaps) stop after this many new pools.
MAX_DISCOVERY_CHECKS = 2_000
MAX_DIFF_ROWS = 20_000


def discovered_resource_model() -> Any | None:
    """Return ``discovery.DiscoveredResource`` when the discovery app provides it, else None.

    The plan engine reads discovered usage only for its risk rules; an installation
    without the model simply has no discovered usage to weigh.
    """
    try:
        return django_apps.get_model("discovery", "DiscoveredResource")
    except LookupError:
        return None


def _live_resources(model: Any, organization: Organization) -> Any:
    return model.objects.filter(organization=organization).exclude(state="gone")


@dataclass
class PreviewState:
    """The affected pools as they are before the plan: what the preview compares against."""

    stored: dict[int, Pool] = field(default_factory=dict)
    parents: set[int] = field(default_factory=set)
    utilization: dict[int, Any] = field(default_factory=dict)
    live_children: dict[int, int] = field(default_factory=dict)
    resources: dict[int, int] = field(default_factory=dict)


def _names(change: batch.PoolChange) -> list[Any]:
    if isinstance(change, batch.PoolCreate):
        return [change.parent, change.within]
    if isinstance(change, batch.PoolUpdate):
        return [change.pool, change.fields.get("parent")]
    return [change.pool]


def preview_state(organization: Organization, changes: Sequence[batch.PoolChange]) -> PreviewState:
    """Read the affected pools before the plan's changes are made."""
    state = PreviewState()
    ids = batch.existing_ids(changes)
    state.stored = {
        pool.pk: pool for pool in Pool.objects.for_organization(organization).filter(pk__in=ids)
    }
    targets: set[int] = set()
    for change in changes:
        for name in _names(change):
            if (
                isinstance(name, int)
                and name in state.stored
                and isinstance(change, batch.PoolCreate)
            ):
                state.parents.add(name)
        if isinstance(change, batch.PoolUpdate | batch.PoolDelete) and isinstance(change.pool, int):
            target = state.stored.get(change.pool)
            if target is None:
                continue
            targets.add(target.pk)
            if target.parent_id is not None:
                state.parents.add(target.parent_id)
            new_parent = (
                change.fields.get("parent") if isinstance(change, batch.PoolUpdate) else None
            )
            if isinstance(new_parent, int):
                state.parents.add(new_parent)
            if isinstance(change, batch.PoolUpdate) and "cidr" in change.fields:
                state.parents.add(target.pk)
    missing = state.parents - set(state.stored)
    state.stored.update(
        (pool.pk, pool)
        for pool in Pool.objects.for_organization(organization).filter(pk__in=missing)
    )
    state.parents &= {pk for pk, pool in state.stored.items() if pool.deleted_at is None}
    state.utilization = pool_utilization_map(state.stored[pk] for pk in state.parents)
    if targets:
        state.live_children = dict(
            Pool.objects.live()
            .filter(parent_id__in=targets)
            .order_by()
            .values_list("parent_id")
            .annotate(count=Count("pk"))
            .values_list("parent_id", "count")
        )
        model = discovered_resource_model()
        if model is not None:
            state.resources = dict(
                _live_resources(model, organization)
                .filter(pool_id__in=targets)
                .order_by()
                .values_list("pool_id")
                .annotate(count=Count("pk"))
                .values_list("pool_id", "count")
            )
    return state


def _label(pool: Pool) -> str:
    return f"{pool.cidr} {pool.name}"


def _largest_free(parents: Iterable[Pool]) -> dict[int, tuple[str | None, list[tuple[int, int]]]]:
    """Return, per parent, its largest free block and its live children's ranges."""
    parents = list(parents)
    ranges: dict[int, list[tuple[int, int]]] = defaultdict(list)
    rows = (
        Pool.objects.live()
        .filter(parent_id__in=[pool.pk for pool in parents])
        .order_by()
        .values_list("parent_id", "first_key", "last_key")
    )
    for parent_id, first, last in rows:
        ranges[parent_id].append((int(first, 16), int(last, 16)))
    result = {}
    for pool in parents:
        children = sorted(ranges.get(pool.pk, []))
        largest = allocation.largest_in(pool.prefix, allocation.gaps(pool.prefix, children))
        result[pool.pk] = (str(largest) if largest is not None else None, children)
    return result


def preview_build(
    *,
    organization: Organization,
    indexed: Sequence[tuple[int, batch.PoolChange]],
    applied: ChangesApplied,
    state: PreviewState,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Return the preview of the plan whose changes were just made in this transaction."""
    created = {
        change.ref: applied.pools[change.ref]
        for _index, change in indexed
        if isinstance(change, batch.PoolCreate)
    }
    created_ids = {pool.pk: ref for ref, pool in created.items()}
    changed: dict[int, str] = {}
    removed: dict[int, str] = {}
    for _index, change in indexed:
        if isinstance(change, batch.PoolUpdate) and isinstance(change.pool, int):
            changed[change.pool] = change.ref
        elif isinstance(change, batch.PoolDelete) and isinstance(change.pool, int):
            removed[change.pool] = change.ref
    touched = set(created_ids) | set(changed) | set(removed)
    if all(isinstance(change, batch.PoolCreate) for _index, change in indexed):
        # A plan of creates only (an import, a template): the pools it made are the rows
        # just inserted, as they are; only the stored parents are read back.
        current = {pool.pk: pool for pool in created.values()}
        current.update(
            (pool.pk, pool)
            for pool in Pool.objects.filter(pk__in=state.parents - set(current)).order_by()
        )
    else:
        current = {
            pool.pk: pool for pool in Pool.objects.filter(pk__in=touched | state.parents).order_by()
        }

    # The diff, in tree order.
    rows: list[dict[str, Any]] = []
    for _index, change in indexed:
        if isinstance(change, batch.PoolCreate):
            pool = current[created[change.ref].pk]
            detail = f"{pool.type}, {pool.status}"
            rows.append(_row("added", change.ref, pool, detail=detail))
        elif isinstance(change, batch.PoolUpdate) and isinstance(change.pool, int):
            before = state.stored[change.pool]
            pool = current[change.pool]
            fields = {}
            for name in change.fields:
                old = before.parent_id if name == "parent" else getattr(before, name)
                new = pool.parent_id if name == "parent" else getattr(pool, name)
                if old != new:
                    fields[name] = [old, new]
            detail = ", ".join(f"{name} {old} \u2192 {new}" for name, (old, new) in fields.items())
            rows.append(_row("changed", change.ref, pool, detail=detail, fields=fields))
        elif isinstance(change, batch.PoolDelete) and isinstance(change.pool, int):
            pool = state.stored[change.pool]
            children = state.live_children.get(pool.pk, 0)
            detail = f"with {children} live children" if change.recursive and children else ""
            rows.append(_row("removed", change.ref, pool, detail=detail))
    rows.sort(key=lambda row: (row["path"], row["kind"] != "removed"))
    shallowest = min((row["depth"] for row in rows), default=0)
    for row in rows:
        row["depth"] -= shallowest

    # What-if utilization of every affected parent: the stored ones and the new ones.
    parent_ids = set(state.parents)
    parent_ids.update(
        pool.parent_id
        for pool in (current[pk] for pk in created_ids)
        if pool.parent_id is not None and pool.parent_id in created_ids
    )
    parent_pools = [current[pk] if pk in current else Pool.objects.get(pk=pk) for pk in parent_ids]
    parent_pools = [pool for pool in parent_pools if pool.deleted_at is None]
    after = pool_utilization_map(parent_pools)
    layouts = _largest_free(parent_pools)
    whatif: list[dict[str, Any]] = []
    for pool in sorted(parent_pools, key=lambda p: p.path):
        before = state.utilization.get(pool.pk)
        usage = after[pool.pk]
        largest, _children = layouts[pool.pk]
        whatif.append(
            {
                "pool": None if pool.pk in created_ids else pool.pk,
                "ref": created_ids.get(pool.pk, ""),
                "cidr": pool.cidr,
                "name": pool.name,
                "label": _label(pool),
                "before_percent": None if before is None else before.percent,
                "after_percent": usage.percent,
                "free_before": None if before is None else before.free,
                "free_after": usage.free,
                "largest_free_after": largest,
            }
        )

    # Risk.
    settings = analysis_settings(organization=organization)
    threshold = settings.compliance["OVER_UTILIZED"].params["threshold"]
    findings = risk.parent_findings(whatif, threshold=threshold)
    for pk, ref in sorted({**changed, **removed}.items()):
        pool = state.stored[pk]
        children = state.live_children.get(pk, 0)
        resources = state.resources.get(pk, 0)
        verb = "removes" if pk in removed else "changes"
        if resources:
            findings.append(
                risk.finding(
                    "CHANGED_IN_USE",
                    "high",
                    f"The plan {verb} {_label(pool)}, which has {resources} discovered "
                    "resource(s).",
                    ref=ref,
                    pool=pk,
                )
            )
        moved_or_resized = pk in changed and bool(
            {"cidr", "parent"} & set(_update_fields(indexed, pk))
        )
        if children and (pk in removed or moved_or_resized):
            findings.append(
                risk.finding(
                    "CHANGED_WITH_CHILDREN",
                    "medium",
                    f"The plan {verb} {_label(pool)}, which has {children} live children.",
                    ref=ref,
                    pool=pk,
                )
            )
    findings.extend(_discovered_overlaps(organization, created, current))
    findings.extend(
        risk.compliance_findings(
            _compliance(organization, settings, created_ids, changed, current, now)
        )
    )
    for item in findings:
        # Pools the plan creates have no id once the dry run is rolled back: name them by ref.
        if item["pool"] in created_ids:
            item["ref"], item["pool"] = created_ids[item["pool"]], None
    level = risk.level_of(findings)

    pictures = []
    for pool in sorted(parent_pools, key=lambda p: p.path)[: risk.MAX_PICTURES]:
        children = _picture_children(pool, created_ids, changed)
        pictures.append(
            {
                "cidr": pool.cidr,
                "name": pool.name,
                "segments": risk.scale_segments(pool.prefix.first, pool.size, children),
            }
        )
    whatif_public = [
        {
            key: (
                str(value) if key in {"free_before", "free_after"} and value is not None else value
            )
            for key, value in entry.items()
            if key != "label"
        }
        for entry in whatif
    ]
    return {
        "counts": {
            "added": len(created),
            "changed": len(changed),
            "removed": len(removed),
        },
        "diff": [{key: value for key, value in row.items() if key != "path"} for row in rows][
            :MAX_DIFF_ROWS
        ],
        "what_if": whatif_public,
        "risk": {"level": level, "findings": findings},
        "addresses_added": str(
            sum(current[pk].size for pk in created_ids if _is_top(current[pk], created_ids))
        ),
        "ascii": risk.ascii_diagram(rows, whatif),
        "pictures": pictures,
        "computed_at": (now or timezone.now()).isoformat(),
    }


def _is_top(pool: Pool, created_ids: Mapping[int, str]) -> bool:
    return pool.parent_id not in created_ids


def _update_fields(indexed: Sequence[tuple[int, batch.PoolChange]], pk: int) -> list[str]:
    return [
        name
        for _index, change in indexed
        if isinstance(change, batch.PoolUpdate) and change.pool == pk
        for name in change.fields
    ]


def _row(kind: str, ref: str, pool: Pool, *, detail: str = "", **extra: Any) -> dict[str, Any]:
    return {
        "kind": kind,
        "ref": ref,
        "pool": None if kind == "added" else pool.pk,
        "name": pool.name,
        "cidr": pool.cidr,
        "type": pool.type,
        "status": pool.status,
        "depth": pool.depth,
        "path": pool.path,
        "detail": detail,
        **extra,
    }


def _picture_children(
    pool: Pool, created_ids: Mapping[int, str], changed: Mapping[int, str]
) -> list[tuple[int, int, str, str]]:
    rows = (
        Pool.objects.live()
        .filter(parent=pool)
        .order_by("first_key")
        .values_list("pk", "cidr", "name", "first_key", "last_key")[: risk.MAX_SEGMENTS + 1]
    )
    children = []
    for pk, cidr, name, first, last in rows:
        kind = "added" if pk in created_ids else "changed" if pk in changed else "existing"
        children.append((int(first, 16), int(last, 16), kind, f"{cidr} {name}"))
    return children


def _discovered_overlaps(
    organization: Organization, created: Mapping[str, Pool], current: Mapping[int, Pool]
) -> list[dict[str, Any]]:
    """Return a DISCOVERED_OVERLAP finding per new pool that cuts through discovered usage.

    Pools and resources are aligned blocks, which nest or are disjoint: a resource that
    overlaps a new pool without lying inside it contains it. One query reads the resources
    large enough to contain one of the new pools, within their span; each pool then looks
    its containing blocks up (at most 32 or 128), the outermost first, as the address
    order of the resources would give it.
    """
    model = discovered_resource_model()
    if model is None or not created:
        return []
    checked = [
        (ref, current[made.pk]) for ref, made in list(created.items())[:MAX_DISCOVERY_CHECKS]
    ]
    by_family: dict[int, list[tuple[str, Pool]]] = defaultdict(list)
    for ref, pool in checked:
        by_family[pool.family].append((ref, pool))
    found: dict[str, Any] = {}
    for family, pools in by_family.items():
        rows = (
            _live_resources(model, organization)
            .filter(
                family=family,
                first_key__lte=max(pool.last_key for _ref, pool in pools),
                last_key__gte=min(pool.first_key for _ref, pool in pools),
                prefix_length__lt=max(pool.prefix_length for _ref, pool in pools),
            )
            .order_by("first_key", "prefix_length", "pk")
            .values_list("first_key", "prefix_length", "cidr", "resource_type", "resource_id")
        )
        blocks: dict[tuple[int, int], tuple[str, str, str]] = {}
        for first_key, length, cidr, kind, resource_id in rows.iterator(chunk_size=5_000):
            blocks.setdefault((int(first_key, 16), length), (cidr, kind, resource_id))
        if not blocks:
            continue
        bits = 32 if family == 4 else 128
        for ref, pool in pools:
            first = int(pool.first_key, 16)
            for length in range(pool.prefix_length):
                hit = blocks.get((first >> (bits - length) << (bits - length), length))
                if hit is not None:
                    found[ref] = hit
                    break
    findings = []
    for ref, pool in checked:
        if ref in found:
            cidr, kind, resource_id = found[ref]
            findings.append(
                risk.finding(
                    "DISCOVERED_OVERLAP",
                    "high",
                    f"{pool.cidr} '{pool.name}' overlaps the discovered {cidr} "
                    f"({kind} {resource_id}) without containing it.",
                    ref=ref,
                )
            )
    return findings


def _compliance_tree(current: Mapping[int, Pool], checked: Sequence[int]) -> Any:
    """Return the analysis tree of the ``checked`` pools and their parents.

    The rules the preview reports (``COMPLIANCE_RULES``) read a pool and its parent, never
    the rest of the tree: loading the organization's whole plan would cost a read of every
    pool, on every dry run, for nothing. ``current`` holds the pools as the plan left them.
    """
    wanted = set(checked)
    wanted.update(current[pk].parent_id for pk in checked if current[pk].parent_id is not None)
    pools = [current[pk] for pk in wanted if pk in current]
    missing = sorted(wanted - set(current))
    for start in range(0, len(missing), 500):
        pools.extend(Pool.objects.filter(pk__in=missing[start : start + 500]).order_by())
    return analysis_engine.build_tree(
        analysis_engine.PoolData(
            pool.pk,
            pool.parent_id,
            pool.prefix,
            name=pool.name,
            type=pool.type,
            status=pool.status,
            tags=pool.tags if isinstance(pool.tags, dict) else {},
            created_at=pool.created_at,
        )
        for pool in pools
        if pool.deleted_at is None
    )


def _compliance(
    organization: Organization,
    settings: Any,
    created_ids: Mapping[int, str],
    changed: Mapping[int, str],
    current: Mapping[int, Pool],
    now: datetime | None,
) -> list[dict[str, Any]]:
    """Return the compliance findings of the pools the plan adds or changes."""
    checked = [pk for pk in (*created_ids, *changed) if pk in current]
    if not checked:
        return []
    tree = _compliance_tree(current, checked)
    checked = [pk for pk in checked if pk in tree.pools]
    # Only the rules the preview reports are run: utilization and the other tree-wide
    # rules would cost a walk of every new pool's children for findings thrown away.
    rules = settings.compliance.rules
    kept = analysis_engine.ComplianceSettings(
        {
            rule_id: (
                rule if rule_id in COMPLIANCE_RULES else dataclasses.replace(rule, enabled=False)
            )
            for rule_id, rule in rules.items()
        }
    )
    results = analysis_engine.evaluate_compliance(
        tree, now=now or timezone.now(), settings=kept, pool_ids=checked
    )
    return [
        {
            "rule": item.rule,
            "severity": item.severity,
            "pool": item.pool,
            "ref": created_ids.get(item.pool) or changed.get(item.pool, ""),
            "message": item.message,
        }
        for item in results
        if item.rule in COMPLIANCE_RULES
    ]
