"""Server-sent events for the API (``text/event-stream``), negotiated like any renderer.

A view that streams returns a ``StreamingHttpResponse`` of :func:`sse_event` frames when
the client asks for ``text/event-stream``; this renderer exists so that content
negotiation accepts that media type. Errors answered before the stream starts stay JSON
in the error schema, as every error under ``/api/`` (the view renders them with the JSON
renderer).
"""

from __future__ import annotations

import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from rest_framework.renderers import BaseRenderer


def sse_event(name: str, data: Any) -> bytes:
    """Return one server-sent event frame: ``event: name`` and the data as one JSON line."""
    payload = json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False)
    return f"event: {name}\ndata: {payload}\n\n".encode()


class EventStreamRenderer(BaseRenderer):
    """Render a (non-streamed) body as a single ``message`` event."""

    media_type = "text/event-stream"
    format = "sse"
    charset = "utf-8"

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: dict[str, Any] | None = None,
    ) -> bytes:
        if data is None:
            return b""
        return sse_event("message", data)
