"""Set-based writes of computed rows: many rows a statement, one JSON document each.

Reconciliation and drift write tens of thousands of computed rows per run. On PostgreSQL
the rows travel as one JSON document per ``BATCH`` rows, which the server turns into a
record set (``json_to_recordset`` / ``json_populate_recordset``): one parameter, parsed in
C. A multi-row ``VALUES`` list of placeholders, or Django's ``bulk_update`` (a ``CASE`` of
every row for every column, evaluated row by row), spends most of the run in the driver
rewriting thousands of placeholders. Elsewhere (SQLite: tests and ``make run``) the ORM's
own bulk calls do it. Values are plain Python: JSON columns take the object itself and
timestamps are written in ISO 8601.
"""

from __future__ import annotations

import datetime
import decimal
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.db import connection, models
from django.utils import timezone

BATCH = 5_000
# Rows a statement off PostgreSQL, where the ORM's bulk calls build the statements.
ORM_BATCH = 1_000


def _json_default(value: Any) -> Any:
    """Return what ``json`` cannot write (timestamps, decimals, UUIDs) as PostgreSQL reads it."""
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


# One encoder for every row: ``json.dumps`` with options builds a new one per call.
_document = json.JSONEncoder(default=_json_default, separators=(",", ":")).encode


def update_rows(
    model: type[models.Model], columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]]
) -> None:
    """Set ``columns`` (attribute name, PostgreSQL type) of the rows ``(pk, *values)``."""
    if not rows:
        return
    names = [name for name, _ in columns]
    if connection.vendor != "postgresql":
        objects = []
        for pk, *values in rows:
            obj = model(pk=pk)
            for name, value in zip(names, values, strict=True):
                setattr(obj, name, value)
            objects.append(obj)
        fields = [model._meta.get_field(name).name for name in names]
        model.objects.bulk_update(objects, fields, batch_size=ORM_BATCH)
        return
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    targets = [quote(model._meta.get_field(name).column) for name in names]
    pk_column = quote(model._meta.pk.column)
    keys = ["id", *(f"c{index}" for index in range(len(columns)))]
    record = ", ".join(
        ["id bigint", *(f"c{index} {kind}" for index, (_, kind) in enumerate(columns))]
    )
    assignments = ", ".join(f"{column} = v.c{index}" for index, column in enumerate(targets))
    # Table, column names and types come from the model and the caller's code, never input.
    sql = (
        f"UPDATE {table} AS t SET {assignments} "  # noqa: S608
        f"FROM json_to_recordset(%s::json) AS v({record}) WHERE t.{pk_column} = v.id"
    )
    with connection.cursor() as cursor:
        for start in range(0, len(rows), BATCH):
            chunk = rows[start : start + BATCH]
            document = ",".join(_document(dict(zip(keys, row, strict=True))) for row in chunk)
            cursor.execute(sql, [f"[{document}]"])


def insert_values(model: type[models.Model], rows: Iterable[Mapping[str, Any]]) -> int:
    """Insert ``rows`` of ``{attribute name: value}`` (ids drawn by the database); no signals.

    What ``bulk_create`` does for rows nobody reads again in the same transaction, without
    a model instance per row: a field a row leaves out takes its default, and ``auto_now``
    and ``auto_now_add`` stamps are the time of the call. Returns the rows written.
    """
    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    now = timezone.now()
    defaults = {
        field.attname: (
            now
            if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
            else field.get_default()
        )
        for field in fields
    }
    known = defaults.keys()
    column_of = {field.attname: field.column for field in fields}
    renamed = any(name != column for name, column in column_of.items())
    postgresql = connection.vendor == "postgresql"
    written = 0
    chunk: list[dict[str, Any]] = []

    def flush() -> None:
        nonlocal written
        if postgresql:
            _insert_documents(model, fields, chunk)
        else:
            model.objects.bulk_create([model(**row) for row in chunk], batch_size=ORM_BATCH)
        written += len(chunk)
        chunk.clear()

    for row in rows:
        unknown = row.keys() - known
        if unknown:
            raise TypeError(f"{model.__name__} has no field {', '.join(sorted(unknown))}")
        values = {**defaults, **row}
        if postgresql and renamed:
            # The record set is read by column name.
            values = {column_of[name]: value for name, value in values.items()}
        chunk.append(values)
        if len(chunk) >= BATCH:
            flush()
    if chunk:
        flush()
    return written


def _insert_documents(
    model: type[models.Model], fields: list[models.Field], rows: list[dict[str, Any]]
) -> None:
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    columns = ", ".join(quote(field.column) for field in fields)
    sql = (
        f"INSERT INTO {table} ({columns}) SELECT {columns} "  # noqa: S608 - names only
        f"FROM json_populate_recordset(NULL::{table}, %s::json)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [f"[{','.join(_document(row) for row in rows)}]"])
