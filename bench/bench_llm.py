"""Benchmark the time to first streamed token that CloudPAM adds over the model's own.

Run from the repository root::

    python bench/bench_llm.py

It starts the loopback fake model server (``tests/fakes/llm.py``) and, for the OpenAI
and Anthropic wire formats, measures the time from the request to the first text delta
two ways: a bare HTTP client reading the server-sent events itself (the fake server's
own latency), and CloudPAM's path (``stream_with_fallback`` over ``provider_for``, which
takes the SDK client from its cache, sends the request, parses the events and yields the
first ``delta``). It prints the medians and the difference, and exits non-zero when the median
added time exceeds the target (50 ms, issue 13). Pure Python: no database is needed.
"""

from __future__ import annotations

import http.client
import json
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import report

from apps.planning.llm.base import (
    ChatMessage,
    FallbackResult,
    ProviderSpec,
    stream_with_fallback,
)
from tests.fakes.llm import FakeLLM, Script

TARGET_ADDED_MS = 50.0
RUNS = 40
WARMUP = 5
ANSWER = "Allocate 10.20.0.0/24, 10.20.1.0/24, 10.20.2.0/24 and 10.20.3.0/24 for staging. " * 4
MESSAGES = [
    ChatMessage("system", "You plan IP address space."),
    ChatMessage("user", "Allocate four /24s for staging in 10.20.0.0/16."),
]
# The fake waits this long before each chunk, as a model does before each token.
CHUNK_DELAY = 0.005


def raw_first_token(fake: FakeLLM, path: str, body: dict, headers: dict[str, str]) -> float:
    """Return the seconds until a bare client reads the first text delta."""
    parts = urlsplit(fake.url)
    started = time.perf_counter()
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    payload = json.dumps(body)
    connection.request("POST", path, payload, {"Content-Type": "application/json", **headers})
    response = connection.getresponse()
    try:
        while True:
            line = response.readline()
            if not line:
                raise RuntimeError("the stream ended without text")
            if line.startswith(b"data:") and (b'"content": "A' in line or b'"text_delta"' in line):
                return time.perf_counter() - started
    finally:
        connection.close()


def cloudpam_first_token(spec: ProviderSpec) -> float:
    """Return the seconds until CloudPAM's stream yields the first text delta."""
    started = time.perf_counter()
    events = stream_with_fallback([spec], MESSAGES, result=FallbackResult())
    for event in events:
        if event.kind == "delta" and event.text.strip():
            elapsed = time.perf_counter() - started
            events.close()
            return elapsed
    raise RuntimeError("the stream ended without text")


def measure(label: str, fake: FakeLLM, spec: ProviderSpec, path: str, body: dict) -> float:
    fake.default = Script(text=ANSWER, chunk_delay=CHUNK_DELAY)
    headers = {"Authorization": "Bearer bench", "x-api-key": "bench"}
    for _ in range(WARMUP):
        raw_first_token(fake, path, body, headers)
        cloudpam_first_token(spec)
    raw, ours = [], []
    # Alternate, so that a slow moment of the machine hits both alike.
    for _ in range(RUNS):
        raw.append(raw_first_token(fake, path, body, headers))
        ours.append(cloudpam_first_token(spec))
        fake.requests.clear()
    raw_ms = statistics.median(raw) * 1000
    ours_ms = statistics.median(ours) * 1000
    added = ours_ms - raw_ms
    print(
        f"{label:<10} fake server {raw_ms:7.2f} ms   CloudPAM {ours_ms:7.2f} ms   "
        f"added {added:6.2f} ms (p90 CloudPAM {statistics.quantiles(ours, n=10)[-1] * 1000:.2f} ms)"
    )
    return added


def main() -> int:
    wire = [{"role": m.role, "content": m.content} for m in MESSAGES]
    with FakeLLM() as fake:
        results = {
            "openai": measure(
                "openai",
                fake,
                ProviderSpec(provider="openai", model="m", base_url=f"{fake.url}/v1", api_key="b"),
                "/v1/chat/completions",
                {"model": "m", "messages": wire, "stream": True},
            ),
            "anthropic": measure(
                "anthropic",
                fake,
                ProviderSpec(provider="anthropic", model="m", base_url=fake.url, api_key="b"),
                "/v1/messages",
                {"model": "m", "max_tokens": 4096, "messages": wire[1:], "stream": True},
            ),
        }
    worst = max(results.values())
    verdict = "ok" if worst <= TARGET_ADDED_MS else "MISSED"
    print(
        f"time to first token added by CloudPAM: worst median {worst:.2f} ms "
        f"(target <= {TARGET_ADDED_MS:.0f} ms): {verdict}"
    )
    report(
        "time to first token added",
        worst,
        "ms",
        f"<= {TARGET_ADDED_MS:.0f}",
        worst <= TARGET_ADDED_MS,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
