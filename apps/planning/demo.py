"""Demo plans for ``make run``: one applied plan in the history and one waiting for review.

Both go through the plan services like any plan: the applied one adds a staging VPC with
two subnets under the demo's first environment (by size, "the first free /16 in it"); the
open one proposes a sandbox VPC and is dry-run so its page shows a preview. Seeding again
finds them by title and adds nothing. The schema wizard's demo (a saved template and a
plan from it) is seeded first, by ``apps.planning.template_demo``.
"""

from __future__ import annotations

import io
import logging
from typing import Any

from apps.planning import template_demo
from apps.planning.choices import PlanSource, PlanStatus
from apps.planning.imports import ImportRequest, plan_import
from apps.planning.models import Plan
from apps.planning.services import plan_apply, plan_create, plan_validate
from apps.pools.models import Pool
from apps.tenancy.models import Organization
from cloudpam.context import system_actor
from cloudpam.exceptions import ApplicationError

logger = logging.getLogger(__name__)

APPLIED_TITLE = "Staging VPC for the web team"
OPEN_TITLE = "Sandbox VPC (proposal)"


def _vpc_operations(environment: Pool, name: str) -> list[dict[str, Any]]:
    return [
        {
            "op": "create",
            "ref": "vpc",
            "name": name,
            "prefix_length": 16 if environment.family == 4 else 56,
            "parent": environment.pk,
            "type": "vpc",
            "status": "planned",
            "tags": {"team": "web"},
        },
        *(
            {
                "op": "create",
                "ref": f"subnet-{zone}",
                "name": f"{name}-private-{zone}",
                "prefix_length": 20 if environment.family == 4 else 64,
                "parent": "vpc",
                "type": "subnet",
                "status": "planned",
            }
            for zone in ("a", "b")
        ),
    ]


IMPORT_TITLE = "Demo import: branch offices"
# Rows in no particular order: the import nests them by containment.
BRANCH_OFFICES_CSV = """name,cidr,parent,type,status,description,tags
Lyon office LAN,192.168.10.0/24,,subnet,active,Staff and printers,site=lyon;tier=lan
Branch offices,192.168.0.0/16,,supernet,active,Sites connected over the WAN,owner=network
Lyon,192.168.8.0/21,,region,active,,site=lyon
Lyon voice,192.168.11.0/24,,subnet,active,IP phones,site=lyon;tier=voice
Madrid,192.168.16.0/21,,region,active,,site=madrid
Madrid office LAN,192.168.16.0/24,,subnet,active,,site=madrid;tier=lan
Madrid expansion,192.168.20.0/22,,reserved,reserved,Kept for the second floor,site=madrid
Oslo,192.168.24.0/21,,region,planned,Opens next quarter,site=oslo
"""


def seed_import(*, organization: Any, user: Any) -> None:
    """Import and apply the branch offices file once."""
    if Plan.objects.filter(
        organization=organization, source=PlanSource.IMPORT, title=IMPORT_TITLE
    ).exists():
        return
    actor = system_actor("seed_demo")
    plan = plan_import(
        organization=organization,
        actor=actor,
        stream=io.BytesIO(BRANCH_OFFICES_CSV.encode()),
        request=ImportRequest(filename="branch-offices.csv", nest=True, title=IMPORT_TITLE),
    )
    if plan.status != PlanStatus.VALID:
        logger.warning("demo import left unapplied: %s", plan.source_detail.get("errors"))
        return
    plan_apply(plan=plan, actor=actor)


def seed(*, organization: Organization, user: Any) -> None:
    """Add an applied plan, an open validated plan, a template plan and an applied import."""
    template_demo.seed(organization=organization, user=user)
    seed_import(organization=organization, user=user)
    environment = (
        Pool.objects.for_organization(organization)
        .live()
        .filter(type="environment", family=4)
        .order_by("path")
        .first()
    )
    if environment is None:
        return
    actor = system_actor("seed_demo")
    existing = set(
        Plan.objects.for_organization(organization)
        .filter(title__in=[APPLIED_TITLE, OPEN_TITLE])
        .values_list("title", flat=True)
    )
    try:
        if APPLIED_TITLE not in existing:
            plan = plan_create(
                organization=organization,
                actor=actor,
                title=APPLIED_TITLE,
                source="ai",
                operations=_vpc_operations(environment, "staging-web"),
                source_detail={"demo": True},
            )
            plan = plan_validate(plan=plan, actor=actor)
            if plan.status == PlanStatus.VALID:
                plan_apply(plan=plan, actor=actor)
        if OPEN_TITLE not in existing:
            plan = plan_create(
                organization=organization,
                actor=actor,
                title=OPEN_TITLE,
                source="ai",
                operations=_vpc_operations(environment, "sandbox"),
                source_detail={"demo": True},
            )
            plan_validate(plan=plan, actor=actor)
    except ApplicationError as exc:
        logger.warning("The demo plans were not seeded: %s", exc.message)
