"""Helpers of the MFA and session tests: codes of a device, enrolment, the two-step sign-in."""

from __future__ import annotations

import re
import time

from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.tenancy.models import User

PASSWORD = "correct horse battery staple"
_used_steps: dict[int, int] = {}


def code_of(device: TOTPDevice, steps_ahead: int = 0) -> str:
    """Return the code of ``device`` ``steps_ahead`` time steps from now."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + steps_ahead * device.step
    return f"{totp.token():0{device.digits}d}"


def fresh_code(device: TOTPDevice) -> str:
    """Return a code django-otp accepts now: one step later than the last one used.

    A code is good once (django-otp keeps the last time step used), and the
    device accepts the next step too (tolerance 1), so two sign-ins within 30
    seconds use the current and the next code.
    """
    device.refresh_from_db()
    now_t = int((time.time() - device.t0) // device.step) + device.drift
    ahead = 0 if device.last_t < now_t else device.last_t - now_t + 1
    return code_of(device, ahead)


def clear_throttle(device: TOTPDevice) -> None:
    """Forget the failures of the user's devices, as if their growing wait had passed."""
    for model in (TOTPDevice, StaticDevice):
        model.objects.filter(user_id=device.user_id).update(
            throttling_failure_count=0, throttling_failure_timestamp=None
        )


def codes_in(html: str) -> list[str]:
    """Return the recovery codes a page shows."""
    return re.findall(r"<li>([a-z0-9]{5}-[a-z0-9]{5})</li>", html)


def enrol(client: Client) -> tuple[TOTPDevice, list[str]]:
    """Enrol the signed-in user of ``client``; return the device and the recovery codes."""
    page = client.get("/account/mfa/")
    assert page.status_code == 200
    device = TOTPDevice.objects.get(user=page.wsgi_request.user.pk, confirmed=False)
    answer = client.post("/account/mfa/", {"action": "confirm", "code": fresh_code(device)})
    assert answer.status_code == 201, answer.content.decode()
    codes = codes_in(answer.content.decode())
    device.refresh_from_db()
    return device, codes


def password_step(client: Client, user: User, next_url: str = "") -> object:
    data = {"username": user.email, "password": PASSWORD}
    if next_url:
        data["next"] = next_url
    return client.post("/login/", data)


def sign_in(client: Client, user: User, device: TOTPDevice | None = None, code: str = "") -> object:
    """Sign in with the password, then the code (of ``device`` or ``code``); return the answer."""
    first = password_step(client, user)
    assert first.status_code == 302
    if device is None and not code:
        return first
    assert first["Location"] == "/login/code/"
    return client.post("/login/code/", {"code": code or fresh_code(device)})
