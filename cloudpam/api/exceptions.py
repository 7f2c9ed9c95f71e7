"""
One exception handler for the whole API.

Every error leaves the API in SPEC.md's schema::

    {"error": {"code": ..., "message": ..., "fields": {...}}, "request_id": ...}
"""

from __future__ import annotations

import logging
from typing import Any

from django.core import exceptions as django_exceptions
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions as drf_exceptions
from rest_framework import status
from rest_framework.response import Response

from cloudpam import context
from cloudpam.exceptions import ApplicationError

logger = logging.getLogger("cloudpam.api")

# DRF's own codes mapped onto the codes of SPEC.md.
_DRF_CODES: dict[type[drf_exceptions.APIException], str] = {
    drf_exceptions.ParseError: "validation_error",
    drf_exceptions.ValidationError: "validation_error",
    drf_exceptions.NotAuthenticated: "not_authenticated",
    drf_exceptions.AuthenticationFailed: "not_authenticated",
    drf_exceptions.PermissionDenied: "permission_denied",
    drf_exceptions.NotFound: "not_found",
    drf_exceptions.MethodNotAllowed: "method_not_allowed",
    drf_exceptions.NotAcceptable: "not_acceptable",
    drf_exceptions.UnsupportedMediaType: "unsupported_media_type",
    drf_exceptions.Throttled: "rate_limited",
}


def error_body(
    code: str, message: str, fields: dict[str, list[str]] | None = None
) -> dict[str, Any]:
    """Return the error document of SPEC.md."""
    return {
        "error": {"code": code, "message": message, "fields": fields or {}},
        "request_id": context.get_request_id(),
    }


def _flatten(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """Flatten DRF's nested error detail into ``{"field.sub": [messages]}``."""
    fields: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if name == "non_field_errors":
                name = "__all__"
            fields.update(_flatten(value, name))
    elif isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            fields.setdefault(prefix or "__all__", []).extend(str(item) for item in detail)
        else:
            for index, item in enumerate(detail):
                fields.update(_flatten(item, f"{prefix}.{index}" if prefix else str(index)))
    else:
        fields.setdefault(prefix or "__all__", []).append(str(detail))
    return fields


def _first_message(fields: dict[str, list[str]], default: str) -> str:
    for name, messages in fields.items():
        if messages:
            return messages[0] if name == "__all__" else f"{name}: {messages[0]}"
    return default


def exception_handler(exc: Exception, ctx: dict[str, Any]) -> Response | None:
    """Render ``exc`` in the error schema, or return None for a real bug (500)."""
    headers: dict[str, str] = {}
    if isinstance(exc, ApplicationError):
        return Response(
            error_body(exc.code, exc.message, exc.fields),
            status=exc.status_code,
            headers=exc.headers or None,
        )
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, django_exceptions.PermissionDenied):
        exc = drf_exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, django_exceptions.RequestDataTooBig):
        return Response(
            error_body("validation_error", "The request body is too large."),
            status=status.HTTP_400_BAD_REQUEST,
        )
    elif isinstance(exc, django_exceptions.ValidationError):
        fields = (
            {key: [str(m) for m in value] for key, value in exc.message_dict.items()}
            if hasattr(exc, "error_dict")
            else {"__all__": [str(m) for m in exc.messages]}
        )
        return Response(
            error_body("validation_error", _first_message(fields, "Invalid input."), fields),
            status=status.HTTP_400_BAD_REQUEST,
        )

    if not isinstance(exc, drf_exceptions.APIException):
        return None

    code = next(
        (value for klass, value in _DRF_CODES.items() if isinstance(exc, klass)),
        "error",
    )
    if isinstance(exc, drf_exceptions.AuthenticationFailed | drf_exceptions.NotAuthenticated):
        auth_header = _authenticate_header(ctx)
        if auth_header:
            headers["WWW-Authenticate"] = auth_header
        # DRF answers 403 when no class offers a WWW-Authenticate header; 401 is the contract.
        exc.status_code = status.HTTP_401_UNAUTHORIZED
    if getattr(exc, "wait", None) is not None:
        headers["Retry-After"] = str(int(exc.wait) + 1)

    if isinstance(exc, drf_exceptions.ValidationError):
        fields = _flatten(exc.detail)
        message = _first_message(fields, "Invalid input.")
    else:
        fields = {}
        message = str(exc.detail) if not isinstance(exc.detail, dict | list) else "Error."
    return Response(error_body(code, message, fields), status=exc.status_code, headers=headers)


def _authenticate_header(ctx: dict[str, Any]) -> str | None:
    view = ctx.get("view")
    request = ctx.get("request")
    if view is None or request is None:
        return 'Bearer realm="api"'
    return view.get_authenticate_header(request) or 'Bearer realm="api"'


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def json_or_html_404(request: HttpRequest, exception: Exception | None = None) -> Any:
    """Answer a routing 404 in the error schema under /api/, as a page elsewhere."""
    if _is_api(request):
        return JsonResponse(
            error_body("not_found", "No such resource."), status=status.HTTP_404_NOT_FOUND
        )
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def json_or_html_500(request: HttpRequest) -> Any:
    """Answer an unexpected error in the error schema under /api/, as a page elsewhere."""
    if _is_api(request):
        return JsonResponse(
            error_body("server_error", "An unexpected error occurred; it has been logged."),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    from django.views.defaults import server_error

    return server_error(request)


def json_or_html_400(request: HttpRequest, exception: Exception | None = None) -> Any:
    """Answer a bad request (e.g. a body over the size limit) in the error schema under /api/."""
    if _is_api(request):
        return JsonResponse(
            error_body("validation_error", "Bad request."), status=status.HTTP_400_BAD_REQUEST
        )
    from django.views.defaults import bad_request

    return bad_request(request, exception)


def json_or_html_403(request: HttpRequest, exception: Exception | None = None) -> Any:
    """Answer a Django-level 403 (e.g. CSRF) in the error schema under /api/."""
    if _is_api(request):
        return JsonResponse(
            error_body("permission_denied", str(exception) or "Permission denied."),
            status=status.HTTP_403_FORBIDDEN,
        )
    from django.views.defaults import permission_denied

    return permission_denied(request, exception)
