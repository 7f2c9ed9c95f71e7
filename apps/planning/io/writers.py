"""
Write pools and cloud accounts as CSV, JSON, YAML, Excel, Terraform and a ZIP of them all.

Every writer takes its rows as an iterable read once, in tree order (parents before their
children), and yields the file in pieces of a few hundred rows, so an export of any size
holds one piece in memory (Excel is written by openpyxl's write-only mode to a temporary
file, then streamed from it). CSV, JSON, YAML and Excel use the import's own columns, so an
export imports back as the same tree. Cells a spreadsheet would run as formulas are
written with a leading ``'`` (CSV and Excel), which the import takes off again.

Terraform is HCL for the AWS provider: one ``aws_vpc_ipam``, then per pool an
``aws_vpc_ipam_pool`` (``source_ipam_pool_id`` naming its parent's resource when the
parent is exported too, ``locale`` from a ``region`` tag) and its
``aws_vpc_ipam_pool_cidr``; and a ``locals`` map of each pool's name path to its CIDR.

No Django import.
"""

from __future__ import annotations

import csv
import io
import json
import re
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from apps.planning.io.cells import escape_formula
from apps.planning.io.imports import format_tags, join_path
from apps.planning.io.readers import ACCOUNT_COLUMNS, POOL_COLUMNS

ROWS_PER_PIECE = 500
FILE_PIECE_BYTES = 256 * 1024
EXPORT_POOL_COLUMNS = tuple(column for column in POOL_COLUMNS if column != "account")
EXPORT_FORMATS = ("csv", "json", "yaml", "xlsx", "terraform", "zip")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "yaml": "application/yaml; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "terraform": "text/plain; charset=utf-8",
    "zip": "application/zip",
}
EXTENSIONS = {
    "csv": "csv",
    "json": "json",
    "yaml": "yaml",
    "xlsx": "xlsx",
    "terraform": "tf",
    "zip": "zip",
}
REGION_TAGS = ("region", "aws:region", "locale")


@dataclass(frozen=True)
class ExportPool:
    """One pool as exported: its columns, plus its id, parent id, depth and name path."""

    id: int
    parent_id: int | None
    depth: int
    name: str
    cidr: str
    family: int
    parent: str
    type: str
    status: str
    description: str
    tags: Mapping[str, str] = field(default_factory=dict)
    path: tuple[str, ...] = ()

    def columns(self) -> dict[str, Any]:
        """Return the pool in the import's columns (tags as a mapping)."""
        return {
            "name": self.name,
            "cidr": self.cidr,
            "parent": self.parent,
            "type": self.type,
            "status": self.status,
            "description": self.description,
            "tags": dict(self.tags),
        }


Rows = Callable[[], Iterable[ExportPool]]
AccountRows = Callable[[], Iterable[Mapping[str, Any]]]


def _cell(value: Any) -> Any:
    return escape_formula(value)


def _pool_values(pool: ExportPool) -> list[Any]:
    """Return the pool's cells as text, not yet escaped."""
    columns = pool.columns()
    columns["tags"] = format_tags(pool.tags)
    return [columns[name] for name in EXPORT_POOL_COLUMNS]


def _pool_cells(pool: ExportPool) -> list[Any]:
    return [_cell(value) for value in _pool_values(pool)]


def _account_cells(account: Mapping[str, Any]) -> list[Any]:
    cells = []
    for name in ACCOUNT_COLUMNS:
        value = account.get(name)
        if isinstance(value, list):
            value = ";".join(value)
        elif isinstance(value, bool):
            value = "true" if value else "false"
        cells.append(_cell("" if value is None else value))
    return cells


def csv_stream(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[bytes]:
    """Yield a CSV file of ``header`` and ``rows`` in pieces, formula-looking cells quoted.

    The one CSV writer of the exports: the pool and account files and every console list.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([_cell(name) for name in header])
    for count, row in enumerate(rows, start=1):
        writer.writerow([_cell(value) for value in row])
        if count % ROWS_PER_PIECE == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def pools_csv(pools: Iterable[ExportPool]) -> Iterator[bytes]:
    """Yield the pools as CSV in the import's columns."""
    # csv_stream escapes every cell itself.
    return csv_stream(EXPORT_POOL_COLUMNS, (_pool_values(pool) for pool in pools))


def accounts_csv(accounts: Iterable[Mapping[str, Any]]) -> Iterator[bytes]:
    """Yield cloud accounts as CSV in the import's account columns (never a secret)."""
    return csv_stream(ACCOUNT_COLUMNS, (_account_cells(account) for account in accounts))


def _json_items(key: str, items: Iterable[Mapping[str, Any]]) -> Iterator[bytes]:
    pieces = [f'{{"{key}": [']
    first = True
    for count, item in enumerate(items, start=1):
        pieces.append(("\n  " if first else ",\n  ") + json.dumps(item, ensure_ascii=False))
        first = False
        if count % ROWS_PER_PIECE == 0:
            yield "".join(pieces).encode("utf-8")
            pieces = []
    pieces.append("\n]}\n" if not first else "]}\n")
    yield "".join(pieces).encode("utf-8")


def pools_json(pools: Iterable[ExportPool]) -> Iterator[bytes]:
    """Yield ``{"pools": [...]}`` with one object per pool."""
    return _json_items("pools", (pool.columns() for pool in pools))


def accounts_json(accounts: Iterable[Mapping[str, Any]]) -> Iterator[bytes]:
    """Yield ``{"accounts": [...]}``."""
    return _json_items("accounts", ({k: a.get(k) for k in ACCOUNT_COLUMNS} for a in accounts))


_YAML_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _yaml_items(key: str, items: Iterable[Mapping[str, Any]]) -> Iterator[bytes]:
    """Yield ``key:`` and a list of the items, dumped a piece of a few hundred at a time."""
    yield f"{key}:\n".encode()
    empty = True
    piece: list[dict[str, Any]] = []

    def dump(batch: list[dict[str, Any]]) -> bytes:
        text = yaml.dump(
            batch,
            Dumper=_YAML_DUMPER,
            default_flow_style=False,
            allow_unicode=True,
            sort_keys=False,
            width=1_000_000,
        )
        return "".join("  " + line for line in text.splitlines(keepends=True)).encode("utf-8")

    for item in items:
        empty = False
        piece.append(dict(item))
        if len(piece) == ROWS_PER_PIECE:
            yield dump(piece)
            piece = []
    if piece:
        yield dump(piece)
    if empty:
        yield b"  []\n"


def pools_yaml(pools: Iterable[ExportPool]) -> Iterator[bytes]:
    """Yield a YAML document ``pools:`` with one mapping per pool."""
    return _yaml_items("pools", (pool.columns() for pool in pools))


def accounts_yaml(accounts: Iterable[Mapping[str, Any]]) -> Iterator[bytes]:
    """Yield a YAML document ``accounts:``."""
    return _yaml_items("accounts", ({k: a.get(k) for k in ACCOUNT_COLUMNS} for a in accounts))


def _file_pieces(handle: Any) -> Iterator[bytes]:
    handle.seek(0)
    while True:
        piece = handle.read(FILE_PIECE_BYTES)
        if not piece:
            return
        yield piece


def write_xlsx(
    pools: Iterable[ExportPool], accounts: Iterable[Mapping[str, Any]] | None, handle: Any
) -> None:
    """Write a workbook with a "pools" sheet (and an "accounts" one) to ``handle``."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("pools")
    sheet.append(list(EXPORT_POOL_COLUMNS))
    for pool in pools:
        sheet.append(_pool_cells(pool))
    if accounts is not None:
        sheet = workbook.create_sheet("accounts")
        sheet.append(list(ACCOUNT_COLUMNS))
        for account in accounts:
            sheet.append(_account_cells(account))
    workbook.save(handle)


def pools_xlsx(
    pools: Iterable[ExportPool], accounts: Iterable[Mapping[str, Any]] | None = None
) -> Iterator[bytes]:
    """Yield an Excel workbook of the pools, written to a temporary file first."""
    with tempfile.TemporaryFile() as handle:
        write_xlsx(pools, accounts, handle)
        yield from _file_pieces(handle)


# Terraform

_IDENTIFIER = re.compile(r"[^A-Za-z0-9_]+")


def resource_name(pool: ExportPool) -> str:
    """Return the pool's Terraform resource name: its name as an identifier, then its id.

    >>> resource_name(ExportPool(7, None, 1, "eu-west 1", "10.0.0.0/8", 4, "", "", "", ""))
    'eu_west_1_7'
    """
    base = _IDENTIFIER.sub("_", pool.name).strip("_").lower()[:48] or "pool"
    if not (base[0].isalpha() or base[0] == "_"):
        base = "pool_" + base
    return f"{base}_{pool.id}"


def hcl_string(value: str) -> str:
    r"""Return ``value`` as an HCL string literal (quotes, escapes, no interpolation).

    >>> hcl_string('a "b" ${c}')
    '"a \\"b\\" $${c}"'
    """
    text = (
        value.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
        .replace("${", "$${")
        .replace("%{", "%%{")
    )
    return f'"{text}"'


def _hcl_map(values: Mapping[str, str], indent: str) -> str:
    if not values:
        return "{}"
    width = max(len(hcl_string(key)) for key in values)
    lines = [
        f"{indent}  {hcl_string(key).ljust(width)} = {hcl_string(value)}"
        for key, value in values.items()
    ]
    return "{\n" + "\n".join(lines) + f"\n{indent}}}"


def _region(pool: ExportPool) -> str:
    for key in REGION_TAGS:
        value = pool.tags.get(key)
        if value:
            return value
    return ""


def _assignments(pairs: Sequence[tuple[str, str]], indent: str) -> list[str]:
    width = max(len(key) for key, _value in pairs)
    return [f"{indent}{key.ljust(width)} = {value}" for key, value in pairs]


def _pool_resources(pool: ExportPool, parent: str | None) -> str:
    name = resource_name(pool)
    pairs = [
        ("address_family", hcl_string("ipv4" if pool.family == 4 else "ipv6")),
        ("ipam_scope_id", "aws_vpc_ipam.cloudpam.private_default_scope_id"),
    ]
    if parent is not None:
        pairs.append(("source_ipam_pool_id", f"aws_vpc_ipam_pool.{parent}.id"))
    region = _region(pool)
    if region:
        pairs.append(("locale", hcl_string(region)))
    if pool.description:
        pairs.append(("description", hcl_string(pool.description)))
    tags = {"Name": pool.name, **{key: value for key, value in pool.tags.items() if key != "Name"}}
    pairs.append(("tags", _hcl_map(tags, "  ")))
    lines = [f'resource "aws_vpc_ipam_pool" "{name}" {{', *_assignments(pairs, "  "), "}", ""]
    cidr_pairs = [
        ("ipam_pool_id", f"aws_vpc_ipam_pool.{name}.id"),
        ("cidr", hcl_string(pool.cidr)),
    ]
    if parent is not None:
        # The parent's CIDR must be provisioned before a child can take part of it.
        cidr_pairs.append(("depends_on", f"[aws_vpc_ipam_pool_cidr.{parent}]"))
    lines += [f'resource "aws_vpc_ipam_pool_cidr" "{name}" {{', *_assignments(cidr_pairs, "  ")]
    lines += ["}", "", ""]
    return "\n".join(lines)


def pools_terraform(rows: Rows, *, title: str = "CloudPAM") -> Iterator[bytes]:
    """Yield Terraform HCL for the pools, reading ``rows()`` twice (resources, then the map).

    A pool's ``source_ipam_pool_id`` names its parent's resource when the parent is in the
    export: rows come in tree order, so the parent was written just before, on the stack
    of the current branch.
    """
    header = (
        f"# {title}: the address plan as AWS VPC IPAM pools, generated by CloudPAM.\n\n"
        "terraform {\n"
        "  required_providers {\n"
        "    aws = {\n"
        '      source = "hashicorp/aws"\n'
        "    }\n"
        "  }\n"
        "}\n\n"
    )
    yield header.encode("utf-8")
    # (depth, pool id, resource name) of the exported ancestors of the current branch.
    stack: list[tuple[int, int, str]] = []
    regions: dict[str, None] = {}
    pieces: list[str] = []
    for count, pool in enumerate(rows(), start=1):
        while stack and stack[-1][0] >= pool.depth:
            stack.pop()
        parent = stack[-1][2] if stack and stack[-1][1] == pool.parent_id else None
        pieces.append(_pool_resources(pool, parent))
        stack.append((pool.depth, pool.id, resource_name(pool)))
        region = _region(pool)
        if region and len(regions) < 100:
            regions[region] = None
        if count % ROWS_PER_PIECE == 0:
            yield "".join(pieces).encode("utf-8")
            pieces = []
    ipam = [
        'resource "aws_vpc_ipam" "cloudpam" {',
        f"  description = {hcl_string(title)}",
    ]
    for region in regions or {"us-east-1": None}:
        ipam += ["", "  operating_regions {", f"    region_name = {hcl_string(region)}", "  }"]
    ipam += ["}", "", ""]
    pieces.append("\n".join(ipam))
    yield "".join(pieces).encode("utf-8")
    yield from _locals_map(rows)


def _locals_map(rows: Rows) -> Iterator[bytes]:
    """Yield ``locals { pool_cidrs = {name path = cidr} }``, keys made unique per parent.

    Two pools can share a name path only as siblings of one parent, so the names seen
    are kept per level of the current branch: memory follows the depth and the widest
    set of siblings, not the number of pools.
    """
    pieces = ["locals {\n  # Each pool's path of names, from its root, to its CIDR.\n"]
    pieces.append("  pool_cidrs = {\n")
    seen: list[tuple[int | None, set[str]]] = []  # per depth: (parent id, names used)
    for count, pool in enumerate(rows(), start=1):
        level = pool.depth - 1
        del seen[level + 1 :]
        if len(seen) <= level:
            seen.extend((None, set()) for _ in range(level + 1 - len(seen)))
        if seen[level][0] != pool.parent_id:
            seen[level] = (pool.parent_id, set())
        key = join_path(pool.path)
        if key in seen[level][1]:
            key = f"{key} #{pool.id}"
        seen[level][1].add(key)
        pieces.append(f"    {hcl_string(key)} = {hcl_string(pool.cidr)}\n")
        if count % ROWS_PER_PIECE == 0:
            yield "".join(pieces).encode("utf-8")
            pieces = []
    pieces.append("  }\n}\n")
    yield "".join(pieces).encode("utf-8")


# ZIP


class _Pipe:
    """A write-only file whose contents are taken out piece by piece (for zipfile)."""

    def __init__(self) -> None:
        self.pieces: list[bytes] = []
        self.position = 0

    def write(self, data: bytes) -> int:
        self.pieces.append(bytes(data))
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        return None

    def take(self) -> bytes:
        data = b"".join(self.pieces)
        self.pieces.clear()
        return data


def bundle_zip(rows: Rows, accounts: AccountRows, *, title: str = "CloudPAM") -> Iterator[bytes]:
    """Yield a ZIP of the pools in every format and of the cloud accounts (no secrets)."""
    pipe = _Pipe()
    members: list[tuple[str, Callable[[], Iterable[bytes]]]] = [
        ("pools.csv", lambda: pools_csv(rows())),
        ("pools.json", lambda: pools_json(rows())),
        ("pools.yaml", lambda: pools_yaml(rows())),
        ("pools.xlsx", lambda: pools_xlsx(rows(), accounts())),
        ("pools.tf", lambda: pools_terraform(rows, title=title)),
        ("accounts.csv", lambda: accounts_csv(accounts())),
        ("accounts.json", lambda: accounts_json(accounts())),
        ("accounts.yaml", lambda: accounts_yaml(accounts())),
    ]
    with zipfile.ZipFile(pipe, "w", compression=zipfile.ZIP_DEFLATED) as archive:  # type: ignore[arg-type]
        for name, make in members:
            with archive.open(name, "w", force_zip64=True) as member:
                for piece in make():
                    member.write(piece)
                    data = pipe.take()
                    if data:
                        yield data
            data = pipe.take()
            if data:
                yield data
    data = pipe.take()
    if data:
        yield data
