"""
Writes of the audit trail: record an event, chain it, apply retention.

``audit_event_record`` is the only writer of ``AuditEvent``. It inserts the
event unchained (no sequence, no hash) in the transaction of the change it
records, without a savepoint of its own: a change that cannot be audited is
not made. Taking a place in the chain is a second, short transaction after
commit (``audit_chain_settle``): the chain head of one organization is then
held for a few milliseconds instead of for the whole writing transaction, so
writers in different parents of one organization do not queue on it.

On SQLite, which has one writer at a time anyway and no ``SKIP LOCKED``,
events are chained inline, in the writing transaction.

A bulk write that is the last step of its transaction (a subtree's delete, restore
or purge: one event per pool) may instead take the head itself and insert its events
already chained (``audit_events_record(chain_now=True)``): the head is then held from
that insert to the commit right after it, and no chainer has to read and update
thousands of events after commit.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache, lru_cache, partial
from typing import Any

from auditlog.diff import model_instance_diff
from auditlog.models import AbstractLogEntry
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models, transaction
from django.utils import timezone
from django.utils.encoding import smart_str

from apps.audit.choices import AuditAction, LoginFailedReason
from apps.audit.context import (
    Actor,
    RequestMeta,
    actor_from,
    current_actor,
    get_request_id,
    get_request_meta,
)
from apps.audit.documents import event_document, instance_values, iso_timestamp
from apps.audit.hashing import chain_hash
from apps.audit.models import AuditChain, AuditEvent, hash_content
from apps.audit.registration import model_key, redact
from apps.audit.scoping import across_organizations
from apps.tenancy.models import DEFAULT_ORGANIZATION_SETTINGS, Membership, Organization, User
from cloudpam.context import get_operation
from cloudpam.db import rows as sql_rows
from cloudpam.net import client_ip

audit_logger = logging.getLogger("cloudpam.audit")

MAX_REPR_LENGTH = 1000
MAX_IDENTITY_LENGTH = 254

# Models whose changes tenancy also signals (before or after saving): the first record wins.
SIGNALLED_MODELS = frozenset({"tenancy.membership", "tenancy.apitoken"})

_MODEL_ACTIONS = {
    AbstractLogEntry.Action.CREATE: AuditAction.CREATE,
    AbstractLogEntry.Action.UPDATE: AuditAction.UPDATE,
    AbstractLogEntry.Action.DELETE: AuditAction.DELETE,
}


def _strip_nul(value: Any) -> Any:
    """Return ``value`` without NUL characters, which PostgreSQL text and jsonb refuse."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list):
        return [_strip_nul(item) for item in value]
    if isinstance(value, dict):
        return {_strip_nul(key): _strip_nul(item) for key, item in value.items()}
    return value


def _json_ready(value: Any) -> Any:
    """Return ``value`` exactly as it will come back from a JSON column."""
    if value is None:
        return None
    text = json.dumps(value, cls=DjangoJSONEncoder)
    ready = json.loads(text)
    # JSON spells a NUL character as \u0000: without one, nothing needs stripping.
    return _strip_nul(ready) if "\\u0000" in text else ready


def _text(value: Any, limit: int) -> str:
    return _strip_nul(smart_str(value))[:limit] if value is not None else ""


def _lock_chain(organization_id: int | None) -> AuditChain:
    """Return the head of the chain of ``organization_id``, locked until the transaction ends."""
    key = organization_id if organization_id is not None else AuditChain.GLOBAL
    chain = AuditChain.objects.select_for_update().filter(pk=key).first()
    if chain is None:
        # ON CONFLICT DO NOTHING: a concurrent first writer wins, the other waits on its row.
        AuditChain.objects.bulk_create([AuditChain(pk=key)], ignore_conflicts=True)
        chain = AuditChain.objects.select_for_update().get(pk=key)
    return chain


def _try_lock_chain(
    organization_id: int | None, limit: int | None
) -> tuple[AuditChain | None, list[AuditEvent] | None]:
    """Return the head of one chain locked, or None if another chainer holds it.

    On PostgreSQL, with the head, its oldest pending events (at most ``limit``) and the
    organization's slug for their log lines, in one statement: every after-commit chainer
    comes here, and under concurrent writers most find the head held. The events are
    read in the statement's snapshot, which may predate the lock: another chainer can
    have placed some of them in between; ``_write_places`` then finds them placed and
    writes nothing (``_ChainMoved``). Elsewhere the events are None: read them next.
    """
    key = organization_id if organization_id is not None else AuditChain.GLOBAL
    if connection.vendor == "postgresql":
        table = AuditChain._meta.db_table
        where = "organization_id IS NULL" if organization_id is None else "organization_id = %s"
        params: list[Any] = [key, key, organization_id]
        params += [] if organization_id is None else [organization_id]
        params += [limit]
        with connection.cursor() as cursor:
            cursor.execute(
                f"WITH head AS (SELECT id, last_sequence, last_hash FROM {table}"  # noqa: S608
                " WHERE id = %s FOR UPDATE SKIP LOCKED)"
                " SELECT head.id, head.last_sequence, head.last_hash,"
                f" EXISTS (SELECT 1 FROM {table} WHERE id = %s),"
                f" (SELECT slug FROM {Organization._meta.db_table} WHERE id = %s), pending.*"
                " FROM (SELECT 1) AS one LEFT JOIN head ON true LEFT JOIN LATERAL"
                f" (SELECT {sql_rows.columns(AuditEvent)} FROM {AuditEvent._meta.db_table}"
                f" WHERE head.id IS NOT NULL AND {where} AND sequence IS NULL"
                " ORDER BY id LIMIT %s) AS pending ON true",
                params,
            )
            found = cursor.fetchall()
        pk, last_sequence, last_hash, exists, slug = found[0][:5]
        if pk is not None:
            # Only what the chainer reads of the head, and the slug its log lines carry.
            chain = AuditChain(id=pk, last_sequence=last_sequence, last_hash=last_hash)
            chain.organization_slug = slug
            pending = [row[5:] for row in found if row[5] is not None]
            return chain, sql_rows.load(connection, AuditEvent, pending)
        if exists:
            return None, None
    heads = AuditChain.objects.select_for_update(skip_locked=True).filter(pk=key)
    chain = heads.first()
    if chain is None:
        if AuditChain.objects.filter(pk=key).exists():
            return None, None
        AuditChain.objects.bulk_create([AuditChain(pk=key)], ignore_conflicts=True)
        chain = heads.first()
    return chain, None


def _organization_slug(organization_id: int | None) -> str | None:
    if organization_id is None:
        return None
    return Organization.objects.filter(pk=organization_id).values_list("slug", flat=True).first()


def _ship(document: dict[str, Any]) -> None:
    """Write one event as a JSON line on the ``cloudpam.audit`` logger."""
    audit_logger.info(
        "audit %s %s %s",
        document["action"],
        document["object_type"] or "-",
        document["object_id"] or "-",
        extra=document,
    )


@transaction.atomic(savepoint=False)
def audit_event_record(
    *,
    action: str,
    organization_id: int | None,
    instance: models.Model | None = None,
    changes: dict[str, Any] | None = None,
    details: dict[str, Any] | None = None,
    actor: Actor | None = None,
    request_meta: RequestMeta | None = None,
) -> AuditEvent:
    """Record one event for the chain of ``organization_id`` (the global chain for None).

    The actor, request id, client address and user agent default to the
    current request, task or command. The event takes its place in the chain
    once the transaction commits (inline on SQLite); its JSON log line is
    written when it does, so a rolled-back change leaves no line behind.
    """
    event = _event_of(
        action=action,
        organization_id=organization_id,
        instance=instance,
        changes=changes,
        details=details,
        actor=actor or current_actor(),
        meta=request_meta or get_request_meta(),
    )
    with across_organizations(organization_id):
        # bulk_create sends no pre_save signal: nothing may change the event before it is hashed.
        AuditEvent.objects.bulk_create([event])
        if _chain_after_commit():
            _chain_on_commit(organization_id)
        else:
            _chain_now(event)
    return event


def _event_of(
    *,
    action: str,
    organization_id: int | None,
    instance: models.Model | None,
    changes: dict[str, Any] | None,
    details: dict[str, Any] | None,
    actor: Actor,
    meta: RequestMeta,
) -> AuditEvent:
    """Return the unsaved, unchained event ``audit_event_record`` writes."""
    content_type = None
    object_type = object_pk = object_repr = ""
    object_id = None
    if instance is not None:
        content_type = ContentType.objects.get_for_model(instance)
        object_id = instance.pk if isinstance(instance.pk, int) else None
        object_type = instance._meta.model_name or ""
        object_pk = _text(instance.pk, 255)
        try:
            object_repr = _text(instance, MAX_REPR_LENGTH)
        except Exception:  # A broken __str__ must not lose the event.
            object_repr = f"{object_type} {object_pk}"
    return AuditEvent(
        organization_id=organization_id,
        timestamp=timezone.now(),
        action=action,
        content_type=content_type,
        object_type=object_type,
        object_pk=object_pk,
        object_id=object_id,
        object_repr=object_repr,
        changes=_json_ready(changes or {}),
        additional_data=_json_ready(details) if details else None,
        actor_id=actor.user_id,
        actor_email=_text(actor.email, MAX_IDENTITY_LENGTH) if actor.email else None,
        actor_token_id=actor.token_id,
        actor_token_name=_text(actor.token_name, 255),
        actor_system=_text(actor.system, 255),
        cid=get_request_id(),
        remote_addr=meta.ip,
        user_agent=_text(meta.user_agent, 512),
    )


@dataclass(frozen=True)
class EventRecord:
    """One event for ``audit_events_record``: what ``audit_event_record`` takes, per event."""

    action: str
    organization_id: int | None
    instance: models.Model | None = None
    changes: dict[str, Any] | None = None
    details: dict[str, Any] | None = None


# Events inserted per statement by ``audit_events_record``.
EVENTS_INSERT_BATCH = 5000

# The columns ``audit_events_record`` writes; the others start empty (the chain's three,
# and django-auditlog's ``serialized_data`` and ``remote_port``, which CloudPAM leaves out).
_INSERT_COLUMNS = (
    "organization_id",
    "timestamp",
    "action",
    "content_type_id",
    "object_type",
    "object_pk",
    "object_id",
    "object_repr",
    "changes_text",
    "changes",
    "additional_data",
    "actor_id",
    "actor_email",
    "actor_token_id",
    "actor_token_name",
    "actor_system",
    "cid",
    "remote_addr",
    "user_agent",
)


_JSON_SCALARS = (str, int, float, bool, type(None))


def _plain_json(value: Any) -> bool:
    """Return whether ``value`` is already what a JSON column gives back (no NUL either)."""
    if isinstance(value, str):
        return "\x00" not in value
    if isinstance(value, _JSON_SCALARS):
        return True
    if isinstance(value, dict):
        return all(
            isinstance(key, str) and "\x00" not in key and _plain_json(item)
            for key, item in value.items()
        )
    if isinstance(value, list):
        return all(_plain_json(item) for item in value)
    return False


def _json_values(value: Any) -> Any:
    """Return ``_json_ready(value)``, skipping its round trip through JSON text when it is one.

    A subtree's diffs are plain strings and numbers already: checking is cheaper.
    """
    return value if _plain_json(value) else _json_ready(value)


class _EventValues:
    """The column values of the events of one batch: ``_event_of``'s, without a model instance.

    What is the same for every event of the batch (actor, request) is worked out once,
    and the content type once per model.
    """

    def __init__(self, actor: Actor, meta: RequestMeta) -> None:
        self.common = {
            "changes_text": "",
            "actor_id": actor.user_id,
            "actor_email": _text(actor.email, MAX_IDENTITY_LENGTH) if actor.email else None,
            "actor_token_id": actor.token_id,
            "actor_token_name": _text(actor.token_name, 255),
            "actor_system": _text(actor.system, 255),
            "cid": get_request_id(),
            "remote_addr": meta.ip,
            "user_agent": _text(meta.user_agent, 512),
        }
        self.content_types: dict[type, int] = {}

    def __call__(self, record: EventRecord) -> dict[str, Any]:
        values = dict(self.common)
        values.update(
            organization_id=record.organization_id,
            timestamp=timezone.now(),
            action=record.action,
            content_type_id=None,
            object_type="",
            object_pk="",
            object_id=None,
            object_repr="",
            changes=_json_values(record.changes or {}),
            additional_data=_json_values(record.details) if record.details else None,
        )
        instance = record.instance
        if instance is not None:
            model = type(instance)
            content_type_id = self.content_types.get(model)
            if content_type_id is None:
                content_type_id = ContentType.objects.get_for_model(instance).pk
                self.content_types[model] = content_type_id
            object_type = instance._meta.model_name or ""
            object_pk = _text(instance.pk, 255)
            try:
                object_repr = _text(instance, MAX_REPR_LENGTH)
            except Exception:  # A broken __str__ must not lose the event.
                object_repr = f"{object_type} {object_pk}"
            values.update(
                content_type_id=content_type_id,
                object_type=object_type,
                object_pk=object_pk,
                object_id=instance.pk if isinstance(instance.pk, int) else None,
                object_repr=object_repr,
            )
        return values


def _insert_events(rows: list[dict[str, Any]], *, want_ids: bool) -> list[int]:
    """Insert the events' ``rows`` in order, in a few statements; return their ids if wanted.

    On PostgreSQL each chunk is one ``INSERT ... SELECT`` from one JSON document
    (``json_populate_recordset``): one parameter, bound and parsed in C, where a
    ``bulk_create`` prepares every field of every row in Python. ``COPY`` would be
    quicker still but is refused on a table under row-level security. The ids follow
    the rows' order, which is the order the chainer gives them their places in.
    """
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    columns = ", ".join(_INSERT_COLUMNS)
    ids: list[int] = []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            sql = (
                f"INSERT INTO {table} ({columns}) SELECT {columns}"  # noqa: S608 - names only
                f" FROM json_populate_recordset(NULL::{table}, %s::json)"
            )
            if want_ids:
                sql += " RETURNING id"
            for start in range(0, len(rows), EVENTS_INSERT_BATCH):
                chunk = rows[start : start + EVENTS_INSERT_BATCH]
                document = json.dumps(
                    [{**row, "timestamp": row["timestamp"].isoformat()} for row in chunk]
                )
                cursor.execute(sql, [document])
                if want_ids:
                    ids.extend(sorted(row[0] for row in cursor.fetchall()))
            return ids
        # SQLite: one prepared INSERT run per row, values adapted as Django would.
        adapt = connection.ops.adapt_datetimefield_value
        placeholders = ", ".join(["%s"] * len(_INSERT_COLUMNS))
        params = [
            tuple(
                adapt(row[name])
                if name == "timestamp"
                else json.dumps(row[name])
                if name in ("changes", "additional_data") and row[name] is not None
                else row[name]
                for name in _INSERT_COLUMNS
            )
            for row in rows
        ]
        cursor.executemany(
            f"INSERT INTO {table} ({columns}) VALUES ({placeholders})",  # noqa: S608
            params,
        )
        if want_ids:
            # One writer at a time on SQLite: the rows just inserted are the last ones.
            cursor.execute(f"SELECT max(id) FROM {table}")  # noqa: S608 - table name only
            last = cursor.fetchone()[0]
            ids = list(range(last - len(rows) + 1, last + 1))
    return ids


def _has_float(value: Any) -> bool:
    """Return whether the JSON value ``value`` holds a float anywhere."""
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return any(_has_float(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_float(item) for item in value)
    return False


def _insert_chained(
    organization_id: int | None, rows: list[dict[str, Any]], *, want_ids: bool
) -> list[int]:
    """Insert the events' ``rows`` of one chain already chained, in order (PostgreSQL).

    The head is locked until the transaction ends. What is pending first takes its
    place first (events committed by other writers, and this transaction's own); the
    new events follow. Each is hashed on its values as the database gives them back,
    exactly as the chainer and verification read them (JSON holding a float is first
    passed through ``jsonb``, which may spell a number differently).
    Whoever commits events while the head is held finds it taken and leaves them to
    the after-commit chainer that the caller registers.
    """
    head = _lock_chain(organization_id)
    # Read after the head is taken: no other chainer can place these meanwhile.
    pending = _pending_events(organization_id, None)
    if pending:
        sequence, prev_hash = head.last_sequence, head.last_hash
        for event in pending:
            sequence += 1
            event.sequence, event.prev_hash = sequence, prev_hash
            event.hash = prev_hash = event.compute_hash()
        _write_places(head.pk, pending)
        head.last_sequence, head.last_hash = sequence, prev_hash
        transaction.on_commit(partial(_ship_chained, organization_id, pending))
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    columns = ", ".join((*_INSERT_COLUMNS, "sequence", "prev_hash", "hash"))
    insert = (
        f"INSERT INTO {table} ({columns}) SELECT {columns}"  # noqa: S608 - names only
        f" FROM json_populate_recordset(NULL::{table}, %s::json) RETURNING id"
    )
    # The last chunk moves the head in the same statement.
    last_insert = (
        f"WITH inserted AS ({insert}), head AS (UPDATE {AuditChain._meta.db_table}"  # noqa: S608
        " SET last_sequence = %s, last_hash = %s, updated_at = %s WHERE id = %s)"
        " SELECT id FROM inserted"
    )
    ids: list[int] = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), EVENTS_INSERT_BATCH):
            chunk = rows[start : start + EVENTS_INSERT_BATCH]
            # jsonb gives back every JSON value as it was but a float, which it may spell
            # another way (1e+16 comes back as 10000000000000000): those are read back
            # from it first, in one round trip.
            inexact = [
                row
                for row in chunk
                if _has_float(row["changes"]) or _has_float(row["additional_data"])
            ]
            if inexact:
                cursor.execute(
                    "SELECT %s::jsonb::text",
                    [json.dumps([[row["changes"], row["additional_data"]] for row in inexact])],
                )
                stored = json.loads(cursor.fetchone()[0])
                for row, (changes, details) in zip(inexact, stored, strict=True):
                    row["changes"], row["additional_data"] = changes, details
            _place(head, chunk)
            document = json.dumps(
                [{**row, "timestamp": row["timestamp"].isoformat()} for row in chunk]
            )
            if start + EVENTS_INSERT_BATCH >= len(rows):
                params = [document, head.last_sequence, head.last_hash, timezone.now(), head.pk]
                cursor.execute(last_insert, params)
            else:
                cursor.execute(insert, [document])
            # In the rows' order: the ids are drawn as the rows are inserted, in order.
            ids.extend(sorted(row[0] for row in cursor.fetchall()))
    if audit_logger.isEnabledFor(logging.INFO):
        for pk, row in zip(ids, rows, strict=True):
            row["id"] = pk
        transaction.on_commit(partial(_ship_rows, organization_id, rows))
    return ids if want_ids else []


def _place(head: AuditChain, rows: list[dict[str, Any]]) -> None:
    """Give ``rows`` (column values, as read back) the next places after ``head``, in order.

    Each row gets its ``sequence``, ``prev_hash`` and ``hash``; ``head`` (in memory) moves
    past the last one.
    """
    sequence, prev_hash = head.last_sequence, head.last_hash
    for row in rows:
        sequence += 1
        row["sequence"], row["prev_hash"] = sequence, prev_hash
        row["hash"] = prev_hash = chain_hash(hash_content(row), prev_hash)
    head.last_sequence, head.last_hash = sequence, prev_hash


def _ship_rows(organization_id: int | None, rows: list[dict[str, Any]]) -> None:
    """Write the log lines of events known by their column values (``_insert_chained``)."""
    if not audit_logger.isEnabledFor(logging.INFO):
        return
    slug = _organization_slug(organization_id)
    for row in rows:
        _ship(event_document(row, slug))


@transaction.atomic(savepoint=False)
def audit_events_record(
    *,
    records: Sequence[EventRecord],
    actor: Actor | None = None,
    request_meta: RequestMeta | None = None,
    return_events: bool = True,
    chain_now: bool = False,
) -> list[AuditEvent]:
    """Record many events at once, in order, as ``audit_event_record`` records each.

    For the batch writers: the events are inserted in bulk (ids in the order given),
    and each chain they belong to is settled once, after commit (inline on SQLite),
    instead of once per event. Their content is what one call per event would write.
    Without ``return_events`` no model instance is made and the list is empty: a
    subtree's writer records one event per pool and has no use for them.

    With ``chain_now`` (PostgreSQL, one chain) the events are inserted in their places:
    the chain's head is taken now and held until the transaction ends, which spares the
    chainer reading and updating every event after commit. For writers whose audit
    write is the last step of their transaction (the subtree services), so the head is
    held for no longer than the chainer would hold it.
    """
    if not records:
        return []
    values_of = _EventValues(actor or current_actor(), request_meta or get_request_meta())
    rows = [values_of(record) for record in records]
    chains = list(dict.fromkeys(row["organization_id"] for row in rows))
    inline = chain_now and len(chains) == 1 and connection.vendor == "postgresql"
    with across_organizations(chains[0] if len(chains) == 1 else None):
        if inline:
            ids = _insert_chained(chains[0], rows, want_ids=return_events)
        else:
            ids = _insert_events(rows, want_ids=return_events)
        for organization_id in chains:
            if _chain_after_commit():
                _chain_on_commit(organization_id)
            else:
                # Inline, in the writing transaction that holds the database anyway: the
                # whole batch at once, in a fixed number of statements whatever its size.
                _chain_batch(organization_id, wait=True, limit=None)
    if not return_events:
        return []
    events = [AuditEvent(id=pk, **row) for pk, row in zip(ids, rows, strict=True)]
    for event in events:
        event._state.adding = False
    return events


def _chain_now(event: AuditEvent) -> None:
    """Chain ``event`` (and what is pending before it) in the current transaction."""
    for chained in _chain_batch(event.organization_id, wait=True).events:
        if chained.pk == event.pk:
            event.sequence, event.prev_hash, event.hash = (
                chained.sequence,
                chained.prev_hash,
                chained.hash,
            )


# --- chaining ----------------------------------------------------------------------

# Events chained per transaction: bounds how long one chainer holds the head.
CHAIN_BATCH = 500
# Rounds one after-commit chainer runs before leaving the rest to the next one or to beat.
CHAIN_ROUNDS = 20


def _chain_after_commit() -> bool:
    """Return whether events are chained after commit (else inline, in the writing transaction).

    ``AUDIT_CHAIN_AFTER_COMMIT`` forces either; by default only databases with
    ``SKIP LOCKED`` (PostgreSQL) defer, since SQLite serialises writers anyway.
    """
    forced = getattr(settings, "AUDIT_CHAIN_AFTER_COMMIT", None)
    if forced is not None:
        return bool(forced)
    return bool(connection.features.has_select_for_update_skip_locked)


class _ChainAfterCommit:
    """The after-commit chainer of one chain, registered for each event and run once.

    A batch writes many events of one chain in one transaction: the first
    call after commit takes them all, the other calls return at once. An
    instance stays on the connection until it has run, so one left over by a
    rolled-back transaction simply serves the next.
    """

    def __init__(self, organization_id: int | None) -> None:
        self.organization_id = organization_id
        self.done = False

    def __call__(self) -> None:
        if self.done:
            return
        self.done = True
        _chainers().pop(self.organization_id, None)
        _process_chainer(self.organization_id).settle()


# Settles one in-process chainer runs back to back before leaving the rest to the next.
PROCESS_SETTLES = 5


class _ProcessChainer:
    """Coalesce the after-commit chainers of one chain across this process's threads.

    Without it, each of N threads committing audited writes at once opens its own
    chainer transaction, and all but one find the head held and give up: N round
    trips to chain what one can. Here a thread that commits while another thread
    of the process is chaining only marks the chain dirty; the chaining thread
    settles again before it lets go, so the events are chained in one batch. The
    database's ``SKIP LOCKED`` head still coordinates separate processes.

    No event is left behind: a thread marks the chain dirty after its commit and
    before trying the lock, and the holder clears the mark before reading pending
    events and rechecks it after releasing the lock.
    """

    def __init__(self, organization_id: int | None) -> None:
        self.organization_id = organization_id
        self._lock = threading.Lock()
        self._dirty = False

    def settle(self) -> None:
        self._dirty = True
        for _ in range(PROCESS_SETTLES):
            if not (self._dirty and self._lock.acquire(blocking=False)):
                return
            try:
                self._dirty = False
                audit_chain_settle(organization_id=self.organization_id, rounds=CHAIN_ROUNDS)
            finally:
                self._lock.release()
        # Under sustained writes the next committer, or the beat task, goes on.


_process_chainers: dict[int | None, _ProcessChainer] = {}
_process_chainers_lock = threading.Lock()


def _process_chainer(organization_id: int | None) -> _ProcessChainer:
    chainer = _process_chainers.get(organization_id)
    if chainer is None:
        with _process_chainers_lock:
            chainer = _process_chainers.setdefault(
                organization_id, _ProcessChainer(organization_id)
            )
    return chainer


def _chainers() -> dict[int | None, _ChainAfterCommit]:
    # On the connection, not the module: each thread has its own connection and transaction.
    db = transaction.get_connection()
    if not hasattr(db, "_audit_chainers"):
        db._audit_chainers = {}
    return db._audit_chainers


def _chain_on_commit(organization_id: int | None) -> None:
    """Have the chain of ``organization_id`` settled once the current transaction commits."""
    chainer = _chainers().setdefault(organization_id, _ChainAfterCommit(organization_id))
    # Robust: the change is committed; if chaining fails now, the beat task chains it later.
    transaction.on_commit(chainer, robust=True)


@dataclass(frozen=True)
class ChainBatch:
    """What one chainer transaction did: whether it held the head, and the events it chained."""

    held: bool
    events: list[AuditEvent]


def _chain_batch(
    organization_id: int | None, *, wait: bool, limit: int | None = CHAIN_BATCH
) -> ChainBatch:
    """Give the oldest pending events of one chain their sequence and hash, in id order.

    Without ``wait``, return at once (``held`` False) when another chainer
    holds the head: that one rechecks after releasing it and takes ours. At most
    ``limit`` events (every pending one for None).
    """
    try:
        with transaction.atomic():
            if wait:
                head, events = _lock_chain(organization_id), None
            else:
                head, events = _try_lock_chain(organization_id, limit)
            if head is None:
                return ChainBatch(held=False, events=[])
            if events is None:
                events = _pending_events(organization_id, limit)
            if not events:
                return ChainBatch(held=True, events=[])
            sequence, prev_hash = head.last_sequence, head.last_hash
            for event in events:
                sequence += 1
                event.sequence, event.prev_hash = sequence, prev_hash
                # Hashed as read back from the database, exactly as verification reads it.
                event.hash = prev_hash = event.compute_hash()
            _write_places(head.pk, events)
            slug = getattr(head, "organization_slug", _UNREAD)
            transaction.on_commit(partial(_ship_chained, organization_id, events, slug))
    except _ChainMoved:
        # Rolled back, nothing written: the caller's recheck reads the events afresh.
        return ChainBatch(held=True, events=[])
    return ChainBatch(held=True, events=events)


class _ChainMoved(Exception):
    """Some events a chainer read were placed by another chainer before it took the head."""


def _pending_events(organization_id: int | None, limit: int | None) -> list[AuditEvent]:
    """Return the oldest unchained events of one chain, at most ``limit`` (all for None).

    Plain SQL rather than the ORM's query, whose compilation cost more than its run in
    the chainer that follows every audited commit; the rows load through the model's
    fields (JSON included) exactly as the ORM loads them, which is what verification
    hashes.
    """
    where = "organization_id IS NULL" if organization_id is None else "organization_id = %s"
    params: list[Any] = [] if organization_id is None else [organization_id]
    sql = (
        f"SELECT {sql_rows.columns(AuditEvent)} FROM {AuditEvent._meta.db_table}"  # noqa: S608
        f" WHERE {where} AND sequence IS NULL ORDER BY id"
    )
    if limit is not None:
        sql += " LIMIT %s"
        params.append(limit)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return sql_rows.load(connection, AuditEvent, cursor.fetchall())


def _write_places(head_pk: int, events: list[AuditEvent]) -> None:
    """Store the chained ``events``' places and move the head past the last one.

    On PostgreSQL it is one statement: ``bulk_update``'s ``CASE`` per column
    costs more to build than the chaining itself, and the chainer runs after
    every audited commit.
    """
    last = events[-1]
    now = timezone.now()
    if connection.vendor != "postgresql":
        # One prepared UPDATE run per event: SQLite builds bulk_update's CASE expressions
        # far slower than it runs these.
        with connection.cursor() as cursor:
            cursor.executemany(
                f"UPDATE {AuditEvent._meta.db_table}"  # noqa: S608 - table name only
                " SET sequence = %s, prev_hash = %s, hash = %s WHERE id = %s",
                [(e.sequence, e.prev_hash, e.hash, e.pk) for e in events],
            )
        AuditChain.objects.filter(pk=head_pk).update(
            last_sequence=last.sequence, last_hash=last.hash, updated_at=now
        )
        return
    # Only events still unplaced; the head moves only when every one of them was (see
    # _try_lock_chain): otherwise _ChainMoved rolls the placed ones back.
    rows = ", ".join(["(%s::bigint, %s::bigint, %s, %s)"] * len(events))
    sql = (
        f"WITH placed AS (UPDATE {AuditEvent._meta.db_table} AS event"  # noqa: S608
        " SET sequence = place.sequence, prev_hash = place.prev_hash, hash = place.hash"
        f" FROM (VALUES {rows}) AS place (id, sequence, prev_hash, hash)"
        " WHERE event.id = place.id AND event.sequence IS NULL RETURNING 1)"
        f" UPDATE {AuditChain._meta.db_table}"
        " SET last_sequence = %s, last_hash = %s, updated_at = %s"
        " WHERE id = %s AND (SELECT count(*) FROM placed) = %s"
    )
    params: list[Any] = [v for e in events for v in (e.pk, e.sequence, e.prev_hash, e.hash)]
    params += [last.sequence, last.hash, now, head_pk, len(events)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if cursor.rowcount != 1:
            raise _ChainMoved


# The slug of a chain's organization, not read with its head (``_try_lock_chain`` reads it).
_UNREAD: Any = object()


def _ship_chained(
    organization_id: int | None, events: list[AuditEvent], slug: str | None = _UNREAD
) -> None:
    if not audit_logger.isEnabledFor(logging.INFO):
        return
    if slug is _UNREAD:
        slug = _organization_slug(organization_id)
    for event in events:
        _ship(event_document(instance_values(event), slug))


def _has_pending(organization_id: int | None) -> bool:
    # Plain SQL: every after-commit chainer asks this once it let go of the head.
    where = "organization_id IS NULL" if organization_id is None else "organization_id = %s"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT 1 FROM {AuditEvent._meta.db_table}"  # noqa: S608 - names only
            f" WHERE {where} AND sequence IS NULL LIMIT 1",
            [] if organization_id is None else [organization_id],
        )
        return cursor.fetchone() is not None


def audit_chain_settle(
    *, organization_id: int | None, wait: bool = False, rounds: int | None = None
) -> int:
    """Chain the committed pending events of one chain; return how many this call chained.

    Without ``wait`` a chainer that finds the head held skips: the holder
    rechecks for pending events after releasing it, and every event whose
    chainer skipped was committed before that release, so none is left
    behind. After ``rounds`` rounds (under sustained writes) it stops; the
    next chainer or the beat task goes on. With ``wait`` it queues on the head
    and returns only when nothing committed is pending.
    """
    chained = 0
    done = 0
    # Only the chain's own organization: a request's chainer needs no bypass round trips.
    with across_organizations(organization_id):
        while rounds is None or done < rounds:
            batch = _chain_batch(organization_id, wait=wait)
            chained += len(batch.events)
            done += 1
            if not batch.held or not _has_pending(organization_id):
                break
    return chained


def audit_chains_pending() -> list[int | None]:
    """Return the chains with committed events still waiting for their place."""
    with across_organizations():
        ids = (
            AuditEvent.objects.filter(sequence__isnull=True)
            .order_by("organization_id")
            .values_list("organization_id", flat=True)
            .distinct()
        )
        return list(ids)


def audit_chains_settle(*, wait: bool = True) -> dict[int | None, int]:
    """Chain every pending event of every chain; return how many, by chain."""
    return {
        key: audit_chain_settle(organization_id=key, wait=wait) for key in audit_chains_pending()
    }


def organization_ids_for(instance: models.Model) -> list[int | None]:
    """Return the organizations whose chains record a change of ``instance``.

    A row of an organization goes to that organization; a user, who belongs to
    no single organization, to each organization of which it is a member (so
    each organization's auditors see it), or to the global chain.
    """
    if isinstance(instance, Organization):
        return [instance.pk]
    if hasattr(instance, "organization_id"):
        return [instance.organization_id]
    membership_id = getattr(instance, "membership_id", None)
    if membership_id is not None:
        organization_id = (
            Membership.objects.filter(pk=membership_id)
            .values_list("organization_id", flat=True)
            .first()
        )
        return [organization_id]
    if isinstance(instance, User):
        return user_organization_ids(instance.pk)
    target = getattr(instance, "content_object", None)
    if isinstance(target, models.Model) and not hasattr(target, "content_object"):
        return organization_ids_for(target)
    return [None]


def user_organization_ids(user_id: int | None) -> list[int | None]:
    """Return the organizations of a user's memberships, or the global chain."""
    if user_id is None:
        return [None]
    ids = (
        Membership.objects.filter(user_id=user_id)
        .order_by("organization_id")
        .values_list("organization_id", flat=True)
    )
    return list(ids) or [None]


def _iso_datetime(value: Any) -> Any:
    """Return django-auditlog's naive UTC datetime text as ISO 8601 with a ``Z``."""
    if not isinstance(value, str):
        return value
    return _iso_text(value)


# A subtree's events all carry the one timestamp of their change: parsed once.
@lru_cache(maxsize=256)
def _iso_text(value: str) -> str:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return iso_timestamp(parsed)


def _field_changes(instance: models.Model, changes: dict[str, Any]) -> dict[str, Any]:
    """Return the changes of the row's own fields, timestamps in ISO 8601, secrets redacted.

    django-auditlog also lists reverse relations when a row is created or
    deleted; they are not the row's data.
    """
    kinds = _field_kinds(type(instance))
    result: dict[str, Any] = {}
    for name, values in changes.items():
        kind = kinds.get(name)
        if kind is None:
            continue
        if kind is _DATETIME:
            values = [_iso_datetime(value) for value in values]
        result[name] = list(values)
    return redact(result)


_DATETIME, _OTHER = "datetime", "other"


@cache
def _field_kinds(model: type[models.Model]) -> dict[str, str]:
    """Return the row's own fields of ``model`` by name, with whether each is a timestamp.

    Worked out once per model: a batch asks for every row of a subtree.
    """
    kinds = dict.fromkeys((field.name for field in model._meta.many_to_many), _OTHER)
    for field in model._meta.concrete_fields:
        kinds[field.name] = _DATETIME if isinstance(field, models.DateTimeField) else _OTHER
    return kinds


def _model_action(key: str, action: int, changes: dict[str, Any]) -> str | None:
    """Return the audit action of a model change, in SPEC.md's vocabulary."""
    name = _MODEL_ACTIONS.get(action)
    if name is None:
        return None  # django-auditlog's "access" events are not part of the trail.
    if "deleted_at" in changes:
        before, after = changes["deleted_at"]
        if name == AuditAction.UPDATE and before is None and after is not None:
            return AuditAction.DELETE
        if name == AuditAction.UPDATE and before is not None and after is None:
            return AuditAction.RESTORE
        if name == AuditAction.DELETE and before is not None:
            return AuditAction.PURGE
    if key == "tenancy.membership":
        if name == AuditAction.CREATE:
            return AuditAction.MEMBER_ADDED
        if name == AuditAction.DELETE:
            return AuditAction.MEMBER_REMOVED
        if "role" in changes:
            return AuditAction.ROLE_CHANGED
    if key == "tenancy.apitoken":
        if name == AuditAction.CREATE:
            return AuditAction.TOKEN_CREATED
        revoked = changes.get("revoked_at")
        if revoked and revoked[0] is None and revoked[1] is not None:
            return AuditAction.TOKEN_REVOKED
    return name


@transaction.atomic(savepoint=False)
def audit_record_model_change(
    *, instance: models.Model, action: int, changes: dict[str, Any]
) -> AuditEvent | None:
    """Record a create, update or delete of ``instance`` (from django-auditlog's receivers).

    ``changes`` is ``{field: [before, after]}``; sensitive fields are redacted.
    Returns the first event written, or None when the change is not recorded.
    """
    key = model_key(instance)
    name = _model_action(key, action, changes)
    if name is None:
        return None
    changes = _field_changes(instance, changes)
    if not changes and name == AuditAction.UPDATE:
        return None
    if key in SIGNALLED_MODELS and _already_recorded(instance, name):
        return None  # tenancy's signal, sent before the change, recorded it already
    operation = get_operation()
    actor = details = None
    if operation is not None:
        # The service under way names the change and its actor; the bound context of
        # the request or task is only the fallback for changes made outside services.
        actor = operation.actor
        details = dict(operation.details) or None
        if name in (AuditAction.CREATE, AuditAction.UPDATE) and operation.names(key, instance.pk):
            name = operation.action
    with across_organizations(getattr(instance, "organization_id", None)):
        organization_ids = organization_ids_for(instance)
    events = [
        audit_event_record(
            action=name,
            organization_id=organization_id,
            instance=instance,
            changes=changes,
            details=details,
            actor=actor,
        )
        for organization_id in organization_ids
    ]
    return events[0] if events else None


@dataclass(frozen=True)
class ModelChange:
    """A change of one row for ``audit_model_changes_record``.

    ``operation`` names the event of a create or update when the service under way
    does several kinds of them at once (a batch's ``create`` and ``allocate``).
    """

    instance: models.Model
    action: int
    changes: dict[str, Any]
    operation: str | None = None


@transaction.atomic(savepoint=False)
def audit_model_changes_record(
    *, entries: Sequence[ModelChange], return_events: bool = True, chain_now: bool = False
) -> list[AuditEvent]:
    """Record the changes of many rows in bulk, each as ``audit_record_model_change`` would.

    For writes that bypass signals (``bulk_create``): the same events, with the same
    names, changes, actor and details, inserted together and chained once.
    """
    operation = get_operation()
    actor = operation.actor if operation is not None else None
    details = (dict(operation.details) or None) if operation is not None else None
    records: list[EventRecord] = []
    for entry in entries:
        instance = entry.instance
        key = model_key(instance)
        name = _model_action(key, entry.action, entry.changes)
        if name is None:
            continue
        changes = _field_changes(instance, entry.changes)
        if not changes and name == AuditAction.UPDATE:
            continue
        if key in SIGNALLED_MODELS and _already_recorded(instance, name):
            continue
        if name in (AuditAction.CREATE, AuditAction.UPDATE):
            if entry.operation is not None:
                name = entry.operation
            elif operation is not None and operation.names(key, instance.pk):
                name = operation.action
        if hasattr(instance, "organization_id"):
            organization_ids: list[int | None] = [instance.organization_id]
        else:
            with across_organizations(getattr(instance, "organization_id", None)):
                organization_ids = organization_ids_for(instance)
        records.extend(
            EventRecord(
                action=name,
                organization_id=organization_id,
                instance=instance,
                changes=changes,
                details=details,
            )
            for organization_id in organization_ids
        )
    return audit_events_record(
        records=records, actor=actor, return_events=return_events, chain_now=chain_now
    )


def request_meta_of(request: Any | None) -> RequestMeta:
    """Return where ``request`` came from (the current request's when None)."""
    if request is None or not hasattr(request, "META"):
        return get_request_meta()
    return RequestMeta(
        ip=client_ip(request), user_agent=request.headers.get("User-Agent", "")[:512]
    )


@transaction.atomic(savepoint=False)
def audit_user_event_record(
    *,
    action: str,
    user: User | None,
    actor: Actor,
    instance: models.Model | None = None,
    request: Any | None = None,
    details: dict[str, Any] | None = None,
) -> list[AuditEvent]:
    """Record an access event about ``user`` in each of the user's organizations.

    Without a known user (a failed login for an unknown email) the event goes
    to the global chain.
    """
    meta = request_meta_of(request)
    with across_organizations():
        organization_ids = user_organization_ids(getattr(user, "pk", None))
    return [
        audit_event_record(
            action=action,
            organization_id=organization_id,
            instance=instance,
            details=details,
            actor=actor,
            request_meta=meta,
        )
        for organization_id in organization_ids
    ]


def audit_login_failed_record(
    *,
    identity: str,
    request: Any | None,
    reason: str = LoginFailedReason.INVALID_CREDENTIALS,
    details: dict[str, Any] | None = None,
) -> list[AuditEvent]:
    """Record a failed sign-in for ``identity`` (the attempted email, never the password).

    ``reason`` tells a wrong password (``invalid_credentials``) from an attempt
    refused by the sign-in rate limit before any password was checked
    (``rate_limited``); single sign-on's refusals are ``sso_<reason>`` with
    ``details`` naming the method and provider.
    """
    identity = _text(identity, MAX_IDENTITY_LENGTH).strip()
    user = User.objects.filter(email__iexact=identity).first() if identity else None
    return audit_user_event_record(
        action=AuditAction.LOGIN_FAILED,
        user=user,
        actor=Actor(email=identity or None),
        instance=user,
        request=request,
        details={**(details or {}), "reason": str(reason)},
    )


def audit_sso_provisioned_record(
    *, membership: Membership, details: dict[str, Any], request: Any | None
) -> AuditEvent:
    """Record that single sign-on created ``membership`` (and maybe its user) on first sign-in."""
    return audit_event_record(
        action=AuditAction.SSO_PROVISIONED,
        organization_id=membership.organization_id,
        instance=membership,
        details=details,
        actor=actor_from(user=membership.user),
        request_meta=request_meta_of(request),
    )


def audit_token_event_record(
    *, action: str, token: Any, actor: Any | None, request: Any | None
) -> AuditEvent | None:
    """Record a token event unless the token's own change already recorded it.

    ``token_created`` and ``token_revoked`` are also what the token row's
    create and revoke map to, so a signal sent after saving the token does not
    record the same change twice.
    """
    # A first use changes nothing the row's own audit records (last use is ignored).
    if action != AuditAction.TOKEN_FIRST_USED and _already_recorded(token, action):
        return None
    with across_organizations():
        organization_ids = organization_ids_for(token)
    if actor is not None:
        who = actor_from(user=actor)
    else:
        # The token acts: the request bound it already (with its user) when it authenticated.
        bound = current_actor()
        who = bound if bound.token_id == token.pk else actor_from(token=token)
    meta = request_meta_of(request)
    events = [
        audit_event_record(
            action=action,
            organization_id=organization_id,
            instance=token,
            actor=who,
            request_meta=meta,
            details={"token_name": getattr(token, "name", None)},
        )
        for organization_id in organization_ids
    ]
    return events[0] if events else None


def audit_membership_event_record(
    *,
    membership: Membership,
    action: str,
    old_role: str | None,
    new_role: str | None,
    actor: Any | None,
    request: Any | None,
) -> AuditEvent | None:
    """Record a membership change unless the membership's own change already recorded it."""
    name = {
        "added": AuditAction.MEMBER_ADDED,
        "role_changed": AuditAction.ROLE_CHANGED,
        "removed": AuditAction.MEMBER_REMOVED,
    }.get(action)
    if name is None or _already_recorded(membership, name):
        return None
    # The same before and after as the row's own change would record.
    if name == AuditAction.MEMBER_ADDED:
        changes = model_instance_diff(None, membership, use_json_for_changes=True) or {}
    elif name == AuditAction.MEMBER_REMOVED:
        changes = model_instance_diff(membership, None, use_json_for_changes=True) or {}
    else:
        changes = {"role": [old_role, new_role]}
    return audit_event_record(
        action=name,
        organization_id=membership.organization_id,
        instance=membership,
        changes=_field_changes(membership, changes),
        actor=actor_from(user=actor) if actor is not None else None,
        request_meta=request_meta_of(request),
    )


def _already_recorded(instance: Any, action: str) -> bool:
    """Return whether the current request already recorded ``action`` on ``instance``.

    A deleted row has lost its primary key; any such event on a row of its type
    and organization in this request then counts.
    """
    if not isinstance(instance, models.Model):
        return False
    request_id = get_request_id()
    if request_id is None:
        return False
    events = AuditEvent.objects.filter(
        cid=request_id, action=action, content_type=ContentType.objects.get_for_model(instance)
    )
    if instance.pk is not None:
        events = events.filter(object_pk=str(instance.pk))
    else:
        events = events.filter(organization_id=getattr(instance, "organization_id", None))
    with across_organizations():
        return events.exists()


@dataclass(frozen=True)
class RetentionResult:
    """What one retention run did to one chain."""

    organization_id: int | None
    removed: int
    anchor_sequence: int
    anchor_hash: str
    cutoff: datetime | None
    event: AuditEvent


def retention_days(organization: Organization | None) -> int | None:
    """Return how many days the events of ``organization`` are kept, None when unreadable."""
    value = (
        organization.setting("audit_retention_days")
        if organization is not None
        else DEFAULT_ORGANIZATION_SETTINGS["audit_retention_days"]
    )
    if isinstance(value, bool):
        return None
    try:
        days = int(value)
    except (TypeError, ValueError):
        return None
    return days if days >= 1 else None


@contextmanager
def _retention_path() -> Iterator[None]:
    """Let this transaction delete audit events past PostgreSQL's append-only trigger."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL cloudpam.audit_retention = 'on'")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL cloudpam.audit_retention = 'off'")


def audit_retention_apply(
    *, organization_id: int | None, now: datetime | None = None
) -> RetentionResult:
    """Remove the events of one chain older than its retention, and record that it ran.

    Events go by position in the chain, never leaving a hole: every event up
    to the last one older than the cutoff is removed. The chain is then
    anchored at the last removed event, so ``verify_audit_chain`` checks the
    first kept event against it, and a ``retention`` event records the count
    and the anchor. An unreadable retention setting removes nothing. Pending
    events are chained first; any still unchained are kept whatever their age.
    """
    audit_chain_settle(organization_id=organization_id, wait=True)
    with across_organizations(), transaction.atomic():
        return _retention_apply(organization_id=organization_id, now=now)


def _retention_apply(*, organization_id: int | None, now: datetime | None) -> RetentionResult:
    organization = (
        Organization.objects.filter(pk=organization_id).first()
        if organization_id is not None
        else None
    )
    days = retention_days(organization)
    now = now or timezone.now()
    chain = _lock_chain(organization_id)
    cutoff = now - timedelta(days=days) if days is not None else None
    removed = 0
    anchor_sequence, anchor_hash = chain.anchor_sequence, chain.anchor_hash
    events = AuditEvent.objects.filter(organization_id=organization_id, sequence__isnull=False)
    boundary = (
        events.filter(timestamp__lt=cutoff).order_by("-sequence").values("sequence", "hash").first()
        if cutoff is not None
        else None
    )
    if boundary is not None:
        with _retention_path():
            removed, _ = events.filter(sequence__lte=boundary["sequence"]).delete()
        anchor_sequence, anchor_hash = boundary["sequence"], boundary["hash"]
        AuditChain.objects.filter(pk=chain.pk).update(
            anchor_sequence=anchor_sequence, anchor_hash=anchor_hash
        )
    details: dict[str, Any] = {
        "removed": removed,
        "retention_days": days,
        "cutoff": cutoff,
        "anchor_sequence": anchor_sequence,
        "anchor_hash": anchor_hash,
    }
    if days is None:
        details["skipped"] = "The organization's audit_retention_days is not a whole number >= 1."
    event = audit_event_record(
        action=AuditAction.RETENTION,
        organization_id=organization_id,
        details=details,
    )
    # Chained before the head is released: the new anchor never shows without its event.
    _chain_now(event)
    return RetentionResult(
        organization_id=organization_id,
        removed=removed,
        anchor_sequence=anchor_sequence,
        anchor_hash=anchor_hash,
        cutoff=cutoff,
        event=event,
    )
