"""The AI session API of SPEC.md section 7.3: conversations, answers (JSON or SSE), analytics.

Reading sessions and the analytics needs ``ai.view`` (every member: the assistant's
conversations and proposals are the organization's, like its plans); starting a session,
asking and deleting need ``ai.use`` (operators and up, who may create plans). Another
organization's session is a 404.

``POST /ai/sessions/{id}/messages/`` answers JSON (201, the assistant's message) or, when
the client's Accept header asks for ``text/event-stream``, a stream of server-sent events
``delta`` (``{text}``), ``plan``, ``usage``, ``error`` and ``done`` (``{message_id, ...}``).
Permission, input and the monthly quota are checked before the stream starts, so their
errors are ordinary responses in the error schema.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiResponse, OpenApiTypes, extend_schema
from rest_framework import status, viewsets
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from apps.planning import ai_selectors as selectors
from apps.planning import ai_services as services
from apps.planning.ai_models import AISession
from apps.planning.api.ai_serializers import (
    AIAnalyticsQuerySerializer,
    AIAnalyticsSerializer,
    AIMessageCreateSerializer,
    AIMessageSerializer,
    AISessionCreateSerializer,
    AISessionDetailSerializer,
    AISessionSerializer,
)
from apps.tenancy.api.mixins import TenantScopedMixin
from cloudpam.api.renderers import EventStreamRenderer, sse_event
from cloudpam.context import actor_of

logger = logging.getLogger(__name__)

STREAM_DESCRIPTION = (
    "Server-sent events: ``delta`` {text} as the answer arrives, ``plan`` {plan_id, status, "
    "version, operation_count, risk_level, error_count}, ``usage`` {tokens, cost, session "
    "totals}, ``error`` {code, message}, ``done`` {message_id, session_id, status, content}."
)


def _body(serializer_class: type, data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _frames(events: Iterator[services.AIEvent]) -> Iterator[bytes]:
    # A comment first, so proxies and browsers see the stream open at once.
    yield b": stream open\n\n"
    try:
        for event in events:
            yield sse_event(event.name, event.data)
    except Exception:
        # The 200 is sent already: a bug ends the stream with an error event, logged.
        logger.exception("The AI answer stream failed.")
        message = "An unexpected error occurred; it has been logged."
        yield sse_event("error", {"code": "server_error", "message": message})


@extend_schema(tags=["ai"])
class AISessionViewSet(TenantScopedMixin, viewsets.GenericViewSet):
    """Conversations with the AI planning assistant of the active organization."""

    action_permissions = {
        "list": "ai.view",
        "retrieve": "ai.view",
        "analytics": "ai.view",
        "create": "ai.use",
        "destroy": "ai.use",
        "messages": "ai.use",
    }
    queryset = AISession.objects.all()
    serializer_class = AISessionSerializer

    def get_renderers(self) -> list[Any]:
        if getattr(self, "action", None) == "messages":
            return [JSONRenderer(), EventStreamRenderer()]
        return super().get_renderers()

    def handle_exception(self, exc: Exception) -> Response:
        # Errors under /api/ are JSON in the error schema, whatever the Accept header.
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return super().handle_exception(exc)

    def get_object(self) -> AISession:
        session = selectors.ai_session_get(
            organization=self.request.organization, pk=self.kwargs["pk"]
        )
        self.check_object_permissions(self.request, session)
        return session

    @extend_schema(summary="List AI sessions", description="Most recently active first.")
    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(selectors.ai_session_list(organization=request.organization))
        return self.get_paginated_response(AISessionSerializer(page, many=True).data)

    @extend_schema(
        summary="Start an AI session",
        request=AISessionCreateSerializer,
        responses={201: AISessionSerializer},
    )
    def create(self, request: Request) -> Response:
        body = _body(AISessionCreateSerializer, request.data)
        session = services.ai_session_create(
            organization=request.organization, actor=actor_of(request), title=body["title"]
        )
        return Response(AISessionSerializer(session).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Read an AI session", responses={200: AISessionDetailSerializer})
    def retrieve(self, request: Request, pk: int) -> Response:
        session = self.get_object()
        messages = selectors.ai_message_list(session=session)
        return Response(AISessionDetailSerializer(session, context={"messages": messages}).data)

    @extend_schema(
        summary="Delete an AI session",
        description="Its messages go with it; the plans it proposed stay.",
        responses={204: OpenApiResponse(description="Deleted.")},
    )
    def destroy(self, request: Request, pk: int) -> Response:
        services.ai_session_delete(session=self.get_object(), actor=actor_of(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Ask the assistant",
        description=(
            "The answer proposes a plan (source ``ai``, validated by a dry run, repaired up "
            "to twice from the validator's errors, never applied), explains why a request "
            "is impossible, or comes from the built-in planner when no model answers. "
            "429 ``quota_exceeded`` before any provider call when the month's tokens are "
            "used up. With ``Accept: text/event-stream``: " + STREAM_DESCRIPTION
        ),
        request=AIMessageCreateSerializer,
        responses={
            (201, "application/json"): AIMessageSerializer,
            (200, "text/event-stream"): OpenApiTypes.STR,
        },
    )
    def messages(self, request: Request, pk: int) -> Response | StreamingHttpResponse:
        session = self.get_object()
        body = _body(AIMessageCreateSerializer, request.data)
        actor = actor_of(request)
        if request.accepted_renderer.format == EventStreamRenderer.format:
            events = services.ai_message_post(
                session=session, actor=actor, text=body["text"], stream=True
            )
            response = StreamingHttpResponse(_frames(events), content_type="text/event-stream")
            response["Cache-Control"] = "no-cache"
            response["X-Accel-Buffering"] = "no"
            return response
        message = services.ai_message_post(session=session, actor=actor, text=body["text"])
        return Response(AIMessageSerializer(message).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="AI planning analytics",
        description=(
            "Sessions, answers, plans proposed, valid on the first answer, valid after "
            "repair, applied, discarded, rolled back, repair rounds, tokens and cost per "
            "session and per applied plan, by provider and by month; ``month=YYYY-MM`` "
            "narrows to one month."
        ),
        parameters=[AIAnalyticsQuerySerializer],
        responses={200: AIAnalyticsSerializer},
    )
    def analytics(self, request: Request) -> Response:
        # A plain dict: DRF reads an empty ``month=`` of a query string as left out.
        query = _body(AIAnalyticsQuerySerializer, request.query_params.dict())
        data = selectors.ai_analytics(organization=request.organization, month=query.get("month"))
        return Response(AIAnalyticsSerializer(data).data)
