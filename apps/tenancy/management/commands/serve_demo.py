"""Serve the console for ``make run`` and say, last, where it is and how to sign in."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.management.commands.runserver import Command as RunserverCommand

from apps.tenancy.management.commands.seed_demo import DEMO_EMAIL, DEMO_LOGIN_FILE


def demo_banner(*, url: str, email: str, password: str) -> str:
    """Return the lines that tell where the console is and the demo login."""
    rule = "─" * 60
    return "\n".join(
        [
            "",
            rule,
            f"  CloudPAM is running at {url}",
            f"  Sign in as {email} / {password}",
            "  Stop it with Control-C.",
            rule,
            "",
        ]
    )


class Command(RunserverCommand):
    help = "Run the development server; once it listens, print the URL and the demo login."

    def handle(self, *args: Any, **options: Any) -> None:
        # The reloader's "Watching for file changes" would be a JSON line above the banner.
        logging.getLogger("django.utils.autoreload").setLevel(logging.WARNING)
        super().handle(*args, **options)

    def on_bind(self, server_port: int) -> None:
        """Let Django say it started, then print the banner: the last lines before requests."""
        super().on_bind(server_port)
        password_file = settings.VAR_DIR / DEMO_LOGIN_FILE
        password = (
            password_file.read_text().strip()
            if password_file.exists()
            else "(run manage.py seed_demo first)"
        )
        host = "localhost" if self.addr in ("127.0.0.1", "localhost", "::1") else self.addr
        url = f"{self.protocol}://{host}:{server_port}"
        banner = demo_banner(url=url, email=DEMO_EMAIL, password=password)
        self.stdout.write(self.style.SUCCESS(banner))
