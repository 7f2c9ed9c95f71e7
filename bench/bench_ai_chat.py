"""Benchmark what the AI assistant's loop adds around the model: first token and validation.

Run from the repository root::

    python bench/bench_ai_chat.py [--database-url postgres://...] [--pools 10000]

It builds a throwaway SQLite database (or uses the scratch PostgreSQL database given),
an organization of ``--pools`` pools under 10.0.0.0/8, and a provider pointing at the
loopback fake model server (``tests/fakes/llm.py``). Then it measures:

- time to first token: from ``ai_message_post(stream=True)`` to the first ``delta`` event
  (quota check, history, the user's message saved, the organization's facts and context
  built, the SDK call, the reply read out of the streamed JSON), against a bare
  ``stream_with_fallback`` call to the same fake (the model's own latency); the median
  difference is what CloudPAM adds (target 50 ms, issue 13);
- validation of a 1,000-operation proposal: the whole answer's time minus the provider's
  (parse, reference checks, the dry run, the plan stored and validated; target 2 s).

Prints the figures; exits non-zero when a target is missed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_plans import setup_django

TTFT_TARGET_MS = 50.0
VALIDATION_TARGET_S = 2.0
RUNS = 15
REPLY = "Four /24s for staging at the start of 10.20.0.0/16, the rest left free. " * 3


def build_pools(organization, count: int) -> int:  # type: ignore[no-untyped-def]
    """Create ``count`` pools: 10.0.0.0/8, /16s under it, /24s under those; return the /8's id."""
    from apps.planning.services import plan_apply, plan_create
    from apps.pools.models import Pool
    from cloudpam.context import system_actor

    actor = system_actor("bench")
    operations = [{"op": "create", "ref": "root", "name": "root", "cidr": "10.0.0.0/8"}]
    sixteens = max(1, count // 100)
    operations.extend(
        {
            "op": "create",
            "ref": f"b{b}",
            "name": f"region-{b}",
            "cidr": f"10.{b}.0.0/16",
            "parent": "root",
        }
        for b in range(min(sixteens, 200))
    )
    b = 0
    while len(operations) < count:
        for c in range(256):
            if len(operations) >= count:
                break
            operations.append(
                {
                    "op": "create",
                    "ref": f"s{b}-{c}",
                    "name": f"subnet-{b}-{c}",
                    "cidr": f"10.{b}.{c}.0/24",
                    "parent": f"b{b}",
                }
            )
        b += 1
    plan = plan_create(
        organization=organization,
        actor=actor,
        title="bench pools",
        source="template",
        operations=operations,
    )
    plan_apply(plan=plan, actor=actor)
    return Pool.objects.get(organization=organization, cidr="10.0.0.0/8").pk


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url")
    parser.add_argument("--pools", type=int, default=10_000)
    args = parser.parse_args()
    setup_django(args.database_url)

    from apps.planning.ai import prompts
    from apps.planning.ai_services import ai_message_post, ai_session_create
    from apps.planning.llm.base import FallbackResult, stream_with_fallback
    from apps.planning.llm_selectors import llm_specs_for
    from apps.planning.llm_services import llm_provider_create
    from apps.pools.services import pool_create
    from apps.tenancy.models import Organization
    from apps.tenancy.rls import tenant_context
    from cloudpam.context import system_actor
    from tests.fakes.llm import FakeLLM, Script

    actor = system_actor("bench")
    organization = Organization.objects.create(name="Bench AI", slug="bench-ai")
    organization.quotas = {"max_llm_tokens_per_month": 10**12}
    organization.save()
    started = time.perf_counter()
    with tenant_context(organization):
        root = build_pools(organization, args.pools - 1)
        staging = pool_create(
            organization=organization,
            actor=actor,
            name="staging",
            cidr="10.250.0.0/16",
            parent=root,
        )
    print(f"organization: {args.pools} pools built in {time.perf_counter() - started:.1f} s")

    with FakeLLM() as fake:
        with tenant_context(organization):
            llm_provider_create(
                organization=organization,
                actor=actor,
                name="fake",
                provider="openai",
                model="bench",
                base_url=f"{fake.url}/v1",
                api_key="sk-bench",
                timeout_seconds=10,
            )
            specs = llm_specs_for(organization=organization)
        answer = {"reply": REPLY, "impossible": "Only a benchmark."}
        fake.default = Script(json=answer)

        bare, loop = [], []
        from apps.planning.llm.base import ChatMessage

        messages = [ChatMessage("system", "You plan."), ChatMessage("user", "Four /24s.")]
        for run in range(RUNS + 2):
            t0 = time.perf_counter()
            for event in stream_with_fallback(
                specs, messages, json_schema=prompts.PLAN_JSON_SCHEMA, result=FallbackResult()
            ):
                if event.kind == "delta" and event.text.strip():
                    break
            bare_ms = (time.perf_counter() - t0) * 1000
            with tenant_context(organization):
                session = ai_session_create(organization=organization, actor=actor)
            t0 = time.perf_counter()
            events = ai_message_post(
                session=session,
                actor=actor,
                text="allocate four /24s for staging in 10.250.0.0/16",
                stream=True,
            )
            first = None
            for event in events:
                if first is None and event.name == "delta":
                    first = (time.perf_counter() - t0) * 1000
            if run >= 2:  # warm-up
                bare.append(bare_ms)
                loop.append(first or float("nan"))
        added = statistics.median(loop) - statistics.median(bare)
        from apps.planning.ai.context import build_context
        from apps.planning.ai.selectors import context_facts_for

        text = "allocate four /24s for staging in 10.250.0.0/16"
        context_ms = []
        for _ in range(5):
            t0 = time.perf_counter()
            with tenant_context(organization):
                facts = context_facts_for(organization, focus=text)
            context = build_context(facts, focus=text, budget_tokens=6_000)
            context_ms.append((time.perf_counter() - t0) * 1000)
        print(
            f"of which the organization's facts and context: median "
            f"{statistics.median(context_ms):.1f} ms ({context.tokens} tokens)"
        )
        print(f"time to first token, model alone: median {statistics.median(bare):.1f} ms")
        print(
            f"time to first token, through the assistant: median {statistics.median(loop):.1f} ms"
        )
        print(
            f"added by CloudPAM ({args.pools} pools): {added:.1f} ms "
            f"(target {TTFT_TARGET_MS:.0f} ms)"
        )

        operations = [
            {
                "op": "create",
                "ref": f"n{i}",
                "name": f"net-{i}",
                "cidr": f"10.250.{i // 16}.{(i % 16) * 16}/28",
                "parent": staging.pk,
            }
            for i in range(1_000)
        ]
        fake.default = Script(json={"reply": "A thousand /28s.", "operations": operations})
        with tenant_context(organization):
            session = ai_session_create(organization=organization, actor=actor)
        t0 = time.perf_counter()
        message = ai_message_post(session=session, actor=actor, text="a thousand /28s in staging")
        total = time.perf_counter() - t0
        ours = total - message.latency_ms / 1000
        print(
            f"1,000-operation proposal: plan {message.plan.status}, {total:.2f} s in all, "
            f"{ours:.2f} s of it CloudPAM's (target {VALIDATION_TARGET_S:.0f} s)"
        )
    ok = added <= TTFT_TARGET_MS and ours <= VALIDATION_TARGET_S and message.plan.status == "valid"
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
