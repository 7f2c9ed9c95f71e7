"""
The route walker behind the tenant-isolation and permission-matrix tests.

Both tests walk every route under ``/api/v1/`` in the URL configuration, so an
endpoint is covered the day it appears. A route's path parameters are filled
by factories registered by parameter name (or ``"<url name>:<parameter>"``,
e.g. ``"api:pool-detail:pk"``, where one name means different things on
different routes). A factory receives a ``World`` (one organization with its
owner and a marker string) and returns the value to put in the path,
creating the object it names in that organization. The marker must appear in
a field the API shows (a name, a description), so that a response leaking
the object is caught.

An app adds its factories in ``tests/<app>/isolation.py``::

    from tests.isolation import World

    def pool_id(world: World) -> int:
        return world.remember("pool", lambda: pool_create(
            actor=TEST_ACTOR, organization=world.organization, name=f"pool {world.marker}",
            cidr="10.0.0.0/16",
        )).pk

    PATH_FACTORIES = {"pool_id": pool_id}
    # Parameters that are values rather than objects of the organization (no 404 expected):
    VALUE_PARAMETERS = {"address"}

A route with a parameter that has no factory fails the walk (it is never
skipped), naming the parameter to register.

Routes that a machine credential authenticates rather than a member (an agent's
``register``, ``heartbeat`` and ``ingest``) are listed, by URL name, in
``MACHINE_CREDENTIALS`` with a factory of that credential in a world; the walk
calls them with the other organization's machine credential, and the matrix
checks that no member's session gets in::

    MACHINE_CREDENTIALS = {"api:discovery-ingest": lambda world: agent_credential(world)}
"""

from __future__ import annotations

import importlib
import pkgutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.test import APIRequestFactory

from apps.tenancy.choices import Role
from apps.tenancy.models import Membership, Organization, User
from apps.tenancy.permissions import required_permission

API_PREFIX = "api/v1/"
IGNORED_METHODS = {"options", "head", "trace"}


@dataclass
class World:
    """One organization seen by the walk: its owner, a marker, the objects made so far."""

    organization: Organization
    owner: User
    marker: str
    objects: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def create(cls, slug: str) -> World:
        marker = f"marker-{slug}-{uuid.uuid4().hex[:8]}"
        organization = Organization.objects.create(name=f"Org {marker}", slug=slug)
        owner = User.objects.create_user(
            f"owner-{slug}@example.com", "correct horse battery staple", full_name=marker
        )
        Membership.objects.create(user=owner, organization=organization, role=Role.OWNER)
        return cls(organization=organization, owner=owner, marker=marker)

    def remember(self, key: str, make: Callable[[], Any]) -> Any:
        """Return the object made under ``key``, making it on first use."""
        if key not in self.objects:
            self.objects[key] = make()
        return self.objects[key]


# ---------------------------------------------------------------- tenancy's factories


def _member(world: World) -> Membership:
    def make() -> Membership:
        user = User.objects.create_user(
            f"member-{world.organization.slug}@example.com", None, full_name=world.marker
        )
        return Membership.objects.create(
            user=user, organization=world.organization, role=Role.VIEWER
        )

    return world.remember("member", make)


def _token_id(world: World) -> int:
    from apps.tenancy.services import api_token_create

    def make() -> Any:
        owner_membership = Membership.objects.get(user=world.owner, organization=world.organization)
        token, _value = api_token_create(
            membership=owner_membership, name=f"token {world.marker}", scopes=["read"]
        )
        return token

    return world.remember("token", make).pk


PATH_FACTORIES: dict[str, Callable[[World], Any]] = {
    "organization_slug": lambda world: world.organization.slug,
    "member_id": lambda world: _member(world).pk,
    "token_id": _token_id,
}
VALUE_PARAMETERS: set[str] = set()
# URL name -> the Authorization header value of a machine credential of the world.
MACHINE_CREDENTIALS: dict[str, Callable[[World], str]] = {}


def _load_app_factories() -> None:
    import tests

    for module in pkgutil.iter_modules(tests.__path__):
        if not module.ispkg:
            continue
        name = f"tests.{module.name}.isolation"
        try:
            app = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        PATH_FACTORIES.update(getattr(app, "PATH_FACTORIES", {}))
        VALUE_PARAMETERS.update(getattr(app, "VALUE_PARAMETERS", set()))
        MACHINE_CREDENTIALS.update(getattr(app, "MACHINE_CREDENTIALS", {}))


_load_app_factories()


# ---------------------------------------------------------------- the walk


@dataclass(frozen=True)
class Route:
    """One API route and one of its methods."""

    name: str
    pattern: str
    parameters: tuple[str, ...]
    method: str
    callback: Any

    @property
    def id(self) -> str:
        return f"{self.method.upper()} /{self.pattern}"

    @property
    def identifies_objects(self) -> bool:
        """Whether the path names objects of an organization (another one's must be 404)."""
        return any(p not in VALUE_PARAMETERS for p in self.parameters)


def _methods(callback: Any) -> list[str]:
    actions = getattr(callback, "actions", None)
    if actions:
        return sorted(m for m in actions if m not in IGNORED_METHODS)
    cls = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    if cls is None:
        return ["get"]
    return sorted(m for m in cls.http_method_names if m not in IGNORED_METHODS and hasattr(cls, m))


def _walk(resolvers: list[Any], prefix: str, namespace: str | None) -> list[tuple[str, Any, Any]]:
    found = []
    for entry in resolvers:
        pattern = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            inner = entry.namespace if entry.namespace else None
            name_space = ":".join(filter(None, [namespace, inner])) or None
            found.extend(_walk(entry.url_patterns, pattern, name_space))
        elif isinstance(entry, URLPattern):
            name = f"{namespace}:{entry.name}" if namespace and entry.name else entry.name
            found.append((pattern, name, entry))
    return found


def api_routes() -> list[Route]:
    """Return every (route, method) of ``/api/v1/`` in the URL configuration."""
    routes = []
    for pattern, name, entry in _walk(get_resolver().url_patterns, "", None):
        if not pattern.lstrip("^").startswith(API_PREFIX):
            continue
        parameters = tuple(entry.pattern.regex.groupindex)
        if "format" in parameters:
            # Format-suffix twins of router routes serve the same view (JSON only).
            continue
        routes.extend(
            Route(name or pattern, pattern, parameters, method, entry.callback)
            for method in _methods(entry.callback)
        )
    return routes


def _factory(route: Route, parameter: str) -> Callable[[World], Any]:
    for key in (f"{route.name}:{parameter}", parameter):
        if key in PATH_FACTORIES:
            return PATH_FACTORIES[key]
    raise LookupError(
        f"No isolation factory for the path parameter '{parameter}' of {route.id}: register "
        f"one in PATH_FACTORIES (tests/isolation.py or tests/<app>/isolation.py)."
    )


def build_path(route: Route, world: World) -> str:
    """Return the route's path with every parameter naming an object of ``world``."""
    kwargs = {parameter: _factory(route, parameter)(world) for parameter in route.parameters}
    return reverse(route.name, kwargs=kwargs)


def declared_permission(route: Route) -> str | None:
    """Return the permission the route's view declares for the route's method."""
    request = getattr(APIRequestFactory(), route.method)("/")
    cls = getattr(route.callback, "cls", None)
    if cls is None:
        return None
    view = cls(**getattr(route.callback, "initkwargs", {}))
    actions = getattr(route.callback, "actions", None)
    if actions:
        view.action_map = actions
        view.action = actions.get(route.method)
    view.request = view.initialize_request(request)
    view.kwargs, view.args, view.format_kwarg = {}, (), None
    return required_permission(view.request, view)
