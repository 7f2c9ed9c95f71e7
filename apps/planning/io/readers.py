"""
Read an uploaded file of pools or cloud accounts into records, streaming and bounded.

CSV, Excel (``.xlsx``), JSON and YAML come out the same way: an ``ImportFile`` whose
``pools`` and ``accounts`` are lists of ``Record`` (the row number a user sees, and the
cells by normalized column name). What makes a whole file unreadable raises
``FileError`` with the reason, a row and a column where there is one; the API answers it
with a 400 and nothing is written. What is wrong with one row is not decided here but by
``apps.planning.io.imports``, which reports it against the row.

Limits (each a ``FileError``): ``MAX_BYTES`` per file, ``MAX_ROWS`` rows, ``MAX_COLUMNS``
columns in a row, ``MAX_CELL_LENGTH`` characters in a cell, ``MAX_LINE_LENGTH``
characters in one line of a CSV; a spreadsheet formula (a CSV cell that reads as one, an
Excel formula cell); a YAML alias (the "billion laughs" bomb is made of them); JSON or
YAML nested deeper than ``cloudpam.jsonlimits.MAX_JSON_DEPTH``; an XLSX whose parts
would unpack to more than ``MAX_UNPACKED_BYTES`` (a zip bomb).

Row numbers: in CSV and Excel the header is row 1 and the first pool row 2, as a
spreadsheet numbers them; in JSON and YAML the first item of a list is row 1.

No Django import.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

import yaml

from apps.planning.io.cells import looks_like_formula, unescape_formula

# As cloudpam.jsonlimits (which the API's parser uses), without importing the project.
MAX_JSON_DEPTH = 64
MAX_BYTES = 20 * 1024 * 1024
MAX_ROWS = 100_000
MAX_COLUMNS = 64
MAX_CELL_LENGTH = 10_000
MAX_LINE_LENGTH = MAX_COLUMNS * (MAX_CELL_LENGTH + 3)
MAX_UNPACKED_BYTES = 200 * 1024 * 1024
# YAML events (a scalar, the start or end of a list or mapping): enough for MAX_ROWS rows
# of every column, far below what an expanding document would need.
MAX_YAML_EVENTS = MAX_ROWS * (2 * MAX_COLUMNS + 4)
CHUNK_BYTES = 64 * 1024

FORMATS = ("csv", "xlsx", "json", "yaml")
EXTENSIONS = {".csv": "csv", ".xlsx": "xlsx", ".json": "json", ".yaml": "yaml", ".yml": "yaml"}

POOL_COLUMNS = ("name", "cidr", "parent", "type", "status", "description", "tags", "account")
ACCOUNT_COLUMNS = (
    "provider",
    "name",
    "external_id",
    "auth_method",
    "regions",
    "role_arn",
    "role_external_id",
    "member_role_name",
    "access_key_id",
    "tenant_id",
    "client_id",
    "sync_enabled",
    "sync_interval_minutes",
    "auto_import",
)
# Columns that would carry a credential: an import never takes one (they are written
# only through the account's credentials action).
SECRET_COLUMNS = frozenset(
    {
        "secret_access_key",
        "aws_secret_access_key",
        "service_account_key",
        "client_secret",
        "credentials",
        "credential",
        "password",
        "secret",
        "private_key",
        "token",
        "api_key",
    }
)


class FileError(ValueError):
    """A file that cannot be read as a whole: the reason, and where when known."""

    def __init__(self, message: str, *, row: int | None = None, column: str = "") -> None:
        where = ""
        if row is not None:
            where = f"Row {row}" + (f", column '{column}'" if column else "") + ": "
        super().__init__(where + message)
        self.message = where + message
        self.row = row
        self.column = column


@dataclass(frozen=True)
class Record:
    """One row of a file: its number as the user counts rows, and its cells by column."""

    row: int
    values: Mapping[str, Any]


@dataclass
class ImportFile:
    """The rows of a file: pools, cloud accounts, or both (JSON and YAML; Excel sheets)."""

    format: str
    pools: list[Record] = field(default_factory=list)
    accounts: list[Record] = field(default_factory=list)

    @property
    def rows(self) -> int:
        """Return how many rows the file holds."""
        return len(self.pools) + len(self.accounts)


def detect_format(filename: str, head: bytes) -> str:
    """Return the format of a file by its extension, else by its first bytes."""
    lowered = (filename or "").lower()
    for extension, name in EXTENSIONS.items():
        if lowered.endswith(extension):
            return name
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text[:1] in (b"{", b"["):
        return "json"
    first_line = text.split(b"\n", 1)[0]
    if first_line.startswith((b"---", b"pools:", b"accounts:", b"- ")):
        return "yaml"
    return "csv"


def normalize_column(name: Any) -> str:
    """Return a header cell as a column name: trimmed, lowercase, spaces as underscores."""
    return "_".join(str(name if name is not None else "").strip().lower().split())


def _too_many_rows() -> FileError:
    return FileError(f"The file has more than {MAX_ROWS:,} rows; split it into smaller files.")


def _check_header(header: list[str], row: int = 1) -> tuple[str, list[str]]:
    """Return the kind of rows a header announces (pools or accounts) and its columns."""
    if len(header) > MAX_COLUMNS:
        raise FileError(
            f"The header has {len(header):,} columns; at most {MAX_COLUMNS} are accepted.", row=row
        )
    columns = [normalize_column(name) for name in header]
    while columns and not columns[-1]:
        columns.pop()
    secret = sorted(set(columns) & SECRET_COLUMNS)
    if secret:
        raise FileError(
            f"The column '{secret[0]}' would carry a secret; credentials are never imported. "
            "Remove it and set credentials on each account afterwards.",
            row=row,
            column=secret[0],
        )
    kind = "accounts" if "provider" in columns else "pools"
    known = ACCOUNT_COLUMNS if kind == "accounts" else POOL_COLUMNS
    for index, name in enumerate(columns):
        if not name:
            raise FileError(f"Column {index + 1} has no name.", row=row)
        if name not in known:
            raise FileError(
                f"Unknown column '{name}'; the {kind} columns are {', '.join(known)}.",
                row=row,
                column=name,
            )
        if columns.index(name) != index:
            raise FileError(f"The column '{name}' appears twice.", row=row, column=name)
    required = ("provider", "name", "external_id") if kind == "accounts" else ("name", "cidr")
    missing = [name for name in required if name not in columns]
    if missing:
        raise FileError(
            f"The header lacks the column '{missing[0]}'; {kind} need {', '.join(required)}.",
            row=row,
        )
    return kind, columns


def _cell_text(value: Any, row: int, column: str, *, spreadsheet: bool) -> Any:
    if not isinstance(value, str):
        return value
    if len(value) > MAX_CELL_LENGTH:
        raise FileError(
            f"The cell has {len(value):,} characters; at most {MAX_CELL_LENGTH:,} are accepted.",
            row=row,
            column=column,
        )
    if spreadsheet:
        if looks_like_formula(value):
            raise FileError(
                "The cell holds a spreadsheet formula; formulas are not imported. "
                "Write the value itself (or prefix it with ' to keep it as text).",
                row=row,
                column=column,
            )
        value = unescape_formula(value)
    return value


def _table_records(
    rows: Iterable[tuple[int, list[Any]]], *, spreadsheet: bool
) -> tuple[str, list[Record]]:
    """Return the records of a table whose first row is the header."""
    iterator = iter(rows)
    try:
        header_row, header = next(iterator)
    except StopIteration:
        raise FileError("The file is empty: it needs a header row and a row per pool.") from None
    kind, columns = _check_header(
        [_cell_text(cell, header_row, "", spreadsheet=spreadsheet) for cell in header],
        header_row,
    )
    records: list[Record] = []
    for number, cells in iterator:
        if len(cells) > MAX_COLUMNS:
            raise FileError(
                f"The row has {len(cells):,} cells; at most {MAX_COLUMNS} are accepted.",
                row=number,
            )
        if all(cell is None or (isinstance(cell, str) and not cell.strip()) for cell in cells):
            continue  # A blank line between rows, or trailing empty rows of a sheet.
        if len(cells) > len(columns) and any(
            cell not in (None, "") for cell in cells[len(columns) :]
        ):
            raise FileError(
                f"The row has {len(cells)} cells but the header names {len(columns)} columns.",
                row=number,
            )
        if len(records) >= MAX_ROWS:
            raise _too_many_rows()
        values = {
            column: _cell_text(cell, number, column, spreadsheet=spreadsheet)
            for column, cell in zip(columns, cells, strict=False)
        }
        records.append(Record(number, values))
    return kind, records


# CSV


def _decoded_lines(stream: IO[bytes]) -> Iterator[str]:
    """Yield the lines of a UTF-8 byte stream (a BOM is skipped), ends kept, bounded.

    A byte sequence that is not UTF-8 raises ``FileError`` naming its byte offset and
    the row it is on.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    line_number = 1
    pending = ""
    first = True
    while True:
        chunk = stream.read(CHUNK_BYTES)
        final = not chunk
        try:
            text = decoder.decode(chunk, final=final)
        except UnicodeDecodeError as exc:
            data = bytes(exc.object)
            bad = offset + len(chunk) - len(data) + exc.start
            line = line_number + data[: exc.start].count(b"\n")
            raise FileError(
                f"The file is not UTF-8 text: the byte 0x{data[exc.start]:02x} at byte "
                f"offset {bad} cannot be decoded. Save the file as UTF-8 (CSV UTF-8 in Excel).",
                row=line,
            ) from None
        offset += len(chunk)
        if first and text:
            text = text.removeprefix("\ufeff")
            first = False
        pending += text
        *lines, pending = pending.split("\n")
        for line in lines:
            if len(line) > MAX_LINE_LENGTH:
                raise FileError(
                    f"The line is longer than {MAX_LINE_LENGTH:,} characters.", row=line_number
                )
            line_number += 1
            yield line + "\n"
        if len(pending) > MAX_LINE_LENGTH:
            raise FileError(
                f"The line is longer than {MAX_LINE_LENGTH:,} characters.", row=line_number
            )
        if final:
            if pending:
                yield pending
            return


def read_csv(stream: IO[bytes]) -> ImportFile:
    """Return the records of a CSV file (comma-separated, UTF-8, a header row first)."""
    reader = csv.reader(_decoded_lines(stream), strict=True)

    def rows() -> Iterator[tuple[int, list[Any]]]:
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise FileError(f"The CSV is malformed: {exc}.", row=reader.line_num) from None
            yield reader.line_num - _extra_lines(cells), cells

    kind, records = _table_records(rows(), spreadsheet=True)
    result = ImportFile("csv")
    setattr(result, kind, records)
    return result


def _extra_lines(cells: list[str]) -> int:
    """Return how many line breaks quoted cells of a row hold (so a row keeps its number)."""
    return sum(cell.count("\n") for cell in cells)


# Excel


def _check_archive(stream: IO[bytes]) -> None:
    try:
        archive = zipfile.ZipFile(stream)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise FileError(f"The file is not a valid .xlsx workbook (broken zip: {exc}).") from None
    with archive:
        unpacked = sum(info.file_size for info in archive.infolist())
        if unpacked > MAX_UNPACKED_BYTES:
            raise FileError(
                f"The workbook would unpack to {unpacked:,} bytes; at most "
                f"{MAX_UNPACKED_BYTES:,} are accepted."
            )
        if "xl/workbook.xml" not in archive.namelist():
            raise FileError("The file is a zip archive but not an .xlsx workbook.")
        bad = archive.testzip()
        if bad is not None:
            raise FileError(f"The workbook is damaged: the part {bad} fails its checksum.")
    stream.seek(0)


def read_xlsx(stream: IO[bytes]) -> ImportFile:
    """Return the records of a workbook: its "accounts" sheet and the first other sheet.

    Formula cells are refused (read with ``data_only=False``, so a formula is seen as
    one rather than as the value Excel last cached for it).
    """
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    _check_archive(stream)
    try:
        workbook = load_workbook(stream, read_only=True, data_only=False)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise FileError(f"The file is not a valid .xlsx workbook ({exc}).") from None
    result = ImportFile("xlsx")
    try:
        sheets = list(workbook.worksheets)
        if not sheets:
            raise FileError("The workbook has no sheet.")
        named = {sheet.title.strip().lower(): sheet for sheet in sheets}
        chosen = [named["accounts"]] if "accounts" in named else []
        pool_sheet = named.get("pools") or next(
            (sheet for sheet in sheets if sheet.title.strip().lower() != "accounts"), None
        )
        if pool_sheet is not None:
            chosen.insert(0, pool_sheet)
        for sheet in chosen:
            kind, records = _table_records(_sheet_rows(sheet), spreadsheet=True)
            if getattr(result, kind):
                raise FileError(f"Two sheets hold {kind}; keep one.")
            setattr(result, kind, records)
    except FileError:
        raise
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError) as exc:
        raise FileError(f"The workbook cannot be read ({type(exc).__name__}: {exc}).") from None
    finally:
        workbook.close()
    return result


def _sheet_rows(sheet: Any) -> Iterator[tuple[int, list[Any]]]:
    from openpyxl.utils import get_column_letter

    for number, row in enumerate(sheet.iter_rows(), start=1):
        if len(row) > MAX_COLUMNS:
            trailing = [cell for cell in row[MAX_COLUMNS:] if cell.value not in (None, "")]
            if trailing:
                raise FileError(
                    f"The row has {len(row):,} cells; at most {MAX_COLUMNS} are accepted.",
                    row=number,
                )
            row = row[:MAX_COLUMNS]
        cells = []
        for index, cell in enumerate(row):
            if getattr(cell, "data_type", None) == "f":
                raise FileError(
                    "The cell holds a spreadsheet formula; formulas are not imported.",
                    row=number,
                    column=get_column_letter(index + 1),
                )
            value = cell.value
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            cells.append(value if value is None or isinstance(value, str) else str(value))
        yield number, cells


# JSON and YAML


def _read_text(stream: IO[bytes]) -> str:
    data = stream.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise FileError(f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        row = data[: exc.start].count(b"\n") + 1
        raise FileError(
            f"The file is not UTF-8 text: the byte 0x{data[exc.start]:02x} at byte offset "
            f"{exc.start} cannot be decoded.",
            row=row,
        ) from None


def _document_records(document: Any, file_format: str) -> ImportFile:
    """Return the records of a parsed JSON or YAML document.

    A list is a list of pools; an object holds ``pools`` and/or ``accounts`` lists.
    """
    result = ImportFile(file_format)
    if isinstance(document, list):
        sections = {"pools": document}
    elif isinstance(document, dict):
        unknown = sorted(str(key) for key in document if key not in ("pools", "accounts"))
        if unknown:
            raise FileError(
                f"Unknown key '{unknown[0]}' at the top level; give 'pools' and/or 'accounts'."
            )
        sections = {key: document[key] for key in ("pools", "accounts") if key in document}
        if not sections:
            raise FileError("The document has neither 'pools' nor 'accounts'.")
    else:
        raise FileError(
            "The document must be a list of pools or an object with 'pools' and 'accounts'."
        )
    total = 0
    for kind, items in sections.items():
        if items is None:
            continue
        if not isinstance(items, list):
            raise FileError(f"'{kind}' must be a list.")
        total += len(items)
        if total > MAX_ROWS:
            raise _too_many_rows()
        known = ACCOUNT_COLUMNS if kind == "accounts" else POOL_COLUMNS
        records = []
        for number, item in enumerate(items, start=1):
            if not isinstance(item, dict):
                raise FileError(f"Each item of '{kind}' must be an object.", row=number)
            if len(item) > MAX_COLUMNS:
                raise FileError(
                    f"The item has {len(item):,} keys; at most {MAX_COLUMNS} are accepted.",
                    row=number,
                )
            values: dict[str, Any] = {}
            for key, value in item.items():
                column = normalize_column(key)
                if column in SECRET_COLUMNS:
                    raise FileError(
                        f"The key '{column}' would carry a secret; credentials are never imported.",
                        row=number,
                        column=column,
                    )
                if column not in known:
                    raise FileError(
                        f"Unknown key '{column}'; the {kind} keys are {', '.join(known)}.",
                        row=number,
                        column=column,
                    )
                values[column] = _cell_text(value, number, column, spreadsheet=False)
            records.append(Record(number, values))
        setattr(result, kind, records)
    return result


def read_json(stream: IO[bytes]) -> ImportFile:
    """Return the records of a JSON document."""
    text = _read_text(stream)
    too_deep = FileError(f"The JSON is nested deeper than {MAX_JSON_DEPTH} levels.")
    try:
        document = json.loads(text)
    except RecursionError:
        raise too_deep from None
    except json.JSONDecodeError as exc:
        raise FileError(
            f"The JSON is malformed: {exc.msg} (line {exc.lineno}, column {exc.colno})."
        ) from None
    if _too_deep(document):
        raise too_deep
    return _document_records(document, "json")


def _too_deep(value: Any) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        )
        if children is None:
            continue
        if depth > MAX_JSON_DEPTH:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _yaml_loader() -> type:
    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _check_yaml_events(text: str) -> None:
    """Refuse aliases, too many nodes and too deep nesting before building anything."""
    depth = 0
    count = 0
    try:
        for event in yaml.parse(text, Loader=_yaml_loader()):
            count += 1
            if count > MAX_YAML_EVENTS:
                raise FileError(f"The YAML has more than {MAX_YAML_EVENTS:,} nodes.")
            if isinstance(event, yaml.AliasEvent):
                line = event.start_mark.line + 1 if event.start_mark else None
                raise FileError(
                    f"The YAML uses an alias (*{event.anchor}); aliases and anchors are not "
                    "accepted (they can expand a small file into a huge one).",
                    row=line,
                )
            if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
                depth += 1
                if depth > MAX_JSON_DEPTH:
                    raise FileError(f"The YAML is nested deeper than {MAX_JSON_DEPTH} levels.")
            elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
                depth -= 1
    except yaml.YAMLError as exc:
        raise FileError(f"The YAML is malformed: {_yaml_problem(exc)}.") from None


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if mark is not None:
        return f"{problem} (line {mark.line + 1}, column {mark.column + 1})"
    return str(problem)


def read_yaml(stream: IO[bytes]) -> ImportFile:
    """Return the records of a YAML document (safe loading; no aliases)."""
    text = _read_text(stream)
    _check_yaml_events(text)
    try:
        document = yaml.load(text, Loader=_yaml_loader())  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        raise FileError(f"The YAML is malformed: {_yaml_problem(exc)}.") from None
    return _document_records(document, "yaml")


READERS = {"csv": read_csv, "xlsx": read_xlsx, "json": read_json, "yaml": read_yaml}


def read_file(stream: IO[bytes], *, filename: str = "", file_format: str = "") -> ImportFile:
    """Return the records of an uploaded file, its format given or detected."""
    if not hasattr(stream, "seek") or not stream.seekable():
        stream = io.BytesIO(stream.read(MAX_BYTES + 1))
    stream.seek(0, io.SEEK_END)
    size = stream.tell()
    stream.seek(0)
    if size > MAX_BYTES:
        raise FileError(
            f"The file has {size:,} bytes; at most {MAX_BYTES // (1024 * 1024)} MB are accepted."
        )
    if size == 0:
        raise FileError("The file is empty.")
    if not file_format:
        file_format = detect_format(filename, stream.read(512))
        stream.seek(0)
    if file_format not in READERS:
        raise FileError(f"Unknown format '{file_format}'; choose one of {', '.join(FORMATS)}.")
    return READERS[file_format](stream)
