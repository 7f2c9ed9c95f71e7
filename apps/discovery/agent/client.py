"""The agent's side of the agents API: register, heartbeat, push, with retries."""

from __future__ import annotations

import gzip
import json
import logging
import random
import time
from collections.abc import Callable
from typing import Any

import requests

logger = logging.getLogger("cloudpam.agent")

# Answers worth another try: the server is busy, restarting or briefly unreachable.
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class ServerError(Exception):
    """The server refused the request for good; ``code`` is its error code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class AgentRevoked(ServerError):
    """The credential no longer authenticates (401): the agent must stop."""


class AgentRejected(ServerError):
    """An administrator rejected the agent (403 ``agent_rejected``): it must stop."""


class AgentPending(ServerError):
    """The agent waits for an administrator's approval (403 ``agent_pending``)."""


def _error(response: requests.Response) -> ServerError:
    try:
        error = response.json()["error"]
        code, message = str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        code, message = "http_error", response.text[:200]
    if response.status_code == 401:
        return AgentRevoked(401, code, message)
    if code == "agent_rejected":
        return AgentRejected(response.status_code, code, message)
    if code == "agent_pending":
        return AgentPending(response.status_code, code, message)
    return ServerError(response.status_code, code, message)


class ServerClient:
    """Calls to the CloudPAM server, retried with backoff and full jitter.

    A retry resends the same bytes, so a batch retried after a lost answer carries the
    same ``batch_id`` and the server stores it once.
    """

    def __init__(
        self,
        server: str,
        *,
        credential: str = "",
        verify: bool = True,
        tries: int = 5,
        base_delay: float = 1.0,
        max_delay: float = 60.0,
        timeout: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        user_agent: str = "cloudpam-agent",
    ) -> None:
        self.server = server.rstrip("/")
        self.credential = credential
        self.tries = tries
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.timeout = timeout
        self.sleep = sleep
        self.session = requests.Session()
        self.session.verify = verify
        self.session.headers["User-Agent"] = user_agent

    def _url(self, path: str) -> str:
        return f"{self.server}/api/v1/discovery/{path}"

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after:
            try:
                return min(float(retry_after), self.max_delay)
            except ValueError:
                pass
        return random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))  # noqa: S311

    def request(
        self,
        path: str,
        *,
        body: bytes,
        credential: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """POST ``body`` (JSON bytes) to ``path``; return the JSON answer or raise."""
        all_headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Authorization": f"Bearer {credential or self.credential}",
            **(headers or {}),
        }
        for attempt in range(self.tries):
            last = attempt == self.tries - 1
            try:
                response = self.session.post(
                    self._url(path), data=body, headers=all_headers, timeout=self.timeout
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                if last:
                    raise
                delay = self._delay(attempt, None)
                logger.warning("%s failed (%s); retrying in %.1f s", path, exc, delay)
                self.sleep(delay)
                continue
            if response.status_code in RETRY_STATUSES and not last:
                delay = self._delay(attempt, response.headers.get("Retry-After"))
                logger.warning(
                    "%s answered %s; retrying in %.1f s", path, response.status_code, delay
                )
                self.sleep(delay)
                continue
            if response.status_code >= 400:
                raise _error(response)
            return response.json() if response.content else {}
        raise AssertionError("unreachable")  # pragma: no cover

    def register(self, token: str, *, name: str, version: str, hostname: str) -> dict[str, Any]:
        """Register with a provisioning token; return ``{id, status, credential, ...}``."""
        body = json.dumps({"name": name, "version": version, "hostname": hostname}).encode()
        return self.request("agents/register/", body=body, credential=token)

    def heartbeat(self, agent_id: int, *, version: str) -> dict[str, Any]:
        """Say the agent is alive; return ``{status, heartbeat_interval_seconds, ...}``."""
        body = json.dumps({"version": version}).encode()
        return self.request(f"agents/{agent_id}/heartbeat/", body=body)

    def push(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Push one batch, gzip-compressed; return the receipt (``duplicate`` on a resend)."""
        body = gzip.compress(json.dumps(batch, separators=(",", ":")).encode(), compresslevel=6)
        return self.request("ingest/", body=body, headers={"Content-Encoding": "gzip"})
