"""
Writes of tenancy: organizations, memberships, settings and API tokens.

Every service is one atomic action that sends the access signal the audit app
records (in the same transaction). Permission checks happen in the calling
view; the rules that hold whoever calls (the last owner stays, scopes never
exceed the role) live here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings as django_settings
from django.contrib.auth.tokens import default_token_generator
from django.contrib.contenttypes.models import ContentType
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.text import slugify
from guardian.models import GroupObjectPermission, UserObjectPermission

from apps.tenancy import signals
from apps.tenancy.choices import Role, TokenScope
from apps.tenancy.models import ApiToken, Membership, Organization, User
from apps.tenancy.org_settings import check_setting_guards, validate_quotas, validate_settings
from apps.tenancy.rls import tenant_context
from apps.tenancy.roles import ROLE_MAX_SCOPES
from apps.tenancy.sessions.services import member_sessions_revoke
from apps.tenancy.tokens import LAST_USED_INTERVAL, forget_token, generate_token, hash_secret
from cloudpam.exceptions import Conflict, PermissionDenied, ValidationError
from cloudpam.mail import MailNotConfigured

logger = logging.getLogger("apps.tenancy")

# ---------------------------------------------------------------- organizations


def _unique_slug(name: str) -> str:
    base = (slugify(name) or "organization")[:55]
    slug, counter = base, 2
    while Organization.objects.filter(slug=slug).exists():
        slug = f"{base}-{counter}"
        counter += 1
    return slug


def organization_create_allowed(user: User) -> bool:
    """Return whether ``user`` may create organizations (``CLOUDPAM_ORGANIZATION_CREATORS``)."""
    if django_settings.CLOUDPAM_ORGANIZATION_CREATORS == "anyone":
        return bool(user.is_active)
    return bool(user.is_active and (user.is_staff or user.is_superuser))


@transaction.atomic
def organization_create(
    *,
    name: str,
    creator: User,
    slug: str | None = None,
    owner: User | None = None,
    request: Any = None,
) -> Organization:
    """Create an organization and make ``creator`` its owner, if the instance lets them.

    ``owner`` names another first owner (a superuser creating one in the admin for a
    customer); the instance's rule applies to the creator, who acts.
    """
    if not organization_create_allowed(creator):
        raise PermissionDenied(
            "Only staff users may create organizations on this instance; "
            "ask an administrator to create one or to invite you."
        )
    name = name.strip()
    if not name:
        raise ValidationError("name: This field may not be blank.", fields={"name": ["Required."]})
    if slug:
        if slug != slugify(slug) or len(slug) > 63:
            raise ValidationError(
                "slug: Use lower-case letters, digits and hyphens.",
                fields={"slug": ["Use lower-case letters, digits and hyphens."]},
            )
        if Organization.objects.filter(slug=slug).exists():
            raise ValidationError(
                f"slug: The slug '{slug}' is taken.", fields={"slug": ["This slug is taken."]}
            )
    organization = Organization.objects.create(name=name, slug=slug or _unique_slug(name))
    with tenant_context(organization):
        membership = Membership.objects.create(
            user=owner or creator, organization=organization, role=Role.OWNER
        )
        signals.membership_changed.send(
            sender=Membership,
            membership=membership,
            action="added",
            old_role=None,
            new_role=Role.OWNER,
            actor=creator,
            request=request,
        )
    return organization


@transaction.atomic
def organization_update(*, organization: Organization, name: str) -> Organization:
    """Rename an organization (its slug, used in URLs and scripts, stays)."""
    name = name.strip()
    if not name:
        raise ValidationError("name: This field may not be blank.", fields={"name": ["Required."]})
    organization = Organization.objects.select_for_update().get(pk=organization.pk)
    organization.name = name
    organization.save(update_fields=["name", "updated_at"])
    return organization


@transaction.atomic
def organization_delete(*, organization: Organization) -> None:
    """Delete an organization and, with it, every row it owns."""
    with tenant_context(organization):
        locked = Organization.objects.select_for_update().get(pk=organization.pk)
        content_type = ContentType.objects.get_for_model(Organization)
        for model in (UserObjectPermission, GroupObjectPermission):
            model.objects.filter(content_type=content_type, object_pk=str(locked.pk)).delete()
        tokens = list(ApiToken.objects.for_organization(locked).values_list("pk", flat=True))
        locked.delete()
    transaction.on_commit(lambda: [forget_token(pk) for pk in tokens])


@transaction.atomic
def organization_settings_update(
    *,
    organization: Organization,
    settings: dict[str, Any] | None = None,
    quotas: dict[str, Any] | None = None,
) -> Organization:
    """Change some settings and quotas of an organization; the others keep their values.

    Settings are checked against their schema (400) and then against the
    organization's data by the guards other apps register (409).
    """
    organization = Organization.objects.select_for_update().get(pk=organization.pk)
    if settings:
        validate_settings(settings, organization.settings or {})
        with tenant_context(organization):
            check_setting_guards(organization=organization, changes=settings)
        organization.settings = {**(organization.settings or {}), **settings}
    if quotas:
        validate_quotas(quotas)
        organization.quotas = {**(organization.quotas or {}), **quotas}
    organization.save(update_fields=["settings", "quotas", "updated_at"])
    return organization


# ---------------------------------------------------------------- memberships


def _lock_owners(organization: Organization) -> list[Membership]:
    # Locked in primary-key order so that two concurrent demotions cannot both
    # see "another owner is left" and leave none.
    return list(
        Membership.objects.select_for_update()
        .filter(organization=organization, role=Role.OWNER)
        .order_by("pk")
    )


def _check_not_last_owner(membership: Membership) -> None:
    if membership.role != Role.OWNER:
        return
    owners = _lock_owners(membership.organization)
    if len(owners) <= 1:
        raise Conflict(
            f"{membership.user.email} is the last owner of {membership.organization.name}; "
            "make another member owner first."
        )


@dataclass
class Invitation:
    """An invitation to set a password, and whether its email went out.

    ``link`` carries a password-setting token: it is given to the inviter only
    when the email could not be sent, and never logged.
    """

    email: str
    link: str
    sent: bool | None = None  # None until the transaction commits and mail is tried
    error: str = ""


def _invitation_link(user: User, request: Any) -> str:
    path = reverse(
        "tenancy:invitation-accept",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )
    return request.build_absolute_uri(path) if request is not None else path


def _send_invitation(
    invitation: Invitation, organization: Organization, inviter: User | None
) -> None:
    context = {
        "organization": organization,
        "inviter": inviter,
        "link": invitation.link,
    }
    try:
        send_mail(
            subject=f"You are invited to {organization.name} on CloudPAM",
            message=render_to_string("tenancy/email/invitation.txt", context),
            from_email=None,
            recipient_list=[invitation.email],
        )
    except MailNotConfigured as exc:
        invitation.sent, invitation.error = False, str(exc)
        logger.warning("invitation email to %s not sent: no mail server", invitation.email)
    except OSError as exc:
        # The membership exists either way; the inviter gets the link to pass on. No
        # traceback: an SMTP error can quote the message, link included.
        invitation.sent = False
        invitation.error = f"The mail server refused it ({type(exc).__name__})."
        logger.warning(
            "invitation email to %s could not be sent: %s",
            invitation.email,
            type(exc).__name__,
        )
    else:
        invitation.sent = True


@transaction.atomic
def membership_invite(
    *,
    organization: Organization,
    email: str,
    role: str,
    actor: User | None,
    request: Any = None,
) -> Membership:
    """Add the user with ``email`` to the organization, creating (and inviting) them if new.

    A new user's :class:`Invitation` is ``membership.invitation`` (None for an
    existing user); it is mailed when the transaction commits, and says whether
    that worked.
    """
    if role not in Role.values:
        raise ValidationError(f"role: Unknown role '{role}'.", fields={"role": ["Unknown role."]})
    email = User.objects.normalize_email(email).strip().lower()
    user = User.objects.filter(email__iexact=email).first()
    created = user is None
    if user is None:
        user = User.objects.create_user(email, None)
    if Membership.objects.filter(user=user, organization=organization).exists():
        raise Conflict(f"{email} is already a member of {organization.name}.")
    membership = Membership.objects.create(user=user, organization=organization, role=role)
    signals.membership_changed.send(
        sender=Membership,
        membership=membership,
        action="added",
        old_role=None,
        new_role=role,
        actor=actor,
        request=request,
    )
    membership.invitation = None
    if created:
        invitation = Invitation(email=email, link=_invitation_link(user, request))
        membership.invitation = invitation
        transaction.on_commit(lambda: _send_invitation(invitation, organization, actor))
    return membership


@transaction.atomic
def membership_change_role(
    *, membership: Membership, role: str, actor: User | None, request: Any = None
) -> Membership:
    """Give a member another role; the organization always keeps an owner."""
    if role not in Role.values:
        raise ValidationError(f"role: Unknown role '{role}'.", fields={"role": ["Unknown role."]})
    membership = Membership.objects.select_related("user", "organization").get(pk=membership.pk)
    old_role = membership.role
    if old_role == role:
        return membership
    if old_role == Role.OWNER:
        _check_not_last_owner(membership)
    membership.role = role
    membership.save(update_fields=["role", "updated_at"])
    signals.membership_changed.send(
        sender=Membership,
        membership=membership,
        action="role_changed",
        old_role=old_role,
        new_role=role,
        actor=actor,
        request=request,
    )
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership, actor: User | None, request: Any = None) -> None:
    """Remove a member, revoke their tokens and end their sessions working in it.

    The organization always keeps an owner.
    """
    membership = Membership.objects.select_related("user", "organization").get(pk=membership.pk)
    _check_not_last_owner(membership)
    for token in ApiToken.objects.filter(membership=membership, revoked_at__isnull=True):
        api_token_revoke(token=token, actor=actor, request=request)
    member_sessions_revoke(
        membership=membership,
        actor=actor,
        request=request,
        reason="member_removed",
        only_this_organization=True,
    )
    signals.membership_changed.send(
        sender=Membership,
        membership=membership,
        action="removed",
        old_role=membership.role,
        new_role=None,
        actor=actor,
        request=request,
    )
    membership.delete()


# ---------------------------------------------------------------- API tokens


def _clean_scopes(scopes: list[str], role: str) -> list[str]:
    if not scopes:
        raise ValidationError(
            "scopes: Choose at least one scope.", fields={"scopes": ["Choose at least one scope."]}
        )
    unknown = [scope for scope in scopes if scope not in TokenScope.values]
    if unknown:
        raise ValidationError(
            f"scopes: Unknown scope '{unknown[0]}'.",
            fields={"scopes": [f"Unknown scope '{unknown[0]}'."]},
        )
    allowed = ROLE_MAX_SCOPES[Role(role)]
    above = [scope for scope in scopes if scope not in allowed]
    if above:
        allowed_text = ", ".join(sorted(allowed))
        message = (
            f"The role '{role}' allows the token scopes {allowed_text}; '{above[0]}' is above it."
        )
        raise ValidationError(f"scopes: {message}", fields={"scopes": [message]})
    return [scope.value for scope in TokenScope if scope.value in scopes]


def _clean_expiry(expires_at: datetime | None, organization: Organization) -> datetime:
    now = timezone.now()
    longest = timedelta(days=organization.setting("token_max_lifetime_days"))
    if expires_at is None:
        return now + timedelta(days=organization.setting("token_default_lifetime_days"))
    if expires_at <= now:
        message = "The expiry must be in the future."
        raise ValidationError(f"expires_at: {message}", fields={"expires_at": [message]})
    if expires_at > now + longest:
        message = f"Tokens of this organization live at most {longest.days} days."
        raise ValidationError(f"expires_at: {message}", fields={"expires_at": [message]})
    return expires_at


@transaction.atomic
def api_token_create(
    *,
    membership: Membership,
    name: str,
    scopes: list[str],
    expires_at: datetime | None = None,
    rate_limit_per_minute: int | None = None,
    actor: User | None = None,
    request: Any = None,
) -> tuple[ApiToken, str]:
    """Create a token for ``membership``; return it and its full value, shown only once."""
    name = name.strip()
    if not name or len(name) > 100:
        message = "Give the token a name of 1 to 100 characters."
        raise ValidationError(f"name: {message}", fields={"name": [message]})
    organization = membership.organization
    scopes = _clean_scopes(list(scopes), membership.role)
    expires_at = _clean_expiry(expires_at, organization)
    if rate_limit_per_minute is not None:
        ceiling = organization.effective_quotas["max_api_calls_per_minute"]
        if not 1 <= rate_limit_per_minute <= ceiling:
            message = f"Must be between 1 and the organization's limit ({ceiling})."
            raise ValidationError(
                f"rate_limit_per_minute: {message}", fields={"rate_limit_per_minute": [message]}
            )
    for _attempt in range(3):
        new = generate_token()
        try:
            with transaction.atomic():
                token = ApiToken.objects.create(
                    organization=organization,
                    membership=membership,
                    name=name,
                    prefix=new.prefix,
                    secret_hash=hash_secret(new.secret),
                    scopes=scopes,
                    expires_at=expires_at,
                    rate_limit_per_minute=rate_limit_per_minute,
                    created_by=actor,
                )
            break
        except IntegrityError:
            # A prefix collision (about one in 10^17 per pair): draw again.
            continue
    else:  # pragma: no cover - three collisions in a row do not happen
        raise Conflict("Could not allocate a unique token prefix; try again.")
    signals.token_created.send(sender=ApiToken, token=token, actor=actor, request=request)
    return token, new.value


@transaction.atomic
def api_token_revoke(*, token: ApiToken, actor: User | None, request: Any = None) -> ApiToken:
    """Revoke a token at once; revoking a revoked token changes nothing."""
    token = ApiToken.objects.select_for_update().get(pk=token.pk)
    forget_token(token.pk)
    if token.revoked_at is not None:
        return token
    token.revoked_at = timezone.now()
    token.revoked_by = actor
    token.save(update_fields=["revoked_at", "revoked_by"])
    # Dropped again after commit: a request verifying the token meanwhile could
    # have cached it from the not yet committed row.
    transaction.on_commit(lambda: forget_token(token.pk))
    signals.token_revoked.send(sender=ApiToken, token=token, actor=actor, request=request)
    return token


def api_token_record_use(*, token: ApiToken, ip: str | None, request: Any = None) -> None:
    """Record when and from where a token was used, at most once a minute.

    The conditional update keeps concurrent requests from writing it twice,
    and tells the first use (which is signalled) from the later ones.
    """
    now = timezone.now()
    if token.last_used_at is not None and now - token.last_used_at < LAST_USED_INTERVAL:
        return
    first_use = token.last_used_at is None
    updated = (
        ApiToken.objects.filter(pk=token.pk)
        .filter(Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_INTERVAL))
        .update(last_used_at=now, last_used_ip=ip)
    )
    token.last_used_at, token.last_used_ip = now, ip
    if updated and first_use:
        signals.token_first_used.send(sender=ApiToken, token=token, request=request)
