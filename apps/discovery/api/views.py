"""The discovery API of SPEC.md section 5: agents, resources and sync runs.

Members read agents (``agents.view``); admins approve, reject and revoke them and manage
provisioning tokens (``agents.manage``). Agents themselves call ``register`` (with a
provisioning token), ``heartbeat`` and ``ingest`` (with their own credential): those
three views take no member's session or API token.
"""

from __future__ import annotations

from typing import Any

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from apps.cloud.selectors import account_get
from apps.discovery import selectors, services
from apps.discovery.api.serializers import (
    AgentHeartbeatAnswerSerializer,
    AgentHeartbeatSerializer,
    AgentRegisteredSerializer,
    AgentRegisterSerializer,
    AgentSerializer,
    DiscoveredResourceSerializer,
    IngestBatchSerializer,
    IngestReceiptSerializer,
    ProvisioningTokenCreatedSerializer,
    ProvisioningTokenCreateSerializer,
    ProvisioningTokenSerializer,
    SyncRunSerializer,
)
from apps.discovery.authentication import (
    AgentAuthentication,
    HasProvisioningToken,
    IsApprovedAgent,
    IsRegisteredAgent,
    ProvisioningTokenAuthentication,
)
from apps.discovery.filters import ApiResourceFilterSet, ApiRunFilterSet
from apps.discovery.ingest import BatchInvalid, clean_batch
from apps.discovery.models import Agent, AgentProvisioningToken, DiscoveredResource, SyncRun
from apps.discovery.parsers import IngestJSONParser
from apps.discovery.sync import sync_run_cancel, sync_run_start
from apps.tenancy.throttling import OrganizationRateThrottle
from cloudpam.context import actor_of
from cloudpam.exceptions import NotFound, ValidationError

HEARTBEAT_SECONDS = 300
AGENT_PARAMETER = OpenApiParameter("agent_id", int, OpenApiParameter.PATH)
TOKEN_PARAMETER = OpenApiParameter("agent_token_id", int, OpenApiParameter.PATH)
NO_CONTENT = OpenApiResponse(description="Revoked.")


def _body(serializer_class: type, request: Request) -> dict[str, Any]:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _client_ip(request: Request) -> str | None:
    return request._request.META.get("REMOTE_ADDR") or None


class _AgentCalled:
    """What the three endpoints agents call share: their own credentials, the org's quota."""

    throttle_classes: list[type[BaseThrottle]] = [OrganizationRateThrottle]


# ---------------------------------------------------------------- members' endpoints


@extend_schema(tags=["agents"])
class AgentListView(GenericAPIView):
    """The organization's agents, with status, last heartbeat and staleness."""

    serializer_class = AgentSerializer
    action_permissions = {"get": "agents.view"}
    filter_backends: list[Any] = []

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return Agent.objects.none()
        return selectors.agent_list(organization=self.request.organization)

    @extend_schema(summary="List agents", responses=AgentSerializer(many=True))
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(AgentSerializer(page, many=True).data)


class _AgentView(GenericAPIView):
    serializer_class = AgentSerializer
    filter_backends: list[Any] = []

    def get_object(self) -> Agent:
        return selectors.agent_get(
            organization=self.request.organization, pk=self.kwargs["agent_id"]
        )


@extend_schema(tags=["agents"])
class AgentDetailView(_AgentView):
    """One agent."""

    action_permissions = {"get": "agents.view"}

    @extend_schema(summary="Read an agent", parameters=[AGENT_PARAMETER])
    def get(self, request: Request, agent_id: int) -> Response:
        return Response(AgentSerializer(self.get_object()).data)


def _decision_view(name: str, service: Any, summary: str, description: str) -> type:
    @extend_schema(tags=["agents"])
    class AgentDecisionView(_AgentView):
        action_permissions = {"post": "agents.manage"}

        @extend_schema(
            summary=summary,
            description=description,
            parameters=[AGENT_PARAMETER],
            request=None,
            responses=AgentSerializer,
        )
        def post(self, request: Request, agent_id: int) -> Response:
            agent = service(agent=self.get_object(), actor=actor_of(request))
            return Response(AgentSerializer(agent).data)

    AgentDecisionView.__name__ = AgentDecisionView.__qualname__ = f"Agent{name}View"
    AgentDecisionView.__doc__ = summary
    return AgentDecisionView


AgentApproveView = _decision_view(
    "Approve",
    services.agent_approve,
    "Approve a pending agent",
    "The agent may push records from now on. Only a pending agent can be approved (409).",
)
AgentRejectView = _decision_view(
    "Reject",
    services.agent_reject,
    "Reject a pending agent",
    "The agent is turned away for good: it gets 403 ``agent_rejected`` from then on.",
)
AgentRevokeView = _decision_view(
    "Revoke",
    services.agent_revoke,
    "Revoke an agent",
    "Its credential stops authenticating at once (401). Revocation is final.",
)


@extend_schema(tags=["agents"])
class ProvisioningTokenListView(GenericAPIView):
    """Provisioning tokens agents register with: list them, or create one (shown once)."""

    serializer_class = ProvisioningTokenSerializer
    action_permissions = {"get": "agents.manage", "post": "agents.manage"}
    filter_backends: list[Any] = []

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return AgentProvisioningToken.objects.none()
        return selectors.agent_provisioning_token_list(organization=self.request.organization)

    @extend_schema(
        summary="List provisioning tokens", responses=ProvisioningTokenSerializer(many=True)
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(ProvisioningTokenSerializer(page, many=True).data)

    @extend_schema(
        summary="Create a provisioning token",
        request=ProvisioningTokenCreateSerializer,
        responses={201: ProvisioningTokenCreatedSerializer},
    )
    def post(self, request: Request) -> Response:
        body = _body(ProvisioningTokenCreateSerializer, request)
        token, value = services.agent_provisioning_token_create(
            organization=request.organization,
            name=body["name"],
            expires_at=body.get("expires_at"),
            actor=actor_of(request),
        )
        response = Response(
            {**ProvisioningTokenSerializer(token).data, "token": value},
            status=status.HTTP_201_CREATED,
        )
        response["Cache-Control"] = "no-store"
        return response


@extend_schema(tags=["agents"])
class ProvisioningTokenDetailView(GenericAPIView):
    """One provisioning token: read it, or revoke it (agents it registered stay)."""

    serializer_class = ProvisioningTokenSerializer
    action_permissions = {"get": "agents.manage", "delete": "agents.manage"}
    filter_backends: list[Any] = []

    def get_object(self) -> AgentProvisioningToken:
        return selectors.agent_provisioning_token_get(
            organization=self.request.organization, pk=self.kwargs["agent_token_id"]
        )

    @extend_schema(summary="Read a provisioning token", parameters=[TOKEN_PARAMETER])
    def get(self, request: Request, agent_token_id: int) -> Response:
        return Response(ProvisioningTokenSerializer(self.get_object()).data)

    @extend_schema(
        summary="Revoke a provisioning token",
        parameters=[TOKEN_PARAMETER],
        responses={204: NO_CONTENT},
    )
    def delete(self, request: Request, agent_token_id: int) -> Response:
        services.agent_provisioning_token_revoke(token=self.get_object(), actor=actor_of(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


# ---------------------------------------------------------------- agents' endpoints


@extend_schema(tags=["agents"])
class AgentRegisterView(_AgentCalled, APIView):
    """Register an agent with a provisioning token."""

    authentication_classes = [ProvisioningTokenAuthentication]
    permission_classes = [HasProvisioningToken]

    @extend_schema(
        summary="Register an agent",
        description=(
            "Authenticated by a provisioning token (``Bearer cpap_...``). The agent is "
            "``pending`` until an admin approves it; keep the credential: it is shown once."
        ),
        request=AgentRegisterSerializer,
        responses={201: AgentRegisteredSerializer},
    )
    def post(self, request: Request) -> Response:
        body = _body(AgentRegisterSerializer, request)
        agent, value = services.agent_register(
            token=request.auth,
            name=body["name"],
            version=body.get("version", ""),
            hostname=body.get("hostname", ""),
            ip=_client_ip(request),
        )
        data = {"id": agent.pk, "name": agent.name, "status": agent.status, "credential": value}
        response = Response(data, status=status.HTTP_201_CREATED)
        response["Cache-Control"] = "no-store"
        return response


@extend_schema(tags=["agents"])
class AgentHeartbeatView(_AgentCalled, APIView):
    """An agent says it is alive, and learns whether it is approved."""

    authentication_classes = [AgentAuthentication]
    permission_classes = [IsRegisteredAgent]

    @extend_schema(
        summary="Send an agent's heartbeat",
        description=(
            "Authenticated by the agent's credential (``Bearer cpag_...``), for its own id "
            "only. A pending agent may heartbeat while it waits; the answer says its status."
        ),
        parameters=[AGENT_PARAMETER],
        request=AgentHeartbeatSerializer,
        responses=AgentHeartbeatAnswerSerializer,
    )
    def post(self, request: Request, agent_id: int) -> Response:
        agent = request.auth
        if agent.pk != agent_id:
            raise NotFound("No such agent.")
        body = _body(AgentHeartbeatSerializer, request)
        agent = services.agent_heartbeat(
            agent=agent, version=body.get("version"), ip=_client_ip(request)
        )
        return Response(
            {
                "id": agent.pk,
                "status": agent.status,
                "last_heartbeat_at": agent.last_heartbeat_at,
                "heartbeat_interval_seconds": HEARTBEAT_SECONDS,
            }
        )


@extend_schema(tags=["agents"])
class IngestView(_AgentCalled, APIView):
    """Receive one batch of records from an approved agent."""

    authentication_classes = [AgentAuthentication]
    permission_classes = [IsApprovedAgent]
    parser_classes = [IngestJSONParser]

    @extend_schema(
        summary="Push a batch of discovered records",
        description=(
            "Authenticated by an approved agent's credential. At most 5,000 records; "
            "``Content-Encoding: gzip`` accepted. Idempotent by ``batch_id``: the same batch "
            "again answers 200 and is stored once; other content under a used id is 409. "
            "Any invalid record rejects the whole batch (400, nothing stored)."
        ),
        request=IngestBatchSerializer,
        responses={201: IngestReceiptSerializer, 200: IngestReceiptSerializer},
    )
    def post(self, request: Request) -> Response:
        try:
            batch = clean_batch(request.data)
        except BatchInvalid as exc:
            raise ValidationError(str(exc), fields={exc.field: [exc.message]}) from None
        stored, created = services.ingest_batch_store(agent=request.auth, batch=batch)
        receipt = {
            "id": stored.pk,
            "batch_id": stored.batch_id,
            "record_count": stored.record_count,
            "received_at": stored.received_at,
            "duplicate": not created,
        }
        return Response(receipt, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


# ---------------------------------------------------------------- resources and sync runs

RESOURCE_PARAMETER = OpenApiParameter("resource_id", int, OpenApiParameter.PATH)
RUN_PARAMETER = OpenApiParameter("run_id", int, OpenApiParameter.PATH)


@extend_schema(tags=["discovery"])
class ResourceListView(GenericAPIView):
    """The organization's discovered resources, filtered, in address order by default."""

    serializer_class = DiscoveredResourceSerializer
    action_permissions = {"get": "discovery.view"}
    filter_backends = [DjangoFilterBackend]
    filterset_class = ApiResourceFilterSet

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return DiscoveredResource.objects.none()
        return selectors.resource_list(organization=self.request.organization)

    @extend_schema(
        summary="List discovered resources",
        description=(
            "Filters: account, provider, resource_type, state, management_state, "
            "overlap_status, region, cidr, contains, within, pool (subtree), q, ordering."
        ),
        responses=DiscoveredResourceSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(DiscoveredResourceSerializer(page, many=True).data)


@extend_schema(tags=["discovery"])
class ResourceDetailView(GenericAPIView):
    """One discovered resource."""

    serializer_class = DiscoveredResourceSerializer
    action_permissions = {"get": "discovery.view"}
    filter_backends: list[Any] = []

    @extend_schema(summary="Read a discovered resource", parameters=[RESOURCE_PARAMETER])
    def get(self, request: Request, resource_id: int) -> Response:
        resource = selectors.resource_get(organization=request.organization, pk=resource_id)
        return Response(DiscoveredResourceSerializer(resource).data)


@extend_schema(tags=["discovery"])
class SyncRunListView(GenericAPIView):
    """The organization's sync runs, newest first, with their progress."""

    serializer_class = SyncRunSerializer
    action_permissions = {"get": "discovery.view"}
    filter_backends = [DjangoFilterBackend]
    filterset_class = ApiRunFilterSet

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return SyncRun.objects.none()
        return selectors.sync_run_list(organization=self.request.organization)

    @extend_schema(
        summary="List sync runs",
        description="Filters: account, status, trigger, ordering.",
        responses=SyncRunSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(SyncRunSerializer(page, many=True).data)


class _RunView(GenericAPIView):
    serializer_class = SyncRunSerializer
    filter_backends: list[Any] = []

    def get_object(self) -> SyncRun:
        return selectors.sync_run_get(
            organization=self.request.organization, pk=self.kwargs["run_id"]
        )


@extend_schema(tags=["discovery"])
class SyncRunDetailView(_RunView):
    """One sync run with its progress, region outcomes and counts."""

    action_permissions = {"get": "discovery.view"}

    @extend_schema(summary="Read a sync run", parameters=[RUN_PARAMETER])
    def get(self, request: Request, run_id: int) -> Response:
        return Response(SyncRunSerializer(self.get_object()).data)


@extend_schema(tags=["discovery"])
class SyncRunCancelView(_RunView):
    """Cancel a queued or running sync run."""

    action_permissions = {"post": "discovery.change"}

    @extend_schema(
        summary="Cancel a sync run",
        description=(
            "Stops a queued or running run at its next batch; what it stored stays. "
            "409 `conflict` when the run has already finished."
        ),
        parameters=[RUN_PARAMETER],
        request=None,
        responses=SyncRunSerializer,
    )
    def post(self, request: Request, run_id: int) -> Response:
        run = sync_run_cancel(run=self.get_object(), actor=actor_of(request))
        return Response(SyncRunSerializer(run).data)


@extend_schema(tags=["accounts"])
class AccountSyncView(GenericAPIView):
    """Start a sync run of a cloud account (served under /accounts/, built by discovery)."""

    serializer_class = SyncRunSerializer
    action_permissions = {"post": "accounts.change"}
    filter_backends: list[Any] = []

    @extend_schema(
        summary="Sync the account now",
        description=(
            "Queues a sync run of the account and answers 202 with it; follow its progress "
            "at /discovery/runs/{id}/. 409 `conflict` while another run of the account is "
            "queued or running; 429 `quota_exceeded` past `max_sync_runs_per_day`."
        ),
        parameters=[OpenApiParameter("pk", int, OpenApiParameter.PATH)],
        request=None,
        responses={202: SyncRunSerializer},
    )
    def post(self, request: Request, pk: int) -> Response:
        account = account_get(organization=request.organization, pk=pk)
        run = sync_run_start(account=account, actor=actor_of(request))
        run.refresh_from_db()
        return Response(SyncRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)
