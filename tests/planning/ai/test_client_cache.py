"""The SDK client cache of the LLM providers: one client per configuration and process.

Pure: ``pytest -p no:django --noconftest tests/planning/ai/test_client_cache.py``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace

import pytest

from apps.planning.llm import providers
from apps.planning.llm.base import ProviderSpec, provider_for


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    providers.clear_clients()
    yield
    providers.clear_clients()


SPEC = ProviderSpec(
    provider="openai", model="m", base_url="http://127.0.0.1:9/v1", api_key="k1", key="7"
)


@pytest.mark.parametrize(
    "provider", ["openai", "azure_openai", "ollama", "openai_compatible", "anthropic"]
)
def test_the_same_spec_reuses_its_client(provider: str) -> None:
    spec = replace(SPEC, provider=provider, api_version="2024-10-21")
    first = provider_for(spec).client
    assert provider_for(spec).client is first
    # Another model on the same endpoint shares the client too: the model is per request.
    assert provider_for(replace(spec, model="other")).client is first


def test_a_changed_configuration_gets_a_new_client_and_drops_the_old_one() -> None:
    old = provider_for(SPEC).client
    changed = replace(SPEC, api_key="k2")
    new = provider_for(changed).client
    assert new is not old
    assert new.api_key == "k2"
    assert provider_for(replace(SPEC, timeout_seconds=5.0)).client is not new
    # Only the latest values of configuration 7 stay cached.
    assert [key[0] for key in providers._clients] == ["7"]
    assert provider_for(SPEC).client is not old  # rebuilt, since it was dropped


def test_configurations_and_implementations_do_not_share_clients() -> None:
    openai_client = provider_for(SPEC).client
    other = provider_for(replace(SPEC, key="8")).client
    compatible = provider_for(replace(SPEC, provider="openai_compatible")).client
    assert len({id(openai_client), id(other), id(compatible)}) == 3


def test_a_forked_process_builds_its_own_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    first = provider_for(SPEC).client
    monkeypatch.setattr(providers, "_clients_pid", -1)
    assert provider_for(SPEC).client is not first


def test_the_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(providers, "CLIENT_CACHE_SIZE", 3)
    for index in range(5):
        provider_for(replace(SPEC, key=str(index)))
    assert [key[0] for key in providers._clients] == ["2", "3", "4"]


def test_threads_building_at_once_share_one_client() -> None:
    seen: list[int] = []
    barrier = threading.Barrier(8)

    def build() -> None:
        barrier.wait()
        seen.append(id(provider_for(SPEC).client))

    threads = [threading.Thread(target=build) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(seen)) == 1
