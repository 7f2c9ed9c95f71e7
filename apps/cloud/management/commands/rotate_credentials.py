"""Re-encrypt every cloud credential and SSO client secret with the newest key.

See deploy/RUNBOOK.md, section 6.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.cloud.services import credentials_rotate
from apps.tenancy.sso.services import identity_provider_secrets_rotate
from cloudpam.exceptions import ApplicationError


class Command(BaseCommand):
    help = (
        "Re-encrypt the credentials of every cloud account with the first key of "
        "CLOUDPAM_ENCRYPTION_KEYS and report the counts. Run it after putting a new key in "
        "front, before dropping the old one."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = credentials_rotate()
            sso = identity_provider_secrets_rotate()
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(
            f"{report.total} account(s) with credentials: {report.rotated} re-encrypted, "
            f"{report.current} already on the newest key, {len(report.failed)} unreadable."
        )
        if sso.total:
            self.stdout.write(
                f"{sso.total} identity provider(s) with a client secret: "
                f"{sso.rotated} re-encrypted, {sso.current} already on the newest key, "
                f"{len(sso.failed)} unreadable."
            )
        if sso.failed:
            ids = ", ".join(str(pk) for pk in sso.failed)
            raise CommandError(
                f"No configured key decrypts the client secret of identity provider(s) {ids}: "
                "add the key it was encrypted with to CLOUDPAM_ENCRYPTION_KEYS and run this again."
            )
        if report.failed:
            ids = ", ".join(str(pk) for pk in report.failed)
            raise CommandError(
                f"No configured key decrypts the credentials of account(s) {ids}: add the key "
                "they were encrypted with to CLOUDPAM_ENCRYPTION_KEYS and run this again."
            )
