"""The Celery application: Redis broker when REDIS_URL is set, in-process otherwise."""

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cloudpam.settings.local")

app = Celery("cloudpam")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.autodiscover_tasks(["cloudpam"])


@signals.worker_process_init.connect
def _configure_worker_tracing(**_kwargs: object) -> None:
    from cloudpam.observability import configure_tracing

    configure_tracing()
