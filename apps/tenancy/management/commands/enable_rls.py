"""Enable PostgreSQL row-level security on every tenant table, or report its state."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, connections

from apps.tenancy import rls


class Command(BaseCommand):
    help = (
        "Enable and force row-level security with the tenant policy on every table that has "
        "an organization_id column (PostgreSQL; migrate runs this by itself). With --check, "
        "change nothing and exit non-zero if a tenant table is unprotected."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--check", action="store_true")
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS)

    def handle(self, *args: Any, **options: Any) -> None:
        using = options["database"]
        if connections[using].vendor != "postgresql":
            self.stdout.write(
                "Row-level security needs PostgreSQL; nothing to do on this database."
            )
            return
        if options["check"]:
            status = rls.table_protection(using)
            missing = sorted(name for name, flags in status.items() if not all(flags.values()))
            if missing:
                raise CommandError(f"Unprotected tenant tables: {', '.join(missing)}")
            self.stdout.write(f"All {len(status)} tenant tables have row-level security forced.")
            return
        changed = rls.enable_row_level_security(using)
        total = len(rls.tenant_tables(using))
        self.stdout.write(
            f"Row-level security forced on {total} tenant tables ({len(changed)} changed)."
        )
