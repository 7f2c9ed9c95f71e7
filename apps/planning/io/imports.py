"""
Turn the pool rows of an import into plan operations, with an error per bad row.

``pool_operations`` checks every row on its own (name, CIDR and host bits, type, status,
tags), resolves each row's parent, and checks the rows against one another and against
the organization's live pools (duplicates, overlaps among siblings, a pool outside its
parent). It returns ``create`` operations in the plan schema of SPEC.md section 7.0 for
the good rows, parents first, and a ``RowError`` (row, column, message, code) for each bad
one. It writes nothing: the plan's dry run through the pool services is the authority,
and this is the instant, row-numbered first pass.

The ``parent`` column holds:

- a prefix (``10.0.0.0/8``): the row of the file with that CIDR, else the live pool;
- a path of names (``corp/eu/prod``, a ``/`` inside a name written ``\\/``): the pool so
  named from a root down, among the rows and the live pools;
- nothing: a root pool, or, with ``nest``, the smallest row or live pool that contains
  the row's CIDR (rows may come in any order).

Every operation's ref is ``row-<row number>``, which is how the dry run's errors are
brought back to the row.

No Django import.
"""

from __future__ import annotations

import bisect
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from apps.planning.io.readers import Record
from apps.pools import cidr as engine

NAME_MAX_LENGTH = 255
DESCRIPTION_MAX_LENGTH = 10_000
TAGS_MAX_COUNT = 50
TAG_KEY_MAX_LENGTH = 128
TAG_VALUE_MAX_LENGTH = 512
PATH_SEPARATOR = "/"

Parent = int | str | None


@dataclass(frozen=True)
class ExistingPool:
    """A live pool of the organization, as the import sees it."""

    id: int
    name: str
    cidr: str
    parent_id: int | None


@dataclass(frozen=True)
class RowError:
    """Why one row cannot be imported: where (row, column), a sentence and a stable code."""

    row: int
    column: str
    message: str
    code: str = "validation_error"

    def as_dict(self) -> dict[str, Any]:
        """Return the error as the plan's ``source_detail`` and the API show it."""
        return {"row": self.row, "column": self.column, "message": self.message, "code": self.code}


@dataclass
class PoolImport:
    """What ``pool_operations`` made of the rows: operations, errors, and rows by ref."""

    operations: list[dict[str, Any]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    rows: int = 0
    ref_rows: dict[str, int] = field(default_factory=dict)


@dataclass
class _Row:
    row: int
    ref: str
    name: str
    prefix: engine.Prefix
    parent_text: str
    type: str
    status: str
    description: str
    tags: dict[str, str]
    parent: Parent = None
    parent_prefix: engine.Prefix | None = None
    resolved: bool = False


def ref_of(row: int) -> str:
    """Return the operation ref of a row."""
    return f"row-{row}"


def row_of(ref: str) -> int | None:
    """Return the row of an operation ref made by ``ref_of``, else None."""
    if ref.startswith("row-") and ref[4:].isdigit():
        return int(ref[4:])
    return None


def split_path(text: str) -> list[str]:
    r"""Return the names of a name path; ``\/`` is a slash inside a name.

    >>> split_path("corp/eu\\/west/prod")
    ['corp', 'eu/west', 'prod']
    """
    names, current, index = [], [], 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text) and text[index + 1] in "/\\":
            current.append(text[index + 1])
            index += 2
            continue
        if char == PATH_SEPARATOR:
            names.append("".join(current).strip())
            current = []
        else:
            current.append(char)
        index += 1
    names.append("".join(current).strip())
    return names


def join_path(names: Iterable[str]) -> str:
    r"""Return the name path of ``names``, escaping slashes inside them.

    >>> join_path(["corp", "eu/west"])
    'corp/eu\\/west'
    """
    return PATH_SEPARATOR.join(name.replace("\\", "\\\\").replace("/", "\\/") for name in names)


def parse_tags(value: Any) -> dict[str, str]:
    r"""Return the tags of a cell: ``key=value;key=value`` (``\;``, ``\=`` escaped) or a mapping.

    >>> parse_tags("env=prod; team=net\\;ops")
    {'env': 'prod', 'team': 'net;ops'}
    """
    if value is None or value == "":
        return {}
    if isinstance(value, Mapping):
        tags = {}
        for key, item in value.items():
            if not isinstance(key, str) or not isinstance(item, str | int | float | bool):
                raise ValueError("Tags are keys with text values.")
            tags[key] = item if isinstance(item, str) else _scalar_text(item)
        return _check_tags(tags)
    if not isinstance(value, str):
        raise ValueError("Write tags as key=value;key=value.")
    tags = {}
    for pair in _split_unescaped(value, ";"):
        if not pair.strip():
            continue
        parts = _split_unescaped(pair, "=", limit=1)
        if len(parts) != 2:
            raise ValueError(f"The tag '{_unescape(pair.strip())}' has no '='; write key=value.")
        key, item = _unescape(parts[0]).strip(), _unescape(parts[1]).strip()
        if not key:
            raise ValueError("A tag has an empty key.")
        if key in tags:
            raise ValueError(f"The tag '{key}' is given twice.")
        tags[key] = item
    return _check_tags(tags)


def format_tags(tags: Mapping[str, str]) -> str:
    r"""Return tags as a cell, the inverse of ``parse_tags``.

    >>> format_tags({"env": "prod", "team": "net;ops"})
    'env=prod;team=net\\;ops'
    """
    return ";".join(f"{_escape(key, '=;')}={_escape(value, ';')}" for key, value in tags.items())


def _escape(text: str, special: str) -> str:
    text = text.replace("\\", "\\\\")
    for char in special:
        text = text.replace(char, "\\" + char)
    return text


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text
    result, index = [], 0
    while index < len(text):
        if text[index] == "\\" and index + 1 < len(text):
            result.append(text[index + 1])
            index += 2
        else:
            result.append(text[index])
            index += 1
    return "".join(result)


def _split_unescaped(text: str, separator: str, limit: int = -1) -> list[str]:
    if "\\" not in text:
        return text.split(separator, limit)  # Nothing escaped: the common case, in C.
    parts, start, index = [], 0, 0
    while index < len(text):
        if text[index] == "\\":
            index += 2
            continue
        if text[index] == separator and (limit < 0 or len(parts) < limit):
            parts.append(text[start:index])
            start = index + 1
        index += 1
    parts.append(text[start:])
    return parts


def _check_tags(tags: dict[str, str]) -> dict[str, str]:
    if len(tags) > TAGS_MAX_COUNT:
        raise ValueError(f"A pool has at most {TAGS_MAX_COUNT} tags.")
    for key, item in tags.items():
        if len(key) > TAG_KEY_MAX_LENGTH:
            raise ValueError(f"Tag keys have at most {TAG_KEY_MAX_LENGTH} characters.")
        if len(item) > TAG_VALUE_MAX_LENGTH:
            raise ValueError(
                f"The value of tag '{key}' has more than {TAG_VALUE_MAX_LENGTH} characters."
            )
    return tags


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _text(values: Mapping[str, Any], column: str) -> str:
    value = values.get(column)
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int | float | bool):
        return _scalar_text(value)
    raise ValueError("Write this as text.")


class _Builder:
    def __init__(
        self,
        *,
        existing: Sequence[ExistingPool],
        nest: bool,
        types: Collection[str],
        statuses: Collection[str],
        default_type: str,
        default_status: str,
        allow_overlapping_roots: bool,
    ) -> None:
        self.nest = nest
        self.types = types
        self.statuses = statuses
        self.default_type = default_type
        self.default_status = default_status
        self.allow_overlapping_roots = allow_overlapping_roots
        self.errors: list[RowError] = []
        self.failed: set[int] = set()
        self.existing = {pool.id: pool for pool in existing}
        self.existing_prefix = {pool.id: engine.parse_prefix(pool.cidr) for pool in existing}
        self.existing_by_cidr: dict[engine.Prefix, list[int]] = {}
        for pool_id, prefix in self.existing_prefix.items():
            self.existing_by_cidr.setdefault(prefix, []).append(pool_id)
        self._existing_paths: dict[tuple[str, ...], list[int]] | None = None

    def fail(self, row: int, column: str, message: str, code: str = "validation_error") -> None:
        if row in self.failed:
            return
        self.failed.add(row)
        self.errors.append(RowError(row, column, message, code))

    # One row on its own

    def parse(self, record: Record) -> _Row | None:
        values = record.values
        number = record.row
        try:
            name = _text(values, "name")
        except ValueError as exc:
            self.fail(number, "name", str(exc))
            return None
        if not name:
            self.fail(number, "name", "A pool needs a name.")
            return None
        if len(name) > NAME_MAX_LENGTH:
            self.fail(number, "name", f"A name has at most {NAME_MAX_LENGTH} characters.")
            return None
        try:
            cidr = _text(values, "cidr")
        except ValueError as exc:
            self.fail(number, "cidr", str(exc))
            return None
        if not cidr:
            self.fail(number, "cidr", "A pool needs a CIDR.")
            return None
        try:
            prefix = engine.parse_prefix(cidr)
        except engine.CidrError as exc:
            self.fail(number, "cidr", exc.message)
            return None
        if "/" not in cidr:
            self.fail(number, "cidr", f"'{cidr}' has no prefix length; write it as {prefix}.")
            return None
        choices = {}
        for column, allowed, default in (
            ("type", self.types, self.default_type),
            ("status", self.statuses, self.default_status),
        ):
            try:
                text = _text(values, column).lower() or default
            except ValueError as exc:
                self.fail(number, column, str(exc))
                return None
            if text not in allowed:
                self.fail(
                    number,
                    column,
                    f"'{text}' is not a valid {column}; choose one of {', '.join(allowed)}.",
                )
                return None
            choices[column] = text
        try:
            description = _text(values, "description")
            if len(description) > DESCRIPTION_MAX_LENGTH:
                raise ValueError(
                    f"A description has at most {DESCRIPTION_MAX_LENGTH:,} characters."
                )
        except ValueError as exc:
            self.fail(number, "description", str(exc))
            return None
        try:
            tags = parse_tags(values.get("tags"))
        except ValueError as exc:
            self.fail(number, "tags", str(exc))
            return None
        try:
            parent_text = _text(values, "parent")
        except ValueError as exc:
            self.fail(number, "parent", str(exc))
            return None
        if _text(values, "account"):
            self.fail(
                number,
                "account",
                "Linking pools to cloud accounts is done by discovery; leave 'account' empty.",
            )
            return None
        return _Row(
            row=number,
            ref=ref_of(number),
            name=name,
            prefix=prefix,
            parent_text=parent_text,
            type=choices["type"],
            status=choices["status"],
            description=description,
            tags=tags,
        )

    # Rows against one another

    def duplicates(self, rows: list[_Row]) -> list[_Row]:
        seen: dict[engine.Prefix, _Row] = {}
        kept = []
        for row in rows:
            earlier = seen.get(row.prefix)
            if earlier is not None:
                self.fail(
                    row.row,
                    "cidr",
                    f"{row.prefix} is already on row {earlier.row}.",
                    "duplicate",
                )
                continue
            if row.prefix in self.existing_by_cidr and not self.allow_overlapping_roots:
                pool = self.existing[self.existing_by_cidr[row.prefix][0]]
                self.fail(
                    row.row,
                    "cidr",
                    f"{row.prefix} already exists as the pool '{pool.name}' (id {pool.id}).",
                    "duplicate",
                )
                continue
            seen[row.prefix] = row
            kept.append(row)
        return kept

    def existing_paths(self) -> dict[tuple[str, ...], list[int]]:
        if self._existing_paths is None:
            paths: dict[int, tuple[str, ...]] = {}

            def path_of(pool_id: int) -> tuple[str, ...]:
                chain = []
                current: int | None = pool_id
                while current is not None and current not in paths:
                    chain.append(current)
                    parent = self.existing[current].parent_id
                    current = parent if parent in self.existing else None
                base = paths[current] if current is not None else ()
                for member in reversed(chain):
                    base = (*base, self.existing[member].name)
                    paths[member] = base
                return paths[pool_id]

            by_path: dict[tuple[str, ...], list[int]] = {}
            for pool_id in self.existing:
                by_path.setdefault(path_of(pool_id), []).append(pool_id)
            self._existing_paths = by_path
        return self._existing_paths

    def resolve(self, rows: list[_Row]) -> None:
        """Set each row's parent: a ref of another row, an existing pool's id, or None."""
        by_cidr = {row.prefix: row for row in rows}
        by_ref = {row.ref: row for row in rows}
        pending: list[tuple[_Row, list[str]]] = []
        for row in rows:
            text = row.parent_text
            if not text:
                row.resolved = not self.nest
                continue
            if _looks_like_prefix(text):
                try:
                    parent_prefix = engine.parse_prefix(text)
                except engine.CidrError as exc:
                    self.fail(row.row, "parent", exc.message)
                    continue
                self.by_prefix(row, parent_prefix, by_cidr)
                continue
            names = split_path(text)
            if any(not name for name in names):
                self.fail(row.row, "parent", f"'{text}' has an empty name in its path.")
                continue
            pending.append((row, names))
        if self.nest:
            self.nest_rows(rows)
        self.by_paths(pending, by_ref)

    def by_prefix(
        self, row: _Row, parent_prefix: engine.Prefix, by_cidr: Mapping[engine.Prefix, _Row]
    ) -> None:
        if parent_prefix in by_cidr:
            row.parent = by_cidr[parent_prefix].ref
        else:
            matches = self.existing_by_cidr.get(parent_prefix, [])
            if not matches:
                self.fail(
                    row.row,
                    "parent",
                    f"No row of the file and no pool of the organization has the CIDR "
                    f"{parent_prefix}.",
                    "not_found",
                )
                return
            if len(matches) > 1:
                self.fail(
                    row.row,
                    "parent",
                    f"Several pools have the CIDR {parent_prefix}; name the parent by its "
                    "path of names instead.",
                )
                return
            row.parent = matches[0]
        row.parent_prefix = parent_prefix
        row.resolved = True

    def nest_rows(self, rows: list[_Row]) -> None:
        """Give each row without a parent the smallest row or live pool that contains it."""
        candidates: list[tuple[int, int, int, int, Parent]] = [
            (row.prefix.family, row.prefix.first, row.prefix.length, 1, row.ref) for row in rows
        ]
        candidates.extend(
            (prefix.family, prefix.first, prefix.length, 0, pool_id)
            for pool_id, prefix in self.existing_prefix.items()
        )
        candidates.sort(key=lambda item: item[:4])
        by_ref = {row.ref: row for row in rows}
        stack: list[tuple[engine.Prefix, Parent]] = []
        for family, first, length, _kind, name in candidates:
            prefix = engine.Prefix(family, first, length)
            while stack and not (
                stack[-1][0].family == family
                and stack[-1][0].contains(prefix)
                and stack[-1][0].length < length
            ):
                stack.pop()
            if isinstance(name, str):
                row = by_ref[name]
                if not row.parent_text and not row.resolved:
                    if stack:
                        row.parent, row.parent_prefix = stack[-1][1], stack[-1][0]
                    row.resolved = True
            stack.append((prefix, name))

    def row_paths(self, rows: Iterable[_Row], by_ref: Mapping[str, _Row]) -> dict:
        """Return the name path of each resolved row whose ancestors are all known."""
        paths: dict[str, tuple[str, ...]] = {}
        existing_path = {
            pool_id: path for path, ids in self.existing_paths().items() for pool_id in ids
        }

        def path_of(row: _Row, seen: set[str]) -> tuple[str, ...] | None:
            if row.ref in paths:
                return paths[row.ref]
            if not row.resolved or row.row in self.failed or row.ref in seen:
                return None
            seen.add(row.ref)
            if row.parent is None:
                base: tuple[str, ...] | None = ()
            elif isinstance(row.parent, int):
                base = existing_path.get(row.parent)
            else:
                base = path_of(by_ref[row.parent], seen)
            if base is None:
                return None
            paths[row.ref] = (*base, row.name)
            return paths[row.ref]

        for row in rows:
            path_of(row, set())
        return paths

    def by_paths(self, pending: list[tuple[_Row, list[str]]], by_ref: Mapping[str, _Row]) -> None:
        """Resolve parents named by paths, repeating while a round resolves more."""
        existing = self.existing_paths()
        while pending:
            paths = self.row_paths(by_ref.values(), by_ref)
            row_by_path: dict[tuple[str, ...], list[str]] = {}
            for ref, path in paths.items():
                row_by_path.setdefault(path, []).append(ref)
            waiting = []
            for row, names in pending:
                key = tuple(names)
                refs = row_by_path.get(key, [])
                ids = existing.get(key, [])
                if len(refs) + len(ids) > 1:
                    self.fail(
                        row.row,
                        "parent",
                        f"Several pools are named '{join_path(names)}'; give the parent's CIDR.",
                    )
                elif refs:
                    row.parent = refs[0]
                    row.parent_prefix = by_ref[refs[0]].prefix
                    row.resolved = True
                elif ids:
                    row.parent = ids[0]
                    row.parent_prefix = self.existing_prefix[ids[0]]
                    row.resolved = True
                else:
                    waiting.append((row, names))
            if len(waiting) == len(pending):
                for row, names in waiting:
                    self.fail(
                        row.row,
                        "parent",
                        f"No row of the file and no pool of the organization is named "
                        f"'{join_path(names)}' (a path of names from a root).",
                        "not_found",
                    )
                return
            pending = waiting

    def check_places(self, rows: list[_Row], by_ref: Mapping[str, _Row]) -> None:
        """Check that each row lies inside its parent and clear of its siblings."""
        for row in rows:
            if row.row in self.failed or row.parent_prefix is None:
                continue
            parent = row.parent_prefix
            if not (
                parent.family == row.prefix.family
                and parent.contains(row.prefix)
                and parent.length < row.prefix.length
            ):
                self.fail(
                    row.row,
                    "cidr",
                    f"{row.prefix} is not inside its parent {parent}.",
                    "outside_parent",
                )
        # A row whose parent row failed cannot be created either.
        changed = True
        while changed:
            changed = False
            for row in rows:
                if row.row in self.failed or not isinstance(row.parent, str):
                    continue
                parent_row = by_ref[row.parent]
                if parent_row.row in self.failed:
                    self.fail(
                        row.row,
                        "parent",
                        f"Its parent, on row {parent_row.row}, has an error.",
                        "conflict",
                    )
                    changed = True
        self.check_overlaps([row for row in rows if row.row not in self.failed])

    def check_overlaps(self, rows: list[_Row]) -> None:
        """Report each row that overlaps a sibling: a live pool, or a row before it."""
        groups: dict[tuple[Parent, int], list[_Row]] = {}
        for row in rows:
            groups.setdefault((row.parent, row.prefix.family), []).append(row)
        children: dict[tuple[int | None, int], list[int]] = {}
        for pool_id, pool in self.existing.items():
            family = self.existing_prefix[pool_id].family
            children.setdefault((pool.parent_id, family), []).append(pool_id)
        for (parent, family), members in groups.items():
            if parent is None and self.allow_overlapping_roots:
                continue
            taken: list[tuple[int, int, str]] = []  # first, last, description
            if not isinstance(parent, str):
                for pool_id in children.get((parent, family), []):
                    prefix = self.existing_prefix[pool_id]
                    pool = self.existing[pool_id]
                    taken.append((prefix.first, prefix.last, f"the pool '{pool.name}' {prefix}"))
            taken.sort()
            firsts = [item[0] for item in taken]
            for row in sorted(members, key=lambda member: member.row):
                prefix = row.prefix
                at = bisect.bisect_right(firsts, prefix.first)
                clash = None
                for first, last, label in taken[max(at - 1, 0) : at + 1]:
                    if first <= prefix.last and last >= prefix.first:
                        clash = label
                        break
                if clash is not None:
                    where = "among the root pools" if parent is None else "in its parent"
                    self.fail(row.row, "cidr", f"{prefix} overlaps {clash} {where}.", "overlap")
                    continue
                taken.insert(at, (prefix.first, prefix.last, f"row {row.row} ({prefix})"))
                firsts.insert(at, prefix.first)


def _looks_like_prefix(text: str) -> bool:
    head = text.split("/", 1)[0]
    return "/" in text and (head.count(".") == 3 or ":" in head)


def pool_operations(
    records: Sequence[Record],
    *,
    existing: Sequence[ExistingPool] = (),
    nest: bool = False,
    types: Collection[str],
    statuses: Collection[str],
    default_type: str = "custom",
    default_status: str = "active",
    allow_overlapping_roots: bool = False,
) -> PoolImport:
    """Return the create operations of the good rows (parents first) and each row's error."""
    builder = _Builder(
        existing=existing,
        nest=nest,
        types=types,
        statuses=statuses,
        default_type=default_type,
        default_status=default_status,
        allow_overlapping_roots=allow_overlapping_roots,
    )
    parsed = [row for row in (builder.parse(record) for record in records) if row is not None]
    rows = builder.duplicates(parsed)
    by_ref = {row.ref: row for row in rows}
    builder.resolve(rows)
    builder.check_places(rows, by_ref)
    good = [row for row in rows if row.row not in builder.failed]
    good.sort(key=lambda row: (row.prefix.family, row.prefix.first, row.prefix.length, row.row))
    result = PoolImport(rows=len(records))
    for row in good:
        result.operations.append(
            {
                "op": "create",
                "ref": row.ref,
                "name": row.name,
                "cidr": str(row.prefix),
                "parent": row.parent,
                "type": row.type,
                "status": row.status,
                "description": row.description,
                "tags": row.tags,
            }
        )
        result.ref_rows[row.ref] = row.row
    result.errors = sorted(builder.errors, key=lambda error: error.row)
    return result
