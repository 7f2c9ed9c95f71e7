"""
Signal receivers of the audit trail: sign-in events, tenancy's access events,
many-to-many changes, and the context of Celery tasks.

They only translate a signal into a call of ``apps.audit.services``.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from auditlog.models import AbstractLogEntry
from celery import signals as celery_signals
from django.contrib.auth import get_user_model
from django.contrib.auth import signals as auth_signals
from django.db import models
from django.db.models.signals import m2m_changed

from apps.audit import services
from apps.audit.choices import AuditAction, LoginFailedReason
from apps.audit.context import actor_from
from apps.audit.registration import audited_models, m2m_fields
from apps.planning import signals as planning_signals
from apps.pools import signals as pools_signals
from apps.tenancy import signals as tenancy_signals
from cloudpam import context


def on_user_logged_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    # A sign-in other than by password names its method on the request (SSO: the provider).
    details = getattr(request, "cloudpam_login_details", None)
    services.audit_user_event_record(
        action=AuditAction.LOGIN,
        user=user,
        actor=actor_from(user=user),
        instance=user,
        request=request,
        details=dict(details) if details else None,
    )


def on_user_logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is None:
        return
    services.audit_user_event_record(
        action=AuditAction.LOGOUT,
        user=user,
        actor=actor_from(user=user),
        instance=user,
        request=request,
    )


def on_user_login_failed(
    sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any
) -> None:
    # Only the attempted identity: Django masks the password, and it is never read here.
    field = get_user_model().USERNAME_FIELD
    identity = credentials.get(field) or credentials.get("username") or credentials.get("email")
    # Django's own signal carries no reason; the sign-in rate limit sends "rate_limited".
    services.audit_login_failed_record(
        identity=str(identity or ""),
        request=request,
        reason=kwargs.get("reason") or LoginFailedReason.INVALID_CREDENTIALS,
        details=kwargs.get("details"),
    )


def on_token_created(
    sender: Any, token: Any, actor: Any = None, request: Any = None, **kwargs: Any
) -> None:
    services.audit_token_event_record(
        action=AuditAction.TOKEN_CREATED, token=token, actor=actor, request=request
    )


def on_token_revoked(
    sender: Any, token: Any, actor: Any = None, request: Any = None, **kwargs: Any
) -> None:
    services.audit_token_event_record(
        action=AuditAction.TOKEN_REVOKED, token=token, actor=actor, request=request
    )


def on_token_first_used(sender: Any, token: Any, request: Any = None, **kwargs: Any) -> None:
    services.audit_token_event_record(
        action=AuditAction.TOKEN_FIRST_USED, token=token, actor=None, request=request
    )


def on_membership_changed(
    sender: Any,
    membership: Any,
    action: str,
    old_role: str | None = None,
    new_role: str | None = None,
    actor: Any = None,
    request: Any = None,
    **kwargs: Any,
) -> None:
    services.audit_membership_event_record(
        membership=membership,
        action=action,
        old_role=old_role,
        new_role=new_role,
        actor=actor,
        request=request,
    )


MFA_ACTIONS = {
    "enrolled": AuditAction.MFA_ENROLLED,
    "verified": AuditAction.MFA_VERIFIED,
    "failed": AuditAction.MFA_FAILED,
    "reset": AuditAction.MFA_RESET,
}


def on_mfa_event(
    sender: Any,
    user: Any,
    event: str,
    method: str | None = None,
    actor: Any = None,
    request: Any = None,
    reason: str | None = None,
    **kwargs: Any,
) -> None:
    # The method (totp, recovery_code) and why it failed; never a code or a secret.
    details = {key: value for key, value in {"method": method, "reason": reason}.items() if value}
    services.audit_user_event_record(
        action=MFA_ACTIONS[event],
        user=user,
        actor=actor_from(user=actor) if actor is not None else actor_from(user=user),
        instance=user,
        request=request,
        details=details or None,
    )


def on_session_revoked(
    sender: Any,
    user_session: Any,
    actor: Any = None,
    request: Any = None,
    reason: str = "user",
    **kwargs: Any,
) -> None:
    services.audit_user_event_record(
        action=AuditAction.SESSION_REVOKED,
        user=user_session.user,
        actor=actor_from(user=actor) if actor is not None else None,
        instance=user_session.user,
        request=request,
        details={
            "session_id": user_session.pk,
            "device": user_session.device,
            "ip": user_session.ip,
            "reason": reason,
        },
    )


def on_sso_provisioned(
    sender: Any,
    membership: Any,
    provider: Any,
    user_created: bool = False,
    role: str | None = None,
    role_source: str | None = None,
    groups: list[str] | None = None,
    request: Any = None,
    **kwargs: Any,
) -> None:
    services.audit_sso_provisioned_record(
        membership=membership,
        details={
            "provider": provider.slug,
            "user_created": user_created,
            "role": role,
            "role_source": role_source,
            "groups": list(groups or []),
        },
        request=request,
    )


def on_pools_exported(
    sender: Any, organization: Any, actor: Any, details: dict[str, Any], **kwargs: Any
) -> None:
    services.audit_event_record(
        action=AuditAction.EXPORT,
        organization_id=organization.pk,
        actor=actor,
        details=details,
    )


def on_plan_generated(
    sender: Any, organization: Any, actor: Any, details: dict[str, Any], **kwargs: Any
) -> None:
    services.audit_event_record(
        action=AuditAction.IMPORT,
        organization_id=organization.pk,
        actor=actor,
        details=details,
    )


# --- many-to-many fields ---------------------------------------------------------

# through model -> (model declaring the field, field name), filled by connect().
_M2M_THROUGH: dict[type[models.Model], tuple[type[models.Model], str]] = {}


def _related_names(owner: models.Model, field_name: str) -> list[str]:
    return sorted(str(item) for item in getattr(owner, field_name).all())


def on_m2m_changed(
    sender: type[models.Model],
    instance: models.Model,
    action: str,
    reverse: bool,
    pk_set: set[Any] | None,
    **kwargs: Any,
) -> None:
    """Record an update of each row whose many-to-many field changed, before and after.

    ``pre_*`` notes the related rows of every affected owner, ``post_*``
    compares: django-auditlog's own handler cannot tell what a clear removed.
    """
    declared = _M2M_THROUGH.get(sender)
    if declared is None:
        return
    owner_model, field_name = declared
    phase, _, operation = action.partition("_")
    stash: dict[tuple[type, str], list[tuple[models.Model, list[str]]]] = (
        instance.__dict__.setdefault("_audit_m2m_before", {})
    )
    if phase == "pre":
        if not reverse:
            owners = [instance]
        else:
            lookup = {field_name: instance} if pk_set is None else {"pk__in": pk_set}
            owners = list(owner_model._default_manager.filter(**lookup))
        stash[(sender, operation)] = [
            (owner, _related_names(owner, field_name)) for owner in owners
        ]
        return
    for owner, before in stash.pop((sender, operation), []):
        after = _related_names(owner, field_name)
        if before != after:
            services.audit_record_model_change(
                instance=owner,
                action=AbstractLogEntry.Action.UPDATE,
                changes={field_name: [before, after]},
            )


# --- Celery tasks ----------------------------------------------------------------

CONTEXT_HEADER = "cloudpam_context"


@dataclass(frozen=True)
class TokenRef:
    """The id and name of the API token a task was started with."""

    pk: int
    name: str


def on_before_task_publish(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    """Carry the request id, organization and actor of the caller to the worker."""
    if headers is None:
        return
    organization = context.get_organization()
    actor = context.get_actor() or {}
    user, token = actor.get("user"), actor.get("token")
    headers[CONTEXT_HEADER] = {
        "request_id": context.get_request_id(),
        "organization_id": getattr(organization, "pk", None),
        "user_id": getattr(user, "pk", None) if getattr(user, "is_authenticated", False) else None,
        "token_id": getattr(token, "pk", None),
        "token_name": getattr(token, "name", None),
    }


_task_context_tokens: dict[str, list[Any]] = {}


def on_task_prerun(task_id: str, task: Any, **kwargs: Any) -> None:
    """Bind the task's context: the caller's request id, organization and user, plus the task."""
    from apps.tenancy.models import Organization

    carried = getattr(task.request, CONTEXT_HEADER, None)
    if carried:
        organization = (
            Organization.objects.filter(pk=carried["organization_id"]).first()
            if carried.get("organization_id")
            else None
        )
        user = (
            get_user_model().objects.filter(pk=carried["user_id"]).first()
            if carried.get("user_id")
            else None
        )
        token = (
            TokenRef(pk=carried["token_id"], name=carried.get("token_name") or "")
            if carried.get("token_id")
            else None
        )
        request_id = carried.get("request_id")
    else:  # Run in-process (eager): the caller's context is the current one.
        organization = context.get_organization()
        bound = context.get_actor() or {}
        user, token = bound.get("user"), bound.get("token")
        request_id = context.get_request_id()
    _task_context_tokens[task_id] = [
        context.request_id_var.set(request_id or context.new_request_id()),
        context.organization_var.set(organization),
        context.actor_var.set({"user": user, "token": token, "system": task.name}),
    ]


def on_task_postrun(task_id: str, **kwargs: Any) -> None:
    tokens = _task_context_tokens.pop(task_id, None)
    if not tokens:
        return
    request_id, organization, actor = tokens
    # A token from another thread's context cannot be reset; the thread's context ends anyway.
    with contextlib.suppress(ValueError):
        context.actor_var.reset(actor)
        context.organization_var.reset(organization)
        context.request_id_var.reset(request_id)


def connect() -> None:
    """Connect every receiver (called once from ``AuditConfig.ready``)."""
    auth_signals.user_logged_in.connect(on_user_logged_in, dispatch_uid="audit.login")
    auth_signals.user_logged_out.connect(on_user_logged_out, dispatch_uid="audit.logout")
    auth_signals.user_login_failed.connect(on_user_login_failed, dispatch_uid="audit.login_failed")
    tenancy_signals.token_created.connect(on_token_created, dispatch_uid="audit.token_created")
    tenancy_signals.token_revoked.connect(on_token_revoked, dispatch_uid="audit.token_revoked")
    tenancy_signals.token_first_used.connect(
        on_token_first_used, dispatch_uid="audit.token_first_used"
    )
    tenancy_signals.membership_changed.connect(
        on_membership_changed, dispatch_uid="audit.membership_changed"
    )
    tenancy_signals.mfa_event.connect(on_mfa_event, dispatch_uid="audit.mfa_event")
    tenancy_signals.session_revoked.connect(
        on_session_revoked, dispatch_uid="audit.session_revoked"
    )
    tenancy_signals.sso_provisioned.connect(
        on_sso_provisioned, dispatch_uid="audit.sso_provisioned"
    )
    planning_signals.pools_exported.connect(on_pools_exported, dispatch_uid="audit.pools_exported")
    pools_signals.plan_generated.connect(on_plan_generated, dispatch_uid="audit.plan_generated")
    for model in audited_models():
        for field in m2m_fields(model):
            through = field.remote_field.through
            if through._meta.auto_created:
                _M2M_THROUGH[through] = (model, field.name)
                m2m_changed.connect(
                    on_m2m_changed, sender=through, dispatch_uid=f"audit.m2m.{through._meta.label}"
                )
    celery_signals.before_task_publish.connect(
        on_before_task_publish, dispatch_uid="audit.before_task_publish"
    )
    celery_signals.task_prerun.connect(on_task_prerun, dispatch_uid="audit.task_prerun")
    celery_signals.task_postrun.connect(on_task_postrun, dispatch_uid="audit.task_postrun")
