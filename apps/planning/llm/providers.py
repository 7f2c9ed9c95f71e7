"""The provider implementations, through the official ``openai`` and ``anthropic`` SDKs.

The SDKs' own retries are off (``max_retries=0``): moving on after a failure is the
fallback's job (:func:`.base.complete_with_fallback`), and a retry inside one provider
would only delay it. No sampling parameter is forced (newer models refuse a temperature).

Structured output: OpenAI, Azure OpenAI and Ollama get the schema as ``response_format``
``json_schema``; Anthropic as the ``input_schema`` of a single tool the model must call;
other OpenAI-compatible endpoints get it in the system prompt and answer a fenced JSON
block, parsed tolerantly. Either way ``complete`` returns the JSON document as text.

SDK clients are cached (:func:`sdk_client`): building one costs tens of milliseconds
(an ``httpx`` client, its SSL context, the SDK's resources), which every streamed answer
would otherwise add to its time to first token. A client is keyed by the process and by
what it is built from (implementation, base URL, key, timeout, API version): a changed
configuration gets a new client and the one it replaces (same ``spec.key``) is dropped,
not closed, since another thread may still be reading a stream through it. The clients
are thread-safe (one ``httpx`` connection pool each); the cache is guarded by a lock and
holds at most ``CLIENT_CACHE_SIZE`` clients.
"""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import anthropic
import httpx
import openai

from apps.planning.llm.base import (
    ChatMessage,
    LLMError,
    ProviderSpec,
    StreamEvent,
    Usage,
    parse_json,
)

SCHEMA_NAME = "answer"
SCHEMA_INSTRUCTION = (
    "Answer with one JSON document that follows this JSON schema, in a ```json fenced "
    "block, and nothing else:\n"
)
OLLAMA_DEFAULT_URL = "http://localhost:11434/v1"


CLIENT_CACHE_SIZE = 64
_clients: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
_clients_lock = threading.Lock()
_clients_pid = os.getpid()


def sdk_client(spec: ProviderSpec, kind: str, build: Callable[[], Any]) -> Any:
    """Return the cached SDK client of ``kind`` for ``spec``, building it once.

    The key holds everything the client is built from; a new client for a ``spec.key``
    drops the clients of that configuration's earlier values.
    """
    global _clients_pid
    identity = (
        kind,
        spec.base_url,
        spec.api_key,
        spec.timeout_seconds,
        spec.api_version,
    )
    with _clients_lock:
        if _clients_pid != os.getpid():  # a forked worker: the parent's sockets are not ours
            _clients.clear()
            _clients_pid = os.getpid()
        cache_key = (spec.key, *identity)
        client = _clients.get(cache_key)
        if client is not None:
            _clients.move_to_end(cache_key)
            return client
        if spec.key:
            for stale in [key for key in _clients if key[0] == spec.key]:
                del _clients[stale]
        client = build()
        _clients[cache_key] = client
        while len(_clients) > CLIENT_CACHE_SIZE:
            _clients.popitem(last=False)
        return client


def clear_clients() -> None:
    """Forget every cached SDK client (tests, and a configuration deleted)."""
    with _clients_lock:
        _clients.clear()


def _retry_after(response: httpx.Response | None) -> float | None:
    if response is None:
        return None
    value = response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _map_error(error: Exception, sdk: Any) -> LLMError:
    """Return the LLMError for an SDK exception (either SDK: same class names)."""
    if isinstance(error, sdk.APITimeoutError):
        return LLMError("timeout", "The model did not answer in time.")
    if isinstance(error, sdk.APIConnectionError):
        return LLMError("connection_error", "The model's endpoint cannot be reached.")
    if isinstance(error, sdk.APIStatusError):
        status = error.status_code
        if status == 429:
            return LLMError(
                "rate_limited",
                "The provider is rate limiting requests.",
                retry_after=_retry_after(error.response),
            )
        if status in (401, 403):
            return LLMError("auth", f"The provider refused the credentials ({status}).")
        if status >= 500:
            return LLMError("provider_error", f"The provider failed ({status}).")
        return LLMError("bad_request", f"The provider refused the request ({status}).")
    return LLMError("bad_response", "The provider's answer could not be read.")


def _json_text(text: str) -> str:
    return json.dumps(parse_json(text))


class OpenAIProvider:
    """OpenAI Chat Completions (and endpoints speaking it)."""

    native_schema = True

    def __init__(self, spec: ProviderSpec) -> None:
        self.spec = spec
        self.client = sdk_client(spec, type(self).__name__, self._client)

    def _client(self) -> openai.OpenAI:
        return openai.OpenAI(
            api_key=self.spec.api_key or "unused",
            base_url=self.spec.base_url or None,
            timeout=self.spec.timeout_seconds,
            max_retries=0,
        )

    def _request(
        self, messages: Sequence[ChatMessage], json_schema: dict[str, Any] | None
    ) -> dict[str, Any]:
        wire = [{"role": m.role, "content": m.content} for m in messages]
        kwargs: dict[str, Any] = {"model": self.spec.model, "messages": wire}
        if json_schema is not None:
            if self.native_schema:
                kwargs["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {"name": SCHEMA_NAME, "schema": json_schema},
                }
            else:
                instruction = SCHEMA_INSTRUCTION + json.dumps(json_schema)
                kwargs["messages"] = [{"role": "system", "content": instruction}, *wire]
        return kwargs

    @staticmethod
    def _usage(raw: Any) -> Usage:
        if raw is None:
            return Usage()
        prompt_details = getattr(raw, "prompt_tokens_details", None)
        completion_details = getattr(raw, "completion_tokens_details", None)
        return Usage(
            input_tokens=raw.prompt_tokens or 0,
            cached_input_tokens=(getattr(prompt_details, "cached_tokens", None) or 0),
            output_tokens=raw.completion_tokens or 0,
            reasoning_tokens=(getattr(completion_details, "reasoning_tokens", None) or 0),
        )

    def complete(
        self, messages: Sequence[ChatMessage], *, json_schema: dict[str, Any] | None = None
    ) -> tuple[str, Usage]:
        try:
            response = self.client.chat.completions.create(**self._request(messages, json_schema))
        except openai.OpenAIError as error:
            raise _map_error(error, openai) from None
        if not response.choices:
            raise LLMError("bad_response", "The model's answer has no choice.")
        text = response.choices[0].message.content or ""
        if json_schema is not None:
            text = _json_text(text)
        return text, self._usage(response.usage)

    def stream(
        self, messages: Sequence[ChatMessage], *, json_schema: dict[str, Any] | None = None
    ) -> Iterator[StreamEvent]:
        kwargs = self._request(messages, json_schema)
        usage: Usage | None = None
        try:
            with self.client.chat.completions.create(
                **kwargs, stream=True, stream_options={"include_usage": True}
            ) as chunks:
                for chunk in chunks:
                    for choice in chunk.choices:
                        if choice.delta is not None and choice.delta.content:
                            yield StreamEvent("delta", text=choice.delta.content)
                    if chunk.usage is not None:
                        usage = self._usage(chunk.usage)
        except openai.OpenAIError as error:
            raise _map_error(error, openai) from None
        yield StreamEvent("usage", usage=usage or Usage())
        yield StreamEvent("done")


class AzureOpenAIProvider(OpenAIProvider):
    """Azure OpenAI: the deployment name is the model, ``api_version`` is required."""

    def _client(self) -> openai.OpenAI:
        return openai.AzureOpenAI(
            api_key=self.spec.api_key or "unused",
            azure_endpoint=self.spec.base_url,
            api_version=self.spec.api_version or "2024-10-21",
            timeout=self.spec.timeout_seconds,
            max_retries=0,
        )


class OllamaProvider(OpenAIProvider):
    """Ollama through its OpenAI-compatible ``/v1`` endpoint (it honours json_schema)."""

    def _client(self) -> openai.OpenAI:
        return openai.OpenAI(
            api_key=self.spec.api_key or "ollama",
            base_url=self.spec.base_url or OLLAMA_DEFAULT_URL,
            timeout=self.spec.timeout_seconds,
            max_retries=0,
        )


class OpenAICompatibleProvider(OpenAIProvider):
    """Any endpoint speaking Chat Completions, without relying on structured output."""

    native_schema = False


class AnthropicProvider:
    """Anthropic Messages; structured output as the forced call of one tool."""

    def __init__(self, spec: ProviderSpec) -> None:
        self.spec = spec
        self.client = sdk_client(spec, type(self).__name__, self._client)

    def _client(self) -> anthropic.Anthropic:
        return anthropic.Anthropic(
            api_key=self.spec.api_key or "unused",
            base_url=self.spec.base_url or None,
            timeout=self.spec.timeout_seconds,
            max_retries=0,
        )

    def _request(
        self, messages: Sequence[ChatMessage], json_schema: dict[str, Any] | None
    ) -> dict[str, Any]:
        system = "\n\n".join(m.content for m in messages if m.role == "system")
        wire = [{"role": m.role, "content": m.content} for m in messages if m.role != "system"]
        kwargs: dict[str, Any] = {
            "model": self.spec.model,
            "max_tokens": self.spec.max_output_tokens,
            "messages": wire,
        }
        if system:
            kwargs["system"] = system
        if json_schema is not None:
            kwargs["tools"] = [
                {
                    "name": SCHEMA_NAME,
                    "description": "Give the answer as this structured document.",
                    "input_schema": json_schema,
                }
            ]
            kwargs["tool_choice"] = {"type": "tool", "name": SCHEMA_NAME}
        return kwargs

    COUNTS = (
        "input_tokens",
        "cache_read_input_tokens",
        "cache_creation_input_tokens",
        "output_tokens",
    )

    @classmethod
    def _counts(cls, raw: Any, previous: dict[str, int] | None = None) -> dict[str, int]:
        # A streamed message_delta repeats some counts and leaves others out (None).
        counts = dict(previous or dict.fromkeys(cls.COUNTS, 0))
        for name in cls.COUNTS:
            value = getattr(raw, name, None)
            if value is not None:
                counts[name] = int(value)
        return counts

    @staticmethod
    def _usage(counts: dict[str, int]) -> Usage:
        """Return the normalised usage: Anthropic's input_tokens exclude cache reads/writes."""
        cache_read = counts["cache_read_input_tokens"]
        return Usage(
            input_tokens=counts["input_tokens"]
            + counts["cache_creation_input_tokens"]
            + cache_read,
            cached_input_tokens=cache_read,
            output_tokens=counts["output_tokens"],
            reasoning_tokens=0,
        )

    def complete(
        self, messages: Sequence[ChatMessage], *, json_schema: dict[str, Any] | None = None
    ) -> tuple[str, Usage]:
        try:
            response = self.client.messages.create(**self._request(messages, json_schema))
        except anthropic.AnthropicError as error:
            raise _map_error(error, anthropic) from None
        usage = self._usage(self._counts(response.usage))
        if json_schema is not None:
            for block in response.content:
                if block.type == "tool_use":
                    return json.dumps(block.input), usage
            text = "".join(b.text for b in response.content if b.type == "text")
            return _json_text(text), usage
        return "".join(b.text for b in response.content if b.type == "text"), usage

    def stream(
        self, messages: Sequence[ChatMessage], *, json_schema: dict[str, Any] | None = None
    ) -> Iterator[StreamEvent]:
        counts: dict[str, int] | None = None
        try:
            with self.client.messages.create(
                **self._request(messages, json_schema), stream=True
            ) as events:
                for event in events:
                    if event.type == "message_start":
                        counts = self._counts(event.message.usage)
                    elif event.type == "content_block_delta":
                        delta = event.delta
                        if delta.type == "text_delta" and delta.text:
                            yield StreamEvent("delta", text=delta.text)
                        elif delta.type == "input_json_delta" and delta.partial_json:
                            yield StreamEvent("delta", text=delta.partial_json)
                    elif event.type == "message_delta" and event.usage is not None:
                        counts = self._counts(event.usage, counts)
        except anthropic.AnthropicError as error:
            raise _map_error(error, anthropic) from None
        yield StreamEvent("usage", usage=self._usage(counts or self._counts(None)))
        yield StreamEvent("done")


IMPLEMENTATIONS: dict[str, type] = {
    "openai": OpenAIProvider,
    "azure_openai": AzureOpenAIProvider,
    "ollama": OllamaProvider,
    "openai_compatible": OpenAICompatibleProvider,
    "anthropic": AnthropicProvider,
}


def build(spec: ProviderSpec) -> Any:
    """Return the implementation for ``spec`` (ValueError for an unknown provider)."""
    try:
        implementation = IMPLEMENTATIONS[spec.provider]
    except KeyError:
        raise ValueError(f"Unknown LLM provider {spec.provider!r}.") from None
    return implementation(spec)
