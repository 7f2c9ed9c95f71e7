"""Every API error leaves in SPEC.md's error schema, with the request id."""

import pytest

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.platform.urls")]


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error", "request_id"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert isinstance(body["error"]["fields"], dict)
    assert body["request_id"] == response["X-Request-ID"]
    return body


def test_unauthenticated_call_is_401_not_authenticated(api_client):
    response = api_client.get("/api/v1/me/")
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_bad_bearer_token_is_401(api_client):
    response = api_client.get("/api/v1/me/", HTTP_AUTHORIZATION="Bearer cpam_nope_nope")
    body = assert_error(response, 401, "not_authenticated")
    assert "cpam_nope_nope" not in response.content.decode()
    assert body["error"]["message"] == "Invalid or expired token."


def test_malformed_json_is_400_validation_error(api_client):
    response = api_client.post(
        "/api/v1/_test/errors/x/", data="{not json", content_type="application/json"
    )
    assert_error(response, 400, "validation_error")


def test_serializer_errors_name_the_fields(api_client):
    response = api_client.post("/api/v1/_test/errors/x/", {"name": "x" * 20}, format="json")
    body = assert_error(response, 400, "validation_error")
    assert set(body["error"]["fields"]) == {"name", "size"}


def test_application_error_keeps_its_code(api_client):
    body = assert_error(api_client.get("/api/v1/_test/errors/app-conflict/"), 409, "overlap")
    assert body["error"]["message"] == "Overlaps 10.0.0.0/8."
    assert_error(api_client.get("/api/v1/_test/errors/app-notfound/"), 404, "not_found")


def test_django_validation_error_is_400(api_client):
    body = assert_error(
        api_client.get("/api/v1/_test/errors/django-validation/"), 400, "validation_error"
    )
    assert body["error"]["fields"] == {"cidr": ["Bad prefix."]}


def test_throttled_is_429_with_retry_after(api_client):
    response = api_client.get("/api/v1/_test/errors/throttled/")
    assert_error(response, 429, "rate_limited")
    assert int(response["Retry-After"]) >= 12


def test_permission_denied_is_403(api_client):
    assert_error(api_client.get("/api/v1/_test/errors/permission/"), 403, "permission_denied")


def test_method_not_allowed_is_405(owner_client):
    assert_error(owner_client.delete("/api/v1/me/"), 405, "method_not_allowed")


def test_unknown_api_route_is_404_in_the_schema(api_client):
    assert_error(api_client.get("/api/v1/no-such-thing/"), 404, "not_found")


def test_unsupported_media_type_is_415(api_client):
    response = api_client.post(
        "/api/v1/_test/errors/x/", data="name=x", content_type="application/x-www-form-urlencoded"
    )
    assert_error(response, 415, "unsupported_media_type")


def test_huge_body_is_400_not_500(api_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    payload = '{"name": "' + "x" * 5000 + '", "size": 1}'
    response = api_client.post(
        "/api/v1/_test/errors/x/", data=payload, content_type="application/json"
    )
    assert_error(response, 400, "validation_error")


def test_unexpected_exception_is_a_500_in_the_schema(api_client):
    api_client.raise_request_exception = False
    response = api_client.get("/api/v1/_test/boom/")
    assert_error(response, 500, "server_error")


@pytest.mark.parametrize("query", ["offset=abc", "offset=-1", "offset=1000000001", "limit=0"])
def test_out_of_range_pagination_is_400(owner_client, query):
    response = owner_client.get(f"/api/v1/tokens/?{query}")
    body = assert_error(response, 400, "validation_error")
    assert set(body["error"]["fields"]) <= {"limit", "offset"}


@pytest.fixture(params=[False, True], ids=["debug-off", "debug-on"])
def debug(request, settings):
    settings.DEBUG = request.param
    return request.param


def test_unknown_api_route_is_json_404_in_debug_too(api_client, debug):
    assert_error(api_client.get("/api/v1/no-such-thing/"), 404, "not_found")
    assert_error(api_client.post("/api/v1/no-such-thing", {}, format="json"), 404, "not_found")
    assert_error(api_client.get("/api/no-such-version/x"), 404, "not_found")


def test_unexpected_exception_is_json_500_in_debug_too(api_client, debug):
    api_client.raise_request_exception = False
    response = api_client.get("/api/v1/_test/boom/")
    body = assert_error(response, 500, "server_error")
    assert "RuntimeError" not in response.content.decode()
    assert body["error"]["message"] == "An unexpected error occurred; it has been logged."


def test_a_post_without_the_trailing_slash_reaches_the_route(api_client, debug):
    response = api_client.post("/api/v1/_test/errors/x", {"name": "ok", "size": 2}, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {"name": "ok", "size": 2}
    body = assert_error(
        api_client.post("/api/v1/_test/errors/x", {"size": 0}, format="json"),
        400,
        "validation_error",
    )
    assert set(body["error"]["fields"]) == {"name", "size"}


def test_real_routes_answer_without_the_trailing_slash(owner_client, debug):
    assert owner_client.get("/api/v1/me").status_code == 200
    response = owner_client.post(
        "/api/v1/pools", {"name": "Corp", "cidr": "10.0.0.0/8"}, format="json"
    )
    assert response.status_code in (201, 400), response.content
    assert response["Content-Type"].startswith("application/json")


def test_a_csrf_failure_under_the_api_is_json(client, user, debug):
    client.handler.enforce_csrf_checks = True
    client.force_login(user)
    response = client.post("/api/v1/pools/", {}, content_type="application/json")
    assert_error(response, 403, "permission_denied")


def test_console_pages_keep_their_html_errors(client, debug):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
