"""Sessions: each user's list and revocation, admins' revocation, removal of a member,
and a revoked session signed out at its next request while the others stay."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from apps.audit.models import AuditEvent
from apps.tenancy.models import Membership, Organization, User, UserSession
from apps.tenancy.sessions.device import device_describe, session_key_hash
from apps.tenancy.sessions.services import SESSION_ROW_KEY
from tests.tenancy.mfa_support import PASSWORD

pytestmark = pytest.mark.django_db

CHROME_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
)
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"


@pytest.fixture
def member(organization: Organization, make_member) -> User:  # type: ignore[no-untyped-def]
    return make_member(organization, "operator", email="member-acme@example.com")


def _browser(user: User, agent: str, ip: str = "198.51.100.7") -> APIClient:
    client = APIClient(HTTP_USER_AGENT=agent, REMOTE_ADDR=ip)
    answer = client.post("/login/", {"username": user.email, "password": PASSWORD})
    assert answer.status_code == 302
    return client


def _row(client: Client) -> UserSession:
    return UserSession.objects.get(pk=client.session[SESSION_ROW_KEY])


def test_signing_in_records_the_session_without_its_key(member):
    laptop = _browser(member, CHROME_MAC)
    row = _row(laptop)
    key = laptop.session.session_key
    assert row.user == member
    assert row.session_key_hash == session_key_hash(key) != key
    assert row.ip == "198.51.100.7"
    assert row.device == "Chrome 120 on Mac OS X"
    assert not UserSession.objects.filter(session_key_hash=key).exists()


def test_the_device_is_described_from_the_user_agent():
    assert device_describe(FIREFOX_LINUX) == "Firefox 121 on Linux"
    assert device_describe("") == "Unknown device"
    assert device_describe("curl/8.5.0") == "curl 8"


def test_users_list_their_sessions_with_the_current_one_flagged(member, organization):
    laptop = _browser(member, CHROME_MAC)
    phone = _browser(member, FIREFOX_LINUX, ip="203.0.113.9")
    answer = laptop.get("/api/v1/me/sessions/")
    assert answer.status_code == 200
    body = answer.json()
    assert body["count"] == 2
    by_device = {item["device"]: item for item in body["results"]}
    assert by_device["Chrome 120 on Mac OS X"]["current"] is True
    assert by_device["Firefox 121 on Linux"]["current"] is False
    assert by_device["Firefox 121 on Linux"]["ip"] == "203.0.113.9"
    assert set(by_device["Chrome 120 on Mac OS X"]) == {
        "id",
        "device",
        "user_agent",
        "ip",
        "organization",
        "created_at",
        "last_seen_at",
        "current",
    }
    assert phone.get("/api/v1/me/sessions/").status_code == 200


def test_revoking_a_session_signs_that_device_out_at_its_next_request_only(member):
    laptop = _browser(member, CHROME_MAC)
    phone = _browser(member, FIREFOX_LINUX)
    phone_row = _row(phone)
    assert phone.get("/api/v1/me/").status_code == 200  # cached as live

    answer = laptop.delete(f"/api/v1/me/sessions/{phone_row.pk}/")
    assert answer.status_code == 204
    refused = phone.get("/api/v1/me/")
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "not_authenticated"
    assert phone.get("/pools/").status_code == 302
    assert laptop.get("/api/v1/me/").status_code == 200
    assert laptop.get("/api/v1/me/sessions/").json()["count"] == 1
    event = AuditEvent.objects.get(action="session_revoked")
    assert event.actor_id == member.pk
    assert event.additional_data["session_id"] == phone_row.pk
    assert event.additional_data["reason"] == "user"
    # Revoking again: it is gone from the list.
    assert laptop.delete(f"/api/v1/me/sessions/{phone_row.pk}/").status_code == 404


def test_revoking_every_other_session_keeps_this_one(member):
    laptop = _browser(member, CHROME_MAC)
    others = [_browser(member, FIREFOX_LINUX) for _ in range(2)]
    answer = laptop.post("/api/v1/me/sessions/revoke-others/")
    assert answer.status_code == 200
    assert answer.json() == {"revoked": 2}
    assert [c.get("/api/v1/me/").status_code for c in others] == [401, 401]
    assert laptop.get("/api/v1/me/").status_code == 200


def test_another_users_session_is_a_404(member, make_member, organization):
    laptop = _browser(member, CHROME_MAC)
    stranger = make_member(organization, "owner", email="stranger@example.com")
    theirs = _row(_browser(stranger, FIREFOX_LINUX))
    assert laptop.get(f"/api/v1/me/sessions/{theirs.pk}/").status_code == 404
    answer = laptop.delete(f"/api/v1/me/sessions/{theirs.pk}/")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"
    assert UserSession.objects.get(pk=theirs.pk).revoked_at is None


def test_signing_out_forgets_the_session(member):
    laptop = _browser(member, CHROME_MAC)
    pk = _row(laptop).pk
    laptop.post("/logout/")
    assert not UserSession.objects.filter(pk=pk).exists()


def test_last_seen_is_written_at_most_once_a_minute(member, organization):
    laptop = _browser(member, CHROME_MAC)
    row = _row(laptop)
    laptop.get("/api/v1/me/")
    assert _row(laptop).last_seen_at == row.last_seen_at
    earlier = timezone.now() - timedelta(minutes=5)
    UserSession.objects.filter(pk=row.pk).update(last_seen_at=earlier)
    laptop.get("/api/v1/me/")  # served from the cache: not due yet as far as it knows
    from django.core.cache import cache

    cache.clear()
    laptop.get("/api/v1/me/", HTTP_X_CLOUDPAM_ORGANIZATION=organization.slug)
    touched = _row(laptop)
    assert touched.last_seen_at > earlier
    assert touched.last_organization == organization


def test_a_session_from_before_tracking_is_adopted(member):
    client = APIClient()
    client.force_login(member)
    session = client.session
    del session[SESSION_ROW_KEY]
    session.save()
    UserSession.objects.all().delete()
    assert client.get("/api/v1/me/").status_code == 200
    assert UserSession.objects.filter(user=member).count() == 1


@pytest.mark.parametrize(
    ("role", "status"),
    [("owner", 200), ("admin", 200), ("operator", 403), ("viewer", 403), ("auditor", 403)],
)
def test_admins_revoke_a_members_sessions(member, organization, client_for, role, status):
    laptop = _browser(member, CHROME_MAC)
    membership = Membership.objects.get(user=member, organization=organization)
    admin = client_for(organization, role)
    base = f"/api/v1/organizations/{organization.slug}/members/{membership.pk}/sessions/"
    listed = admin.get(base)
    answer = admin.post(f"{base}revoke/")
    assert answer.status_code == status
    if status == 200:
        assert answer.json() == {"revoked": 1}
        assert listed.status_code == 200
        assert laptop.get("/api/v1/me/").status_code == 401
        event = AuditEvent.objects.get(action="session_revoked")
        assert event.actor_id == admin.user.pk
        assert event.additional_data["reason"] == "admin"
    else:
        assert answer.json()["error"]["code"] == "permission_denied"
        assert listed.status_code == 403
        assert laptop.get("/api/v1/me/").status_code == 200


def test_admins_see_only_sessions_working_in_their_organization(
    member, organization, other_organization, client_for
):
    Membership.objects.create(user=member, organization=other_organization, role="viewer")
    here = _browser(member, CHROME_MAC)
    there = _browser(member, FIREFOX_LINUX)
    UserSession.objects.filter(pk=_row(here).pk).update(last_organization=organization)
    UserSession.objects.filter(pk=_row(there).pk).update(last_organization=other_organization)
    membership = Membership.objects.get(user=member, organization=organization)
    admin = client_for(organization, "admin")
    listed = admin.get(
        f"/api/v1/organizations/{organization.slug}/members/{membership.pk}/sessions/"
    ).json()
    assert [item["device"] for item in listed["results"]] == ["Chrome 120 on Mac OS X"]


def test_removing_a_member_ends_their_sessions_in_that_organization(
    member, organization, other_organization, client_for
):
    Membership.objects.create(user=member, organization=other_organization, role="viewer")
    here = _browser(member, CHROME_MAC)
    there = _browser(member, FIREFOX_LINUX)
    UserSession.objects.filter(pk=_row(here).pk).update(last_organization=organization)
    UserSession.objects.filter(pk=_row(there).pk).update(last_organization=other_organization)
    membership = Membership.objects.get(user=member, organization=organization)
    admin = client_for(organization, "admin")
    answer = admin.delete(f"/api/v1/organizations/{organization.slug}/members/{membership.pk}/")
    assert answer.status_code == 204
    from django.core.cache import cache

    cache.clear()
    assert here.get("/api/v1/me/").status_code == 401
    assert there.get("/api/v1/me/").status_code == 200
    # One event in each organization the user belonged to when it ended.
    events = AuditEvent.objects.filter(action="session_revoked")
    assert {e.organization_id for e in events} == {organization.pk, other_organization.pk}
    assert {e.additional_data["reason"] for e in events} == {"member_removed"}


def test_an_admin_of_another_organization_gets_a_404(
    member, organization, other_organization, client_for
):
    laptop = _browser(member, CHROME_MAC)
    membership = Membership.objects.get(user=member, organization=organization)
    stranger = client_for(other_organization, "owner")
    base = f"/api/v1/organizations/{organization.slug}/members/{membership.pk}/sessions/"
    assert stranger.get(base).status_code == 404
    assert stranger.post(f"{base}revoke/").status_code == 404
    assert laptop.get("/api/v1/me/").status_code == 200


def test_a_token_lists_its_users_sessions_but_has_none_current(organization, member, token_client):
    _browser(member, CHROME_MAC)
    client = token_client(organization, "operator", user=member)
    body = client.get("/api/v1/me/sessions/").json()
    assert body["count"] == 1
    assert body["results"][0]["current"] is False


# ---------------------------------------------------------------- console


@pytest.mark.parametrize("role", ["owner", "admin", "operator", "viewer", "auditor"])
def test_every_role_sees_and_ends_their_own_sessions_in_the_console(
    organization, make_member, role
):
    user = make_member(organization, role)
    laptop = _browser(user, CHROME_MAC)
    phone = _browser(user, FIREFOX_LINUX)
    page = laptop.get("/account/sessions/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "Chrome 120 on Mac OS X" in html
    assert "this session" in html
    assert "Firefox 121 on Linux" in html
    phone_pk = _row(phone).pk
    answer = laptop.post(f"/account/sessions/{phone_pk}/revoke/")
    assert answer.status_code == 302
    assert phone.get("/account/sessions/").status_code == 302
    assert laptop.post("/account/sessions/revoke-others/").status_code == 302
    assert laptop.get("/account/sessions/").status_code == 200


@pytest.mark.parametrize(
    ("role", "allowed"),
    [("owner", True), ("admin", True), ("operator", False), ("viewer", False), ("auditor", False)],
)
def test_the_member_page_signs_a_member_out_for_admins(
    member, organization, make_member, role, allowed
):
    laptop = _browser(member, CHROME_MAC)
    membership = Membership.objects.get(user=member, organization=organization)
    admin = Client()
    admin.force_login(make_member(organization, role))
    page = admin.get("/organization/members/").content.decode()
    assert ("Sign out everywhere" in page) is allowed
    answer = admin.post(f"/organization/members/{membership.pk}/sessions/revoke/")
    assert answer.status_code == (302 if allowed else 403)
    assert laptop.get("/api/v1/me/").status_code == (401 if allowed else 200)


def test_the_console_revokes_only_your_own_sessions(member, make_member, organization):
    laptop = _browser(member, CHROME_MAC)
    stranger = make_member(organization, "owner", email="stranger@example.com")
    theirs = _row(_browser(stranger, FIREFOX_LINUX))
    assert laptop.post(f"/account/sessions/{theirs.pk}/revoke/").status_code == 404


def test_sessions_expired_with_their_cookie_are_not_listed(member, settings):
    laptop = _browser(member, CHROME_MAC)
    old = _browser(member, FIREFOX_LINUX)
    long_ago = timezone.now() - timedelta(seconds=settings.SESSION_COOKIE_AGE + 60)
    UserSession.objects.filter(pk=_row(old).pk).update(last_seen_at=long_ago)
    body = laptop.get("/api/v1/me/sessions/").json()
    assert [item["device"] for item in body["results"]] == ["Chrome 120 on Mac OS X"]


def test_the_daily_purge_deletes_revoked_and_expired_rows_only(member, settings):
    from django_celery_beat.models import PeriodicTask

    from apps.tenancy.sessions.tasks import purge_user_sessions

    live = _row(_browser(member, CHROME_MAC))
    expired = _row(_browser(member, FIREFOX_LINUX))
    revoked_long_ago = _row(_browser(member, FIREFOX_LINUX))
    revoked_now = _row(_browser(member, FIREFOX_LINUX))
    now = timezone.now()
    UserSession.objects.filter(pk=expired.pk).update(
        last_seen_at=now - timedelta(seconds=settings.SESSION_COOKIE_AGE + 1)
    )
    UserSession.objects.filter(pk=revoked_long_ago.pk).update(revoked_at=now - timedelta(days=2))
    UserSession.objects.filter(pk=revoked_now.pk).update(revoked_at=now)
    assert purge_user_sessions.delay().get() == 2
    assert set(UserSession.objects.values_list("pk", flat=True)) == {live.pk, revoked_now.pk}
    assert PeriodicTask.objects.get(task="apps.tenancy.sessions.tasks.user_sessions_purge").enabled
