"""Reads and the export action of pools and cloud accounts (SPEC.md section 7.2).

``pool_export_rows`` reads a filtered pool queryset in tree order, in chunks, and turns
each pool into an ``ExportPool`` of ``apps.planning.io.writers``; the names of the
ancestors (for name paths) come from a stack of the current branch, topped up by one
query when a filter left an ancestor out, so memory follows the depth of the tree and
not its size. ``account_export_rows`` reads the accounts' public fields, never a secret.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import F, QuerySet
from django.utils import timezone

from apps.cloud.models import CloudAccount
from apps.planning.io import writers
from apps.planning.io.imports import join_path
from apps.planning.io.readers import ACCOUNT_COLUMNS
from apps.planning.io.writers import ExportPool
from apps.planning.signals import pools_exported
from apps.pools.models import Pool
from apps.tenancy.models import Organization
from cloudpam.context import Actor
from cloudpam.exceptions import ValidationError

CHUNK_SIZE = 2_000
PARENT_STYLES = ("cidr", "path")
_POOL_FIELDS = (
    "id",
    "organization_id",
    "parent_id",
    "depth",
    "path",
    "name",
    "cidr",
    "family",
    "type",
    "status",
    "description",
    "tags",
)


def _ancestor_paths(path: str, steplen: int) -> list[str]:
    return [path[:end] for end in range(steplen, len(path), steplen)]


def pool_export_rows(pools: QuerySet[Pool], *, parent_style: str = "cidr") -> Iterator[ExportPool]:
    """Yield the pools of ``pools`` in tree order, each with its parent as a CIDR or a path.

    ``parent_style`` ``cidr`` fills ``parent`` with the parent's prefix, ``path`` with the
    parent's path of names from its root (``corp/eu/prod``).
    """
    steplen = Pool.steplen
    rows = (
        pools.order_by("path")
        .annotate(parent_cidr=F("parent__cidr"))
        .values(*_POOL_FIELDS, "parent_cidr")
        .iterator(chunk_size=CHUNK_SIZE)
    )
    # The names of the current branch, by tree path: the pools just read and their
    # ancestors fetched when a filter left them out.
    branch: dict[str, str] = {}
    for row in rows:
        ancestors = _ancestor_paths(row["path"], steplen)
        for key in [key for key in branch if not row["path"].startswith(key)]:
            del branch[key]
        missing = [path for path in ancestors if path not in branch]
        if missing:
            branch.update(
                Pool.objects.filter(
                    organization_id=row["organization_id"], path__in=missing
                ).values_list("path", "name")
            )
        names = tuple(branch.get(path, "?") for path in ancestors)
        branch[row["path"]] = row["name"]
        parent = ""
        if row["parent_id"] is not None:
            parent = row["parent_cidr"] if parent_style == "cidr" else join_path(names)
        yield ExportPool(
            id=row["id"],
            parent_id=row["parent_id"],
            depth=row["depth"],
            name=row["name"],
            cidr=row["cidr"],
            family=row["family"],
            parent=parent,
            type=row["type"],
            status=row["status"],
            description=row["description"],
            # Sorted: PostgreSQL's jsonb keeps keys in its own order, SQLite in the user's.
            tags={str(key): str(value) for key, value in sorted((row["tags"] or {}).items())},
            path=(*names, row["name"]),
        )


def account_export_rows(*, organization: Organization) -> Iterator[dict[str, Any]]:
    """Yield the organization's live cloud accounts in the import's columns (no secrets)."""
    fields = [name for name in ACCOUNT_COLUMNS if name != "regions"]
    accounts = (
        CloudAccount.objects.for_organization(organization)
        .filter(deleted_at__isnull=True)
        .order_by("provider", "name", "id")
        .values(*fields, "regions")
        .iterator(chunk_size=CHUNK_SIZE)
    )
    for account in accounts:
        yield {name: account[name] for name in ACCOUNT_COLUMNS}


@dataclass(frozen=True)
class Export:
    """A file being exported: its streamed content, media type and file name."""

    content: Iterator[bytes]
    content_type: str
    filename: str


def pools_export(
    *,
    organization: Organization,
    actor: Actor,
    pools: QuerySet[Pool],
    file_format: str,
    parent_style: str = "cidr",
    filters: Mapping[str, Any] | None = None,
) -> Export:
    """Return the export of ``pools`` in ``file_format``, and record an ``export`` event.

    The content is produced as it is sent: each format reads the pools again, in chunks
    (Terraform twice, the ZIP once per format).
    """
    if file_format not in writers.EXPORT_FORMATS:
        message = f"'{file_format}' is not one of {', '.join(writers.EXPORT_FORMATS)}."
        raise ValidationError(f"format: {message}", fields={"format": [message]})
    if parent_style not in PARENT_STYLES:
        message = f"'{parent_style}' is not one of {', '.join(PARENT_STYLES)}."
        raise ValidationError(f"parent_style: {message}", fields={"parent_style": [message]})

    def rows() -> Iterator[writers.ExportPool]:
        return pool_export_rows(pools, parent_style=parent_style)

    def accounts() -> Iterator[dict[str, Any]]:
        return account_export_rows(organization=organization)

    title = f"CloudPAM {organization.name}"
    streams = {
        "csv": lambda: writers.pools_csv(rows()),
        "json": lambda: writers.pools_json(rows()),
        "yaml": lambda: writers.pools_yaml(rows()),
        "xlsx": lambda: writers.pools_xlsx(rows()),
        "terraform": lambda: writers.pools_terraform(rows, title=title),
        "zip": lambda: writers.bundle_zip(rows, accounts, title=title),
    }
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    filename = f"pools-{organization.slug}-{stamp}.{writers.EXTENSIONS[file_format]}"
    details = {
        "format": file_format,
        "parent_style": parent_style,
        "filters": {key: str(value) for key, value in (filters or {}).items()},
        "accounts": file_format == "zip",
    }
    pools_exported.send(sender=Pool, organization=organization, actor=actor, details=details)
    return Export(
        content=streams[file_format](),
        content_type=writers.CONTENT_TYPES[file_format],
        filename=filename,
    )
