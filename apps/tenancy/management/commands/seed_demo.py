"""Create the demo organization, its admin and each app's demo data (idempotent)."""

from __future__ import annotations

import secrets
from importlib import import_module
from importlib.util import find_spec
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from apps.tenancy.choices import Role
from apps.tenancy.models import Membership, Organization, User
from apps.tenancy.rls import tenant_context
from cloudpam import context

DEMO_SLUG = "demo"
DEMO_EMAIL = "admin@demo.cloudpam.local"
DEMO_APPS = ["pools", "cloud", "discovery", "analysis", "planning", "audit"]
DEMO_LOGIN_FILE = "demo-admin-password"


class Command(BaseCommand):
    help = "Create the demo organization with an admin user and demo data; print the login."

    def handle(self, *args: Any, **options: Any) -> None:
        password_file = settings.VAR_DIR / DEMO_LOGIN_FILE
        settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
        if not password_file.exists():
            password_file.write_text(secrets.token_urlsafe(12))
            password_file.chmod(0o600)
        password = password_file.read_text().strip()

        with transaction.atomic():
            organization, created = Organization.objects.get_or_create(
                slug=DEMO_SLUG, defaults={"name": "Demo Corp"}
            )
            user = User.objects.filter(email=DEMO_EMAIL).first()
            if user is None:
                user = User.objects.create_superuser(DEMO_EMAIL, password, full_name="Demo Admin")
            elif not user.check_password(password):
                user.set_password(password)
                user.save(update_fields=["password"])
            with (
                tenant_context(organization),
                context.bound(organization=organization, actor={"system": "seed_demo"}),
            ):
                Membership.objects.get_or_create(
                    user=user, organization=organization, defaults={"role": Role.OWNER}
                )
                for app in DEMO_APPS:
                    name = f"apps.{app}.demo"
                    if find_spec(name) is not None:
                        import_module(name).seed(organization=organization, user=user)

        verb = "Created" if created else "Found"
        self.stdout.write(f"{verb} the demo organization '{organization.slug}'.")
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS("  CloudPAM is at http://localhost:8080"))
        self.stdout.write(self.style.SUCCESS(f"  Sign in as {DEMO_EMAIL} / {password}"))
        self.stdout.write("")
