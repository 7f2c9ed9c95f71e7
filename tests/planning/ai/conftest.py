"""Fixtures of the AI assistant tests: the fake model server, a provider, a staging pool."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from apps.planning.ai_services import AIEvent, ai_message_post, ai_session_create
from apps.planning.llm_models import LLMProviderConfig
from apps.planning.llm_services import llm_provider_create
from apps.pools.models import Pool
from apps.pools.services import pool_create
from apps.tenancy.models import Organization
from cloudpam.context import actor_from
from tests.actors import TEST_ACTOR
from tests.fakes.llm import FakeLLM

API_KEY_CANARY = "sk-CANARYKEY-7f3e9a1c5b2d4e6f8a0b"


@pytest.fixture
def fake() -> Iterator[FakeLLM]:
    with FakeLLM() as server:
        yield server


def provider_on(
    fake: FakeLLM, organization: Organization, kind: str = "openai", **extra: Any
) -> LLMProviderConfig:
    """Create a provider of ``kind`` pointing at the fake, with a canary API key."""
    fields: dict[str, Any] = {
        "name": extra.pop("name", f"{kind} fake"),
        "provider": kind,
        "model": "model-x",
        "base_url": fake.url if kind == "anthropic" else f"{fake.url}/v1",
        "api_key": API_KEY_CANARY,
        "timeout_seconds": 2,
        "input_price": "2.5",
        "cached_input_price": "1.25",
        "output_price": "10",
    }
    fields.update(extra)
    return llm_provider_create(organization=organization, actor=TEST_ACTOR, **fields)


@pytest.fixture
def staging(organization: Organization) -> Pool:
    """The organization's 10.20.0.0/16, where the scripted models allocate."""
    return pool_create(
        organization=organization, actor=TEST_ACTOR, name="staging", cidr="10.20.0.0/16"
    )


@pytest.fixture
def chat(organization: Organization, user: Any) -> Callable[..., Any]:
    """Return ``chat(text, stream=False, session=None)``: the answer, or the list of events."""
    actor = actor_from(user=user)

    def ask(text: str, *, stream: bool = False, session: Any = None) -> Any:
        session = session or ai_session_create(organization=organization, actor=actor)
        answer = ai_message_post(session=session, actor=actor, text=text, stream=stream)
        if stream:
            events: list[AIEvent] = list(answer)
            return events
        return answer

    return ask


def creates(parent: int | str, *cidrs: str, prefix: str = "staging") -> list[dict[str, Any]]:
    """Return create operations of ``cidrs`` under ``parent``."""
    return [
        {
            "op": "create",
            "ref": f"{prefix}-{i}",
            "name": f"{prefix}-{i}",
            "cidr": c,
            "parent": parent,
        }
        for i, c in enumerate(cidrs, start=1)
    ]
