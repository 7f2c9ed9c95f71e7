"""System checks of the platform, some of which also run when the WSGI application loads.

``manage.py check --deploy`` reports them like Django's own. Those tagged
``STARTUP_TAG`` also run in ``cloudpam/wsgi.py``, so that gunicorn refuses to
start a misconfigured deployment instead of answering 500 on every page. They
are deployment checks so that ``migrate`` (which runs every other check) can
still run before ``collectstatic``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.staticfiles.storage import ManifestFilesMixin, staticfiles_storage
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

STARTUP_TAG = "cloudpam_startup"


@checks.register(STARTUP_TAG, deploy=True)
def static_manifest_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Without DEBUG, a manifest storage answers 500 for every page naming a static file."""
    if settings.DEBUG or not isinstance(staticfiles_storage, ManifestFilesMixin):
        return []
    storage = staticfiles_storage
    if storage.manifest_storage.exists(storage.manifest_name):
        return []
    return [
        checks.Error(
            f"The static files manifest {settings.STATIC_ROOT}/{storage.manifest_name} is "
            "missing, so every HTML page would answer 500.",
            hint="Run `python manage.py collectstatic --noinput` with these settings "
            "before starting the server (the Docker image does it when it is built).",
            id="cloudpam.E001",
        )
    ]


def refuse_to_start_misconfigured() -> None:
    """Raise when a start-up check fails; the WSGI server then exits with its message."""
    found = checks.run_checks(tags=[STARTUP_TAG], include_deployment_checks=True)
    errors = [message for message in found if message.is_serious()]
    if errors:
        raise ImproperlyConfigured(
            "CloudPAM refuses to start:\n" + "\n".join(str(error) for error in errors)
        )


_LOGGING_BACKENDS = {
    "django.core.mail.backends.console.EmailBackend",
    "django.core.mail.backends.filebased.EmailBackend",
}


@checks.register(STARTUP_TAG, deploy=True)
def mail_backend_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Invitations need a mail server; without one their links must not go to a log."""
    backend = settings.EMAIL_BACKEND
    if backend == "cloudpam.mail.UnconfiguredEmailBackend":
        return [
            checks.Warning(
                "No mail server is configured: invitations are not emailed, and the inviter "
                "is shown the link to pass on.",
                hint="Set EMAIL_HOST (and EMAIL_PORT, EMAIL_HOST_USER, EMAIL_HOST_PASSWORD, "
                "EMAIL_USE_TLS) to send them with SMTP.",
                id="cloudpam.W001",
            )
        ]
    if backend in _LOGGING_BACKENDS and not settings.DEBUG:
        return [
            checks.Warning(
                f"EMAIL_BACKEND {backend} writes every message, invitation links included, "
                "to the console or disk.",
                hint="Unset EMAIL_BACKEND and set EMAIL_HOST to send with SMTP.",
                id="cloudpam.W002",
            )
        ]
    return []


@checks.register()
def api_docs_setting_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    from cloudpam.api.permissions import API_DOCS_CHOICES

    if settings.CLOUDPAM_API_DOCS in API_DOCS_CHOICES:
        return []
    return [
        checks.Error(
            f"CLOUDPAM_API_DOCS is {settings.CLOUDPAM_API_DOCS!r}; the API docs are off.",
            hint=f"Use one of {', '.join(API_DOCS_CHOICES)}.",
            id="cloudpam.E002",
        )
    ]
