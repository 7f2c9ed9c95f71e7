"""The one table of the console: declared columns, sorting, columns chosen per user, pages
of a chosen size, bulk selection and a CSV export of the filtered rows.

A list declares its table once::

    class AccountTable(Table):
        key = "cloud.accounts"
        noun = "accounts"
        columns = (
            Column("name", "Name", order=("name", "id"), required=True,
                   cell='<a href="{% url "cloud:account-detail" row.pk %}">{{ row.name }}</a>'),
            Column("provider", "Provider", order=("provider", "id"), value="get_provider_display"),
        )

and its view builds it from the request and the filtered queryset, answers the export when
it is asked for, and renders ``includes/table.html`` with it::

    table = AccountTable(request, queryset)
    if table.export_requested:
        return table.export_response()

Sorting takes only the columns' own orderings (``?sort=name`` or ``?sort=-name``); any
other value is ignored with a message. A page holds 25, 50, 100 or 250 rows. The columns
and page size a user saves are remembered per user and table (``TablePreference``). A page
costs the same queries whatever its size, sort and columns: the preference, the count,
the page and what the table's ``prepare`` adds per page (one grouped query each).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar

from django.contrib import messages
from django.core.paginator import Page
from django.db.models import Model, QuerySet
from django.forms.utils import flatatt
from django.http import HttpRequest, QueryDict, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.middleware.csrf import get_token
from django.template import engines
from django.utils import timezone
from django.utils.html import conditional_escape
from django.utils.module_loading import autodiscover_modules
from django.utils.safestring import SafeString, mark_safe

from apps.planning.io.writers import CONTENT_TYPES, csv_stream
from apps.tenancy.preferences import table_preference_get
from cloudpam.pagination import CappedPaginator

PAGE_SIZES = (25, 50, 100, 250)
DEFAULT_PAGE_SIZE = 50
SORT_PARAM = "sort"
PAGE_PARAM = "page"
PAGE_SIZE_PARAM = "per_page"
EXPORT_PARAM = "export"
EXPORT_FORMATS = ("csv",)
EXPORT_CHUNK = 500

# Every table by key, for the preference endpoint to check the columns it is sent; filled
# as each app's ``tables`` module is imported (``all_tables`` imports them all).
TABLES: dict[str, type[Table]] = {}


def all_tables() -> dict[str, type[Table]]:
    """Return every declared table by key, importing each installed app's ``tables``."""
    autodiscover_modules("tables")
    return TABLES


@dataclass(frozen=True)
class Column:
    """One column: its key, header, ordering, default visibility and how a cell reads.

    ``order`` lists the ``order_by`` fields of an ascending sort (descending reverses each);
    empty, the column does not sort. ``value`` names the attribute (dotted, callables
    called) whose text the cell and the export show, the key by default; ``cell`` is a
    template of the cell's HTML given ``row`` (the export still writes ``value``).
    ``required`` columns cannot be hidden.
    """

    key: str
    label: str
    order: tuple[str, ...] = ()
    default: bool = True
    required: bool = False
    value: str | Callable[[Any], Any] = ""
    cell: str = ""
    export: bool = True
    numeric: bool = False
    # Classes of the cell (``mono`` for addresses and ids).
    css: str = ""

    @property
    def sortable(self) -> bool:
        return bool(self.order)

    def descending(self) -> tuple[str, ...]:
        return tuple(field[1:] if field.startswith("-") else f"-{field}" for field in self.order)

    def text(self, row: Any) -> Any:
        """Return the plain value of this column for ``row`` (None reads as empty)."""
        if callable(self.value):
            return self.value(row)
        value: Any = row
        for part in (self.value or self.key).split("."):
            if value is None:
                return None
            value = value.get(part) if isinstance(value, Mapping) else getattr(value, part, None)
            if callable(value) and not isinstance(value, Model):
                value = value()
        return value

    @cached_property
    def template(self) -> Any:
        return engines["django"].from_string(self.cell) if self.cell else None

    def render(self, row: Any, context: dict[str, Any]) -> SafeString:
        """Return the cell's HTML for ``row``."""
        if self.template is not None:
            return mark_safe(self.template.render({**context, "row": row}).strip())  # noqa: S308
        value = self.text(row)
        return conditional_escape("" if value is None else value)


@dataclass(frozen=True)
class BulkAction:
    """An action on the selected rows, offered when the view allows it."""

    key: str
    label: str


@dataclass(frozen=True)
class Header:
    """A column header as the template shows it: its sort state and the link that flips it."""

    column: Column
    sort: str  # "ascending", "descending" or "none"
    url: str

    @property
    def aria_sort(self) -> str:
        return self.sort


@dataclass(frozen=True)
class Cell:
    """A cell as the template shows it: its HTML and its classes."""

    html: SafeString
    css: str = ""


@dataclass(frozen=True)
class Row:
    """A row as the template shows it: the object and its rendered cells."""

    obj: Any
    cells: list[Cell]
    attrs: str = ""

    @property
    def pk(self) -> Any:
        return self.obj.pk


class Table:
    """A list page's table built from the request and the filtered queryset."""

    key: ClassVar[str]
    columns: ClassVar[tuple[Column, ...]]
    noun: ClassVar[str] = "rows"
    # A column key, "-key" for descending; empty keeps the queryset's own order.
    default_sort: ClassVar[str] = ""
    bulk_actions: ClassVar[tuple[BulkAction, ...]] = ()
    # The URL name the bulk form posts to.
    bulk_url_name: ClassVar[str] = ""
    exportable: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "key" in cls.__dict__:
            keys = [column.key for column in cls.columns]
            if len(set(keys)) != len(keys):
                raise ValueError(f"Table {cls.key} declares a column twice.")
            TABLES[cls.key] = cls

    def __init__(
        self,
        request: HttpRequest,
        queryset: QuerySet | Sequence[Any],
        *,
        bulk: bool = False,
        context: dict[str, Any] | None = None,
        exclude: Sequence[str] = (),
    ) -> None:
        self.request = request
        # Columns this viewer never sees (e.g. other members' names for a non-admin).
        self.excluded = frozenset(exclude)
        self.queryset = queryset
        self.bulk_allowed = bulk and bool(self.bulk_actions)
        # Cells render without the request's context processors, which would run per cell.
        self.cell_context = {
            "csrf_token": get_token(request),
            "request": request,
            **(context or {}),
        }
        self.params: QueryDict = request.GET.copy()
        self.preference = table_preference_get(user=request.user, table=self.key)
        self.sort = self._read_sort()
        self.page_size = self._read_page_size()
        self.export_format = self._read_export()

    # -- reading the request -------------------------------------------------------------

    @classmethod
    def column_keys(cls) -> list[str]:
        return [column.key for column in cls.columns]

    @classmethod
    def default_columns(cls) -> list[str]:
        return [column.key for column in cls.columns if column.default or column.required]

    def _warn(self, message: str) -> None:
        if self.request.method == "GET":
            messages.warning(self.request, message)

    def _read_sort(self) -> str:
        value = self.params.get(SORT_PARAM, "")
        if not value:
            return self.default_sort
        sortable = {column.key for column in self.columns if column.sortable}
        if value.removeprefix("-") in sortable:
            return value
        labels = ", ".join(column.label for column in self.columns if column.sortable)
        self._warn(f"This list cannot be sorted that way; it sorts by {labels}.")
        return self.default_sort

    def _read_page_size(self) -> int:
        stored = self.preference.page_size if self.preference else None
        fallback = stored if stored in PAGE_SIZES else DEFAULT_PAGE_SIZE
        value = self.params.get(PAGE_SIZE_PARAM, "")
        if not value:
            return fallback
        if value.isascii() and value.isdigit() and int(value) in PAGE_SIZES:
            return int(value)
        self._warn(f"A page holds {', '.join(map(str, PAGE_SIZES))} rows; showing {fallback}.")
        return fallback

    @cached_property
    def visible(self) -> list[Column]:
        chosen = self.preference.columns if self.preference else []
        known = set(self.column_keys())
        keys = {key for key in chosen if key in known} or set(self.default_columns())
        return [
            column
            for column in self.columns
            if (column.key in keys or column.required) and column.key not in self.excluded
        ]

    @property
    def visible_keys(self) -> list[str]:
        return [column.key for column in self.visible]

    # -- the rows ------------------------------------------------------------------------

    def ordered(self) -> QuerySet | list[Any]:
        """Return the rows in the chosen order.

        A queryset is ordered by the column's fields; a list (rows that are not all in the
        database, such as the built-in templates) by the column's values.
        """
        if not self.sort:
            return self.queryset
        column = next(c for c in self.columns if c.key == self.sort.removeprefix("-"))
        descending = self.sort.startswith("-")
        if not isinstance(self.queryset, QuerySet):
            return sorted(
                self.queryset, key=lambda row: _sort_key(column.text(row)), reverse=descending
            )
        return self.queryset.order_by(*(column.descending() if descending else column.order))

    def prepare(self, objects: list[Any]) -> list[Any]:
        """Attach what the cells read to one page of objects (a grouped query at most)."""
        return objects

    @cached_property
    def page(self) -> Page:
        # Counted up to a cap: an exact count of a million rows would be most of the page.
        paginator = CappedPaginator(self.ordered(), self.page_size)
        page = paginator.get_page(self.params.get(PAGE_PARAM))
        page.object_list = self.prepare(list(page.object_list))
        return page

    @cached_property
    def rows(self) -> list[Row]:
        context = {**self.cell_context, "table": self}
        return [
            Row(
                obj,
                [Cell(column.render(obj, context), column.css) for column in self.visible],
                flatatt(self.row_attrs(obj)),
            )
            for obj in self.page.object_list
        ]

    def row_attrs(self, obj: Any) -> dict[str, Any]:
        """Return the attributes of a row's ``<tr>`` (a class, ``data-`` marks for tests)."""
        return {"class": "deleted"} if getattr(obj, "deleted_at", None) else {}

    # -- links ---------------------------------------------------------------------------

    def url(self, **changes: Any) -> str:
        """Return this page's query string with ``changes`` (None removes a parameter)."""
        params = self.params.copy()
        params.pop(PAGE_PARAM, None)
        params.pop(EXPORT_PARAM, None)
        for name, value in changes.items():
            params.pop(name, None)
            if value is not None:
                params[name] = str(value)
        encoded = params.urlencode()
        return f"?{encoded}" if encoded else "?"

    @cached_property
    def headers(self) -> list[Header]:
        headers = []
        for column in self.visible:
            if not column.sortable:
                headers.append(Header(column, "none", ""))
                continue
            if self.sort == column.key:
                state, flip = "ascending", f"-{column.key}"
            elif self.sort == f"-{column.key}":
                state, flip = "descending", column.key
            else:
                state, flip = "none", column.key
            headers.append(Header(column, state, self.url(sort=flip)))
        return headers

    def page_url(self, number: int) -> str:
        base = self.url()
        return f"{base}{'&' if len(base) > 1 else ''}{PAGE_PARAM}={number}"

    @property
    def previous_url(self) -> str:
        return self.page_url(self.page.previous_page_number()) if self.page.has_previous() else ""

    @property
    def next_url(self) -> str:
        return self.page_url(self.page.next_page_number()) if self.page.has_next() else ""

    @property
    def page_sizes(self) -> list[dict[str, Any]]:
        return [
            {
                "size": size,
                "url": self.url(**{PAGE_SIZE_PARAM: size}),
                "current": size == self.page_size,
            }
            for size in PAGE_SIZES
        ]

    @property
    def export_url(self) -> str:
        return self.url(**{EXPORT_PARAM: "csv"}) if self.exportable else ""

    @property
    def choices(self) -> list[dict[str, Any]]:
        """The column chooser's checkboxes."""
        shown = set(self.visible_keys)
        return [
            {"column": column, "checked": column.key in shown, "disabled": column.required}
            for column in self.columns
            if column.key not in self.excluded
        ]

    # -- export --------------------------------------------------------------------------

    def _read_export(self) -> str:
        value = self.params.get(EXPORT_PARAM, "")
        if not value:
            return ""
        if value in EXPORT_FORMATS and self.exportable:
            return value
        self._warn(f"This list exports as {', '.join(EXPORT_FORMATS)}.")
        return ""

    @property
    def export_requested(self) -> bool:
        """Return whether the request asks for the export (checked when the table is built)."""
        return bool(self.export_format)

    def export_rows(self) -> Iterator[list[Any]]:
        """Yield every filtered row, in the chosen order, as the visible columns' values."""
        columns = [column for column in self.visible if column.export]
        chunk: list[Any] = []
        rows = self.ordered()
        if isinstance(rows, QuerySet):
            rows = rows.iterator(chunk_size=EXPORT_CHUNK)
        for obj in rows:
            chunk.append(obj)
            if len(chunk) == EXPORT_CHUNK:
                yield from self._export_chunk(chunk, columns)
                chunk = []
        yield from self._export_chunk(chunk, columns)

    def _export_chunk(self, chunk: list[Any], columns: Sequence[Column]) -> Iterable[list[Any]]:
        for obj in self.prepare(chunk):
            yield [_export_cell(column.text(obj)) for column in columns]

    def export_filename(self) -> str:
        organization = getattr(self.request, "organization", None)
        slug = f"-{organization.slug}" if organization is not None else ""
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        return f"{self.key.replace('.', '-')}{slug}-{stamp}.csv"

    def export_response(self) -> HttpResponseBase:
        """Stream the filtered rows as CSV, formula-looking cells quoted (``csv_stream``)."""
        header = [column.label for column in self.visible if column.export]
        response = StreamingHttpResponse(
            csv_stream(header, self.export_rows()), content_type=CONTENT_TYPES["csv"]
        )
        response["Content-Disposition"] = f'attachment; filename="{self.export_filename()}"'
        return response


def _sort_key(value: Any) -> tuple[int, Any]:
    """Order values of one column with empty ones last and text without regard to case."""
    if value is None or value == "":
        return (1, "")
    if isinstance(value, str):
        return (0, value.casefold())
    return (0, value)


def _export_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return ";".join(str(item) for item in value)
    if isinstance(value, dict):
        return ";".join(f"{key}={item}" for key, item in value.items())
    return value if isinstance(value, (int, float)) else str(value)
