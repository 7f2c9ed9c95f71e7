"""Create an API token, with the user, organization and membership it needs."""

from __future__ import annotations

from argparse import ArgumentParser
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from apps.tenancy import services
from apps.tenancy.choices import Role, TokenScope
from apps.tenancy.models import Membership, Organization, User
from apps.tenancy.rls import tenant_context
from apps.tenancy.roles import ROLE_MAX_SCOPES
from cloudpam import context
from cloudpam.exceptions import ApplicationError
from cloudpam.logging import logs_to_stderr


class Command(BaseCommand):
    help = (
        "Create an API token for EMAIL in the organization SLUG and print it (only the token "
        "goes to stdout, so scripts can capture it). Creates the user, the organization and "
        "the membership when they are missing, and says so on stderr."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("email")
        parser.add_argument("--org", required=True, metavar="SLUG")
        parser.add_argument(
            "--role",
            choices=Role.values,
            default=Role.OWNER,
            help="role of a new membership (an existing one keeps its role); default owner",
        )
        parser.add_argument(
            "--scopes",
            default="",
            help="comma-separated scopes (read,write,admin); default: the widest the role allows",
        )
        parser.add_argument("--name", default="command-line token")
        parser.add_argument(
            "--expires-days",
            type=int,
            default=None,
            help="days until the token expires; default: the organization's default lifetime",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        email = options["email"].strip().lower()
        try:
            validate_email(email)
        except DjangoValidationError:
            raise CommandError(f"'{email}' is not an email address.") from None
        slug = options["org"]
        if slug != slugify(slug):
            raise CommandError(f"'{slug}' is not a valid slug (lower-case letters, digits, -).")
        scopes = [s.strip() for s in options["scopes"].split(",") if s.strip()]
        unknown = [s for s in scopes if s not in TokenScope.values]
        if unknown:
            raise CommandError(f"Unknown scope '{unknown[0]}'; use {', '.join(TokenScope.values)}.")
        expires_at = None
        if options["expires_days"] is not None:
            if options["expires_days"] < 1:
                raise CommandError("--expires-days must be at least 1.")
            expires_at = timezone.now() + timedelta(days=options["expires_days"])

        try:
            with logs_to_stderr():
                value = self._create(email, slug, options["role"], scopes, options, expires_at)
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(value)

    @transaction.atomic
    def _create(
        self,
        email: str,
        slug: str,
        role: str,
        scopes: list[str],
        options: dict[str, Any],
        expires_at: Any,
    ) -> str:
        organization = Organization.objects.filter(slug=slug).first()
        if organization is None:
            organization = Organization.objects.create(name=slug, slug=slug)
            self.stderr.write(f"Created the organization '{slug}'.")
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            user = User.objects.create_user(email, None)
            self.stderr.write(f"Created the user {email} (no password: token access only).")
        with (
            tenant_context(organization),
            context.bound(organization=organization, actor={"system": "manage.py create_token"}),
        ):
            membership = Membership.objects.filter(user=user, organization=organization).first()
            if membership is None:
                membership = services.membership_invite(
                    organization=organization, email=email, role=role, actor=None
                )
                self.stderr.write(f"Made {email} {role} of '{slug}'.")
            elif membership.role != role:
                self.stderr.write(
                    f"{email} is already {membership.role} of '{slug}'; "
                    "the token follows that role."
                )
            if not scopes:
                scopes = sorted(ROLE_MAX_SCOPES[Role(membership.role)])
            token, value = services.api_token_create(
                membership=membership,
                name=options["name"],
                scopes=scopes,
                expires_at=expires_at,
            )
        self.stderr.write(
            f"Created the token '{token.name}' ({token.display_prefix}, scopes "
            f"{', '.join(token.scopes)}, expires {token.expires_at:%Y-%m-%d}). "
            "It is shown once:"
        )
        return value
