from django.apps import AppConfig


class CloudpamConfig(AppConfig):
    """Platform code: templates, static files, tasks and checks of the project package."""

    name = "cloudpam"
    verbose_name = "CloudPAM platform"

    def ready(self) -> None:
        # Imported for their side effects: system checks, Celery task metrics, OpenAPI
        # auth schemes.
        from cloudpam import checks, metrics  # noqa: F401
        from cloudpam.api import schema  # noqa: F401
