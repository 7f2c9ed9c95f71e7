"""
The operations of a plan (SPEC.md section 7.0): their JSON shape and the pure checks.

A plan's ``operations`` is a JSON list; each operation has an ``op`` (``create``,
``update`` or ``delete``) and a ``ref`` unique in the plan:

- ``{"op": "create", "ref", "name", "cidr" | ("prefix_length" + "within"), "parent",
  "type", "status", "description", "tags"}``: ``parent`` and ``within`` are a pool id, the
  ref of an earlier create, or null (a root); ``within`` defaults to the parent.
- ``{"op": "update", "ref", "pool", "fields": {...}}``
- ``{"op": "delete", "ref", "pool", "recursive": false}``

``validate_operations`` checks the JSON shape here and converts each operation to the
pool batch's ``PoolCreate``/``PoolUpdate``/``PoolDelete``, then leaves prefixes, refs and
overlaps among the plan's own pools to ``apps.pools.changes.check_changes``, the checks
every bulk writer shares. The verdict that counts is the dry run through the pool
services; these checks give instant feedback and keep malformed input away from it.

No Django import.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from apps.pools import changes as batch

MAX_OPERATIONS = batch.MAX_CHANGES
OPERATION_KINDS = ("create", "update", "delete")
CREATE_KEYS = frozenset(
    {
        "op",
        "ref",
        "name",
        "cidr",
        "prefix_length",
        "within",
        "parent",
        "type",
        "status",
        "description",
        "tags",
    }
)
UPDATE_KEYS = frozenset({"op", "ref", "pool", "fields"})
DELETE_KEYS = frozenset({"op", "ref", "pool", "recursive"})
KEYS = {"create": CREATE_KEYS, "update": UPDATE_KEYS, "delete": DELETE_KEYS}


@dataclass(frozen=True)
class OperationError:
    """Why one operation of a plan fails: its place, ref, a stable code, field and message.

    ``index`` is None for an error of the plan as a whole (too many operations, a quota).
    """

    index: int | None
    ref: str
    code: str
    message: str
    field: str = ""

    def as_dict(self) -> dict[str, Any]:
        """Return the error as stored in a plan's ``validation`` and shown by the API."""
        return asdict(self)

    @classmethod
    def from_change_error(cls, error: batch.ChangeError, index: int | None = None) -> Any:
        """Return the error of a pool batch's ``ChangeError`` (at ``index`` in the plan)."""
        return cls(
            index=error.index if index is None else index,
            ref=error.ref,
            code=error.code,
            message=error.message,
            field=error.field,
        )


@dataclass(frozen=True)
class Checked:
    """The result of the pure checks: each operation as a pool change, and the errors.

    ``changes[i]`` is None where operation ``i`` is too malformed to convert.
    """

    changes: tuple[batch.PoolChange | None, ...]
    errors: tuple[OperationError, ...]

    @property
    def ok(self) -> bool:
        """Return whether no operation failed."""
        return not self.errors

    def failed_indexes(self) -> set[int]:
        """Return the indexes of the operations with an error."""
        return {error.index for error in self.errors if error.index is not None}


class _ShapeError(Exception):
    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def _ref_of(operation: Any) -> str:
    if isinstance(operation, Mapping):
        ref = operation.get("ref")
        if isinstance(ref, str):
            return ref[: batch.MAX_REF_LENGTH]
    return ""


def _pool_ref(value: Any, field: str) -> batch.PoolRef:
    """Return a pool id (an integer) or a ref (a string) or None, as given."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        if value <= 0:
            raise _ShapeError(f"{field}: a pool id is a positive whole number.", field)
        return value
    raise _ShapeError(f"{field}: give a pool id, the ref of an earlier create, or null.", field)


def _text(operation: Mapping[str, Any], key: str, default: str = "") -> str:
    value = operation.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise _ShapeError(f"{key}: a string is required.", key)
    return value


def _tags(value: Any) -> Mapping[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _ShapeError("tags: an object of string keys and string values is required.", "tags")
    return dict(value)


def to_change(operation: Any, *, source: str = "plan") -> batch.PoolChange:
    """Return the pool change an operation describes, or raise ``_ShapeError``.

    ``source`` is the pool source recorded on the pools the plan creates.
    """
    if not isinstance(operation, Mapping):
        raise _ShapeError("An operation is a JSON object.")
    kind = operation.get("op")
    if kind not in KEYS:
        raise _ShapeError(f"op: choose one of {', '.join(OPERATION_KINDS)}.", "op")
    unknown = sorted(str(key) for key in set(operation) - KEYS[kind])
    if unknown:
        raise _ShapeError(f"Unknown field(s) for {kind}: {', '.join(unknown)}.", unknown[0])
    ref = operation.get("ref")
    if not isinstance(ref, str):
        raise _ShapeError("ref: a string is required.", "ref")
    if kind == "create":
        name = operation.get("name")
        if not isinstance(name, str) or not name.strip():
            raise _ShapeError("name: a pool needs a name.", "name")
        cidr = operation.get("cidr")
        if cidr is not None and not isinstance(cidr, str):
            raise _ShapeError("cidr: a prefix such as 10.0.0.0/16 is required.", "cidr")
        length = operation.get("prefix_length")
        if length is not None and (isinstance(length, bool) or not isinstance(length, int)):
            raise _ShapeError("prefix_length: a whole number is required.", "prefix_length")
        return batch.PoolCreate(
            ref=ref,
            name=name,
            cidr=cidr,
            prefix_length=length,
            parent=_pool_ref(operation.get("parent"), "parent"),
            within=_pool_ref(operation.get("within"), "within"),
            type=_text(operation, "type", "custom") or "custom",
            status=_text(operation, "status", "active") or "active",
            description=_text(operation, "description"),
            tags=_tags(operation.get("tags")),
            source=source,
        )
    pool = _pool_ref(operation.get("pool"), "pool")
    if kind == "update":
        fields = operation.get("fields")
        if not isinstance(fields, Mapping) or not fields:
            raise _ShapeError("fields: an object of the fields to change is required.", "fields")
        fields = dict(fields)
        if "parent" in fields:
            fields["parent"] = _pool_ref(fields["parent"], "parent")
        return batch.PoolUpdate(ref=ref, pool=pool, fields=fields)
    recursive = operation.get("recursive", False)
    if not isinstance(recursive, bool):
        raise _ShapeError("recursive: true or false.", "recursive")
    return batch.PoolDelete(ref=ref, pool=pool, recursive=recursive)


def validate_operations(operations: Any, *, source: str = "plan") -> Checked:
    """Check a plan's operations without a database; return the changes and every error.

    Each malformed operation is reported once with its index and ref; the well-formed
    ones are converted and checked together by ``check_changes`` (prefixes, host bits,
    refs, overlaps among the plan's creates), whose errors name the same index.
    """
    if not isinstance(operations, Sequence) or isinstance(operations, str | bytes):
        error = OperationError(None, "", "validation_error", "operations: a JSON list is required.")
        return Checked((), (error,))
    if len(operations) > MAX_OPERATIONS:
        message = (
            f"A plan holds at most {MAX_OPERATIONS} operations; this one has {len(operations)}."
        )
        return Checked((), (OperationError(None, "", "validation_error", message),))
    changes: list[batch.PoolChange | None] = []
    errors: list[OperationError] = []
    for index, operation in enumerate(operations):
        try:
            changes.append(to_change(operation, source=source))
        except _ShapeError as exc:
            changes.append(None)
            errors.append(
                OperationError(
                    index, _ref_of(operation), "validation_error", exc.message, exc.field
                )
            )
    # check_changes sees the convertible operations only; its indexes are mapped back.
    convertible = [(index, change) for index, change in enumerate(changes) if change is not None]
    batch_errors = batch.check_changes([change for _index, change in convertible])
    errors.extend(
        OperationError.from_change_error(error, convertible[error.index][0])
        for error in batch_errors
    )
    errors.sort(key=lambda error: error.index if error.index is not None else -1)
    return Checked(tuple(changes), tuple(errors))


def to_operation(change: batch.PoolChange) -> dict[str, Any]:
    """Return the plan operation of a pool change (the inverse of ``to_change``)."""
    if isinstance(change, batch.PoolCreate):
        operation: dict[str, Any] = {"op": "create", "ref": change.ref, "name": change.name}
        if change.cidr is not None:
            operation["cidr"] = change.cidr
        else:
            operation["prefix_length"] = change.prefix_length
            if change.within is not None:
                operation["within"] = change.within
        operation.update(
            parent=change.parent,
            type=change.type,
            status=change.status,
            description=change.description,
            tags=dict(change.tags),
        )
        return operation
    if isinstance(change, batch.PoolUpdate):
        return {
            "op": "update",
            "ref": change.ref,
            "pool": change.pool,
            "fields": dict(change.fields),
        }
    return {"op": "delete", "ref": change.ref, "pool": change.pool, "recursive": change.recursive}


def runnable(checked: Checked) -> tuple[list[tuple[int, batch.PoolChange]], list[OperationError]]:
    """Return the operations a dry run can still carry out (with their plan index), and why
    the others that passed the pure checks are left out.

    An operation that failed the pure checks is left out, and so is every operation that
    names (as parent, within or pool) the ref of one left out: it could not be carried
    out either, and is reported as depending on it.
    """
    failed = checked.failed_indexes()
    dropped = {error.ref for error in checked.errors if error.index is not None and error.ref}
    kept: list[tuple[int, batch.PoolChange]] = []
    errors: list[OperationError] = []
    for index, change in enumerate(checked.changes):
        if change is None or index in failed:
            continue
        names = sorted(name for name in _names(change) if isinstance(name, str) and name in dropped)
        if names:
            dropped.add(change.ref)
            message = f"It depends on '{names[0]}', which failed."
            errors.append(OperationError(index, change.ref, "conflict", message))
            continue
        kept.append((index, change))
    return kept, errors


def _names(change: batch.PoolChange) -> set[Any]:
    if isinstance(change, batch.PoolCreate):
        return {change.parent, change.within}
    if isinstance(change, batch.PoolUpdate):
        return {change.pool, change.fields.get("parent")}
    return {change.pool}
