"""The LLM provider interface: messages in, text (streamed or whole) and usage out.

Pure Python, no Django: the rest of CloudPAM codes against these names only.

- :class:`ChatMessage` ``(role, content)``: ``role`` is ``system``, ``user`` or ``assistant``.
- :class:`Usage` ``(input_tokens, cached_input_tokens, output_tokens, reasoning_tokens)``,
  normalised across providers: ``input_tokens`` counts *every* prompt token, cached ones
  included (OpenAI's ``prompt_tokens``; Anthropic's ``input_tokens`` +
  ``cache_read_input_tokens`` + ``cache_creation_input_tokens``); ``cached_input_tokens`` is
  the part of them read from a cache; ``output_tokens`` counts every generated token,
  reasoning included (``reasoning_tokens`` is the part of them spent reasoning, billed as
  output).
- :class:`StreamEvent` ``(kind, text, usage)``: ``delta`` carries text, ``usage`` the
  usage (once, near the end), ``done`` ends the stream.
- :class:`ProviderSpec`: which provider and model, where, with which key, timeout and
  prices per million tokens. ``repr`` never shows the key.
- :class:`LLMError` ``(code, message, retryable, retry_after)``: codes ``timeout``,
  ``rate_limited``, ``provider_error`` (5xx), ``connection_error`` (retryable: fallback
  moves on), ``bad_response``, ``auth`` and ``bad_request`` (not retryable).
- :class:`LLMProvider`: ``stream(messages, *, json_schema=None)`` yields StreamEvents;
  ``complete(messages, *, json_schema=None)`` returns ``(text, usage)``. With a JSON
  schema the text is the JSON document the model produced (use :func:`parse_json`).
- :func:`provider_for(spec)` builds the implementation of ``spec.provider``.
- :func:`complete_with_fallback` / :func:`stream_with_fallback` try the specs in order;
  a retryable error moves to the next one. Both report a :class:`FallbackResult`: which
  spec answered and, as :class:`Attempt` rows, why each earlier one failed.
- :func:`cost(usage, spec)`: Decimal, from the spec's prices per million tokens:
  uncached input at the input price, cached input at the cached price (the input price
  when no cached price is set), output (reasoning included) at the output price.
  Anthropic's cache *writes* count as uncached input, priced at the input price.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal, Protocol

PROVIDERS = ("openai", "anthropic", "azure_openai", "ollama", "openai_compatible")
MILLION = Decimal(1_000_000)

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class ChatMessage:
    """One message of a conversation."""

    role: Role
    content: str


@dataclass(frozen=True)
class Usage:
    """Tokens of one call, normalised (see the module docstring)."""

    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.cached_input_tokens + other.cached_input_tokens,
            self.output_tokens + other.output_tokens,
            self.reasoning_tokens + other.reasoning_tokens,
        )


@dataclass(frozen=True)
class StreamEvent:
    """One event of a streamed answer: ``delta`` (text), ``usage`` or ``done``."""

    kind: Literal["delta", "usage", "done"]
    text: str = ""
    usage: Usage | None = None


@dataclass(frozen=True)
class ProviderSpec:
    """Where and how to call one model. ``api_key`` is secret: never in repr or logs."""

    provider: str
    model: str
    base_url: str = ""
    api_key: str = field(default="", repr=False)
    timeout_seconds: float = 60.0
    api_version: str = ""
    # Anthropic requires a ceiling on the answer; the others use it only when set.
    max_output_tokens: int = 4096
    input_price: Decimal = Decimal(0)
    cached_input_price: Decimal | None = None
    output_price: Decimal = Decimal(0)
    # Which configuration this came from (a config id or "default"), for the records.
    key: str = ""

    @property
    def label(self) -> str:
        return f"{self.provider}:{self.model}"


# What a streamed answer may hold: its output token ceiling at a generous 16 characters a
# token (tokenizers average about 4). A provider streaming past it ignores the ceiling, and
# reading on would hold the worker for as long as it cares to go on: the SDKs spend a
# fraction of a millisecond on each chunk, minutes for a megabyte in one-character pieces.
MAX_CHARACTERS_PER_TOKEN = 16


class LLMError(Exception):
    """A provider call failed; ``retryable`` errors let the fallback move on."""

    RETRYABLE = frozenset({"timeout", "rate_limited", "provider_error", "connection_error"})

    def __init__(
        self,
        code: str,
        message: str,
        *,
        retryable: bool | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = code in self.RETRYABLE if retryable is None else retryable
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"LLMError({self.code!r}, {self.message!r})"


class LLMProvider(Protocol):
    """What every provider implementation offers."""

    spec: ProviderSpec

    def stream(
        self, messages: Sequence[ChatMessage], *, json_schema: dict[str, Any] | None = None
    ) -> Iterator[StreamEvent]: ...

    def complete(
        self, messages: Sequence[ChatMessage], *, json_schema: dict[str, Any] | None = None
    ) -> tuple[str, Usage]: ...


def provider_for(spec: ProviderSpec) -> LLMProvider:
    """Return the implementation of ``spec.provider`` (ValueError for an unknown one)."""
    from apps.planning.llm import providers  # the SDKs load only when a call is made

    return providers.build(spec)


def cost(usage: Usage, spec: ProviderSpec) -> Decimal:
    """Return what ``usage`` costs at ``spec``'s prices per million tokens."""
    cached_price = spec.input_price if spec.cached_input_price is None else spec.cached_input_price
    uncached = max(usage.input_tokens - usage.cached_input_tokens, 0)
    total = (
        uncached * spec.input_price
        + usage.cached_input_tokens * cached_price
        + usage.output_tokens * spec.output_price
    ) / MILLION
    return total.quantize(Decimal("0.000001"))


@dataclass(frozen=True)
class Attempt:
    """One provider tried by the fallback: ``error_code`` empty when it answered."""

    provider: str
    model: str
    key: str
    error_code: str = ""
    error_message: str = ""
    latency_ms: int = 0


@dataclass
class FallbackResult:
    """Which spec answered (None when none did), the attempts in order, text and usage."""

    spec: ProviderSpec | None = None
    attempts: list[Attempt] = field(default_factory=list)
    text: str = ""
    usage: Usage = field(default_factory=Usage)
    latency_ms: int = 0
    error: LLMError | None = None


def _attempt(spec: ProviderSpec, started: float, error: LLMError | None = None) -> Attempt:
    return Attempt(
        provider=spec.provider,
        model=spec.model,
        key=spec.key,
        error_code=error.code if error else "",
        error_message=error.message if error else "",
        latency_ms=int((time.monotonic() - started) * 1000),
    )


def complete_with_fallback(
    specs: Sequence[ProviderSpec],
    messages: Sequence[ChatMessage],
    *,
    json_schema: dict[str, Any] | None = None,
    factory: Callable[[ProviderSpec], LLMProvider] = provider_for,
) -> FallbackResult:
    """Ask each spec in order until one answers; a non-retryable error stops the search.

    The result never raises: ``result.error`` is the last error when no spec answered.
    """
    result = FallbackResult()
    for spec in specs:
        started = time.monotonic()
        try:
            text, usage = factory(spec).complete(messages, json_schema=json_schema)
        except LLMError as error:
            result.attempts.append(_attempt(spec, started, error))
            result.error = error
            if not error.retryable:
                break
            continue
        result.attempts.append(_attempt(spec, started))
        result.spec, result.text, result.usage, result.error = spec, text, usage, None
        result.latency_ms = result.attempts[-1].latency_ms
        return result
    if result.error is None:
        result.error = LLMError("connection_error", "No language model provider is configured.")
    return result


def stream_with_fallback(
    specs: Sequence[ProviderSpec],
    messages: Sequence[ChatMessage],
    *,
    json_schema: dict[str, Any] | None = None,
    result: FallbackResult | None = None,
    factory: Callable[[ProviderSpec], LLMProvider] = provider_for,
) -> Iterator[StreamEvent]:
    """Stream from the first spec that answers, filling ``result`` as it goes.

    A spec that fails before its first event is skipped (when retryable); once text has
    been yielded the stream is committed to that spec, and a failure raises LLMError.
    When no spec answers, the stream ends with no event and ``result.error`` is set.
    """
    result = result if result is not None else FallbackResult()
    for spec in specs:
        started = time.monotonic()
        events = iter(factory(spec).stream(messages, json_schema=json_schema))
        try:
            first = next(events, None)
        except LLMError as error:
            result.attempts.append(_attempt(spec, started, error))
            result.error = error
            if not error.retryable:
                return
            continue
        result.spec, result.error = spec, None
        parts: list[str] = []
        size, limit = 0, spec.max_output_tokens * MAX_CHARACTERS_PER_TOKEN
        try:
            for event in _chain(first, events):
                if event.kind == "delta":
                    size += len(event.text)
                    if size > limit:
                        _close(events)
                        raise LLMError(
                            "bad_response",
                            f"The model's answer ran past {limit:,} characters, more than its "
                            f"{spec.max_output_tokens:,} output tokens can hold; it was cut off.",
                        )
                    parts.append(event.text)
                elif event.kind == "usage" and event.usage is not None:
                    result.usage = event.usage
                yield event
        except LLMError as error:
            result.attempts.append(_attempt(spec, started, error))
            result.error = error
            result.text = "".join(parts)
            raise
        result.attempts.append(_attempt(spec, started))
        result.text = "".join(parts)
        result.latency_ms = result.attempts[-1].latency_ms
        return
    if result.error is None:
        result.error = LLMError("connection_error", "No language model provider is configured.")


def _close(events: Iterator[StreamEvent]) -> None:
    """End a provider's stream now (its HTTP response with it), not when it is collected."""
    close = getattr(events, "close", None)
    if close is not None:
        close()


def _chain(first: StreamEvent | None, rest: Iterator[StreamEvent]) -> Iterable[StreamEvent]:
    if first is not None:
        yield first
        yield from rest


_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)


def parse_json(text: str) -> Any:
    """Return the JSON document in ``text``: bare, in a fenced block, or the outermost {...}.

    Raises LLMError ``bad_response`` when there is none.
    """
    candidates = [text.strip()]
    candidates += [match.group(1).strip() for match in _FENCE.finditer(text)]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    for candidate in candidates:
        if not candidate:
            continue
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    raise LLMError("bad_response", "The model's answer holds no JSON document.")
