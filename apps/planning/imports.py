"""The import of pools and cloud accounts as a plan (SPEC.md section 7.2).

``plan_import`` reads the file (``apps.planning.io.readers``; an unreadable file is a
400 and nothing is stored), checks every row (``apps.planning.io.imports``), stores the
rows as a plan of source ``import`` and dry-runs it through the pool services. The plan
is ``valid`` when every row is; otherwise ``invalid``, with each bad row's error (row,
column, message, code) in ``source_detail["errors"]`` and in the plan's validation. A
bad row stays in the plan as an operation that cannot pass the checks
(``row_error``), so an invalid import never applies part of a file: the user fixes the
file and imports it again. Pools are written only when the plan is applied.

Cloud accounts are not part of the address plan: their rows are checked in the same
dry run (each created in a savepoint that is rolled back), and they are created by the
import itself only when every row of the file, pools and accounts, is good. Credentials
are never taken from a file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, Any

from django.db import transaction
from django.utils import timezone

from apps.cloud import services as cloud_services
from apps.cloud.models import CloudAccount
from apps.planning import services as plan_services
from apps.planning.choices import PlanSource, PlanStatus
from apps.planning.io import imports as rows_engine
from apps.planning.io.readers import FileError, ImportFile, Record, read_file
from apps.planning.models import Plan
from apps.pools.choices import PoolStatus, PoolType
from apps.pools.models import Pool
from apps.tenancy.models import Organization
from apps.tenancy.permissions import actor_permission_denial
from cloudpam.context import Actor, operation
from cloudpam.exceptions import ApplicationError, PermissionDenied, ValidationError

PLAN_LABEL = "planning.plan"
# How many row errors a plan keeps (the count is always exact).
MAX_STORED_ERRORS = 1_000
ERROR_FIELD = "row_error"


@dataclass(frozen=True)
class ImportRequest:
    """What the caller uploaded: the file (or parsed rows) and the options."""

    filename: str
    file_format: str = ""
    nest: bool = False
    title: str = ""


def _existing_pools(organization: Organization) -> list[rows_engine.ExistingPool]:
    return [
        rows_engine.ExistingPool(id=pk, name=name, cidr=cidr, parent_id=parent_id)
        for pk, name, cidr, parent_id in Pool.objects.for_organization(organization)
        .live()
        .values_list("id", "name", "cidr", "parent_id")
        .iterator(chunk_size=5_000)
    ]


def _account_values(record: Record) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, value in record.values.items():
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if isinstance(value, str):
            value = value.strip()
        if key == "regions" and isinstance(value, str):
            value = [item.strip() for item in value.replace(",", ";").split(";") if item.strip()]
        elif key in ("sync_enabled", "auto_import") and isinstance(value, str):
            lowered = value.lower()
            if lowered in ("true", "yes", "1"):
                value = True
            elif lowered in ("false", "no", "0"):
                value = False
        elif key == "sync_interval_minutes" and isinstance(value, str) and value.isdigit():
            value = int(value)
        values[key] = value
    values.setdefault("auth_method", "default_chain")
    return values


def _check_accounts(
    organization: Organization, actor: Actor, records: list[Record], *, keep: bool
) -> tuple[list[rows_engine.RowError], list[CloudAccount]]:
    """Create each account row through the account service; undo them unless ``keep``.

    Each row runs in its own savepoint so that one bad row does not hide the next.
    """
    errors: list[rows_engine.RowError] = []
    created: list[CloudAccount] = []
    for record in records:
        values = _account_values(record)
        savepoint = transaction.savepoint()
        try:
            account = cloud_services.account_create(
                organization=organization, actor=actor, **values
            )
        except ApplicationError as exc:
            transaction.savepoint_rollback(savepoint)
            column = next(iter(exc.fields or {}), "")
            errors.append(rows_engine.RowError(record.row, column, exc.message, exc.code))
            continue
        except TypeError:
            transaction.savepoint_rollback(savepoint)
            errors.append(rows_engine.RowError(record.row, "", "Unknown account fields."))
            continue
        if keep:
            transaction.savepoint_commit(savepoint)
            created.append(account)
        else:
            transaction.savepoint_rollback(savepoint)
    return errors, created


def _placeholder(record: Record, error: rows_engine.RowError) -> dict[str, Any]:
    """Return the operation that stands for a bad row: it can never pass the checks."""
    name = record.values.get("name")
    return {
        "op": "create",
        "ref": rows_engine.ref_of(record.row),
        "name": name.strip() if isinstance(name, str) and name.strip() else f"row {record.row}",
        ERROR_FIELD: f"{error.column}: {error.message}" if error.column else error.message,
    }


def _merge_errors(
    row_errors: list[rows_engine.RowError],
    run_errors: list[Any],
    ref_rows: Mapping[str, int],
) -> list[rows_engine.RowError]:
    """Return the row errors followed by the dry run's, brought back to their rows."""
    merged = list(row_errors)
    seen = {error.row for error in row_errors}
    for error in run_errors:
        if error.field == ERROR_FIELD:
            continue  # A bad row's placeholder: its own error is already listed.
        row = ref_rows.get(error.ref) or rows_engine.row_of(error.ref or "")
        if row is None:
            merged.append(rows_engine.RowError(0, error.field, error.message, error.code))
            continue
        if row in seen:
            continue
        seen.add(row)
        column = error.field if error.field in ("name", "cidr", "parent", "type", "status") else ""
        if error.field in ("description", "tags"):
            column = error.field
        merged.append(rows_engine.RowError(row, column or "cidr", error.message, error.code))
    return sorted(merged, key=lambda error: error.row)


def _validation(errors: list[rows_engine.RowError], ref_index: Mapping[int, int]) -> dict:
    return {
        "valid": not errors,
        "dry_run": True,
        "error_count": len(errors),
        "errors": [
            {
                "index": ref_index.get(error.row),
                "ref": rows_engine.ref_of(error.row) if error.row else "",
                "code": error.code,
                "field": error.column,
                "message": error.message,
                "row": error.row,
                "column": error.column,
            }
            for error in errors[:MAX_STORED_ERRORS]
        ],
        "checked_at": timezone.now().isoformat(),
    }


def read_import(stream: IO[bytes], request: ImportRequest) -> ImportFile:
    """Return the rows of an uploaded file, or raise a 400 naming why it cannot be read."""
    try:
        return read_file(stream, filename=request.filename, file_format=request.file_format)
    except FileError as exc:
        raise ValidationError(exc.message, fields={"file": [exc.message]}) from None


@transaction.atomic
def plan_import(
    *,
    organization: Organization,
    actor: Actor,
    stream: IO[bytes] | None = None,
    rows: ImportFile | None = None,
    request: ImportRequest,
) -> Plan:
    """Store an import as a plan of source ``import``, dry-run, with an error per bad row."""
    reason = actor_permission_denial(
        actor=actor, organization=organization, permission="plans.change"
    )
    if reason is not None:
        raise PermissionDenied(reason)
    if rows is None:
        if stream is None:
            raise ValidationError("Give a file.", fields={"file": ["No file was submitted."]})
        rows = read_import(stream, request)
    if not rows.rows:
        message = "The file holds no rows."
        raise ValidationError(message, fields={"file": [message]})
    if rows.accounts:
        denial = actor_permission_denial(
            actor=actor, organization=organization, permission="accounts.change"
        )
        if denial is not None:
            raise PermissionDenied(denial)
    result = rows_engine.pool_operations(
        rows.pools,
        existing=_existing_pools(organization),
        nest=request.nest,
        types=PoolType.values,
        statuses=PoolStatus.values,
        allow_overlapping_roots=bool(organization.setting("allow_overlapping_roots")),
    )
    good = len(result.operations)
    if good > plan_services.engine.MAX_OPERATIONS:
        message = (
            f"An import plan creates at most {plan_services.engine.MAX_OPERATIONS:,} pools; "
            f"this file has {good:,} good pool rows. Split it (by subtree) into several files."
        )
        raise ValidationError(message, fields={"file": [message]})
    account_errors, _none = _check_accounts(organization, actor, rows.accounts, keep=False)
    by_row = {record.row: record for record in rows.pools}
    operations = list(result.operations)
    operations.extend(
        _placeholder(by_row[error.row], error) for error in result.errors if error.row in by_row
    )
    ref_index = {rows_engine.row_of(op["ref"]): index for index, op in enumerate(operations)}
    title = request.title.strip() or f"Import of {request.filename or 'a file'}"
    detail: dict[str, Any] = {
        "filename": request.filename[:255],
        "format": rows.format,
        "nest": request.nest,
        "rows": rows.rows,
        "pool_rows": len(rows.pools),
        "account_rows": len(rows.accounts),
    }
    plan = plan_services.plan_create(
        organization=organization,
        actor=actor,
        title=title[:255],
        source=PlanSource.IMPORT,
        operations=operations,
        source_detail=detail,
    )
    run = plan_services.plan_dry_run(plan=plan, actor=actor, preview=not result.errors)
    errors = _merge_errors(result.errors, run.errors, result.ref_rows)
    # Account rows are numbered within their own sheet or list.
    account_detail = [error.as_dict() | {"section": "accounts"} for error in account_errors]
    accounts_created: list[int] = []
    if not errors and not account_errors and rows.accounts:
        _errors, created = _check_accounts(organization, actor, rows.accounts, keep=True)
        accounts_created = [account.pk for account in created]
    all_errors = [error.as_dict() for error in errors] + account_detail
    plan.source_detail = {
        **detail,
        "errors": all_errors[:MAX_STORED_ERRORS],
        "error_count": len(all_errors),
        "accounts_created": accounts_created,
    }
    valid = not errors and not account_errors
    plan.status = PlanStatus.VALID if valid else PlanStatus.INVALID
    plan.validation = _validation(errors, ref_index)
    plan.preview = (run.preview or {}) if valid else {}
    plan.risk_level = plan.preview.get("risk", {}).get("level", "") if valid else ""
    plan.validated_at = timezone.now()
    with operation("import", actor=actor, target=(PLAN_LABEL, plan.pk)):
        # The operations were stored with the plan; only the verdict is written again.
        plan.save(update_fields=[*plan_services.VERDICT_FIELDS, "source_detail"])
    return plan
