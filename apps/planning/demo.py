"""The demo organization's planning history (``make run``): an applied import.

Seeding again finds the import by its title and adds nothing.
"""

from __future__ import annotations

import io
import logging
from typing import Any

from apps.planning.choices import PlanSource, PlanStatus
from apps.planning.imports import ImportRequest, plan_import
from apps.planning.models import Plan
from apps.planning.services import plan_apply
from cloudpam.context import system_actor

logger = logging.getLogger(__name__)

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


def seed(*, organization: Any, user: Any) -> None:
    """Seed the demo organization's plans."""
    seed_import(organization=organization, user=user)
