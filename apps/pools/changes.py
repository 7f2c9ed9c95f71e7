"""
A batch of changes to the address plan, and the checks that need no database.

Every bulk writer (a plan's operations, an import, the wizard, an AI proposal, sync's
auto-import, demo seeding) describes what it wants as a list of ``PoolCreate``,
``PoolUpdate`` and ``PoolDelete`` changes and hands it to
``apps.pools.services.pool_changes_apply``. ``check_changes`` here checks the batch as a
whole before any lock is taken: shapes, prefixes, references between the changes and
overlaps among the pools the batch itself creates. The service then checks each change
against the stored tree, under the locks.

No Django import: the checks are plain functions over frozen dataclasses.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from apps.pools import cidr as engine

MAX_CHANGES = 20_000
MAX_REF_LENGTH = 100
UPDATABLE_FIELDS = frozenset({"name", "cidr", "parent", "type", "status", "description", "tags"})

# A pool is named by its id (an existing pool) or by the ref of a create earlier in the batch.
PoolRef = int | str | None


@dataclass(frozen=True)
class PoolCreate:
    """Create a pool at ``cidr``, or at the first free ``prefix_length`` block ``within``.

    ``parent`` and ``within`` are pool ids or refs of earlier creates; ``within``
    defaults to the parent.
    """

    ref: str
    name: str
    cidr: str | None = None
    prefix_length: int | None = None
    parent: PoolRef = None
    within: PoolRef = None
    type: str = "custom"
    status: str = "active"
    description: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    source: str = "manual"

    kind = "create"


@dataclass(frozen=True)
class PoolUpdate:
    """Change the ``fields`` of ``pool``: a new ``parent`` moves it, a new ``cidr`` resizes it."""

    ref: str
    pool: PoolRef
    fields: Mapping[str, Any] = field(default_factory=dict)

    kind = "update"


@dataclass(frozen=True)
class PoolDelete:
    """Soft-delete pool ``pool``, with its live subtree when ``recursive``."""

    ref: str
    pool: PoolRef
    recursive: bool = False

    kind = "delete"


PoolChange = PoolCreate | PoolUpdate | PoolDelete


@dataclass(frozen=True)
class ChangeError:
    """Why one change of a batch cannot be made: its place, ref, field and a stable code."""

    index: int
    ref: str
    code: str
    message: str
    field: str = ""

    def describe(self) -> str:
        """Return the error as one line naming the change."""
        return f"change {self.index + 1} ({self.ref}): {self.message}"


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def existing_ids(changes: Sequence[PoolChange]) -> set[int]:
    """Return the ids of the stored pools the batch names (parents, targets, ``within``)."""
    ids: set[int] = set()
    for change in changes:
        if isinstance(change, PoolCreate):
            candidates: list[Any] = [change.parent, change.within]
        elif isinstance(change, PoolUpdate):
            candidates = [change.pool, change.fields.get("parent")]
        else:
            candidates = [change.pool]
        ids.update(value for value in candidates if _is_id(value))
    return ids


class _Checker:
    def __init__(self) -> None:
        self.errors: list[ChangeError] = []
        self.refs: dict[str, int] = {}
        # The prefix each create of the batch will have, when it gives one; refs to them.
        self.prefixes: dict[str, engine.Prefix] = {}
        self.create_parents: dict[str, PoolRef] = {}
        self.failed: set[int] = set()

    def fail(self, index: int, ref: str, code: str, message: str, field: str = "") -> None:
        self.errors.append(ChangeError(index, ref, code, message, field))
        self.failed.add(index)

    def pool_ref(self, index: int, ref: str, value: Any, field: str, *, nullable: bool) -> bool:
        """Check that ``value`` names a stored pool (an id) or an earlier create (a ref)."""
        if value is None:
            if nullable:
                return True
            self.fail(index, ref, "validation_error", f"{field}: a pool is required.", field)
            return False
        if _is_id(value):
            return True
        if isinstance(value, str) and value in self.refs:
            if value not in self.create_parents:
                message = f"{field}: '{value}' is not a pool this batch creates."
                self.fail(index, ref, "validation_error", message, field)
                return False
            return True
        if isinstance(value, str):
            message = f"{field}: no earlier change has the ref '{value}'."
        else:
            message = f"{field}: give a pool id or the ref of an earlier create."
        self.fail(index, ref, "validation_error", message, field)
        return False

    def check(self, index: int, change: Any) -> None:
        ref = getattr(change, "ref", None)
        if not isinstance(ref, str) or not ref or len(ref) > MAX_REF_LENGTH:
            message = f"ref: a string of 1 to {MAX_REF_LENGTH} characters is required."
            self.fail(index, str(ref)[:MAX_REF_LENGTH], "validation_error", message, "ref")
            return
        if ref in self.refs:
            message = f"ref: '{ref}' is already used by change {self.refs[ref] + 1}."
            self.fail(index, ref, "validation_error", message, "ref")
            return
        self.refs[ref] = index
        if isinstance(change, PoolCreate):
            self.check_create(index, change)
        elif isinstance(change, PoolUpdate):
            self.pool_ref(index, ref, change.pool, "pool", nullable=False)
            unknown = sorted(set(change.fields) - UPDATABLE_FIELDS)
            if unknown:
                message = f"fields: {', '.join(map(str, unknown))} cannot be changed."
                self.fail(index, ref, "validation_error", message, "fields")
            if "parent" in change.fields:
                self.pool_ref(index, ref, change.fields["parent"], "parent", nullable=True)
            if "cidr" in change.fields:
                self.prefix(index, ref, change.fields["cidr"])
        elif isinstance(change, PoolDelete):
            self.pool_ref(index, ref, change.pool, "pool", nullable=False)
            if not isinstance(change.recursive, bool):
                self.fail(index, ref, "validation_error", "recursive: true or false.", "recursive")
        else:
            self.fail(index, ref, "validation_error", "Unknown kind of change.", "op")

    def prefix(self, index: int, ref: str, value: Any) -> engine.Prefix | None:
        if not isinstance(value, str):
            self.fail(index, ref, "validation_error", "cidr: a prefix is required.", "cidr")
            return None
        try:
            prefix = engine.parse_prefix(value)
        except engine.CidrError as exc:
            self.fail(index, ref, "validation_error", f"cidr: {exc.message}", "cidr")
            return None
        if "/" not in value:
            message = f"cidr: '{value.strip()}' has no prefix length; write it as {prefix}."
            self.fail(index, ref, "validation_error", message, "cidr")
            return None
        return prefix

    def check_create(self, index: int, change: PoolCreate) -> None:
        ref = change.ref
        parent_ok = self.pool_ref(index, ref, change.parent, "parent", nullable=True)
        self.create_parents[ref] = change.parent
        if (change.cidr is None) == (change.prefix_length is None):
            message = "Give either cidr or prefix_length (with within or a parent)."
            self.fail(index, ref, "validation_error", message, "cidr")
            return
        if change.cidr is None:
            length = change.prefix_length
            if isinstance(length, bool) or not isinstance(length, int) or not 0 <= length <= 128:
                message = "prefix_length: a whole number from 0 to 128 is required."
                self.fail(index, ref, "validation_error", message, "prefix_length")
            within = change.within if change.within is not None else change.parent
            self.pool_ref(index, ref, within, "within", nullable=False)
            return
        if change.within is not None:
            message = "within goes with prefix_length, not with cidr."
            self.fail(index, ref, "validation_error", message, "within")
        prefix = self.prefix(index, ref, change.cidr)
        if prefix is None:
            return
        self.prefixes[ref] = prefix
        if parent_ok and isinstance(change.parent, str):
            parent_prefix = self.prefixes.get(change.parent)
            if parent_prefix is not None and not (
                parent_prefix.family == prefix.family
                and parent_prefix.contains(prefix)
                and prefix.length > parent_prefix.length
            ):
                message = f"{prefix} is not inside its parent {parent_prefix} ('{change.parent}')."
                self.fail(index, ref, "outside_parent", message, "cidr")

    def check_overlaps(self, changes: Sequence[Any]) -> None:
        """Report each create that overlaps an earlier create of the batch under its parent.

        Creates are taken in batch order; those accepted under one parent are disjoint,
        kept sorted, so a new one only needs its two neighbours checked.
        """
        accepted: dict[tuple[Any, int], tuple[list[int], list[tuple[int, str]]]] = {}
        for index, change in enumerate(changes):
            if not isinstance(change, PoolCreate) or change.parent is None:
                continue  # Roots may overlap where the organization allows it: checked stored.
            if index in self.failed or change.ref not in self.prefixes:
                continue
            prefix = self.prefixes[change.ref]
            firsts, spans = accepted.setdefault((change.parent, prefix.family), ([], []))
            at = bisect.bisect_right(firsts, prefix.first)
            neighbours = [spans[at - 1]] if at else []
            if at < len(spans):
                neighbours.append(spans[at])
            other = next(
                (
                    ref
                    for ref_last, ref in neighbours
                    if self.prefixes[ref].first <= prefix.last and ref_last >= prefix.first
                ),
                None,
            )
            if other is not None:
                message = f"{prefix} overlaps {self.prefixes[other]} ('{other}')."
                self.fail(index, change.ref, "overlap", message, "cidr")
                continue
            firsts.insert(at, prefix.first)
            spans.insert(at, (prefix.last, change.ref))


def check_changes(changes: Sequence[PoolChange]) -> list[ChangeError]:
    """Return every error the batch shows on its own, in change order (empty: go on)."""
    if len(changes) > MAX_CHANGES:
        return [
            ChangeError(
                MAX_CHANGES,
                "",
                "validation_error",
                f"A batch holds at most {MAX_CHANGES} changes; this one has {len(changes)}.",
            )
        ]
    checker = _Checker()
    for index, change in enumerate(changes):
        checker.check(index, change)
    checker.check_overlaps(changes)
    return sorted(checker.errors, key=lambda error: error.index)


def change_count(changes: Sequence[PoolChange]) -> dict[str, int]:
    """Return how many creates, updates and deletes the batch holds."""
    counts = {"create": 0, "update": 0, "delete": 0}
    for change in changes:
        counts[change.kind] += 1
    return counts
