"""A loopback language model server speaking the OpenAI and Anthropic wire formats.

Routes: ``POST /v1/chat/completions`` (OpenAI, Ollama, OpenAI-compatible),
``POST /openai/deployments/{deployment}/chat/completions?api-version=...`` (Azure OpenAI)
and ``POST /v1/messages`` (Anthropic), each as JSON or, when the body asks for
``"stream": true``, as server-sent events in the provider's own shape (OpenAI ``data:``
chunks ending ``data: [DONE]`` with a usage chunk; Anthropic ``message_start``,
``content_block_start``/``_delta``/``_stop``, ``message_delta`` with usage, ``message_stop``).

Answers come from a queue of :class:`Script` rows (``fake.script(Script(...), ...)``), then
:attr:`FakeLLM.default`. A script with ``json`` answers structured output the way the
request asked for it: the bare document for an OpenAI ``response_format``, a ``tool_use``
block when Anthropic tools were sent, a fenced ```json block otherwise. ``status`` answers
an error (with ``retry_after`` as the Retry-After header), ``delay`` waits before the
headers (for timeouts), ``chunk_delay`` between streamed chunks. Every request is recorded
in :attr:`FakeLLM.requests`, headers and body, so tests can look for leaked secrets, with
the ``time.perf_counter()`` and ``time.process_time()`` it arrived at;
:attr:`FakeLLM.streams` holds, for each streamed answer, when each chunk was written and
flushed (benchmarks time CloudPAM against them).
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

AZURE_PATH = re.compile(r"^/openai/deployments/(?P<deployment>[^/]+)/chat/completions$")
# Usage when a script names none: the same normalised figures for every provider.
DEFAULT_OPENAI_USAGE = {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}
DEFAULT_ANTHROPIC_USAGE = {"input_tokens": 12, "output_tokens": 5}


@dataclass
class Script:
    """One scripted answer (see the module docstring)."""

    text: str = "Hello from the fake model."
    json: Any = None
    usage: dict[str, Any] | None = None
    status: int = 200
    retry_after: float | None = None
    delay: float = 0.0
    chunk_delay: float = 0.0


@dataclass(frozen=True)
class Request:
    """One request as the fake received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: str
    received_at: float = 0.0
    # time.process_time() then: the CPU the whole process had used.
    received_cpu: float = 0.0

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.body) if self.body else {}


@dataclass
class FakeLLM:
    """Serve scripted answers on 127.0.0.1 until :meth:`stop`; a context manager."""

    default: Script = field(default_factory=Script)
    requests: list[Request] = field(default_factory=list)
    queue: deque[Script] = field(default_factory=deque)
    # Per streamed answer: (time.perf_counter() once written and flushed, chunk) pairs.
    streams: list[list[tuple[float, str]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def script(self, *answers: Script) -> None:
        """Queue answers, used in order before :attr:`default`."""
        with self._lock:
            self.queue.extend(answers)

    def next_script(self) -> Script:
        with self._lock:
            return self.queue.popleft() if self.queue else self.default

    def start(self) -> FakeLLM:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                """Stay quiet: tests read :attr:`FakeLLM.requests` instead."""

            def do_POST(self) -> None:
                received_at, received_cpu = time.perf_counter(), time.process_time()
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                parts = urlsplit(self.path)
                request = Request(
                    "POST",
                    parts.path,
                    dict(parse_qsl(parts.query)),
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                    received_at,
                    received_cpu,
                )
                with fake._lock:
                    fake.requests.append(request)
                # A client that gave up (a timeout test) needs no answer.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    fake._serve(self, request)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeLLM:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _stream_log(self) -> list[tuple[float, str]]:
        log: list[tuple[float, str]] = []
        with self._lock:
            self.streams.append(log)
        return log

    # Serving.
    def _serve(self, handler: BaseHTTPRequestHandler, request: Request) -> None:
        if request.path == "/v1/messages":
            flavour = "anthropic"
        elif request.path == "/v1/chat/completions" or (
            AZURE_PATH.match(request.path) and request.query.get("api-version")
        ):
            flavour = "openai"
        else:
            _send_json(handler, 404, {"error": {"message": "Unknown path", "type": "not_found"}})
            return
        script = self.next_script()
        if script.delay:
            time.sleep(script.delay)
        if script.status != 200:
            headers = {}
            if script.retry_after is not None:
                headers["Retry-After"] = str(int(script.retry_after))
            _send_json(handler, script.status, _error_body(flavour, script.status), headers)
            return
        payload = request.payload
        model = payload.get("model") or AZURE_PATH.match(request.path)["deployment"]
        if flavour == "openai":
            text = _openai_text(script, payload)
            if payload.get("stream"):
                events = _openai_events(text, script, model)
                _send_events(handler, events, script.chunk_delay, self._stream_log())
            else:
                _send_json(handler, 200, _openai_json(text, script, model))
        else:
            tool = _anthropic_tool(payload)
            if payload.get("stream"):
                events = _anthropic_events(script, model, tool)
                _send_events(handler, events, script.chunk_delay, self._stream_log())
            else:
                _send_json(handler, 200, _anthropic_json(script, model, tool))


def _send_json(
    handler: BaseHTTPRequestHandler,
    status: int,
    payload: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> None:
    data = json.dumps(payload).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(data)


def _send_events(
    handler: BaseHTTPRequestHandler,
    events: list[str],
    delay: float,
    log: list[tuple[float, str]] | None = None,
) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "text/event-stream")
    handler.send_header("Cache-Control", "no-cache")
    # No length: the stream ends when the connection closes.
    handler.send_header("Connection", "close")
    handler.end_headers()
    for event in events:
        if delay:
            time.sleep(delay)
        handler.wfile.write(event.encode())
        handler.wfile.flush()
        if log is not None:
            log.append((time.perf_counter(), event))
    handler.close_connection = True


def _error_body(flavour: str, status: int) -> dict[str, Any]:
    kind = {429: "rate_limit_error", 401: "authentication_error"}.get(status, "api_error")
    if flavour == "anthropic":
        return {"type": "error", "error": {"type": kind, "message": f"Injected {status}"}}
    return {"error": {"message": f"Injected {status}", "type": kind, "code": str(status)}}


def _pieces(text: str) -> list[str]:
    # Word by word, spaces kept, as models stream.
    return re.findall(r"\S+\s*|\s+", text) or [""]


# OpenAI.
def _openai_text(script: Script, payload: dict[str, Any]) -> str:
    if script.json is None:
        return script.text
    document = json.dumps(script.json)
    if payload.get("response_format", {}).get("type") == "json_schema":
        return document
    return f"Here is the plan.\n```json\n{document}\n```\n"


def _openai_usage(script: Script) -> dict[str, Any]:
    return script.usage if script.usage is not None else DEFAULT_OPENAI_USAGE


def _openai_json(text: str, script: Script, model: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": _openai_usage(script),
    }


def _openai_events(text: str, script: Script, model: str) -> list[str]:
    def chunk(choices: list[dict[str, Any]], usage: Any = None) -> str:
        body = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": model,
            "choices": choices,
            "usage": usage,
        }
        return f"data: {json.dumps(body)}\n\n"

    events = [chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}}])]
    events += [
        chunk([{"index": 0, "delta": {"content": piece}, "finish_reason": None}])
        for piece in _pieces(text)
    ]
    events.append(chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}]))
    events.append(chunk([], _openai_usage(script)))
    events.append("data: [DONE]\n\n")
    return events


# Anthropic.
def _anthropic_tool(payload: dict[str, Any]) -> str | None:
    tools = payload.get("tools") or []
    return tools[0]["name"] if tools else None


def _anthropic_usage(script: Script) -> dict[str, Any]:
    return script.usage if script.usage is not None else DEFAULT_ANTHROPIC_USAGE


def _anthropic_content(script: Script, tool: str | None) -> dict[str, Any]:
    if script.json is not None and tool is not None:
        return {"type": "tool_use", "id": "toolu_fake", "name": tool, "input": script.json}
    text = script.text if script.json is None else f"```json\n{json.dumps(script.json)}\n```"
    return {"type": "text", "text": text}


def _anthropic_json(script: Script, model: str, tool: str | None) -> dict[str, Any]:
    content = _anthropic_content(script, tool)
    return {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [content],
        "stop_reason": "tool_use" if content["type"] == "tool_use" else "end_turn",
        "stop_sequence": None,
        "usage": _anthropic_usage(script),
    }


def _anthropic_events(script: Script, model: str, tool: str | None) -> list[str]:
    def event(name: str, body: dict[str, Any]) -> str:
        return f"event: {name}\ndata: {json.dumps({'type': name, **body})}\n\n"

    usage = dict(_anthropic_usage(script))
    output_tokens = usage.pop("output_tokens", 0)
    content = _anthropic_content(script, tool)
    start_usage = {**usage, "output_tokens": 1}
    events = [
        event(
            "message_start",
            {
                "message": {
                    "id": "msg_fake",
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": start_usage,
                }
            },
        )
    ]
    if content["type"] == "tool_use":
        events.append(
            event(
                "content_block_start",
                {"index": 0, "content_block": {**content, "input": {}}},
            )
        )
        document = json.dumps(content["input"])
        step = max(len(document) // 4, 1)
        for start in range(0, len(document), step):
            delta = {"type": "input_json_delta", "partial_json": document[start : start + step]}
            events.append(event("content_block_delta", {"index": 0, "delta": delta}))
        stop_reason = "tool_use"
    else:
        events.append(
            event(
                "content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}
            )
        )
        for piece in _pieces(content["text"]):
            delta = {"type": "text_delta", "text": piece}
            events.append(event("content_block_delta", {"index": 0, "delta": delta}))
        stop_reason = "end_turn"
    events.append(event("content_block_stop", {"index": 0}))
    events.append(
        event(
            "message_delta",
            {
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": output_tokens},
            },
        )
    )
    events.append(event("message_stop", {}))
    return events
