"""Production settings refuse to start misconfigured and pass check --deploy when set."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_manage(*args, **env_overrides):
    dropped = {"SECRET_KEY", "ALLOWED_HOSTS", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(env_overrides)
    env["DJANGO_SETTINGS_MODULE"] = "cloudpam.settings.production"
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_production_refuses_to_start_without_secret_key():
    result = run_manage("check", ALLOWED_HOSTS="cloudpam.example.com")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


@pytest.mark.slow
def test_production_refuses_to_start_without_allowed_hosts():
    result = run_manage("check", SECRET_KEY=secrets.token_urlsafe(60))
    assert result.returncode != 0
    assert "ALLOWED_HOSTS must list" in result.stderr


@pytest.mark.slow
def test_check_deploy_is_clean_when_configured(tmp_path):
    configured = {
        "SECRET_KEY": secrets.token_urlsafe(60),
        "ALLOWED_HOSTS": "cloudpam.example.com",
        "STATIC_ROOT": str(tmp_path / "static"),
        "EMAIL_HOST": "smtp.example.com",
    }
    collected = run_manage("collectstatic", "--noinput", "-v0", **configured)
    assert collected.returncode == 0, collected.stderr
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", **configured)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_production_lets_only_staff_create_organizations():
    result = run_manage(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.CLOUDPAM_ORGANIZATION_CREATORS)",
        SECRET_KEY=secrets.token_urlsafe(60),
        ALLOWED_HOSTS="cloudpam.example.com",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "staff"


def test_argon2_is_the_first_password_hasher():
    from cloudpam.settings import base

    assert base.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"


@pytest.mark.slow
def test_production_keeps_database_connections_with_health_checks():
    result = run_manage(
        "shell",
        "-c",
        "from django.conf import settings; d = settings.DATABASES['default']; "
        "print(d['CONN_MAX_AGE'], d['CONN_HEALTH_CHECKS'])",
        SECRET_KEY=secrets.token_urlsafe(60),
        ALLOWED_HOSTS="cloudpam.example.com",
        DATABASE_CONN_MAX_AGE="",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "60 True"
