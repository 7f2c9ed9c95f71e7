"""Prometheus counters of language model use, by provider and model."""

from __future__ import annotations

from prometheus_client import Counter

LLM_CALLS = Counter(
    "cloudpam_llm_calls_total", "Language model calls", ["provider", "model", "outcome"]
)
LLM_TOKENS = Counter(
    "cloudpam_llm_tokens_total",
    "Language model tokens (input includes cached; output includes reasoning)",
    ["provider", "model", "kind"],
)
LLM_COST = Counter(
    "cloudpam_llm_cost_total", "Language model cost from the price table", ["provider", "model"]
)
