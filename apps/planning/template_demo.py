"""Demo data of the schema wizard: a saved template and an applied plan generated from it.

Idempotent: the template is found by name, and its plan by the template it came from, so
seeding again neither saves a second template nor takes a second block.
"""

from __future__ import annotations

from typing import Any

from apps.planning import services as plan_services
from apps.planning import template_services
from apps.planning.choices import PlanStatus
from apps.planning.models import OrganizationTemplate, Plan
from apps.pools.models import Pool
from apps.tenancy.models import Organization
from cloudpam.context import system_actor

TEMPLATE_NAME = "Asia-Pacific landing zone"
SUPERNET_ROOT = "10.0.0.0/8"
PARAMS = {
    "supernet_pool": None,  # the demo's 10.0.0.0/8, filled in at seeding
    "supernet_prefix_length": 16,
    "name": "apac",
    "regions": ["ap-south-1", "ap-southeast-2"],
    "environments": ["prod", "dev"],
    "vpcs": 1,
    "tiers": [
        {"name": "public", "prefix_length": 26, "count": 2},
        {"name": "private", "hosts": 500, "count": 2},
    ],
    "provider": "aws",
    "headroom": 25,
    "ipv6": True,
}
NAMING = {"subnet": "apac-{region}-{env}-{tier}-{index}"}


def seed(*, organization: Organization, user: Any) -> None:
    """Save the demo template and apply a plan from it, once."""
    actor = system_actor("seed_demo")
    root = Pool.objects.for_organization(organization).live().filter(cidr=SUPERNET_ROOT).first()
    if root is None:
        return
    saved = (
        OrganizationTemplate.objects.for_organization(organization)
        .filter(name=TEMPLATE_NAME)
        .first()
    )
    if saved is None:
        saved = template_services.org_template_create(
            organization=organization,
            actor=actor,
            name=TEMPLATE_NAME,
            template="regional",
            params={**PARAMS, "supernet_pool": root.pk},
            naming=NAMING,
            description="Two AWS regions for the APAC expansion, with IPv6.",
        )
    plans = Plan.objects.for_organization(organization).filter(source="template")
    if any(plan.source_detail.get("organization_template") == saved.pk for plan in plans):
        return
    plan = template_services.template_generate(
        organization=organization, actor=actor, key=saved.key
    )
    if plan.status == PlanStatus.VALID:
        plan_services.plan_apply(plan=plan, actor=actor)
