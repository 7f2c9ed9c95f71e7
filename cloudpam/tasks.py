"""Platform tasks."""

from celery import shared_task


@shared_task(name="cloudpam.ping")
def ping() -> str:
    """Return "pong": proves a worker takes tasks from the broker and answers."""
    return "pong"
