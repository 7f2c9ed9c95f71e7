"""The demo organization's address plan (``make run``): regions, environments, VPCs, subnets.

Everything is created through the pool services' batch path, so the demo obeys the same
rules as real data. Seeding again finds the pools already there and adds only what is
missing; a branch that a user has since changed in a conflicting way is skipped and logged.
"""

from __future__ import annotations

import logging
from typing import Any

from apps.pools import services
from apps.pools.changes import PoolCreate
from apps.pools.choices import PoolSource, PoolStatus, PoolType
from apps.pools.models import Pool
from cloudpam.context import system_actor

logger = logging.getLogger(__name__)

# A node of the plan: prefix, name, type, status, tags and child nodes.
Node = tuple[str, str, str, str, dict[str, str], list[Any]]


def _node(
    cidr: str,
    name: str,
    kind: str,
    children: list[Node] | None = None,
    *,
    status: str = PoolStatus.ACTIVE,
    **tags: str,
) -> Node:
    return (cidr, name, kind, status, tags, children or [])


def _subnets(prefix: str, names_and_suffixes: list[tuple[str, str]], **tags: str) -> list[Node]:
    return [
        _node(f"{prefix}{suffix}", name, PoolType.SUBNET, **tags)
        for name, suffix in names_and_suffixes
    ]


def _aws_vpc_v4(second: int, third: int, name: str, **tags: str) -> Node:
    base = f"10.{second}."
    return _node(
        f"10.{second}.{third}.0/16" if third == 0 else f"10.{second}.{third}.0/18",
        name,
        PoolType.VPC,
        _subnets(
            base,
            [
                ("public-a", f"{third}.0/20"),
                ("public-b", f"{third + 16}.0/20"),
                ("private-a", f"{third + 32}.0/19"),
                ("private-b", f"{third + 64}.0/19"),
                ("database-a", f"{third + 128}.0/24"),
                ("database-b", f"{third + 129}.0/24"),
            ],
            **tags,
        ),
        **tags,
    )


PLAN: list[Node] = [
    _node(
        "10.0.0.0/8",
        "Corporate IPv4",
        PoolType.SUPERNET,
        [
            _node(
                "10.0.0.0/12",
                "us-east-1",
                PoolType.REGION,
                [
                    _node(
                        "10.0.0.0/14",
                        "production",
                        PoolType.ENVIRONMENT,
                        [
                            _aws_vpc_v4(0, 0, "vpc-prod-core", cloud="aws", env="prod"),
                            _aws_vpc_v4(1, 0, "vpc-prod-data", cloud="aws", env="prod"),
                        ],
                        env="prod",
                    ),
                    _node(
                        "10.4.0.0/14",
                        "staging",
                        PoolType.ENVIRONMENT,
                        [_aws_vpc_v4(4, 0, "vpc-staging", cloud="aws", env="staging")],
                        env="staging",
                    ),
                    _node(
                        "10.8.0.0/14",
                        "development",
                        PoolType.ENVIRONMENT,
                        [_aws_vpc_v4(8, 0, "vpc-dev", cloud="aws", env="dev")],
                        env="dev",
                    ),
                ],
                cloud="aws",
                region="us-east-1",
            ),
            _node(
                "10.16.0.0/12",
                "europe-west1",
                PoolType.REGION,
                [
                    _node(
                        "10.16.0.0/14",
                        "production",
                        PoolType.ENVIRONMENT,
                        [_aws_vpc_v4(16, 0, "vpc-prod-eu", cloud="gcp", env="prod")],
                        env="prod",
                    ),
                    _node(
                        "10.20.0.0/14",
                        "staging",
                        PoolType.ENVIRONMENT,
                        [_aws_vpc_v4(20, 0, "vpc-staging-eu", cloud="gcp", env="staging")],
                        env="staging",
                    ),
                ],
                cloud="gcp",
                region="europe-west1",
            ),
            _node(
                "10.32.0.0/12",
                "westeurope",
                PoolType.REGION,
                [
                    _node(
                        "10.32.0.0/14",
                        "production",
                        PoolType.ENVIRONMENT,
                        [_aws_vpc_v4(32, 0, "vnet-prod-we", cloud="azure", env="prod")],
                        env="prod",
                    )
                ],
                cloud="azure",
                region="westeurope",
            ),
            _node(
                "10.48.0.0/12",
                "ap-southeast-1",
                PoolType.REGION,
                status=PoolStatus.PLANNED,
                cloud="aws",
                region="ap-southeast-1",
            ),
            _node(
                "10.240.0.0/12",
                "Acquisitions (held back)",
                PoolType.RESERVED,
                status=PoolStatus.RESERVED,
            ),
        ],
    ),
    _node(
        "172.16.0.0/12",
        "On-premises",
        PoolType.SUPERNET,
        [
            _node(
                "172.16.0.0/16",
                "Frankfurt data centre",
                PoolType.REGION,
                _subnets(
                    "172.16.",
                    [
                        ("servers", "0.0/22"),
                        ("storage", "4.0/22"),
                        ("management", "8.0/24"),
                        ("out-of-band", "9.0/24"),
                        ("vpn-clients", "16.0/20"),
                    ],
                    site="fra",
                ),
                site="fra",
            ),
            _node(
                "172.17.0.0/16",
                "Ashburn data centre",
                PoolType.REGION,
                _subnets(
                    "172.17.",
                    [("servers", "0.0/22"), ("storage", "4.0/22"), ("management", "8.0/24")],
                    site="iad",
                ),
                site="iad",
            ),
            _node(
                "172.31.0.0/16",
                "Legacy lab",
                PoolType.CUSTOM,
                status=PoolStatus.DEPRECATED,
            ),
        ],
    ),
    _node(
        "2001:db8::/32",
        "Corporate IPv6",
        PoolType.SUPERNET,
        [
            _node(
                "2001:db8:1000::/36",
                "us-east-1",
                PoolType.REGION,
                [
                    _node(
                        "2001:db8:1000::/44",
                        "production",
                        PoolType.ENVIRONMENT,
                        [
                            _node(
                                "2001:db8:1000::/56",
                                "vpc-prod-core",
                                PoolType.VPC,
                                _subnets(
                                    "2001:db8:1000:",
                                    [
                                        ("public-a", ":/64"),
                                        ("public-b", "1::/64"),
                                        ("private-a", "10::/64"),
                                        ("private-b", "11::/64"),
                                    ],
                                    cloud="aws",
                                    env="prod",
                                ),
                                cloud="aws",
                                env="prod",
                            ),
                            _node(
                                "2001:db8:1000:100::/56",
                                "vpc-prod-data",
                                PoolType.VPC,
                                cloud="aws",
                                env="prod",
                            ),
                        ],
                        env="prod",
                    ),
                    _node(
                        "2001:db8:1010::/44",
                        "staging",
                        PoolType.ENVIRONMENT,
                        status=PoolStatus.PLANNED,
                        env="staging",
                    ),
                ],
                cloud="aws",
                region="us-east-1",
            ),
            _node(
                "2001:db8:2000::/36",
                "europe-west1",
                PoolType.REGION,
                [
                    _node(
                        "2001:db8:2000::/48",
                        "vpc-prod-eu",
                        PoolType.VPC,
                        _subnets(
                            "2001:db8:2000:",
                            [("frontend", ":/64"), ("backend", "1::/64")],
                            cloud="gcp",
                        ),
                        cloud="gcp",
                    )
                ],
                cloud="gcp",
                region="europe-west1",
            ),
            _node(
                "2001:db8:f000::/36",
                "Reserved for growth",
                PoolType.RESERVED,
                status=PoolStatus.RESERVED,
            ),
        ],
    ),
]


def _missing(
    organization: Any, parent: Pool | None, parent_ref: int | str | None, node: Node
) -> list[PoolCreate]:
    """Return the creates that add ``node`` and its subtree where they are missing."""
    cidr, name, kind, status, tags, children = node
    existing = None
    if parent is not None or parent_ref is None:
        existing = (
            Pool.objects.for_organization(organization)
            .live()
            .filter(parent=parent, cidr=cidr)
            .first()
        )
    if existing is not None:
        changes: list[PoolCreate] = []
        for child in children:
            changes += _missing(organization, existing, existing.pk, child)
        return changes
    ref = f"{parent_ref or 'root'}/{cidr}"
    changes = [
        PoolCreate(
            ref=ref,
            parent=parent_ref,
            cidr=cidr,
            name=name,
            type=kind,
            status=status,
            tags=tags,
            source=PoolSource.TEMPLATE,
            description="Demo address plan.",
        )
    ]
    for child in children:
        changes += _missing(organization, None, ref, child)
    return changes


def seed(*, organization: Any, user: Any) -> None:
    """Create the demo address plan in ``organization``, adding only what is missing.

    The missing pools go in as one batch. A branch that a user has since changed in a
    conflicting way is left out, with its subtree, and logged.
    """
    changes = [change for node in PLAN for change in _missing(organization, None, None, node)]
    actor = system_actor("seed_demo")
    while changes:
        try:
            services.pool_changes_apply(organization=organization, actor=actor, changes=changes)
        except services.ChangesRejected as exc:
            failed = {error.ref for error in exc.errors}
            for error in exc.errors:
                logger.warning("demo pool %s skipped: %s", error.ref, error.message)
            changes = [change for change in changes if change.ref not in failed]
        else:
            return
