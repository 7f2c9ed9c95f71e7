"""Contract tests of every LLM provider against the loopback fake (no database)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal

import pytest

from apps.planning.llm.base import (
    ChatMessage,
    LLMError,
    LLMProvider,
    ProviderSpec,
    StreamEvent,
    Usage,
    complete_with_fallback,
    cost,
    parse_json,
    provider_for,
    stream_with_fallback,
)
from tests.fakes.llm import FakeLLM, Script

PROVIDERS = ["openai", "azure_openai", "ollama", "openai_compatible", "anthropic"]
CANARY = "sk-canary-0123456789abcdef"
SCHEMA = {
    "type": "object",
    "properties": {"operations": {"type": "array", "items": {"type": "object"}}},
    "required": ["operations"],
}
DOCUMENT = {"operations": [{"op": "create", "ref": "a", "cidr": "10.0.0.0/24"}]}
MESSAGES = [
    ChatMessage("system", "You plan IP addresses."),
    ChatMessage("user", "Allocate a /24."),
]


@pytest.fixture
def fake() -> Iterator[FakeLLM]:
    with FakeLLM() as server:
        yield server


def spec_for(provider: str, fake: FakeLLM, **kwargs: object) -> ProviderSpec:
    """Return a spec pointing ``provider``'s SDK at the fake."""
    base_url = {"anthropic": fake.url, "azure_openai": fake.url}.get(provider, f"{fake.url}/v1")
    defaults: dict[str, object] = {
        "provider": provider,
        "model": "plan-deployment" if provider == "azure_openai" else "model-x",
        "base_url": base_url,
        "api_key": CANARY,
        "timeout_seconds": 2.0,
        "api_version": "2024-10-21" if provider == "azure_openai" else "",
        "key": provider,
    }
    defaults.update(kwargs)
    return ProviderSpec(**defaults)  # type: ignore[arg-type]


def drain(events: Iterator[StreamEvent]) -> tuple[str, Usage | None, list[str]]:
    text, usage, kinds = [], None, []
    for event in events:
        kinds.append(event.kind)
        if event.kind == "delta":
            text.append(event.text)
        elif event.kind == "usage":
            usage = event.usage
    return "".join(text), usage, kinds


def call(llm: LLMProvider, *, streaming: bool) -> tuple[str, Usage | None]:
    """Ask ``llm`` for MESSAGES, streamed or not; return the text and usage."""
    if streaming:
        text, usage, _ = drain(llm.stream(MESSAGES))
        return text, usage
    return llm.complete(MESSAGES)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_complete_answers_text_and_usage(provider: str, fake: FakeLLM) -> None:
    fake.script(Script(text="Two /24s fit in 10.0.0.0/16."))
    text, usage = provider_for(spec_for(provider, fake)).complete(MESSAGES)
    assert text == "Two /24s fit in 10.0.0.0/16."
    assert usage == Usage(input_tokens=12, cached_input_tokens=0, output_tokens=5)
    body = fake.requests[-1].payload
    assert "temperature" not in body
    if provider == "anthropic":
        assert body["system"] == "You plan IP addresses."
        assert body["messages"] == [{"role": "user", "content": "Allocate a /24."}]
    else:
        assert body["messages"][-1] == {"role": "user", "content": "Allocate a /24."}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_stream_answers_word_by_word(provider: str, fake: FakeLLM) -> None:
    fake.script(Script(text="Two /24s fit in 10.0.0.0/16."))
    text, usage, kinds = drain(provider_for(spec_for(provider, fake)).stream(MESSAGES))
    assert text == "Two /24s fit in 10.0.0.0/16."
    assert kinds.count("delta") == 5
    assert kinds[-2:] == ["usage", "done"]
    assert usage == Usage(input_tokens=12, cached_input_tokens=0, output_tokens=5)
    body = fake.requests[-1].payload
    assert body["stream"] is True
    if provider != "anthropic":
        assert body["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("streaming", [False, True])
def test_structured_output(provider: str, streaming: bool, fake: FakeLLM) -> None:
    fake.script(Script(json=DOCUMENT))
    llm = provider_for(spec_for(provider, fake))
    if streaming:
        text, _, _ = drain(llm.stream(MESSAGES, json_schema=SCHEMA))
    else:
        text, _ = llm.complete(MESSAGES, json_schema=SCHEMA)
    assert parse_json(text) == DOCUMENT
    body = fake.requests[-1].payload
    if provider == "anthropic":
        assert body["tools"][0]["input_schema"] == SCHEMA
        assert body["tool_choice"] == {"type": "tool", "name": "answer"}
    elif provider == "openai_compatible":
        assert "response_format" not in body
        assert json.dumps(SCHEMA) in body["messages"][0]["content"]
    else:
        assert body["response_format"] == {
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": SCHEMA},
        }


def test_azure_calls_the_deployment_path_with_the_api_version(fake: FakeLLM) -> None:
    provider_for(spec_for("azure_openai", fake)).complete(MESSAGES)
    request = fake.requests[-1]
    assert request.path == "/openai/deployments/plan-deployment/chat/completions"
    assert request.query == {"api-version": "2024-10-21"}
    assert request.headers["api-key"] == CANARY


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("streaming", [False, True])
@pytest.mark.parametrize(
    ("script", "code", "retryable", "retry_after"),
    [
        (Script(status=429, retry_after=7), "rate_limited", True, 7.0),
        (Script(status=500), "provider_error", True, None),
        (Script(status=503), "provider_error", True, None),
        (Script(status=401), "auth", False, None),
        (Script(status=400), "bad_request", False, None),
        (Script(delay=0.6), "timeout", True, None),
    ],
    ids=["429", "500", "503", "401", "400", "timeout"],
)
def test_errors_map_to_llm_error_codes(
    provider: str,
    streaming: bool,
    script: Script,
    code: str,
    retryable: bool,
    retry_after: float | None,
    fake: FakeLLM,
) -> None:
    fake.script(script)
    llm = provider_for(spec_for(provider, fake, timeout_seconds=0.3))
    with pytest.raises(LLMError) as caught:
        call(llm, streaming=streaming)
    assert caught.value.code == code
    assert caught.value.retryable is retryable
    assert caught.value.retry_after == retry_after
    assert len(fake.requests) == 1  # the SDK's own retries are off
    assert CANARY not in caught.value.message


@pytest.mark.parametrize("provider", PROVIDERS)
def test_an_unreachable_endpoint_is_a_connection_error(provider: str) -> None:
    spec = ProviderSpec(
        provider=provider,
        model="m",
        base_url="http://127.0.0.1:9/v1",
        api_key=CANARY,
        timeout_seconds=1,
        api_version="2024-10-21",
    )
    with pytest.raises(LLMError) as caught:
        provider_for(spec).complete(MESSAGES)
    assert caught.value.code == "connection_error"
    assert caught.value.retryable is True


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_malformed_structured_answer_is_a_bad_response(provider: str, fake: FakeLLM) -> None:
    fake.script(Script(text="I cannot do that."))
    with pytest.raises(LLMError) as caught:
        provider_for(spec_for(provider, fake)).complete(MESSAGES, json_schema=SCHEMA)
    assert caught.value.code == "bad_response"
    assert caught.value.retryable is False


def test_unknown_provider_is_refused() -> None:
    with pytest.raises(ValueError, match="Unknown LLM provider 'nope'"):
        provider_for(ProviderSpec(provider="nope", model="m"))


def test_the_key_never_shows_in_a_spec_repr() -> None:
    assert CANARY not in repr(ProviderSpec(provider="openai", model="m", api_key=CANARY))


# Usage normalisation, figures computed by hand.
OPENAI_USAGE = {
    "prompt_tokens": 1000,
    "completion_tokens": 300,
    "total_tokens": 1300,
    "prompt_tokens_details": {"cached_tokens": 800},
    "completion_tokens_details": {"reasoning_tokens": 120},
}
ANTHROPIC_USAGE = {
    "input_tokens": 200,
    "cache_read_input_tokens": 700,
    "cache_creation_input_tokens": 100,
    "output_tokens": 300,
}
PRICES = {
    "input_price": Decimal("2.50"),
    "cached_input_price": Decimal("1.25"),
    "output_price": Decimal("10.00"),
}


@pytest.mark.parametrize("streaming", [False, True])
@pytest.mark.parametrize("provider", ["openai", "azure_openai", "ollama", "openai_compatible"])
def test_openai_usage_counts_cached_inside_prompt_and_reasoning_inside_output(
    provider: str, streaming: bool, fake: FakeLLM
) -> None:
    fake.script(Script(text="ok", usage=OPENAI_USAGE))
    spec = spec_for(provider, fake, **PRICES)
    llm = provider_for(spec)
    usage = drain(llm.stream(MESSAGES))[1] if streaming else llm.complete(MESSAGES)[1]
    assert usage == Usage(
        input_tokens=1000, cached_input_tokens=800, output_tokens=300, reasoning_tokens=120
    )
    # 200 uncached x 2.50 + 800 cached x 1.25 + 300 output x 10.00, per million:
    # 500 + 1000 + 3000 = 4500 / 1e6.
    assert cost(usage, spec) == Decimal("0.004500")


@pytest.mark.parametrize("streaming", [False, True])
def test_anthropic_usage_adds_cache_reads_and_writes_to_input(
    streaming: bool, fake: FakeLLM
) -> None:
    fake.script(Script(text="ok", usage=ANTHROPIC_USAGE))
    spec = spec_for("anthropic", fake, **PRICES)
    llm = provider_for(spec)
    usage = drain(llm.stream(MESSAGES))[1] if streaming else llm.complete(MESSAGES)[1]
    # 200 uncached + 100 cache writes + 700 cache reads.
    assert usage == Usage(input_tokens=1000, cached_input_tokens=700, output_tokens=300)
    # (200 + 100) x 2.50 + 700 x 1.25 + 300 x 10.00 = 750 + 875 + 3000 = 4625 / 1e6.
    assert cost(usage, spec) == Decimal("0.004625")


def test_cost_without_a_cached_price_uses_the_input_price() -> None:
    spec = ProviderSpec(
        provider="openai", model="m", input_price=Decimal("3"), output_price=Decimal("15")
    )
    usage = Usage(input_tokens=2_000_000, cached_input_tokens=1_000_000, output_tokens=100_000)
    # 2,000,000 x 3 + 100,000 x 15 = 6,000,000 + 1,500,000 = 7.5 per million.
    assert cost(usage, spec) == Decimal("7.500000")


def test_usage_adds_up() -> None:
    assert Usage(1, 2, 3, 4) + Usage(10, 20, 30, 40) == Usage(11, 22, 33, 44)


# Fallback.
@pytest.mark.parametrize("streaming", [False, True])
def test_fallback_moves_on_after_timeout_500_and_429(streaming: bool, fake: FakeLLM) -> None:
    fake.script(
        Script(delay=0.6),
        Script(status=500),
        Script(status=429, retry_after=3),
        Script(text="Answered by the fourth."),
    )
    specs = [
        spec_for("openai", fake, timeout_seconds=0.3, key="first"),
        spec_for("anthropic", fake, key="second"),
        spec_for("azure_openai", fake, key="third"),
        spec_for("openai_compatible", fake, key="fourth"),
    ]
    if streaming:
        from apps.planning.llm.base import FallbackResult

        result = FallbackResult()
        text, _, _ = drain(stream_with_fallback(specs, MESSAGES, result=result))
        assert text == "Answered by the fourth."
    else:
        result = complete_with_fallback(specs, MESSAGES)
    assert result.text == "Answered by the fourth."
    assert result.spec is specs[3]
    assert result.error is None
    assert result.usage == Usage(input_tokens=12, output_tokens=5)
    assert [(a.key, a.error_code) for a in result.attempts] == [
        ("first", "timeout"),
        ("second", "provider_error"),
        ("third", "rate_limited"),
        ("fourth", ""),
    ]


def test_fallback_stops_at_a_non_retryable_error(fake: FakeLLM) -> None:
    fake.script(Script(status=401))
    specs = [spec_for("openai", fake, key="a"), spec_for("anthropic", fake, key="b")]
    result = complete_with_fallback(specs, MESSAGES)
    assert result.spec is None
    assert result.error is not None
    assert result.error.code == "auth"
    assert [a.key for a in result.attempts] == ["a"]


def test_fallback_with_every_provider_failing_reports_the_last_error(fake: FakeLLM) -> None:
    fake.script(Script(status=500), Script(status=502))
    specs = [spec_for("openai", fake, key="a"), spec_for("anthropic", fake, key="b")]
    result = complete_with_fallback(specs, MESSAGES)
    assert result.spec is None
    assert result.error is not None
    assert result.error.code == "provider_error"
    assert result.error.message == "The provider failed (502)."


def test_fallback_without_providers_is_a_connection_error() -> None:
    result = complete_with_fallback([], MESSAGES)
    assert result.error is not None
    assert result.error.code == "connection_error"
    assert result.error.message == "No language model provider is configured."


@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_key_travels_only_in_headers(provider: str, fake: FakeLLM) -> None:
    fake.script(Script(json=DOCUMENT), Script(json=DOCUMENT))
    provider_for(spec_for(provider, fake)).complete(MESSAGES, json_schema=SCHEMA)
    drain(provider_for(spec_for(provider, fake)).stream(MESSAGES, json_schema=SCHEMA))
    assert all(CANARY not in request.body for request in fake.requests)


@pytest.mark.parametrize(
    ("text", "document"),
    [
        ('{"a": 1}', {"a": 1}),
        ('Sure:\n```json\n{"a": 1}\n```\nDone.', {"a": 1}),
        ('```\n{"a": [1, 2]}\n```', {"a": [1, 2]}),
        ('The plan is {"a": {"b": 2}} as asked.', {"a": {"b": 2}}),
    ],
)
def test_parse_json_is_tolerant(text: str, document: object) -> None:
    assert parse_json(text) == document


@pytest.mark.parametrize("text", ["", "no json", "```json\n{broken\n```"])
def test_parse_json_refuses_what_holds_no_document(text: str) -> None:
    with pytest.raises(LLMError) as caught:
        parse_json(text)
    assert caught.value.code == "bad_response"
    assert caught.value.message == "The model's answer holds no JSON document."


def test_importing_the_provider_layer_loads_no_django() -> None:
    code = (
        "import sys, apps.planning.llm.base, apps.planning.llm.providers; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'django'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_stream_past_the_token_ceiling_is_cut_off(fake: FakeLLM, provider: str) -> None:
    # A provider ignoring max_output_tokens streams on; the answer stops at 16 characters
    # a token, the stream is closed and the rest never read.
    from apps.planning.llm.base import FallbackResult

    fake.script(Script(text="word " * 1_000))
    result = FallbackResult()
    specs = [spec_for(provider, fake, max_output_tokens=100)]
    received: list[str] = []

    def read() -> None:
        received.extend(
            event.text
            for event in stream_with_fallback(specs, MESSAGES, result=result)
            if event.kind == "delta"
        )

    with pytest.raises(LLMError) as raised:
        read()
    assert raised.value.code == "bad_response"
    assert "ran past 1,600 characters" in raised.value.message
    assert 0 < len("".join(received)) <= 1_600
    assert result.error is raised.value
    # Within the ceiling, the same answer streams whole.
    fake.script(Script(text="word " * 320))
    text, _, kinds = drain(stream_with_fallback(specs, MESSAGES))
    assert text == "word " * 320
    assert kinds[-1] == "done"
