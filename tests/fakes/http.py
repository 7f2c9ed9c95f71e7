"""A loopback HTTP server in a thread, the base of the fake clouds.

A fake answers the REST calls of one cloud's SDK from an in-memory estate, records every
request, and can be told to fail: ``fail("regions/europe-west1/", 500)`` answers the next
request whose path, query or body contains that text with a 500 (``times=None``: every
such request), ``fail(..., 429, retry_after=2)`` adds a ``Retry-After`` header.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass
class Fault:
    """An error to answer instead of the estate, ``times`` times (None: for ever)."""

    match: str
    status: int
    times: int | None = 1
    retry_after: float | None = None
    hits: int = field(default=0)


@dataclass(frozen=True)
class Request:
    """One request as the fake received it."""

    method: str
    path: str
    query: dict[str, str]
    body: str


class FakeCloud:
    """Serve ``route()`` over HTTP on 127.0.0.1 until :meth:`stop`; a context manager."""

    def __init__(self) -> None:
        self.faults: list[Fault] = []
        self.requests: list[Request] = []
        self.record_requests = True
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # What each cloud's fake provides.
    def route(self, request: Request) -> tuple[int, dict[str, Any]]:
        raise NotImplementedError

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        raise NotImplementedError

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def fail(
        self, match: str, status: int, *, times: int | None = 1, retry_after: float | None = None
    ) -> Fault:
        """Answer requests containing ``match`` with ``status`` (see the module docstring)."""
        fault = Fault(match, status, times, retry_after)
        with self._lock:
            self.faults.append(fault)
        return fault

    def start(self) -> FakeCloud:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            # Keep-alive, as the SDKs' connection pools expect.
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                """Stay quiet: tests read :attr:`FakeCloud.requests` instead."""

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                parts = urlsplit(self.path)
                request = Request(self.command, parts.path, dict(parse_qsl(parts.query)), body)
                status, payload, headers = fake._answer(request, self.path)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _serve  # noqa: N815

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        # A short poll so that stop() returns at once.
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeCloud:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _answer(self, request: Request, raw: str) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self._lock:
            if self.record_requests:
                self.requests.append(request)
            fault = next(
                (
                    f
                    for f in self.faults
                    if (f.times is None or f.hits < f.times) and f.match in f"{raw} {request.body}"
                ),
                None,
            )
            if fault is not None:
                fault.hits += 1
        if fault is not None:
            headers = {}
            if fault.retry_after is not None:
                headers["Retry-After"] = str(int(fault.retry_after))
            return fault.status, self.error_body(fault.status, "Injected fault"), headers
        status, payload = self.route(request)
        return status, payload, {}
