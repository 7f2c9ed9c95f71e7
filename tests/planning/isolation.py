"""Path factories of the planning routes for the tenant-isolation walk (tests/isolation.py)."""

from __future__ import annotations

import io
from typing import Any

from apps.planning.ai_services import ai_session_create
from apps.planning.imports import ImportRequest, plan_import
from apps.planning.llm_services import llm_provider_create
from apps.planning.services import plan_create
from apps.planning.template_services import org_template_create
from tests.actors import TEST_ACTOR
from tests.isolation import World


def plan_id(world: World) -> int:
    """Return a draft plan of the world's organization, titled with its marker."""

    def make() -> Any:
        return plan_create(
            organization=world.organization,
            actor=TEST_ACTOR,
            title=f"plan {world.marker}",
            source="ai",
            operations=[
                {"op": "create", "ref": "root", "name": world.marker, "cidr": "10.77.0.0/16"}
            ],
        )

    return world.remember("plan", make).pk


def import_id(world: World) -> int:
    """Return an import (a plan of source import) of the world, titled with its marker."""

    def make() -> Any:
        content = f"name,cidr\nimported {world.marker},10.0.0.0/16\n".encode()
        return plan_import(
            organization=world.organization,
            actor=TEST_ACTOR,
            stream=io.BytesIO(content),
            request=ImportRequest(filename="plan.csv", title=f"import {world.marker}"),
        )

    return world.remember("import", make).pk


def template_key(world: World) -> str:
    """Return the key of a saved template of the world's organization, named with its marker."""

    def make() -> Any:
        return org_template_create(
            organization=world.organization,
            actor=TEST_ACTOR,
            name=f"template {world.marker}",
            template="flat",
            params={
                "supernet": "10.20.0.0/16",
                "tiers": [{"name": "subnet", "prefix_length": 24, "count": 4}],
            },
            description=f"saved by {world.marker}",
        )

    return world.remember("org_template", make).key


def llm_provider_id(world: World) -> int:
    """Return an LLM provider of the world's organization, named with its marker.

    It points at a closed local port, so a connectivity test fails at once.
    """

    def make() -> Any:
        return llm_provider_create(
            organization=world.organization,
            actor=TEST_ACTOR,
            name=f"llm {world.marker}",
            provider="openai",
            model="gpt-test",
            base_url="http://127.0.0.1:9/v1",
            api_key="sk-isolation-canary",
            timeout_seconds=1,
        )

    return world.remember("llm_provider", make).pk


def ai_session_id(world: World) -> int:
    """Return an AI session of the world's organization, titled with its marker."""

    def make() -> Any:
        return ai_session_create(
            organization=world.organization, actor=TEST_ACTOR, title=f"chat {world.marker}"
        )

    return world.remember("ai_session", make).pk


LLM_PATH_FACTORIES = {
    f"api:{name}:pk": llm_provider_id for name in ("ai-provider-detail", "ai-provider-check")
} | {f"api:{name}:pk": ai_session_id for name in ("ai-session-detail", "ai-session-messages")}

PATH_FACTORIES = {
    **{
        f"api:{name}:pk": plan_id
        for name in (
            "plan-detail",
            "plan-validate",
            "plan-apply",
            "plan-discard",
            "plan-rollback",
            "plan-export",
        )
    },
    **{
        f"api:{name}:key": template_key
        for name in ("plan-template-detail", "plan-template-preview", "plan-template-generate")
    },
    **LLM_PATH_FACTORIES,
}
PATH_FACTORIES["api:plan-import-detail:pk"] = import_id
