"""Fill an empty organization with a generated plan of realistic shape, for scale work."""

from __future__ import annotations

import time
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from apps.pools.generation import pool_plan_generate
from apps.tenancy.models import Organization
from apps.tenancy.rls import tenant_context
from cloudpam import context
from cloudpam.context import system_actor
from cloudpam.exceptions import ApplicationError
from cloudpam.logging import logs_to_stderr


class Command(BaseCommand):
    help = (
        "Generate a plan of --pools pools (IPv4 and IPv6, six levels, uneven fan-out, up to "
        "50,000 children under one parent) into the organization SLUG, which must have no "
        "pools. The same --seed gives the same plan. Audited as one import event."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--pools", type=int, required=True, metavar="N")
        parser.add_argument("--org", required=True, metavar="SLUG")
        parser.add_argument("--seed", type=int, default=0, metavar="N")

    def handle(self, *args: Any, **options: Any) -> None:
        organization = Organization.objects.filter(slug=options["org"]).first()
        if organization is None:
            raise CommandError(f"No organization with the slug '{options['org']}'.")
        started = time.monotonic()
        step = [0]

        def progress(done: int) -> None:
            if done - step[0] >= 100_000:
                step[0] = done
                self.stderr.write(f"{done:,} pools inserted ({time.monotonic() - started:.0f} s)")

        actor = system_actor("manage.py generate_plan")
        try:
            with (
                logs_to_stderr(),
                tenant_context(organization),
                context.bound(organization=organization, actor={"system": actor.system}),
            ):
                result = pool_plan_generate(
                    organization=organization,
                    total=options["pools"],
                    seed=options["seed"],
                    actor=actor,
                    progress=progress,
                )
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        if connection.vendor == "postgresql":
            # Fresh statistics, so the planner sees a million rows rather than none.
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE pools_pool")
                # The child counts the triggers wrote along (migration 0007).
                cursor.execute("ANALYZE pools_poolchildlengths")
        self.stdout.write(
            f"Generated {result.pools:,} pools in '{organization.slug}' "
            f"(seed {result.seed}) in {time.monotonic() - started:.1f} s."
        )
