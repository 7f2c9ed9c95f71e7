"""How agents authenticate: a provisioning token to register, then the agent's credential.

Neither is a user's API token and neither stands for a member: the request's user is an
:class:`AgentPrincipal`, which holds no role, so no member-facing endpoint lets it in.
Both use ``Authorization: Bearer <credential>``.

Argon2id costs tens of milliseconds by design, more than the rest of a heartbeat, so a
verified agent credential is remembered for a minute under a keyed hash of the whole
credential (never the credential itself), as API tokens are. A hit still reads the agent's
row, so a revocation takes effect at once. Provisioning tokens are used once per agent and
are verified every time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.utils import timezone
from django.utils.crypto import salted_hmac
from rest_framework import authentication, exceptions, permissions

from apps.discovery import credentials
from apps.discovery.choices import AgentStatus
from apps.discovery.models import Agent, AgentProvisioningToken
from apps.tenancy import rls
from apps.tenancy.rls import rls_bypass
from cloudpam import context
from cloudpam.exceptions import PermissionDenied

INVALID = "Invalid, expired or revoked credential."
CACHE_SECONDS = 60
_KEY_SALT = "cloudpam.discovery.agent-verification"


def _cache_key(raw: str) -> str:
    return f"discovery:agent:v:{salted_hmac(_KEY_SALT, raw, algorithm='sha256').hexdigest()}"


@dataclass(frozen=True)
class AgentPrincipal:
    """The request's user when an agent (or a provisioning token) calls: no member, no role."""

    label: str
    pk: None = None
    is_authenticated: bool = True
    is_anonymous: bool = False
    is_active: bool = True
    is_superuser: bool = False
    is_staff: bool = False

    def __str__(self) -> str:
        return self.label


def _bearer(request: Any) -> str | None:
    header = authentication.get_authorization_header(request).split()
    if not header or header[0].lower() != b"bearer":
        return None
    if len(header) != 2:
        raise exceptions.AuthenticationFailed(
            "Invalid Authorization header: give one credential after 'Bearer'."
        )
    try:
        return header[1].decode("ascii")
    except UnicodeDecodeError:
        raise exceptions.AuthenticationFailed(INVALID) from None


def _bind(request: Any, organization_id: int, label: str) -> None:
    """Make the credential's organization the request's, for scoping, RLS and the logs."""
    from apps.tenancy.models import Organization

    rls.activate(organization_id)
    organization = Organization.objects.get(pk=organization_id)
    django_request = request._request
    django_request.organization = organization
    django_request.membership = None
    context.organization_var.set(organization)
    context.actor_var.set({"system": label})


def _find(model: type, lookup: dict[str, str]) -> Any:
    # The organization is what this lookup finds out, so it runs before one is bound.
    with rls_bypass():
        return model.objects.filter(**lookup).first()


class ProvisioningTokenAuthentication(authentication.BaseAuthentication):
    """Authenticate ``Bearer cpap_<prefix>_<secret>``: an active provisioning token."""

    def authenticate(self, request: Any) -> tuple[AgentPrincipal, AgentProvisioningToken] | None:
        raw = _bearer(request)
        if raw is None:
            return None
        parsed = credentials.parse(raw, credentials.PROVISIONING)
        if parsed is None:
            raise exceptions.AuthenticationFailed(INVALID)
        prefix, secret = parsed
        token = _find(AgentProvisioningToken, {"prefix": prefix})
        if (
            token is None
            or not credentials.secret_matches(token.secret_hash, secret)
            or token.revoked_at is not None
            or token.is_expired(timezone.now())
        ):
            raise exceptions.AuthenticationFailed(INVALID)
        label = f"agent provisioning token {token.pk} {token.name}"
        _bind(request, token.organization_id, label)
        return AgentPrincipal(label), token

    def authenticate_header(self, request: Any) -> str:
        return 'Bearer realm="agents"'


class AgentAuthentication(authentication.BaseAuthentication):
    """Authenticate ``Bearer cpag_<prefix>_<secret>``: a registered, not revoked agent.

    A revoked agent (or an unknown credential) is a 401; a pending or rejected agent is
    authenticated, and the views say what it may do (``IsApprovedAgent``).
    """

    def authenticate(self, request: Any) -> tuple[AgentPrincipal, Agent] | None:
        raw = _bearer(request)
        if raw is None:
            return None
        parsed = credentials.parse(raw, credentials.AGENT)
        if parsed is None:
            raise exceptions.AuthenticationFailed(INVALID)
        prefix, secret = parsed
        key = _cache_key(raw)
        verified_id = cache.get(key)
        lookup = {"credential_prefix": prefix}
        if verified_id is not None:
            lookup["pk"] = verified_id
        agent = _find(Agent, lookup)
        if agent is None:
            raise exceptions.AuthenticationFailed(INVALID)
        if verified_id is None:
            if not credentials.secret_matches(agent.credential_hash, secret):
                raise exceptions.AuthenticationFailed(INVALID)
            cache.set(key, agent.pk, timeout=CACHE_SECONDS)
        if agent.status == AgentStatus.REVOKED:
            raise exceptions.AuthenticationFailed("This agent has been revoked.")
        label = f"agent {agent.pk} {agent.name}"
        _bind(request, agent.organization_id, label)
        return AgentPrincipal(label), agent

    def authenticate_header(self, request: Any) -> str:
        return 'Bearer realm="agents"'


class IsRegisteredAgent(permissions.BasePermission):
    """Let in an agent that is not rejected (pending agents may heartbeat while they wait)."""

    def has_permission(self, request: Any, view: Any) -> bool:
        agent = request.auth
        if not isinstance(agent, Agent):
            return False
        if agent.status == AgentStatus.REJECTED:
            raise PermissionDenied(
                "This agent was rejected by an administrator.", code="agent_rejected"
            )
        return True


class IsApprovedAgent(IsRegisteredAgent):
    """Let in an approved agent only: a pending one waits for an admin."""

    def has_permission(self, request: Any, view: Any) -> bool:
        if not super().has_permission(request, view):
            return False
        if request.auth.status != AgentStatus.APPROVED:
            raise PermissionDenied(
                "This agent is waiting for an administrator's approval.", code="agent_pending"
            )
        return True


class HasProvisioningToken(permissions.BasePermission):
    """Let in a request authenticated by a provisioning token."""

    def has_permission(self, request: Any, view: Any) -> bool:
        return isinstance(request.auth, AgentProvisioningToken)
