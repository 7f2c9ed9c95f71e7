"""CloudPAM project package: settings, URLs, Celery app and platform code."""

from cloudpam.celery import app as celery_app

__all__ = ["celery_app"]
