import json

import pytest

from tests.conftest import parse_log_lines

pytestmark = pytest.mark.django_db


def test_every_response_has_a_request_id(client):
    first = client.get("/healthz")["X-Request-ID"]
    second = client.get("/healthz")["X-Request-ID"]
    assert first
    assert first != second


def test_a_valid_incoming_request_id_is_kept(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="abc-123.trace")
    assert response["X-Request-ID"] == "abc-123.trace"


def test_an_unsafe_incoming_request_id_is_replaced(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="bad id\nforged: 1")
    assert response["X-Request-ID"] != "bad id\nforged: 1"
    assert " " not in response["X-Request-ID"]


def test_access_log_line_is_json_with_request_context(client, user, json_logs):
    client.force_login(user)
    response = client.get("/", HTTP_X_REQUEST_ID="req-42")
    assert response.status_code == 200
    lines = [line for line in parse_log_lines(json_logs) if line["logger"] == "cloudpam.request"]
    assert lines, json_logs.getvalue()
    line = lines[-1]
    for field in (
        "time",
        "level",
        "logger",
        "message",
        "request_id",
        "org",
        "user",
        "method",
        "path",
        "status",
        "duration_ms",
    ):
        assert field in line, field
    assert line["request_id"] == "req-42"
    assert line["org"] == "acme"
    assert line["user"] == user.email
    assert line["status"] == 200


def test_password_never_reaches_the_logs(client, user, json_logs):
    import logging

    client.post("/login/", {"username": user.email, "password": "correct horse battery staple"})
    client.post("/login/", {"username": user.email, "password": "wrong-password-xyz"})
    # A careless log call is still redacted by the formatter chain.
    logging.getLogger("cloudpam.test").warning("login with password=hunter2secret")
    text = json_logs.getvalue()
    assert "correct horse battery staple" not in text
    assert "wrong-password-xyz" not in text
    assert "hunter2secret" not in text
    for line in text.splitlines():
        json.loads(line)
