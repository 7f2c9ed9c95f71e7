"""Run manage.py and gunicorn as a deployment would: production settings, DEBUG off."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"


def production_env(directory: Path, **overrides: str) -> dict[str, str]:
    """Environment of a production process with its database and static files in ``directory``."""
    dropped = {"REDIS_URL", "DATABASE_URL", "DJANGO_ALLOW_ASYNC_UNSAFE", "DEBUG", "EMAIL_BACKEND"}
    env = {key: value for key, value in os.environ.items() if key not in dropped}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "cloudpam.settings.production",
            "SECRET_KEY": secrets.token_urlsafe(60),
            "ALLOWED_HOSTS": f"{HOST},localhost",
            "SECURE_SSL_REDIRECT": "false",
            "DATABASE_URL": f"sqlite:///{directory / 'db.sqlite3'}",
            "STATIC_ROOT": str(directory / "static"),
            "CLOUDPAM_VAR_DIR": str(directory / "var"),
            "EMAIL_HOST": "smtp.example.com",
        }
    )
    env.update(overrides)
    return env


def manage(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=check,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def gunicorn_command(port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "cloudpam.wsgi:application",
        "--config",
        "python:cloudpam.gunicorn_conf",
        "--bind",
        f"{HOST}:{port}",
        "--workers",
        "1",
        "--worker-tmp-dir",
        str(ROOT / "var") if not Path("/dev/shm").is_dir() else "/dev/shm",  # noqa: S108
    ]


@contextmanager
def gunicorn(env: dict[str, str]) -> Iterator[str]:
    """Serve the application with gunicorn; yield its base URL once it answers."""
    port = free_port()
    process = subprocess.Popen(
        gunicorn_command(port),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {process.stderr.read()}")
            try:
                urllib.request.urlopen(f"{url}/healthz", timeout=10)  # noqa: S310
                break
            # Refused, reset or timed out while the worker still boots.
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stderr.close()


def get(url: str) -> tuple[int, dict[str, str], str]:
    request = urllib.request.Request(url, headers={"Accept": "text/html"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()
