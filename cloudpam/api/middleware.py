"""Under /api/ every answer is JSON: optional trailing slashes, errors in the error schema."""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import get_urlconf, is_valid_path

from cloudpam.api.exceptions import error_body

API_PREFIX = "/api/"

# Status codes of errors raised outside DRF (routing, CSRF, DEBUG's technical pages).
_CODES = {
    400: "validation_error",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    413: "validation_error",
    429: "rate_limited",
}


class ApiJsonMiddleware:
    """Make ``/api/`` routes answer with or without their trailing slash, and only in JSON.

    A path without its slash is served by the route with it, in place: the
    redirect ``APPEND_SLASH`` would give loses a POST's body (and is a 500 page
    in DEBUG). An error answer that is not JSON (a routing 404, DEBUG's
    technical pages, a CSRF failure) is replaced by the error schema, so clients
    never have to parse HTML. Sits right inside ``RequestIdMiddleware``, which
    then stamps the request id on the replacement too.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path_info.startswith(API_PREFIX):
            return self.get_response(request)
        self._add_missing_slash(request)
        response = self.get_response(request)
        if response.status_code < 400 or _is_json(response):
            return response
        return _json_error(response.status_code)

    @staticmethod
    def _add_missing_slash(request: HttpRequest) -> None:
        path = request.path_info
        if path.endswith("/"):
            return
        urlconf = getattr(request, "urlconf", None) or get_urlconf()
        if not is_valid_path(path, urlconf) and is_valid_path(f"{path}/", urlconf):
            request.path_info = f"{path}/"
            request.path = f"{request.path}/"


def _is_json(response: HttpResponse) -> bool:
    content_type = response.get("Content-Type", "")
    return content_type.startswith("application/json") or "+json" in content_type


def _json_error(status: int) -> JsonResponse:
    if status >= 500:
        code, message = "server_error", "An unexpected error occurred; it has been logged."
    else:
        code = _CODES.get(status, "error")
        try:
            message = f"{HTTPStatus(status).phrase}."
        except ValueError:
            message = "Error."
    return JsonResponse(error_body(code, message), status=status)
