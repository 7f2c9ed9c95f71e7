"""Choices of the pool fields: type, status, source and address family."""

from django.db import models


class PoolType(models.TextChoices):
    """What a pool stands for in the address plan."""

    SUPERNET = "supernet", "Supernet"
    REGION = "region", "Region"
    ENVIRONMENT = "environment", "Environment"
    VPC = "vpc", "VPC"
    SUBNET = "subnet", "Subnet"
    RESERVED = "reserved", "Reserved"
    CUSTOM = "custom", "Custom"


class PoolStatus(models.TextChoices):
    """Where a pool is in its life."""

    PLANNED = "planned", "Planned"
    ACTIVE = "active", "Active"
    RESERVED = "reserved", "Reserved"
    DEPRECATED = "deprecated", "Deprecated"


class PoolSource(models.TextChoices):
    """Which writer created a pool."""

    MANUAL = "manual", "Manual"
    IMPORTED = "imported", "Imported"
    DISCOVERED = "discovered", "Discovered"
    TEMPLATE = "template", "Template"
    PLAN = "plan", "Plan"
    RECOMMENDATION = "recommendation", "Recommendation"


class Family(models.IntegerChoices):
    """The IP address family of a pool."""

    IPV4 = 4, "IPv4"
    IPV6 = 6, "IPv6"


class AllocationStrategy(models.TextChoices):
    """How ``pool_allocate`` picks a free block."""

    FIRST_FIT = "first_fit", "First fit (lowest address)"
    BEST_FIT = "best_fit", "Best fit (smallest free block that holds it)"
