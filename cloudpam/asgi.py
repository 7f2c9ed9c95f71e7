"""ASGI entry point."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cloudpam.settings.local")

application = get_asgi_application()

from cloudpam.observability import configure_tracing  # noqa: E402

configure_tracing()
