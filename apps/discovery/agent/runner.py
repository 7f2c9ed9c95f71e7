"""The agent's loop: register, wait for approval, heartbeat, collect and push."""

from __future__ import annotations

import importlib
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apps.discovery.agent import __version__
from apps.discovery.agent.client import AgentPending, ServerClient
from apps.discovery.agent.config import AccountConfig, AgentConfig, ConfigError
from apps.discovery.collectors.base import (
    AccountRef,
    Collection,
    DiscoveredRecord,
    RegionOutcome,
)

logger = logging.getLogger("cloudpam.agent")

BATCH_SIZE = 5000
HEARTBEAT_SECONDS = 300


@dataclass(frozen=True)
class AgentState:
    """What registration gave the agent, kept between runs: its id and credential."""

    agent_id: int
    credential: str
    server: str

    @classmethod
    def load(cls, path: Path) -> AgentState | None:
        try:
            data = json.loads(path.read_text())
            return cls(int(data["agent_id"]), str(data["credential"]), str(data["server"]))
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path}: not a usable state file ({exc}).") from None

    def save(self, path: Path) -> None:
        """Write the state readable by the agent's user only: it holds a credential."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(
                {"agent_id": self.agent_id, "credential": self.credential, "server": self.server},
                handle,
            )
        os.replace(tmp, path)


def batches(
    collection: Iterable[DiscoveredRecord], size: int = BATCH_SIZE
) -> Iterator[tuple[list[DiscoveredRecord], bool]]:
    """Yield ``(records, last)`` chunks of at most ``size``; the last may be empty.

    One chunk is held back until the next record arrives, so the last chunk is known as
    such and can carry the outcome of every region.

    >>> from apps.discovery.collectors.base import record
    >>> records = [record(f"eni-{i}", f"10.0.0.{i}") for i in range(5)]
    >>> [(len(chunk), last) for chunk, last in batches(records, 2)]
    [(2, False), (2, False), (1, True)]
    >>> [(len(chunk), last) for chunk, last in batches(records[:4], 2)]
    [(2, False), (2, True)]
    """
    chunk: list[DiscoveredRecord] = []
    for found in collection:
        if len(chunk) == size:
            yield chunk, False
            chunk = []
        chunk.append(found)
    yield chunk, True


def collect(account: AccountConfig, endpoint_url: str = "") -> Collection:
    """Run the provider's collector for ``account``, as the worker does.

    The modules are looked up by provider name and imported only when an account of that
    provider is collected, so an agent needs only its own clouds' SDKs.
    """
    provider = importlib.import_module(f"apps.cloud.providers.{account.provider}")
    collector = importlib.import_module(f"apps.discovery.collectors.{account.provider}")
    config = account.provider_config(endpoint_url)
    ref = AccountRef(
        provider=account.provider,
        external_id=account.external_id,
        name=account.name,
        settings=dict(account.options),
    )
    return collector.collect(provider.client_factory(config), ref, account.regions)


def push_collection(
    client: ServerClient,
    *,
    provider: str,
    account_external_id: str,
    collection: Iterable[DiscoveredRecord],
    outcomes: list[RegionOutcome] | None = None,
    size: int = BATCH_SIZE,
    new_batch_id: Callable[[], str] = lambda: uuid.uuid4().hex,
) -> list[dict[str, Any]]:
    """Push ``collection`` in batches of at most ``size``; return the server's receipts.

    Each batch gets its id once and keeps it through the client's retries. The region
    outcomes known when a batch leaves go with it: all of them with the last batch.
    ``outcomes`` is the list the collection fills as it goes (by default its own
    ``outcomes``; given when ``collection`` wraps a :class:`Collection`).
    """
    if outcomes is None:
        outcomes = getattr(collection, "outcomes", None)
    receipts = []
    for chunk, last in batches(collection, size):
        if not chunk and not last:
            continue
        batch = {
            "batch_id": new_batch_id(),
            "provider": provider,
            "account_external_id": account_external_id,
            "regions": [outcome.as_dict() for outcome in outcomes or ()],
            "records": [found.as_dict() for found in chunk],
        }
        receipts.append(client.push(batch))
    return receipts


class AgentRunner:
    """One agent process: its configuration, its state and its server client."""

    def __init__(
        self,
        config: AgentConfig,
        *,
        client: ServerClient | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.client = client or ServerClient(config.server, verify=config.verify_tls)
        self.sleep = sleep
        self.clock = clock
        self.state: AgentState | None = None
        self.last_heartbeat = float("-inf")

    def ensure_registered(self) -> AgentState:
        """Return the saved state, registering first if there is none for this server."""
        state = AgentState.load(self.config.state_file)
        if state is None or state.server != self.config.server:
            if not self.config.provisioning_token:
                raise ConfigError(
                    "Not registered yet: give a provisioning token (--token, "
                    "provisioning_token in the file, or CLOUDPAM_AGENT_TOKEN)."
                )
            answer = self.client.register(
                self.config.provisioning_token,
                name=self.config.name,
                version=__version__,
                hostname=socket.gethostname(),
            )
            state = AgentState(int(answer["id"]), str(answer["credential"]), self.config.server)
            state.save(self.config.state_file)
            logger.info("registered as agent %s (%s)", state.agent_id, answer["status"])
        self.state = state
        self.client.credential = state.credential
        return state

    def heartbeat(self) -> str:
        """Send a heartbeat; return the agent's status."""
        if self.state is None:
            raise RuntimeError("heartbeat before registration")
        answer = self.client.heartbeat(self.state.agent_id, version=__version__)
        self.last_heartbeat = self.clock()
        return str(answer["status"])

    def heartbeat_if_due(self) -> None:
        if self.clock() - self.last_heartbeat >= HEARTBEAT_SECONDS:
            self.heartbeat()

    def wait_for_approval(self) -> None:
        """Heartbeat until an administrator approves the agent (rejection raises)."""
        while (status := self.heartbeat()) != "approved":
            logger.info("agent %s is %s; waiting for approval", self.state.agent_id, status)
            self.sleep(self.config.approval_poll_seconds)

    def run_cycle(self) -> list[dict[str, Any]]:
        """Collect every account and push its records; return the receipts."""
        self.heartbeat_if_due()
        receipts = []
        for account in self.config.accounts:
            collection = collect(account, self.config.endpoint_for(account.provider))
            try:
                sent = push_collection(
                    self.client,
                    provider=account.provider,
                    account_external_id=account.external_id,
                    collection=_heartbeating(collection, self.heartbeat_if_due),
                    outcomes=collection.outcomes,
                )
            except AgentPending:
                # Approval was withdrawn between two cycles: wait, then go on next cycle.
                self.wait_for_approval()
                continue
            outcomes = collection.outcomes
            logger.info(
                "%s %s: %d records in %d batches; regions failed: %s",
                account.provider,
                account.external_id,
                sum(outcome.records for outcome in outcomes),
                len(sent),
                ", ".join(r.region for r in outcomes if not r.ok) or "none",
            )
            receipts.extend(sent)
        return receipts

    def run(self, *, once: bool = False) -> None:
        """Run cycles every ``interval_minutes`` (one with ``once``), heartbeating between."""
        self.ensure_registered()
        self.wait_for_approval()
        while True:
            started = self.clock()
            self.run_cycle()
            if once:
                return
            next_cycle = started + self.config.interval_minutes * 60
            while (left := next_cycle - self.clock()) > 0:
                # Wake for whichever comes first: the next heartbeat or the next cycle.
                beat_due = self.last_heartbeat + HEARTBEAT_SECONDS - self.clock()
                self.sleep(max(min(left, beat_due), 0))
                self.heartbeat_if_due()


def _heartbeating(
    records: Iterable[DiscoveredRecord], beat: Callable[[], None]
) -> Iterator[DiscoveredRecord]:
    """Pass ``records`` through, heartbeating when due: a long collection keeps it alive."""
    for found in records:
        beat()
        yield found
