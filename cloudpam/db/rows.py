"""Model instances from the rows of plain SQL, for the few hot paths that write their own.

An allocation's lock (``UPDATE ... RETURNING``) and the audit chainer's read of pending
events run on every allocation. ``QuerySet.raw`` would load them, but it works out its
column mapping again for every query, which costs more than the query itself. Here the
columns are the model's concrete fields in a fixed order (``columns``) and their
converters (JSON fields, SQLite's dates) are found once per connection; each row is loaded
with ``Model.from_db``, so the instances are exactly those the ORM would return.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper

M = TypeVar("M", bound=models.Model)

_Converters = list[tuple[int, list[Callable[..., Any]], Any]]


def columns(model: type[models.Model]) -> str:
    """Return the quoted columns of ``model``'s concrete fields, for a SELECT or RETURNING."""
    table = model._meta.db_table
    return ", ".join(f'"{table}"."{field.column}"' for field in model._meta.concrete_fields)


def _converters(connection: BaseDatabaseWrapper, model: type[models.Model]) -> _Converters:
    cache: dict[type[models.Model], _Converters] = connection.__dict__.setdefault(
        "_cloudpam_row_converters", {}
    )
    found = cache.get(model)
    if found is None:
        found = []
        table = model._meta.db_table
        for index, field in enumerate(model._meta.concrete_fields):
            # What the SQL compiler's get_converters finds for a plain column.
            expression = field.get_col(table)
            functions = connection.ops.get_db_converters(expression) + expression.get_db_converters(
                connection
            )
            if functions:
                found.append((index, functions, expression))
        cache[model] = found
    return found


def load(connection: BaseDatabaseWrapper, model: type[M], rows: Sequence[Sequence[Any]]) -> list[M]:
    """Return ``model`` instances for ``rows`` selected in the order of ``columns(model)``."""
    names = [field.attname for field in model._meta.concrete_fields]
    converters = _converters(connection, model)
    instances = []
    for row in rows:
        values = list(row)
        for index, functions, expression in converters:
            value = values[index]
            for function in functions:
                value = function(value, expression, connection)
            values[index] = value
        instances.append(model.from_db(connection.alias, names, values))
    return instances
