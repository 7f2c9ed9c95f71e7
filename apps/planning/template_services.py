"""Every write of the schema wizard: organization templates, and plans generated from templates.

The parameters are checked by the pure generator (``apps.planning.engine.templates``); its
``TemplateError`` becomes a 400 ``validation_error`` naming each field. A generated plan is
stored by ``plan_create`` (``source=template``) and then validated by the plan services, so
the wizard writes no pool itself: applying the plan does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import IntegrityError, transaction

from apps.planning import services as plan_services
from apps.planning.choices import PlanSource, PlanStatus
from apps.planning.engine import templates as engine
from apps.planning.models import Plan
from apps.planning.template_models import NAME_MAX_LENGTH, OrganizationTemplate
from apps.planning.template_selectors import org_template_get, org_template_key_id
from apps.pools.selectors import pool_free_blocks, pool_get
from apps.tenancy.models import Organization
from cloudpam.context import Actor, operation
from cloudpam.exceptions import Conflict, NotFound, ValidationError

# Parameters the caller resolves against the database before the pure generator runs:
# "the first free /N in pool X".
SUPERNET_POOL = "supernet_pool"
SUPERNET_PREFIX_LENGTH = "supernet_prefix_length"
DESCRIPTION_MAX_LENGTH = 2000


def template_error(exc: engine.TemplateError, prefix: str = "") -> ValidationError:
    """Return the generator's error as a 400 naming each field (``params.<field>``)."""
    fields = {f"{prefix}{key}": value for key, value in exc.errors.items()}
    first_field, messages = next(iter(fields.items()))
    return ValidationError(f"{first_field}: {messages[0]}", fields=fields)


def ipv6_seed(organization: Organization) -> str:
    """Return the seed of the organization's derived ULA /48 (stable for its lifetime)."""
    return f"cloudpam-organization-{organization.pk}"


def _clean_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        message = "This field may not be blank."
        raise ValidationError(f"name: {message}", fields={"name": [message]})
    name = value.strip()
    if len(name) > NAME_MAX_LENGTH:
        message = f"Ensure this field has no more than {NAME_MAX_LENGTH} characters."
        raise ValidationError(f"name: {message}", fields={"name": [message]})
    return name


def _clean_description(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > DESCRIPTION_MAX_LENGTH:
        message = f"Text of at most {DESCRIPTION_MAX_LENGTH} characters is required."
        raise ValidationError(f"description: {message}", fields={"description": [message]})
    return value.strip()


def _clean_object(value: Any, field_name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        message = "A JSON object is required."
        raise ValidationError(f"{field_name}: {message}", fields={field_name: [message]})
    return dict(value)


def _clean_template_key(value: Any) -> str:
    if value not in engine.TEMPLATES:
        message = f"'{value}' is not a template; choose one of {', '.join(engine.TEMPLATES)}."
        raise ValidationError(f"template: {message}", fields={"template": [message]})
    return str(value)


def _check_params(template: str, params: dict[str, Any], naming: dict[str, Any]) -> tuple:
    """Return the saved form of the parameters: checked, normalized, naming apart."""
    data = {k: v for k, v in params.items() if k not in (SUPERNET_POOL, SUPERNET_PREFIX_LENGTH)}
    if "naming" in data:
        message = "Give the naming patterns in naming, not in params."
        raise ValidationError(f"params.naming: {message}", fields={"params.naming": [message]})
    from_pool = params.get(SUPERNET_POOL) not in (None, "")
    if from_pool:
        _check_pool_params(params)
        # The block is found when a plan is generated; any prefix stands in for the checks.
        data = {**data, "supernet": "10.0.0.0/8", "parent": None}
    try:
        checked = engine.parse_params(template, {**data, "naming": naming})
    except engine.TemplateError as exc:
        raise template_error(exc, prefix="params.") from None
    saved = engine.params_to_json(checked)
    saved.pop("naming", None)
    if from_pool:
        saved.pop("supernet", None)
        saved.pop("parent", None)
        saved[SUPERNET_POOL] = params[SUPERNET_POOL]
        saved[SUPERNET_PREFIX_LENGTH] = params[SUPERNET_PREFIX_LENGTH]
    return saved, dict(checked.naming)


def _check_pool_params(params: Mapping[str, Any]) -> None:
    """Check the shape of "the first free /N in pool X" (the pool is looked up later)."""
    errors: dict[str, list[str]] = {}
    pool_id, length = params.get(SUPERNET_POOL), params.get(SUPERNET_PREFIX_LENGTH)
    if isinstance(pool_id, bool) or not isinstance(pool_id, int) or pool_id <= 0:
        errors[f"params.{SUPERNET_POOL}"] = ["A pool id (a positive whole number) is required."]
    if isinstance(length, bool) or not isinstance(length, int) or not 1 <= length <= 30:
        errors[f"params.{SUPERNET_PREFIX_LENGTH}"] = ["A prefix length from 1 to 30 is required."]
    if params.get("supernet") not in (None, ""):
        errors["params.supernet"] = [f"Give supernet or {SUPERNET_POOL}, not both."]
    if errors:
        first, messages = next(iter(errors.items()))
        raise ValidationError(f"{first}: {messages[0]}", fields=errors)


@transaction.atomic
def org_template_create(
    *,
    organization: Organization,
    actor: Actor,
    name: str,
    template: str,
    params: Mapping[str, Any] | None = None,
    naming: Mapping[str, Any] | None = None,
    description: str = "",
) -> OrganizationTemplate:
    """Save a template of the organization: a built-in template with checked parameters."""
    template = _clean_template_key(template)
    saved, patterns = _check_params(
        template, _clean_object(params, "params"), _clean_object(naming, "naming")
    )
    org_template = OrganizationTemplate(
        organization=organization,
        name=_clean_name(name),
        template=template,
        version=engine.TEMPLATES[template].version,
        description=_clean_description(description),
        params=saved,
        naming=patterns,
        created_by_id=actor.user_id,
    )
    _save(org_template, "create", actor)
    return org_template


def _save(org_template: OrganizationTemplate, action: str, actor: Actor) -> None:
    try:
        with transaction.atomic(), operation(action, actor=actor):
            org_template.save()
    except IntegrityError:
        message = f"A template named '{org_template.name}' already exists."
        raise Conflict(message, fields={"name": [message]}) from None


@transaction.atomic
def org_template_update(
    *, org_template: OrganizationTemplate, actor: Actor, **changes: Any
) -> OrganizationTemplate:
    """Change the name, description, parameters or naming of a saved template.

    New parameters replace the saved ones whole and are checked against the template's
    current version, which the saved template then records.
    """
    unknown = sorted(set(changes) - {"name", "description", "params", "naming"})
    if unknown:
        message = f"{', '.join(unknown)} cannot be changed."
        raise ValidationError(message, fields={key: [message] for key in unknown})
    org_template = (
        OrganizationTemplate.objects.for_organization(org_template.organization)
        .select_for_update()
        .get(pk=org_template.pk)
    )
    if "name" in changes:
        org_template.name = _clean_name(changes["name"])
    if "description" in changes:
        org_template.description = _clean_description(changes["description"])
    if "params" in changes or "naming" in changes:
        params = _clean_object(changes.get("params", org_template.params), "params")
        naming = _clean_object(changes.get("naming", org_template.naming), "naming")
        org_template.params, org_template.naming = _check_params(
            org_template.template, params, naming
        )
        org_template.version = engine.TEMPLATES[org_template.template].version
    _save(org_template, "update", actor)
    return org_template


@transaction.atomic
def org_template_delete(*, org_template: OrganizationTemplate, actor: Actor) -> None:
    """Delete a saved template; plans generated from it keep their parameters."""
    with operation("delete", actor=actor):
        org_template.delete()


def _resolve_supernet(organization: Organization, params: dict[str, Any]) -> dict[str, Any]:
    """Replace "the first free /N in pool X" with that block and X as the parent."""
    pool_id = params.pop(SUPERNET_POOL, None)
    length = params.pop(SUPERNET_PREFIX_LENGTH, None)
    if pool_id in (None, "") and length in (None, ""):
        return params
    if pool_id in (None, "") or length in (None, ""):
        field_name = SUPERNET_POOL if pool_id in (None, "") else SUPERNET_PREFIX_LENGTH
        message = f"Give both {SUPERNET_POOL} and {SUPERNET_PREFIX_LENGTH}."
        raise ValidationError(
            f"params.{field_name}: {message}", fields={f"params.{field_name}": [message]}
        )
    if params.get("supernet"):
        message = f"Give supernet or {SUPERNET_POOL}, not both."
        raise ValidationError(f"params.supernet: {message}", fields={"params.supernet": [message]})
    try:
        pool = pool_get(organization=organization, pk=pool_id)
    except NotFound as exc:
        raise NotFound(exc.message, fields={f"params.{SUPERNET_POOL}": [exc.message]}) from None
    if pool.deleted_at is not None or pool.family != 4:
        message = f"Pool {pool.pk} ({pool.cidr}) is not a live IPv4 pool."
        raise ValidationError(message, fields={f"params.{SUPERNET_POOL}": [message]})
    try:
        blocks = pool_free_blocks(pool, prefix_length=length, limit=1)
    except ValidationError as exc:
        raise ValidationError(
            exc.message, fields={f"params.{SUPERNET_PREFIX_LENGTH}": [exc.message]}
        ) from None
    if not blocks:
        free = pool_free_blocks(pool)
        biggest = min(free, key=lambda block: (block.length, block.first)) if free else None
        detail = f"its largest free block is {biggest}" if biggest else "it has no free space"
        message = f"Pool {pool.name} ({pool.cidr}) has no free /{length}: {detail}."
        raise ValidationError(
            message, code="no_space", fields={f"params.{SUPERNET_PREFIX_LENGTH}": [message]}
        )
    return {**params, "supernet": str(blocks[0]), "parent": pool.pk}


def template_params(
    *, organization: Organization, key: str, overrides: Mapping[str, Any] | None = None
) -> tuple[str, dict[str, Any], OrganizationTemplate | None]:
    """Return the built-in key, the merged parameters and the saved template of ``key``.

    ``key`` is a built-in template's key (its example parameters are the base) or
    ``org-<id>`` (the saved parameters and naming are the base); ``overrides`` are merged
    over the base, key by key (``naming`` pattern by pattern).
    """
    overrides = _clean_object(overrides, "params")
    saved = None
    pk = org_template_key_id(key)
    if pk is not None:
        saved = org_template_get(organization=organization, pk=pk)
        base = {**saved.params, "naming": dict(saved.naming)}
        template = saved.template
    elif key in engine.TEMPLATES:
        template = key
        base = dict(engine.TEMPLATES[key].example)
    else:
        raise NotFound(f"No template '{key}'.")
    merged = {**base, **overrides}
    naming = overrides.get("naming")
    if isinstance(naming, Mapping) and isinstance(base.get("naming"), Mapping):
        merged["naming"] = {**base["naming"], **naming}
    if overrides.get(SUPERNET_POOL) not in (None, ""):
        merged.pop("supernet", None)
        merged.pop("parent", None)
    elif overrides.get("supernet") not in (None, ""):
        merged.pop(SUPERNET_POOL, None)
        merged.pop(SUPERNET_PREFIX_LENGTH, None)
    return template, merged, saved


def template_preview(
    *, organization: Organization, key: str, params: Mapping[str, Any] | None = None
) -> engine.GeneratedPlan:
    """Return the plan a template would generate, without storing anything (live preview)."""
    template, merged, _saved = template_params(organization=organization, key=key, overrides=params)
    merged = _resolve_supernet(organization, merged)
    try:
        checked = engine.parse_params(template, merged)
        return engine.generate(checked, ipv6_seed=ipv6_seed(organization))
    except engine.TemplateError as exc:
        raise template_error(exc, prefix="params.") from None


def template_generate(
    *,
    organization: Organization,
    actor: Actor,
    key: str,
    params: Mapping[str, Any] | None = None,
    title: str | None = None,
) -> Plan:
    """Generate the plan of a template and store it (``source=template``), validated.

    The plan is created by ``plan_create`` and then validated by the dry run of the plan
    services (``plan_validate``); its ``source_detail`` records the template, its version,
    the saved template (if any) and the full parameters, so the same plan can be made again.
    """
    template, merged, saved = template_params(organization=organization, key=key, overrides=params)
    merged = _resolve_supernet(organization, merged)
    try:
        checked = engine.parse_params(template, merged)
        generated = engine.generate(checked, ipv6_seed=ipv6_seed(organization))
    except engine.TemplateError as exc:
        raise template_error(exc, prefix="params.") from None
    detail = {
        "template": template,
        "template_version": generated.version,
        "organization_template": saved.pk if saved is not None else None,
        "params": engine.params_to_json(checked),
        "supernet": generated.supernet,
        "ipv6_supernet": generated.ipv6_supernet,
        "counts": dict(generated.counts),
    }
    if title is None:
        title = f"{saved.name}: {generated.supernet}" if saved is not None else generated.title
    plan = plan_services.plan_create(
        organization=organization,
        actor=actor,
        title=title,
        source=PlanSource.TEMPLATE,
        operations=[dict(operation) for operation in generated.operations],
        source_detail=detail,
    )
    if plan.status != PlanStatus.INVALID:
        plan = plan_services.plan_validate(plan=plan, actor=actor)
    return plan
