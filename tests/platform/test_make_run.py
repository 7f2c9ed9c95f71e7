"""``make run``: the URL and the login come last and clearly, with no JSON log line after.

The target runs for real (migrate, the demo data, the server) against a database and a
var directory of its own, with the shared virtualenv standing in for ``.venv``.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings

from apps.tenancy.management.commands.serve_demo import Command, demo_banner

ROOT = Path(settings.BASE_DIR)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_banner_names_the_url_and_the_login():
    text = demo_banner(url="http://localhost:8080", email="a@example.com", password="s3cret")
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines[1] == "  CloudPAM is running at http://localhost:8080"
    assert lines[2] == "  Sign in as a@example.com / s3cret"


def test_serve_demo_prints_the_banner_after_djangos_lines(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    (tmp_path / "demo-admin-password").write_text("pw-123\n")
    out = StringIO()
    command = Command(stdout=out, no_color=True)
    command.addr, command._raw_ipv6, command.protocol = "127.0.0.1", False, "http"
    command.on_bind(8123)
    text = out.getvalue()
    assert text.index("Starting development server at http://127.0.0.1:8123/") < text.index(
        "CloudPAM is running at http://localhost:8123"
    )
    assert text.rstrip().splitlines()[-3] == "  Sign in as admin@demo.cloudpam.local / pw-123"


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_run_prints_the_url_and_login_last(tmp_path):
    port = _free_port()
    stamp = tmp_path / "venv-installed"
    stamp.touch()
    venv = Path(sys.executable).parent.parent
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "cloudpam.settings.local",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "CLOUDPAM_VAR_DIR": str(tmp_path),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("REDIS_URL", None)
    process = subprocess.Popen(
        ["make", "-s", "run", f"VENV={venv}", f"STAMP={stamp}", f"PORT={port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    received: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            received.put(line.rstrip("\n"))

    threading.Thread(target=read, daemon=True).start()

    def collect(until: float) -> None:
        while time.monotonic() < until:
            try:
                lines.append(received.get(timeout=0.2))
            except queue.Empty:
                if any("Sign in as" in line for line in lines) or process.poll() is not None:
                    return

    try:
        collect(time.monotonic() + 240)
        assert any("Sign in as" in line for line in lines), "\n".join(lines)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as answer:
            assert answer.status == 200
        time.sleep(0.5)
        collect(time.monotonic() + 1)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)

    banner_end = max(index for index, line in enumerate(lines) if "Sign in as" in line)
    before = lines[: banner_end + 1]
    assert not [line for line in before if line.lstrip().startswith("{")], "\n".join(before)
    assert f"  CloudPAM is running at http://localhost:{port}" in "\n".join(before)
    password = (tmp_path / "demo-admin-password").read_text().strip()
    assert f"Sign in as admin@demo.cloudpam.local / {password}" in lines[banner_end]
    # What came before the banner: one line of ours and Django's start-up lines, no more.
    assert lines[0].startswith("Preparing the database and the demo organization")
    assert '"logger": "cloudpam.audit"' in (tmp_path / "run-setup.log").read_text()
