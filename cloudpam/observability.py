"""OpenTelemetry tracing, switched on by OTEL_EXPORTER_OTLP_ENDPOINT and free otherwise."""

from __future__ import annotations

import logging

from django.conf import settings

logger = logging.getLogger("cloudpam.observability")
_configured = False


def configure_tracing() -> bool:
    """Instrument Django, psycopg, Celery and requests; return whether tracing is on."""
    global _configured
    if _configured or not settings.OTEL_EXPORTER_OTLP_ENDPOINT:
        return _configured
    # Imported here so processes without an endpoint pay nothing for OpenTelemetry.
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.instrumentation.requests import RequestsInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(
        resource=Resource.create({"service.name": settings.OTEL_SERVICE_NAME})
    )
    endpoint = settings.OTEL_EXPORTER_OTLP_ENDPOINT.rstrip("/")
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces"))
    )
    trace.set_tracer_provider(provider)
    DjangoInstrumentor().instrument()
    PsycopgInstrumentor().instrument(enable_commenter=False)
    CeleryInstrumentor().instrument()
    RequestsInstrumentor().instrument()
    _configured = True
    logger.info("tracing enabled", extra={"otlp_endpoint": endpoint})
    return True
