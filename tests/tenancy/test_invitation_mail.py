"""Invitations without a mail server: the inviter gets the link once, no log line ever has it."""

from __future__ import annotations

import logging
import re
import secrets

import pytest
from django.core import mail
from django.test import Client

from apps.tenancy.models import Membership
from tests.conftest import parse_log_lines
from tests.platform.test_settings import run_manage

pytestmark = pytest.mark.django_db

LINK = re.compile(r"http://testserver(/invitations/[^/\s]+/[^/\s]+/)")


@pytest.fixture
def admin(organization, make_member):
    client = Client()
    client.force_login(make_member(organization, "admin"))
    return client


@pytest.fixture
def no_mail_server(settings):
    settings.EMAIL_BACKEND = "cloudpam.mail.UnconfiguredEmailBackend"


def _invite(admin):
    # As in production, the request runs in autocommit: the mail is tried before the view answers.
    response = admin.post(
        "/organization/members/", {"email": "new@example.com", "role": "operator"}
    )
    assert response.status_code == 302
    return admin.get(response["Location"])


@pytest.mark.django_db(transaction=True)
def test_without_a_mail_server_the_inviter_is_shown_the_link_once(admin, no_mail_server, json_logs):
    page = _invite(admin)
    assert Membership.objects.filter(user__email="new@example.com", role="operator").exists()
    text = page.content.decode()
    assert "The invitation email to new@example.com was not sent" in text
    assert "No mail server is configured" in text
    link = LINK.search(text).group(1)
    assert mail.outbox == []

    again = admin.get("/organization/members/").content.decode()
    assert not LINK.search(again), "the link is shown only once"

    token = link.rstrip("/").rsplit("/", 1)[1]
    accept = Client().get(link, follow=True)
    assert b"Choose a password" in accept.content
    lines = json_logs.getvalue()
    assert token not in lines
    assert any("not sent: no mail server" in line["message"] for line in parse_log_lines(json_logs))


@pytest.mark.django_db(transaction=True)
def test_a_refused_smtp_send_shows_the_link_without_logging_the_message(admin, settings, json_logs):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 9  # discard: nothing listens
    settings.EMAIL_TIMEOUT = 2
    text = _invite(admin).content.decode()
    assert "The mail server refused it (ConnectionRefusedError)." in text
    token = LINK.search(text).group(1).rstrip("/").rsplit("/", 1)[1]
    assert token not in json_logs.getvalue()


def test_invitation_links_and_paths_are_redacted_in_log_lines(json_logs):
    link = "https://ipam.example.com/invitations/MTI/cxyz12-0123456789abcdef0123456789abcdef/"
    logging.getLogger("cloudpam.request").info(
        "GET %s 200", link, extra={"path": link.removeprefix("https://ipam.example.com")}
    )
    (line,) = parse_log_lines(json_logs)
    assert "0123456789abcdef" not in json_logs.getvalue()
    assert line["path"] == "/invitations/MTI/[REDACTED]/"
    assert line["message"] == "GET https://ipam.example.com/invitations/MTI/[REDACTED]/ 200"
    set_password = "/invitations/MTI/set-password/"
    logging.getLogger("cloudpam.request").info("GET %s", set_password)
    assert parse_log_lines(json_logs)[-1]["message"] == f"GET {set_password}"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("email_host", "backend"),
    [
        ("", "cloudpam.mail.UnconfiguredEmailBackend"),
        ("smtp.example.com", "django.core.mail.backends.smtp.EmailBackend"),
    ],
)
def test_production_never_defaults_to_the_console_backend(email_host, backend):
    result = run_manage(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.EMAIL_BACKEND)",
        SECRET_KEY=secrets.token_urlsafe(60),
        ALLOWED_HOSTS="cloudpam.example.com",
        EMAIL_HOST=email_host,
    )
    assert result.stdout.strip().splitlines()[-1] == backend, result.stderr


@pytest.mark.slow
def test_check_deploy_warns_when_no_mail_server_is_configured():
    result = run_manage(
        "check",
        "--deploy",
        SECRET_KEY=secrets.token_urlsafe(60),
        ALLOWED_HOSTS="cloudpam.example.com",
        EMAIL_HOST="",
    )
    assert "cloudpam.W001" in result.stderr
