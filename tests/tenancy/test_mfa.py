"""MFA: enrolment, the code step of sign-in, rate limits, recovery codes, enforcement,
re-verification after 12 hours, resets, and no secret in logs, events or responses."""

from __future__ import annotations

import base64
import json
import time

import pytest
from django.test import Client
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from apps.audit.models import AuditEvent
from apps.tenancy.mfa.state import VERIFIED_AT_KEY
from apps.tenancy.models import Membership, Organization, User
from tests.tenancy.mfa_support import (
    PASSWORD,
    clear_throttle,
    code_of,
    codes_in,
    enrol,
    fresh_code,
    password_step,
    sign_in,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def member(organization: Organization, make_member) -> User:  # type: ignore[no-untyped-def]
    return make_member(organization, "operator", email="member-acme@example.com")


@pytest.fixture
def enrolled(member: User) -> tuple[User, TOTPDevice, list[str]]:
    """A member with MFA on; the client that enrolled is discarded."""
    client = Client()
    client.force_login(member)
    device, codes = enrol(client)
    return member, device, codes


def _events(action: str, user: User) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, object_pk=str(user.pk)).order_by("pk"))


# ---------------------------------------------------------------- enrolment


def test_enrolment_shows_a_qr_code_and_the_key_then_confirms_with_a_code(member):
    client = Client()
    client.force_login(member)
    page = client.get("/account/mfa/")
    html = page.content.decode()
    device = TOTPDevice.objects.get(user=member, confirmed=False)
    secret = base64.b32encode(device.bin_key).decode().rstrip("=")
    assert "<svg" in html
    assert secret[:4] in html
    assert " ".join(secret[i : i + 4] for i in range(0, 32, 4)) in html
    assert page["Cache-Control"] == "no-store"

    wrong = client.post("/account/mfa/", {"action": "confirm", "code": "000000"})
    assert wrong.status_code == 400
    assert "That code is not valid" in wrong.content.decode()
    assert not TOTPDevice.objects.get(pk=device.pk).confirmed
    assert _events("mfa_failed", member)[0].additional_data == {
        "method": "totp",
        "reason": "enrolment",
    }
    clear_throttle(device)

    answer = client.post("/account/mfa/", {"action": "confirm", "code": fresh_code(device)})
    assert answer.status_code == 201
    assert answer["Cache-Control"] == "no-store"
    codes = codes_in(answer.content.decode())
    assert len(codes) == 10
    assert TOTPDevice.objects.get(pk=device.pk).confirmed
    assert len(_events("mfa_enrolled", member)) == 1
    # The page no longer shows the key, and enrolling again is refused.
    later = client.get("/account/mfa/").content.decode()
    assert secret[:8] not in later.replace(" ", "")
    assert "MFA is on" in later


def test_recovery_codes_are_ten_distinct_codes_stored_only_as_digests(enrolled):
    user, _device, codes = enrolled
    assert len(codes) == 10
    assert len(set(codes)) == 10
    stored = set(StaticToken.objects.filter(device__user=user).values_list("token", flat=True))
    assert len(stored) == 10
    assert not stored & set(codes)
    assert not stored & {code.replace("-", "") for code in codes}


# ---------------------------------------------------------------- sign-in


def test_sign_in_asks_for_the_code_and_nothing_is_reachable_before_it(enrolled):
    user, device, _codes = enrolled
    client = Client()
    first = password_step(client, user, next_url="/organization/members/")
    assert first.status_code == 302
    assert first["Location"] == "/login/code/"
    # Half-way: neither the console nor the API is open.
    assert client.get("/organization/members/").status_code == 302
    assert client.get("/api/v1/me/").status_code == 401
    assert "_auth_user_id" not in client.session

    page = client.get("/login/code/")
    assert page.status_code == 200
    assert "Enter your code" in page.content.decode()
    answer = client.post("/login/code/", {"code": fresh_code(device)})
    assert answer.status_code == 302
    assert answer["Location"] == "/organization/members/"
    me = client.get("/api/v1/me/")
    assert me.status_code == 200
    assert me.json()["user"]["email"] == user.email
    assert [e.additional_data for e in _events("mfa_verified", user)][-1] == {"method": "totp"}
    assert AuditEvent.objects.filter(action="login", object_pk=str(user.pk)).count() >= 1


def test_a_user_without_mfa_signs_in_with_the_password_alone(member):
    client = Client()
    answer = password_step(client, member)
    assert answer.status_code == 302
    assert answer["Location"] == "/"
    assert client.get("/api/v1/me/").status_code == 200


def test_the_code_step_without_a_password_step_goes_back_to_sign_in():
    client = Client()
    assert client.get("/login/code/")["Location"] == "/login/"
    assert client.post("/login/code/", {"code": "123456"})["Location"] == "/login/"


def test_a_wrong_code_is_refused_audited_and_delayed(enrolled):
    user, device, _codes = enrolled
    client = Client()
    password_step(client, user)
    wrong = client.post("/login/code/", {"code": "000000"})
    assert wrong.status_code == 400
    assert "That code is not valid" in wrong.content.decode()
    assert client.get("/api/v1/me/").status_code == 401
    failed = _events("mfa_failed", user)[-1]
    assert failed.additional_data == {"method": "totp", "reason": "invalid_code"}
    # django-otp's delay: right after a failure even the right code waits.
    delayed = client.post("/login/code/", {"code": fresh_code(device)})
    assert delayed.status_code == 429
    assert "Too many wrong codes" in delayed.content.decode()
    clear_throttle(device)
    assert client.post("/login/code/", {"code": fresh_code(device)}).status_code == 302


def test_code_attempts_count_against_the_sign_in_rate_limit(enrolled, settings):
    settings.LOGIN_RATE_LIMIT = "4/m"
    user, device, _codes = enrolled
    client = Client()
    password_step(client, user)  # the first attempt of the minute
    statuses = []
    for _ in range(4):
        clear_throttle(device)
        statuses.append(client.post("/login/code/", {"code": "000000"}).status_code)
    assert statuses == [400, 400, 400, 429]
    clear_throttle(device)
    refused = client.post("/login/code/", {"code": fresh_code(device)})
    assert refused.status_code == 429
    assert "Too many attempts. Try again in" in refused.content.decode()
    assert _events("mfa_failed", user)[-1].additional_data == {"reason": "rate_limited"}
    assert client.get("/api/v1/me/").status_code == 401


def test_a_recovery_code_signs_in_once_only(enrolled):
    user, _device, codes = enrolled
    first = Client()
    answer = sign_in(first, user, code=codes[0].upper().replace("-", " "))
    assert answer.status_code == 302
    assert first.get("/api/v1/me/").status_code == 200
    assert _events("mfa_verified", user)[-1].additional_data == {"method": "recovery_code"}
    assert StaticToken.objects.filter(device__user=user).count() == 9

    second = Client()
    again = sign_in(second, user, code=codes[0])
    assert again.status_code == 400
    assert second.get("/api/v1/me/").status_code == 401
    assert _events("mfa_failed", user)[-1].additional_data == {
        "method": "recovery_code",
        "reason": "invalid_code",
    }


def test_the_admin_sign_in_form_cannot_skip_the_code_step(enrolled):
    user, device, _codes = enrolled
    user.is_staff = True
    user.save()
    client = Client()
    client.post("/admin/login/", {"username": user.email, "password": PASSWORD})
    # Signed in by the admin's form, the session is sent to the code step at once.
    answer = client.get("/admin/")
    assert answer.status_code == 302
    assert answer["Location"] == "/login/code/"
    assert client.get("/api/v1/me/").status_code == 401
    assert client.post("/login/code/", {"code": fresh_code(device)})["Location"] == "/admin/"


# ---------------------------------------------------------------- enforcement


def test_an_organization_requiring_mfa_sends_members_to_enrolment_first(
    organization, other_organization, member, make_member
):
    organization.settings = {"require_mfa": True}
    organization.save()
    outsider = make_member(other_organization, "viewer")
    client = Client()
    client.force_login(member)
    page = client.get("/pools/")
    assert page.status_code == 302
    assert page["Location"] == "/account/mfa/?required=1"
    refused = client.get("/api/v1/pools/")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "mfa_required"
    assert client.get("/api/v1/me/mfa/").json()["required"] is True
    html = client.get("/account/mfa/?required=1").content.decode()
    assert "requires multi-factor authentication" in html

    enrol(client)
    assert client.get("/pools/").status_code == 200
    assert client.get("/api/v1/pools/").status_code == 200

    # Members of other organizations are not held to it.
    other = Client()
    other.force_login(outsider)
    assert other.get("/api/v1/pools/").status_code == 200


def test_superusers_are_held_to_their_organizations_rule_too(organization, make_member):
    organization.settings = {"require_mfa": True}
    organization.save()
    admin = make_member(organization, "owner", email="root@example.com")
    admin.is_superuser = admin.is_staff = True
    admin.save()
    client = Client()
    client.force_login(admin)
    assert client.get("/admin/")["Location"] == "/account/mfa/?required=1"


def test_require_mfa_is_an_organization_setting(organization, make_member):
    owner = APIClient()
    owner.force_login(make_member(organization, "owner"))
    answer = owner.patch(
        f"/api/v1/organizations/{organization.slug}/settings/",
        {"settings": {"require_mfa": True}},
        format="json",
    )
    assert answer.status_code == 200, answer.json()
    assert answer.json()["settings"]["require_mfa"] is True
    bad = owner.patch(
        f"/api/v1/organizations/{organization.slug}/settings/",
        {"settings": {"require_mfa": "sometimes"}},
        format="json",
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "validation_error"


# ---------------------------------------------------------------- re-verification


def _age_verification(client: Client, hours: float) -> None:
    session = client.session
    session[VERIFIED_AT_KEY] = time.time() - hours * 3600
    session.save()


def test_token_creation_needs_the_second_factor_again_after_12_hours(enrolled):
    user, device, _codes = enrolled
    client = APIClient()
    assert sign_in(client, user, device).status_code == 302
    body = {"name": "ci", "scopes": ["read"]}
    assert client.post("/api/v1/tokens/", body, format="json").status_code == 201

    _age_verification(client, 11.9)
    assert client.post("/api/v1/tokens/", body, format="json").status_code == 201
    _age_verification(client, 12.1)
    refused = client.post("/api/v1/tokens/", body, format="json")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "mfa_required"
    assert client.get("/api/v1/me/mfa/").json()["reverification_due"] is True
    # Reading is not a sensitive action.
    assert client.get("/api/v1/tokens/").status_code == 200

    clear_throttle(device)
    verified = client.post("/api/v1/me/mfa/verify/", {"code": fresh_code(device)}, format="json")
    assert verified.status_code == 200
    assert verified.json()["reverification_due"] is False
    assert client.post("/api/v1/tokens/", body, format="json").status_code == 201


def test_the_console_asks_again_and_returns_to_the_page(enrolled):
    user, device, _codes = enrolled
    client = Client()
    sign_in(client, user, device)
    _age_verification(client, 13)
    answer = client.post("/organization/tokens/", {"name": "ci", "scopes": ["read"]})
    assert answer.status_code == 302
    assert answer["Location"] == "/account/mfa/verify/?next=%2Forganization%2Ftokens%2F"
    wrong = client.post("/account/mfa/verify/", {"code": "000000", "next": "/organization/tokens/"})
    assert wrong.status_code == 400
    clear_throttle(device)
    back = client.post(
        "/account/mfa/verify/", {"code": fresh_code(device), "next": "/organization/tokens/"}
    )
    assert back["Location"] == "/organization/tokens/"
    created = client.post("/organization/tokens/", {"name": "ci", "scopes": ["read"]})
    assert created.status_code == 201


def test_cloud_credential_writes_need_a_recent_second_factor(organization, make_member):
    from apps.cloud.services import account_create
    from tests.actors import TEST_ACTOR

    owner = make_member(organization, "owner", email="boss@example.com")
    setup = Client()
    setup.force_login(owner)
    device, _codes = enrol(setup)
    account = account_create(
        organization=organization,
        actor=TEST_ACTOR,
        name="prod",
        provider="aws",
        external_id="123456789012",
        auth_method="access_keys",
    )
    client = APIClient()
    sign_in(client, owner, device)
    _age_verification(client, 24)
    answer = client.put(
        f"/api/v1/accounts/{account.pk}/credentials/",
        {"access_key_id": "AKIAEXAMPLE", "secret_access_key": "x" * 40},
        format="json",
    )
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "mfa_required"
    account.refresh_from_db()
    assert not account.credentials_set
    console = client.post(f"/accounts/{account.pk}/credentials/", {"access_key_id": "AKIA"})
    assert console.status_code == 302
    assert console["Location"] == (
        f"/account/mfa/verify/?next=%2Faccounts%2F{account.pk}%2Fcredentials%2F"
    )


def test_bearer_tokens_are_not_asked_for_a_second_factor(organization, make_member, token_client):
    user = make_member(organization, "admin")
    setup = Client()
    setup.force_login(user)
    enrol(setup)
    client = token_client(organization, "admin", user=user)
    answer = client.post("/api/v1/tokens/", {"name": "child", "scopes": ["read"]}, format="json")
    assert answer.status_code == 201
    not_applicable = client.post("/api/v1/me/mfa/verify/", {"code": "123456"}, format="json")
    assert not_applicable.status_code == 400
    assert not_applicable.json()["error"]["code"] == "not_applicable"


def test_users_without_mfa_are_not_asked_to_reverify(member):
    client = APIClient()
    client.force_login(member)
    answer = client.post("/api/v1/tokens/", {"name": "ci", "scopes": ["read"]}, format="json")
    assert answer.status_code == 201


# ---------------------------------------------------------------- resets


def test_a_user_resets_their_mfa_with_a_recovery_code(enrolled):
    user, device, codes = enrolled
    client = Client()
    sign_in(client, user, device)
    wrong = client.post("/account/mfa/", {"action": "reset", "code": "aaaaa-aaaaa"})
    assert wrong.status_code == 400
    clear_throttle(device)
    answer = client.post("/account/mfa/", {"action": "reset", "code": codes[3]})
    assert answer.status_code == 302
    assert not TOTPDevice.objects.filter(user=user).exists()
    assert not StaticToken.objects.filter(device__user=user).exists()
    event = _events("mfa_reset", user)[-1]
    assert event.actor_id == user.pk
    # Signing in again asks for the password only.
    assert password_step(Client(), user)["Location"] == "/"


def test_new_recovery_codes_replace_the_old_ones(enrolled):
    user, device, codes = enrolled
    client = Client()
    sign_in(client, user, device)
    clear_throttle(device)
    answer = client.post("/account/mfa/", {"action": "regenerate", "code": fresh_code(device)})
    assert answer.status_code == 200
    assert answer["Cache-Control"] == "no-store"
    assert "shown this once" in answer.content.decode()
    assert sign_in(Client(), user, code=codes[1]).status_code == 400


@pytest.mark.parametrize(
    ("role", "status"),
    [("owner", 204), ("admin", 204), ("operator", 403), ("viewer", 403), ("auditor", 403)],
)
def test_admins_reset_a_members_mfa(enrolled, organization, client_for, role, status):
    user, _device, _codes = enrolled
    membership = Membership.objects.get(user=user, organization=organization)
    client = client_for(organization, role)
    answer = client.post(
        f"/api/v1/organizations/{organization.slug}/members/{membership.pk}/mfa/reset/"
    )
    assert answer.status_code == status
    assert TOTPDevice.objects.filter(user=user).exists() is (status != 204)
    if status == 204:
        assert _events("mfa_reset", user)[-1].actor_id == client.user.pk
    else:
        assert answer.json()["error"]["code"] == "permission_denied"


def test_an_admin_of_another_organization_cannot_reset(
    enrolled, organization, other_organization, client_for
):
    user, _device, _codes = enrolled
    membership = Membership.objects.get(user=user, organization=organization)
    stranger = client_for(other_organization, "owner")
    answer = stranger.post(
        f"/api/v1/organizations/{organization.slug}/members/{membership.pk}/mfa/reset/"
    )
    assert answer.status_code == 404
    assert TOTPDevice.objects.filter(user=user).exists()


# ---------------------------------------------------------------- no secrets anywhere


def test_no_secret_or_code_reaches_a_log_an_event_or_a_later_response(
    member, json_logs, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        client = Client()
        client.force_login(member)
        client.get("/account/mfa/")
        device = TOTPDevice.objects.get(user=member)
        confirm_code = fresh_code(device)
        answer = client.post("/account/mfa/", {"action": "confirm", "code": confirm_code})
        codes = codes_in(answer.content.decode())
        login = Client()
        password_step(login, member)
        used_code = fresh_code(device)
        login.post("/login/code/", {"code": used_code})
        wrong = Client()
        password_step(wrong, member)
        wrong.post("/login/code/", {"code": codes[5]})
        recovery = Client()
        clear_throttle(device)
        password_step(recovery, member)
        recovery.post("/login/code/", {"code": codes[5]})  # used up: refused

    secret_forms = {
        device.key,
        base64.b32encode(device.bin_key).decode().rstrip("="),
        *codes,
        *(code.replace("-", "") for code in codes),
    }
    assert len(codes) == 10
    later = [
        login.get("/account/mfa/").content.decode(),
        login.get("/api/v1/me/mfa/").content.decode(),
        login.get("/api/v1/me/").content.decode(),
        login.get("/api/v1/me/sessions/").content.decode(),
    ]
    superuser = User.objects.create_superuser("root@example.com", PASSWORD)
    admin = Client()
    admin.force_login(superuser)
    later.append(admin.get("/admin/otp_totp/totpdevice/").content.decode())
    change_page = admin.get(f"/admin/otp_totp/totpdevice/{device.pk}/change/")
    assert change_page.status_code == 200
    later.append(change_page.content.decode())
    later.append(admin.get("/admin/otp_static/staticdevice/").content.decode())
    events = json.dumps(list(AuditEvent.objects.values()), default=str)
    logs = json_logs.getvalue()
    for action in ("mfa_enrolled", "mfa_verified", "mfa_failed"):
        assert action in logs
        assert action in events
    for secret in secret_forms:
        assert secret not in logs, secret
        assert secret not in events, secret
        for page in later:
            assert secret not in page, secret
    for code in (confirm_code, used_code):
        assert f'"{code}"' not in logs
        assert f'"{code}"' not in events


def test_the_admin_lists_devices_without_secrets_and_resets_them(enrolled):
    user, device, _codes = enrolled
    superuser = User.objects.create_superuser("root@example.com", PASSWORD)
    admin = Client()
    admin.force_login(superuser)
    page = admin.get("/admin/otp_totp/totpdevice/")
    assert page.status_code == 200
    assert user.email in page.content.decode()
    assert admin.get("/admin/otp_totp/totpdevice/add/").status_code == 403
    answer = admin.post(
        "/admin/otp_totp/totpdevice/",
        {"action": "reset_mfa", "_selected_action": [device.pk]},
    )
    assert answer.status_code == 302
    assert not TOTPDevice.objects.filter(user=user).exists()
    assert _events("mfa_reset", user)[-1].actor_id == superuser.pk


def test_members_do_not_reach_the_device_admin(enrolled, organization, make_member):
    staff = make_member(organization, "owner", email="staff@example.com")
    staff.is_staff = True
    staff.save()
    client = Client()
    client.force_login(staff)
    assert client.get("/admin/otp_totp/totpdevice/").status_code == 403


def test_codes_of_the_next_step_are_accepted_once(enrolled):
    user, device, _codes = enrolled
    code = code_of(device, 1)
    first = Client()
    assert sign_in(first, user, code=code).status_code == 302
    second = Client()
    assert sign_in(second, user, code=code).status_code == 400


@pytest.mark.parametrize("role", ["owner", "admin", "operator", "viewer", "auditor"])
def test_every_role_enrols_in_the_console(organization, make_member, role):
    client = Client()
    client.force_login(make_member(organization, role))
    page = client.get("/account/mfa/")
    assert page.status_code == 200
    assert "Set up an authenticator app" in page.content.decode()
    _device, codes = enrol(client)
    assert len(codes) == 10
    assert "MFA is on" in client.get("/account/mfa/").content.decode()


@pytest.mark.parametrize(
    ("role", "allowed"),
    [("owner", True), ("admin", True), ("operator", False), ("viewer", False), ("auditor", False)],
)
def test_the_member_page_resets_mfa_for_admins(enrolled, organization, make_member, role, allowed):
    user, _device, _codes = enrolled
    membership = Membership.objects.get(user=user, organization=organization)
    client = Client()
    client.force_login(make_member(organization, role))
    assert ("Reset MFA" in client.get("/organization/members/").content.decode()) is allowed
    answer = client.post(f"/organization/members/{membership.pk}/mfa/reset/")
    assert answer.status_code == (302 if allowed else 403)
    assert TOTPDevice.objects.filter(user=user).exists() is not allowed


def test_the_sign_in_page_for_anonymous_users_is_not_held_up():
    assert Client().get("/login/").status_code == 200


@pytest.mark.parametrize(
    ("role", "status"),
    [("owner", 200), ("admin", 200), ("operator", 403), ("viewer", 403), ("auditor", 403)],
)
def test_admins_see_whether_a_member_has_mfa_without_secrets(
    enrolled, organization, client_for, role, status
):
    user, device, codes = enrolled
    membership = Membership.objects.get(user=user, organization=organization)
    answer = client_for(organization, role).get(
        f"/api/v1/organizations/{organization.slug}/members/{membership.pk}/mfa/"
    )
    assert answer.status_code == status
    if status == 200:
        body = answer.json()
        assert body["enabled"] is True
        assert body["recovery_codes_left"] == 10
        assert [d["type"] for d in body["devices"]] == ["totp", "recovery_codes"]
        assert device.key not in answer.content.decode()
        assert codes[0] not in answer.content.decode()
