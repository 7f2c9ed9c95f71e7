"""The agent as it runs: a separate process against a live server, and its pure parts.

The process test starts ``python -m apps.discovery.agent --once`` against pytest-django's
``live_server``: it registers, waits while pending, is approved by the test through the
API, heartbeats, collects a 12,000-address project with the production GCP provider and
collector from the loopback Compute Engine fake (``tests/fakes/gcp.py``, reached through
the endpoint override) and pushes it in three batches.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml

from apps.discovery.agent.client import AgentPending, AgentRevoked, ServerClient
from apps.discovery.agent.config import ConfigError, parse_config
from apps.discovery.agent.runner import AgentState, push_collection
from apps.discovery.choices import AgentStatus
from apps.discovery.collectors.base import Collection, ProviderError, failing, record
from apps.discovery.models import Agent, IngestBatch
from tests.discovery import factories
from tests.fakes.gcp import FakeCompute

ROOT = Path(__file__).resolve().parents[2]


def test_the_agent_imports_nothing_from_django() -> None:
    code = (
        "import sys, apps.discovery.agent.__main__\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'django'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def _estate(per_region: int, regions: tuple[str, ...]) -> Collection:
    """Return a collection of distinct ENI addresses, ``per_region`` in each region."""

    def stream(region_index: int, region: str):  # type: ignore[no-untyped-def]
        for i in range(per_region):
            n = region_index * per_region + i
            yield record(
                f"eni-{n:06x}",
                f"10.{n // 65536}.{(n // 256) % 256}.{n % 256}",
                resource_type="eni_private_ip",
                region=region,
                account_external_id="123456789012",
            )

    def failed():  # type: ignore[no-untyped-def]
        return failing(ProviderError("access_denied", "not authorized in ap-east-1"))

    streams = [(region, stream(i, region)) for i, region in enumerate(regions)]
    return Collection([*streams, ("ap-east-1", failed())])


def _wait_for(condition, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


GCP_REGIONS = ("europe-west1", "us-central1", "asia-east1")


def _gcp_estate(per_region: int) -> tuple[FakeCompute, set[tuple[str, str]]]:
    """Return a fake GCP project of ``per_region`` addresses a region, and its record keys."""
    fake = FakeCompute("agent-project", GCP_REGIONS)
    fake.add_network("prod")
    expected = set()
    for r, region in enumerate(GCP_REGIONS):
        for i in range(per_region):
            n = r * per_region + i
            address = fake.add_address(
                f"a{i}", f"34.{n // 65536}.{n // 256 % 256}.{n % 256}", region=region
            )
            resource_id = f"projects/agent-project/regions/{region}/addresses/a{i}"
            expected.add((resource_id, f"{address['address']}/32"))
    fake.record_requests = False
    return fake, expected


@pytest.mark.django_db(transaction=True)
def test_an_agent_process_registers_is_approved_heartbeats_and_pushes_its_estate(
    live_server, organization, token_for, tmp_path
):
    _token, provisioning = factories.provisioning_token(organization)
    admin_token = token_for(organization, "admin")
    fake, expected = _gcp_estate(1700)
    state_file = tmp_path / "state" / "agent.json"
    config = tmp_path / "agent.yaml"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO", "CLOUDPAM_"))},
        "PYTHONPATH": str(ROOT),
        "CLOUDPAM_AGENT_TOKEN": provisioning,
    }
    with fake:
        config.write_text(
            yaml.safe_dump(
                {
                    "server": live_server.url,
                    "name": "dc-1",
                    "state_file": str(state_file),
                    "approval_poll_seconds": 0.2,
                    # The production GCP provider and collector, against the loopback fake.
                    "endpoints": {"gcp": fake.url},
                    "accounts": [
                        {
                            "provider": "gcp",
                            "external_id": "agent-project",
                            "auth_method": "service_account_key",
                        }
                    ],
                }
            )
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "apps.discovery.agent", "--config", str(config), "--once"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            _wait_for(lambda: Agent.objects.filter(last_heartbeat_at__isnull=False).exists())
            agent = Agent.objects.get()
            assert (agent.name, agent.status) == ("dc-1", AgentStatus.PENDING)
            assert process.poll() is None, "a pending agent waits for its approval"
            assert not IngestBatch.objects.exists()

            approved = requests.post(
                f"{live_server.url}/api/v1/discovery/agents/{agent.pk}/approve/",
                headers={"Authorization": f"Bearer {admin_token}"},
                timeout=10,
            )
            assert approved.status_code == 200, approved.text
            output, _ = process.communicate(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert process.returncode == 0, output
    assert "registered as agent" in output
    assert "gcp agent-project: 5100 records in 2 batches; regions failed: none" in output
    assert provisioning not in output

    agent.refresh_from_db()
    assert agent.status == AgentStatus.APPROVED
    assert agent.last_heartbeat_at > agent.decided_at, "it heartbeat once approved"
    state = AgentState.load(state_file)
    assert state is not None
    assert state.agent_id == agent.pk
    assert stat.S_IMODE(state_file.stat().st_mode) == 0o600

    batches = list(IngestBatch.objects.order_by("received_at", "id"))
    assert [b.record_count for b in batches] == [5000, 100], "batches of at most 5,000"
    assert {(b.agent_id, b.provider, b.account_external_id) for b in batches} == {
        (agent.pk, "gcp", "agent-project")
    }
    found = [(r["resource_id"], r["cidr"]) for b in batches for r in b.content()["records"]]
    assert len(found) == 5100
    assert set(found) == expected, "the estate, no more, no less"
    # The last batch carries the outcome of every region.
    assert [(o["region"], o["ok"], o["records"]) for o in batches[-1].regions] == [
        ("global", True, 0),
        *((region, True, 1700) for region in GCP_REGIONS),
    ]

    # A batch retried after a lost answer is stored once.
    client = ServerClient(live_server.url, credential=state.credential, tries=1)
    assert client.push(batches[0].content())["duplicate"] is True
    assert IngestBatch.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_push_collection_sends_every_region_outcome_with_the_last_batch(live_server, organization):
    _agent, credential = factories.agent(organization)
    client = ServerClient(live_server.url, credential=credential, tries=1)
    estate = _estate(700, ("eu-west-1", "us-east-1"))
    receipts = push_collection(
        client,
        provider="aws",
        account_external_id="123456789012",
        collection=estate,
        size=500,
    )

    assert [r["record_count"] for r in receipts] == [500, 500, 400]
    last = IngestBatch.objects.get(pk=receipts[-1]["id"])
    assert [(o["region"], o["ok"]) for o in last.regions] == [
        ("eu-west-1", True),
        ("us-east-1", True),
        ("ap-east-1", False),
    ]
    first = IngestBatch.objects.get(pk=receipts[0]["id"])
    assert first.regions == [], "no region had ended when the first batch left"


@pytest.mark.django_db(transaction=True)
def test_the_client_tells_pending_and_revoked_apart(live_server, organization):
    agent, credential = factories.agent(organization, approved=False)
    client = ServerClient(live_server.url, credential=credential, tries=1)
    batch = factories.batch("b-1", 1)

    with pytest.raises(AgentPending):
        client.push(batch)
    Agent.objects.filter(pk=agent.pk).update(status=AgentStatus.REVOKED)
    with pytest.raises(AgentRevoked):
        client.heartbeat(agent.pk, version="1")


def test_the_client_retries_busy_answers_with_the_same_body(monkeypatch) -> None:
    sent, slept = [], []

    class Answer:
        def __init__(self, status: int, body: dict, headers: dict | None = None) -> None:
            self.status_code, self._body, self.headers = status, body, headers or {}
            self.content = json.dumps(body).encode()

        def json(self) -> dict:
            return self._body

    answers = [
        Answer(503, {"error": {"code": "x", "message": "busy"}}),
        Answer(429, {"error": {"code": "rate_limited", "message": "slow"}}, {"Retry-After": "7"}),
        Answer(201, {"id": 1, "duplicate": False}),
    ]
    client = ServerClient("http://cloudpam.invalid", credential="c", sleep=slept.append)
    monkeypatch.setattr(
        client.session, "post", lambda url, data, **kw: sent.append(data) or answers.pop(0)
    )

    assert client.push(factories.batch("b-9", 2)) == {"id": 1, "duplicate": False}
    assert len(sent) == 3
    assert len(set(sent)) == 1, "every try sends the same batch, with the same id"
    assert slept[1] == 7.0, "Retry-After is honoured"


def test_secrets_come_from_the_environment_and_bad_files_say_where() -> None:
    data = {
        "server": "https://cloudpam.example.com/",
        "accounts": [
            {
                "provider": "aws",
                "external_id": "123456789012",
                "auth_method": "access_keys",
                "regions": ["eu-west-1"],
                "options": {"access_key_id": "AKIAEXAMPLE"},
                "secrets": {"secret_access_key": {"env": "AGENT_TEST_SECRET"}},
            }
        ],
    }
    config = parse_config(data, environ={"AGENT_TEST_SECRET": "s3cr3t"})
    assert config.server == "https://cloudpam.example.com"
    account = config.accounts[0]
    assert account.secrets == {"secret_access_key": "s3cr3t"}
    assert "s3cr3t" not in repr(account.provider_config())

    with pytest.raises(ConfigError, match=r"accounts\[0\].secrets.secret_access_key: the envi"):
        parse_config(data, environ={})
    data["accounts"][0]["auth_method"] = "password"
    with pytest.raises(ConfigError, match=r"accounts\[0\].auth_method: must be one of"):
        parse_config(data, environ={"AGENT_TEST_SECRET": "x"})
    with pytest.raises(ConfigError, match="server: give the CloudPAM URL"):
        parse_config({"server": "cloudpam"}, environ={})


def test_the_example_configuration_is_valid() -> None:
    data = yaml.safe_load((ROOT / "deploy" / "agent.example.yaml").read_text())
    config = parse_config(
        data,
        environ={
            "CLOUDPAM_AGENT_TOKEN": "cpap_x",
            "GCP_SERVICE_ACCOUNT_KEY": "{}",
            "AZURE_CLIENT_SECRET": "s",
        },
    )
    assert [a.provider for a in config.accounts] == ["aws", "gcp", "azure"]
    assert config.provisioning_token == "cpap_x"
    assert config.state_file == Path("/var/lib/cloudpam-agent/state.json")


@pytest.fixture
def agent_log(caplog):  # type: ignore[no-untyped-def]
    """Capture the agent's log lines (Django's logging stops ``cloudpam.*`` at its handler)."""
    logger = logging.getLogger("cloudpam.agent")
    logger.addHandler(caplog.handler)
    yield caplog
    logger.removeHandler(caplog.handler)


@pytest.mark.django_db(transaction=True)
def test_a_rejected_agent_exits_with_status_3(live_server, organization, tmp_path, agent_log):
    from apps.discovery import services
    from apps.discovery.agent.__main__ import main
    from tests.actors import TEST_ACTOR

    agent, credential = factories.agent(organization, approved=False)
    services.agent_reject(agent=agent, actor=TEST_ACTOR)
    state_file = tmp_path / "state.json"
    AgentState(agent.pk, credential, live_server.url).save(state_file)

    status = main(["--server", live_server.url, "--state-file", str(state_file), "--once"])

    assert status == 3
    assert "This agent was rejected by an administrator." in agent_log.text


def test_without_state_or_token_the_agent_says_what_to_do(tmp_path, agent_log) -> None:
    from apps.discovery.agent.__main__ import main

    status = main(
        ["--server", "http://cloudpam.invalid", "--state-file", str(tmp_path / "none.json")]
    )
    assert status == 2
    assert "Not registered yet: give a provisioning token" in agent_log.text


def test_between_cycles_the_agent_heartbeats_every_five_minutes(tmp_path) -> None:
    from apps.discovery.agent.config import AgentConfig
    from apps.discovery.agent.runner import AgentRunner
    from apps.discovery.collectors.pacing import FakeClock

    clock = FakeClock()
    beats: list[float] = []

    class Server:
        credential = ""

        def heartbeat(self, agent_id: int, *, version: str) -> dict:
            beats.append(clock.now())
            if clock.now() > 3600:
                raise KeyboardInterrupt  # an hour is enough to see the rhythm
            return {"status": "approved"}

    AgentState(7, "cpag_x", "https://cloudpam.example.com").save(tmp_path / "state.json")
    config = AgentConfig(
        server="https://cloudpam.example.com",
        state_file=tmp_path / "state.json",
        interval_minutes=12,
    )
    runner = AgentRunner(config, client=Server(), sleep=clock.sleep, clock=clock.now)
    with pytest.raises(KeyboardInterrupt):
        runner.run()

    gaps = [later - earlier for earlier, later in itertools.pairwise(beats)]
    assert beats[0] == 0
    assert max(gaps) <= 300
    assert min(gaps) >= 240, "no more often than needed"


def test_a_slow_collection_keeps_heartbeating(tmp_path, monkeypatch) -> None:
    from apps.discovery.agent import runner as agent_runner
    from apps.discovery.agent.config import AccountConfig, AgentConfig
    from apps.discovery.collectors.pacing import FakeClock

    clock = FakeClock()
    beats: list[float] = []
    pushed: list[int] = []

    class Server:
        credential = ""

        def heartbeat(self, agent_id: int, *, version: str) -> dict:
            beats.append(clock.now())
            return {"status": "approved"}

        def push(self, batch: dict) -> dict:
            pushed.append(len(batch["records"]))
            return {"duplicate": False}

    def slow_region():  # type: ignore[no-untyped-def]
        for i in range(12):
            clock.sleep(100)  # a hundred seconds a page
            yield record(f"eni-{i}", f"10.0.0.{i}", region="eu-west-1")

    monkeypatch.setattr(
        agent_runner,
        "collect",
        lambda account, endpoint: Collection([("eu-west-1", slow_region())]),
    )
    config = AgentConfig(
        server="https://cloudpam.example.com",
        state_file=tmp_path / "state.json",
        accounts=(AccountConfig("aws", "123456789012", "default_chain"),),
    )
    runner = agent_runner.AgentRunner(config, client=Server(), sleep=clock.sleep, clock=clock.now)
    runner.state = AgentState(7, "cpag_x", config.server)
    runner.run_cycle()

    assert pushed == [12]
    assert beats == [0, 300, 600, 900, 1200]
