"""Reads of the schema wizard: the built-in templates and the organization's saved ones."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from apps.planning.engine import templates as engine
from apps.planning.template_models import OrganizationTemplate
from apps.tenancy.models import Organization
from cloudpam.exceptions import NotFound

_ORG_KEY = re.compile(r"org-([1-9][0-9]{0,17})")


@dataclass(frozen=True)
class TemplateEntry:
    """One template as the API and the wizard list it: built-in or the organization's."""

    key: str
    name: str
    template: str
    version: int
    builtin: bool
    description: str
    levels: tuple[str, ...]
    params: dict[str, Any]
    naming: dict[str, str]
    saved: OrganizationTemplate | None = None


def org_template_key_id(key: Any) -> int | None:
    """Return the id in an ``org-<id>`` key, or None for any other key."""
    match = _ORG_KEY.fullmatch(key) if isinstance(key, str) else None
    return int(match.group(1)) if match else None


def org_template_list(*, organization: Organization | None) -> QuerySet:
    """Return the organization's saved templates, by name."""
    return OrganizationTemplate.objects.for_organization(organization).select_related("created_by")


def org_template_get(*, organization: Organization | None, pk: Any) -> OrganizationTemplate:
    """Return the organization's saved template ``pk``; 404 for anything else."""
    found = None
    if isinstance(pk, int) and not isinstance(pk, bool) and 0 < pk < 2**63:
        found = org_template_list(organization=organization).filter(pk=pk).first()
    if found is None:
        raise NotFound(f"No template with id {pk} in this organization.")
    return found


def _builtin(spec: engine.TemplateSpec) -> TemplateEntry:
    params = dict(spec.example)
    return TemplateEntry(
        key=spec.key,
        name=spec.label,
        template=spec.key,
        version=spec.version,
        builtin=True,
        description=spec.description,
        levels=spec.levels,
        params=params,
        naming=dict(spec.naming),
    )


def _saved(org_template: OrganizationTemplate) -> TemplateEntry:
    spec = engine.TEMPLATES[org_template.template]
    return TemplateEntry(
        key=org_template.key,
        name=org_template.name,
        template=org_template.template,
        version=org_template.version,
        builtin=False,
        description=org_template.description or spec.description,
        levels=spec.levels,
        params=dict(org_template.params),
        naming={**spec.naming, **org_template.naming},
        saved=org_template,
    )


def template_entries(*, organization: Organization | None) -> list[TemplateEntry]:
    """Return the built-in templates, then the organization's saved ones by name."""
    entries = [_builtin(spec) for spec in engine.TEMPLATES.values()]
    entries.extend(_saved(saved) for saved in org_template_list(organization=organization))
    return entries


def template_entry(*, organization: Organization | None, key: str) -> TemplateEntry:
    """Return one template by key: a built-in key or ``org-<id>``; 404 otherwise."""
    if key in engine.TEMPLATES:
        return _builtin(engine.TEMPLATES[key])
    pk = org_template_key_id(key)
    if pk is None:
        raise NotFound(f"No template '{key}'.")
    return _saved(org_template_get(organization=organization, pk=pk))
