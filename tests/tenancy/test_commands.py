"""Management commands: create_token and the demo seed."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from apps.tenancy.models import ApiToken, Membership, Organization, User

pytestmark = pytest.mark.django_db


def run(*args: str, capsys) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    call_command("create_token", *args)
    captured = capsys.readouterr()
    return captured.out, captured.err


def test_create_token_creates_what_is_missing_and_prints_only_the_token(capsys):
    out, err = run("Robot@Example.com", "--org", "automation", "--name", "ci", capsys=capsys)
    value = out.strip()
    assert value.startswith("cpam_")
    assert out.count("\n") == 1
    assert "Created the organization 'automation'." in err
    assert "Created the user robot@example.com" in err
    assert "Made robot@example.com owner of 'automation'." in err
    assert value not in err

    membership = Membership.objects.get(user__email="robot@example.com")
    assert (membership.organization.slug, membership.role) == ("automation", "owner")
    token = ApiToken.objects.get()
    assert token.name == "ci"
    assert token.scopes == ["read", "write", "admin"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {value}")
    assert client.get("/api/v1/organizations/automation/members/").status_code == 200


def test_create_token_reuses_and_respects_existing_rows(organization, user, capsys):
    _out, err = run(
        user.email, "--org", "acme", "--role", "viewer", "--scopes", "read", capsys=capsys
    )
    assert "Created the organization" not in err
    assert "Created the user" not in err
    assert "is already owner of 'acme'; the token follows that role." in err
    assert Organization.objects.count() == 1
    assert User.objects.count() == 1
    assert ApiToken.objects.get().scopes == ["read"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nobody", "--org", "acme"], "'nobody' is not an email address."),
        (["a@example.com", "--org", "Not A Slug"], "is not a valid slug"),
        (["a@example.com", "--org", "acme", "--scopes", "root"], "Unknown scope 'root'"),
        (
            ["a@example.com", "--org", "acme", "--role", "viewer", "--scopes", "write"],
            "The role 'viewer' allows the token scopes read; 'write' is above it.",
        ),
        (["a@example.com", "--org", "acme", "--expires-days", "0"], "at least 1"),
    ],
)
def test_create_token_refuses_bad_input(args, message):
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call_command("create_token", *args)
    assert not ApiToken.objects.exists()


def test_seed_demo_is_idempotent(settings, tmp_path, capsys):
    settings.VAR_DIR = tmp_path
    call_command("seed_demo")
    call_command("seed_demo")
    organization = Organization.objects.get(slug="demo")
    assert Membership.objects.filter(organization=organization, role="owner").count() == 1
    assert "Found the demo organization 'demo'." in capsys.readouterr().out


def test_create_token_run_by_a_shell_prints_only_the_token_on_stdout(tmp_path):
    """``TOKEN=$(manage.py create_token ...)``: the audit log lines go to stderr, not stdout."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from django.conf import settings

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "cloudpam.settings.test",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "CLOUDPAM_VAR_DIR": str(tmp_path),
    }
    env.pop("REDIS_URL", None)
    manage = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, capture_output=True)
    result = subprocess.run(
        [*manage, "create_token", "robot@example.com", "--org", "automation"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    assert result.stdout.startswith("cpam_")
    assert result.stdout.count("\n") == 1
    assert result.stdout.strip() not in result.stderr
    assert '"logger": "cloudpam.audit"' in result.stderr
