"""Verify the audit hash chains: exit 0 when intact, 1 naming the first broken event."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.audit.scoping import across_organizations
from apps.audit.selectors import audit_chain_keys, audit_chain_verify
from apps.audit.services import audit_chain_settle
from apps.tenancy.models import Organization


class Command(BaseCommand):
    help = (
        "Verify the hash chain of every organization's audit trail (and the global one), or of "
        "one organization with --org. Chains pending events first unless --no-chain. Exits "
        "non-zero naming the first broken event."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", metavar="SLUG", help="Verify this organization only.")
        parser.add_argument(
            "--no-chain",
            action="store_true",
            help="Verify as found, without first chaining events still pending (read-only).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        # Every chain, whatever organization the command would otherwise be bound to.
        with across_organizations():
            self._verify(options)

    def _verify(self, options: dict[str, Any]) -> None:
        slugs = dict(Organization.objects.values_list("pk", "slug"))
        if options["org"]:
            organization = Organization.objects.filter(slug=options["org"]).first()
            if organization is None:
                raise CommandError(f"No organization with the slug '{options['org']}'.")
            keys: list[int | None] = [organization.pk]
        else:
            keys = audit_chain_keys()
        broken: list[str] = []
        for key in keys:
            name = "global" if key is None else slugs.get(key, f"deleted organization {key}")
            if not options["no_chain"]:
                chained = audit_chain_settle(organization_id=key, wait=True)
                if chained:
                    self.stdout.write(f"{name}: chained {chained} pending event(s)")
            result = audit_chain_verify(organization_id=key)
            if result.intact:
                span = (
                    f" (sequence {result.first_sequence} to {result.last_sequence})"
                    if result.verified
                    else ""
                )
                notes = "".join(f"; {note}" for note in result.notes)
                self.stdout.write(f"{name}: {result.verified} events intact{span}{notes}")
                continue
            where = (
                f"event {result.broken_event_id} (sequence {result.broken_sequence})"
                if result.broken_event_id is not None
                else f"sequence {result.broken_sequence}"
            )
            message = f"{name}: chain broken at {where}: {result.problem}"
            self.stderr.write(message)
            broken.append(message)
        if broken:
            raise CommandError(f"{len(broken)} audit chain(s) broken. First: {broken[0]}")
        self.stdout.write(self.style.SUCCESS(f"All {len(keys)} audit chain(s) verified."))
