"""
Which models the audit trail covers, and how each field is recorded.

Every model in the app registry is audited unless ``UNAUDITED_MODELS`` names
it with a reason; a test walks the registry so that a new model cannot be
forgotten. Secrets are never stored: a field whose name looks sensitive is
recorded as changed, with its values replaced by ``REDACTED``.
"""

from __future__ import annotations

import re
from typing import Any

from auditlog.registry import auditlog
from django.apps import apps
from django.db import models

REDACTED = "[redacted]"

# Field names whose values never enter an event (only the fact that they changed).
SENSITIVE_FIELD = re.compile(
    r"password|secret|credential|private_key|api_key|hash|totp|otp_|recovery_code", re.IGNORECASE
)

# Models not audited, each with the reason.
UNAUDITED_MODELS: dict[str, str] = {
    "audit.auditevent": "the audit trail itself: append-only, never changed",
    "audit.auditchain": "the head of each hash chain, moved by every event",
    "auditlog.logentry": (
        "django-auditlog's default table, unused: AUDITLOG_LOGENTRY_MODEL is audit.AuditEvent"
    ),
    "admin.logentry": "the admin's own change messages; the change itself is audited",
    "sessions.session": (
        "session keys are credentials; sign-in and sign-out are audited as login/logout"
    ),
    "contenttypes.contenttype": "framework metadata written by migrations",
    "otp_totp.totpdevice": (
        "holds the TOTP secret and per-use counters; enrolment, use, failure and reset are "
        "audited as mfa_enrolled, mfa_verified, mfa_failed and mfa_reset"
    ),
    "otp_static.staticdevice": "recovery codes: audited as mfa_enrolled/mfa_verified/mfa_reset",
    "otp_static.statictoken": "a recovery code's digest, used up once: audited as mfa_verified",
    "tenancy.usersession": (
        "a session's last-seen bookkeeping; sign-in, sign-out and revocation are audited as "
        "login, logout and session_revoked"
    ),
    "tenancy.tablepreference": (
        "a user's own display choice (columns shown, rows per page) with no tenant data and "
        "no effect on access or on the address plan"
    ),
    "auth.permission": "framework metadata written by migrations; grants are audited on users",
    "django_celery_beat.periodictasks": "the scheduler's change marker, touched on every save",
    "pools.poolchildlengths": (
        "derived counts of live children per pool, written only by PostgreSQL triggers on "
        "pools_pool; every change to the pools themselves is audited"
    ),
    "discovery.discoveredresource": (
        "written in bulk by the sync runs, thousands per run; each run records a sync event "
        "with its counts, and the pool changes reconciliation causes are audited"
    ),
    "discovery.reconciliationstate": (
        "a digest of the estate a reconciliation verified, computed and replaced by it; the "
        "sync runs and the pool changes reconciliation causes are audited"
    ),
    "planning.llmusagerecord": (
        "an append-only ledger of language model calls (tokens and cost), one row per call; "
        "the provider configurations and the plans the calls produce are audited"
    ),
    "planning.aimessage": (
        "an append-only chat transcript, written once per request and answer; the sessions "
        "(create, delete) and the plans the answers propose are audited"
    ),
    "analysis.utilizationsnapshot": (
        "daily measurements written in bulk by the snapshot task, never edited; the pool "
        "changes they measure are audited"
    ),
}

# Fields whose changes are noise, by model: bookkeeping of the row's own use.
IGNORED_FIELDS: dict[str, list[str]] = {
    "tenancy.user": ["last_login"],
    "tenancy.apitoken": ["last_used_at", "last_used_ip", "last_used_from"],
    "django_celery_beat.periodictask": ["last_run_at", "total_run_count", "date_changed"],
    "discovery.agent": ["last_heartbeat_at", "last_seen_ip"],
    "discovery.agentprovisioningtoken": ["last_used_at"],
    # Progress of a run under way: the sync event of the finished run records the outcome.
    "discovery.syncrun": ["progress_percent", "progress_message", "heartbeat_at", "task_id"],
    # The records themselves: kept in the batch, too large for an event; the count is there.
    "discovery.ingestbatch": ["payload", "digest"],
    # The ciphertext: never in an event, not even redacted (credentials_updated_at records
    # that the credentials changed, and rotation re-encrypts without changing them).
    "cloud.cloudaccount": ["credentials_encrypted"],
    # Likewise an LLM provider's API key (api_key_updated_at records the change).
    "planning.llmproviderconfig": ["api_key_encrypted"],
    # A plan's operations, verdict, preview and rollback record can run to megabytes; the
    # events keep its status, counts and timestamps (validated_at moves on every dry run).
    "planning.plan": ["operations", "validation", "preview", "before_values", "created_pool_ids"],
    # The same for an identity provider's client secret (client_secret_updated_at records
    # the change); the discovery document is a cache, refreshed without a change.
    "tenancy.identityprovider": [
        "client_secret_encrypted",
        "discovery_document",
        "discovery_fetched_at",
    ],
}


def model_key(model: type[models.Model] | models.Model) -> str:
    """Return ``app_label.model_name`` of a model class or instance."""
    return model._meta.label_lower


def audited_models() -> list[type[models.Model]]:
    """Return the models of the app registry that the audit trail covers."""
    return [model for model in apps.get_models() if model_key(model) not in UNAUDITED_MODELS]


def m2m_fields(model: type[models.Model]) -> list[models.ManyToManyField]:
    """Return the many-to-many fields declared on ``model``."""
    return [field for field in model._meta.many_to_many if isinstance(field, models.Field)]


def register_models() -> None:
    """Register every audited model with django-auditlog (idempotent)."""
    for model in audited_models():
        if auditlog.contains(model):
            continue
        auditlog.register(model, exclude_fields=list(IGNORED_FIELDS.get(model_key(model), [])))


def redact(changes: dict[str, Any]) -> dict[str, Any]:
    """Return ``changes`` with the values of sensitive fields replaced by ``REDACTED``."""
    return {
        field: (
            [None if value in (None, "") else REDACTED for value in values]
            if SENSITIVE_FIELD.search(field)
            else values
        )
        for field, values in changes.items()
    }
