"""OpenTelemetry: off and free without an endpoint, exporting OTLP spans with one."""

import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import django, os
django.setup()
from django.test import Client
from opentelemetry import trace
from cloudpam.observability import configure_tracing
print("enabled", configure_tracing())
Client(HTTP_HOST="localhost").get("/healthz")
provider = trace.get_tracer_provider()
if hasattr(provider, "force_flush"):
    provider.force_flush()
import sys
print("otel_loaded", "opentelemetry.instrumentation.django" in sys.modules)
"""


class _Collector(BaseHTTPRequestHandler):
    posts: list[tuple[str, int]] = []

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        self.rfile.read(length)
        _Collector.posts.append((self.path, length))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args):
        pass


def _run(env_extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update({"DJANGO_SETTINGS_MODULE": "cloudpam.settings.test", **env_extra})
    return subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout


@pytest.mark.slow
def test_tracing_is_off_and_not_imported_without_an_endpoint():
    out = _run({})
    assert "enabled False" in out
    assert "otel_loaded False" in out


@pytest.mark.slow
def test_spans_are_exported_over_otlp_when_an_endpoint_is_set():
    _Collector.posts = []
    server = HTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_address[1]}"
        out = _run({"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint})
    finally:
        server.shutdown()
    assert "enabled True" in out
    assert any(path == "/v1/traces" and size > 0 for path, size in _Collector.posts)
