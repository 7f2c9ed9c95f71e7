"""Choices of the plan fields: where a plan comes from, where it is in its life, its risk."""

from django.db import models


class PlanSource(models.TextChoices):
    """Which producer made a plan."""

    TEMPLATE = "template", "Template"
    IMPORT = "import", "Import"
    AI = "ai", "AI"
    RULE = "rule", "Rule"


class PlanStatus(models.TextChoices):
    """Where a plan is in its life.

    ``draft`` has passed the pure checks but no dry run yet; ``valid`` and ``invalid`` are
    the dry run's verdict; ``applied``, ``discarded`` and ``rolled_back`` are final, except
    that an applied plan can still be rolled back.
    """

    DRAFT = "draft", "Draft"
    VALID = "valid", "Valid"
    INVALID = "invalid", "Invalid"
    APPLIED = "applied", "Applied"
    DISCARDED = "discarded", "Discarded"
    ROLLED_BACK = "rolled_back", "Rolled back"


class RiskLevel(models.TextChoices):
    """The overall risk of a plan, the highest of its findings."""

    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"


# A plan may still be validated, applied or discarded in these states.
OPEN_STATUSES = frozenset({PlanStatus.DRAFT, PlanStatus.VALID, PlanStatus.INVALID})


class LLMProviderKind(models.TextChoices):
    """The language model APIs CloudPAM speaks (``apps.planning.llm``)."""

    OPENAI = "openai", "OpenAI"
    ANTHROPIC = "anthropic", "Anthropic"
    AZURE_OPENAI = "azure_openai", "Azure OpenAI"
    OLLAMA = "ollama", "Ollama"
    OPENAI_COMPATIBLE = "openai_compatible", "OpenAI-compatible"


class AIMessageRole(models.TextChoices):
    """Who wrote a message of an AI session."""

    USER = "user", "User"
    ASSISTANT = "assistant", "Assistant"


class AIMessageStatus(models.TextChoices):
    """How an assistant's answer came about.

    ``ok``: a model answered; ``fallback``: the deterministic planner answered because no
    model could; ``error``: nothing could answer (the message says why).
    """

    OK = "ok", "OK"
    FALLBACK = "fallback", "Fallback planner"
    ERROR = "error", "Error"
