"""WSGI entry point (gunicorn)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cloudpam.settings.local")

application = get_wsgi_application()

from cloudpam.checks import refuse_to_start_misconfigured  # noqa: E402

refuse_to_start_misconfigured()

from cloudpam.observability import configure_tracing  # noqa: E402

configure_tracing()
