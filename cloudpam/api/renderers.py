"""Server-sent events for the API (``text/event-stream``), negotiated like any renderer.

A view that streams returns a ``StreamingHttpResponse`` of :func:`sse_event` frames when
the client asks for ``text/event-stream``; this renderer exists so that content
negotiation accepts that media type, and so that an error answered before the stream
starts still reaches the client in its own format: one ``error`` event holding the
error schema.
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
    """Render a (non-streamed) response body as a single server-sent event."""

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
        response = (renderer_context or {}).get("response")
        failed = response is not None and response.status_code >= 400
        return sse_event("error" if failed else "message", data)
