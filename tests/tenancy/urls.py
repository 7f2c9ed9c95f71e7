"""A URL conf with views built on the tenancy bases, as other apps build theirs."""

from typing import Any

from django.http import HttpRequest, StreamingHttpResponse
from django.urls import include, path
from django.views.generic import DetailView
from rest_framework import generics

from apps.tenancy.api.mixins import TenantScopedMixin
from apps.tenancy.api.serializers import ApiTokenSerializer
from apps.tenancy.mixins import TenantObjectMixin
from apps.tenancy.models import ApiToken
from apps.tenancy.rls import current_state
from cloudpam import context
from cloudpam.urls import urlpatterns as real_urlpatterns


class TokenListView(TenantScopedMixin, generics.ListAPIView):
    queryset = ApiToken.objects.select_related("membership__user")
    serializer_class = ApiTokenSerializer
    permission_resource = "tokens"


class TokenDetailView(TenantScopedMixin, generics.RetrieveAPIView):
    queryset = ApiToken.objects.select_related("membership__user")
    serializer_class = ApiTokenSerializer
    permission_resource = "tokens"


class TokenPageView(TenantObjectMixin, DetailView):
    model = ApiToken
    permission = "tokens.view"

    def render_to_response(self, context: dict[str, Any], **kwargs: Any) -> Any:
        from django.http import HttpResponse

        return HttpResponse(self.object.name)


def stream_state(request: HttpRequest) -> StreamingHttpResponse:
    def chunks():  # type: ignore[no-untyped-def]
        yield "start;"
        organization = context.get_organization()
        yield f"{current_state().organization_id};{getattr(organization, 'slug', None)};"
        yield context.get_request_id() or ""

    return StreamingHttpResponse(chunks(), content_type="text/plain")


urlpatterns = [
    path("scoped/tokens/", TokenListView.as_view()),
    path("scoped/tokens/<int:pk>/", TokenDetailView.as_view()),
    path("scoped/pages/<int:pk>/", TokenPageView.as_view()),
    path("scoped/stream/", stream_state),
    path("", include(real_urlpatterns)),
]
