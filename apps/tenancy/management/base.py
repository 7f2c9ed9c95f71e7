"""Management command bases that bind the tenant context."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.tenancy.models import Organization
from apps.tenancy.rls import tenant_context
from cloudpam import context


class TenantCommand(BaseCommand):
    """A command that works in one organization, named by ``--org SLUG``.

    ``handle_tenant`` runs inside ``tenant_context`` of that organization.
    Commands that span organizations by design wrap their work in
    ``apps.tenancy.rls.rls_bypass()`` instead, and say so in their help.
    """

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--org", required=True, metavar="SLUG", help="organization slug")

    def handle(self, *args: Any, **options: Any) -> Any:
        organization = Organization.objects.filter(slug=options["org"]).first()
        if organization is None:
            raise CommandError(f"No organization with the slug '{options['org']}'.")
        name = self.__module__.rsplit(".", 1)[-1]
        with (
            tenant_context(organization),
            context.bound(organization=organization, actor={"system": f"manage.py {name}"}),
        ):
            return self.handle_tenant(organization, *args, **options)

    def handle_tenant(self, organization: Organization, *args: Any, **options: Any) -> Any:
        raise NotImplementedError
