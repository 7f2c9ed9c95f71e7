"""A URL conf for exercising the API exception handler with every kind of error."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import include, path
from rest_framework import exceptions, serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from cloudpam import exceptions as app_exceptions
from cloudpam.urls import handler400, handler403, handler404, handler500  # noqa: F401
from cloudpam.urls import urlpatterns as real_urlpatterns


class EchoSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=10)
    size = serializers.IntegerField(min_value=1)


class ErrorView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    def get(self, request, kind):
        errors = {
            "app-conflict": app_exceptions.Conflict("Overlaps 10.0.0.0/8.", code="overlap"),
            "app-notfound": app_exceptions.NotFound("No such pool."),
            "django-validation": DjangoValidationError({"cidr": ["Bad prefix."]}),
            "throttled": exceptions.Throttled(wait=12),
            "permission": exceptions.PermissionDenied("Nope."),
        }
        raise errors[kind]

    def post(self, request, kind):
        serializer = EchoSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(serializer.validated_data)


class BoomView(APIView):
    permission_classes = [AllowAny]

    def get(self, request):
        raise RuntimeError("unexpected")


urlpatterns = [
    path("api/v1/_test/errors/<str:kind>/", ErrorView.as_view()),
    path("api/v1/_test/boom/", BoomView.as_view()),
    path("", include(real_urlpatterns)),
]
