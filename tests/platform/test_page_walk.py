"""The page walk: every console and admin page in a real browser, as each role.

Debian's headless Chromium visits every console page (collected from the URLconf,
their ids resolved from the demo organization's data) as each role of
``roles.py``, at desktop (1280 px) and phone (390 px) widths, and every admin
changelist and change page at desktop width, as each role and as a superuser.
A page fails the walk on:

- a status other than the one ``roles.py`` implies (200, or 403 for a page the
  role may not see), or any failed request of the page (scripts, styles, htmx);
- an error in the browser's console, or an uncaught script error;
- "[invalid name]" anywhere in its text, or a raw JSON text area;
- a form control without a label (``<label>``, ``aria-label``,
  ``aria-labelledby`` or ``title``);
- at phone width, a page wider than the screen (tables scroll in their own box).

With ``CLOUDPAM_SCREENSHOTS=1`` (``make screenshots``) it also saves the main
pages, as an owner and as a superuser, under ``var/screenshots/``.

It is the slowest part of the suite, so it loads each page once per person: the
phone width is the same document resized (its media queries apply again), every
check runs in one ``evaluate``, and the people walk in step, one browser page each,
so that the browser renders one person's page while the live server answers
another's.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import import_module
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib import admin
from django.db import connections
from django.urls import URLPattern, URLResolver, get_resolver

from apps.analysis.models import AnalysisRun
from apps.audit.models import AuditEvent
from apps.planning import llm_services
from apps.planning.models import Plan
from apps.planning.template_models import OrganizationTemplate
from apps.pools.models import Pool
from apps.tenancy.choices import Role
from apps.tenancy.management.commands.seed_demo import DEMO_APPS
from apps.tenancy.models import Membership, Organization, User
from apps.tenancy.rls import tenant_context
from apps.tenancy.roles import role_has
from apps.tenancy.sso import services as sso_services
from cloudpam import context
from tests.actors import TEST_ACTOR
from tests.browser import PASSWORD, chromium, needs_chromium
from tests.discovery import factories as discovery_factories
from tests.tenancy.test_admin_walk import PAGES, ROWS, SUPERUSER, World, _account, may

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
ROLES = [role.value for role in Role]
SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"

# Console routes the walk does not open, each with its reason. Everything else that
# answers GET is walked: a new page joins the walk without a line here.
NOT_WALKED: dict[str, str] = {
    "favicon": "an icon, not a page",
    "healthz": "a probe answering JSON",
    "readyz": "a probe answering JSON",
    "health": "a probe answering JSON",
    "ready": "a probe answering JSON",
    "metrics": "Prometheus text",
    "api-schema": "the OpenAPI document (tests/test_schemathesis.py)",
    "api-docs": "Swagger UI (tests/platform/test_csp_browser.py)",
    "login": "signs the walker in",
    "logout": "would sign the walker out",
    "tenancy:invitation-accept": "needs a signed invitation token",
    "tenancy:mfa-login": "the second step of signing in, only after a password",
    "tenancy:mfa-verify": "only after an authenticator was added",
    "tenancy:sso-choose": "signing in through a provider (tests/tenancy/test_sso_browser.py)",
    "tenancy:sso-callback": "the provider's redirect back",
    "tenancy:sso-login": "redirects to the identity provider",
    "pools:pool-tree-children": "an htmx fragment, loaded by the tree page the walk opens",
    "pools:pool-allocate-preview": "an htmx fragment, loaded by the allocate form",
    "discovery:network-children": "an htmx fragment, loaded by the network page",
    "discovery:account-runs": "an htmx fragment, loaded by the account page",
    "planning:ai-message": "one message's fragment, loaded by the chat page the walk opens",
}

# Pages whose view checks more than its class's ``permission`` for GET.
CONSOLE_PERMISSIONS: dict[str, str] = {
    "pools:pool-create": "pools.change",
    "pools:pool-edit": "pools.change",
    "pools:pool-move": "pools.change",
    "pools:pool-delete": "pools.change",
    "audit:event-list": "audit.view",
    "audit:event-detail": "audit.view",
}

# The pages that still edit JSON in a text area, each to be emptied from this set:
KNOWN_JSON_TEXTAREAS: set[str] = set()

# Problems of third-party pages the project does not render, by page: django-celery-beat's
# forms split dates in two inputs under one label, and its task page runs an inline script.
KNOWN_THIRD_PARTY: dict[str, tuple[str, ...]] = {
    "admin-django_celery_beat-periodictask-change": (
        "unlabelled input start_time_",
        "unlabelled input expires_",
        "console: Executing inline script violates",
    ),
    "admin-django_celery_beat-clockedschedule-change": ("unlabelled input clocked_time_",),
}

# Runs in the page, in one call: what the walk fails on besides statuses and console
# errors, and at phone width how far the page overflows the screen and the outermost
# element that sticks out.
PAGE_CHECKS = """
(phone) => {
  const problems = [];
  const text = document.body ? document.body.innerText : "";
  if (text.includes("[invalid name]")) problems.push("shows [invalid name]");
  for (const area of document.querySelectorAll("textarea")) {
    const value = area.value.trim();
    if (/^[\\[{]/.test(value)) {
      try { JSON.parse(value); problems.push("raw JSON text area " + (area.name || area.id)); }
      catch (error) { /* prose that opens with a bracket */ }
    }
  }
  const skipped = new Set(["hidden", "submit", "button", "reset", "image"]);
  for (const control of document.querySelectorAll("input, select, textarea")) {
    if (skipped.has(control.type)) continue;
    const named = (control.labels && control.labels.length)
      || control.getAttribute("aria-label") || control.getAttribute("aria-labelledby")
      || control.getAttribute("title");
    if (!named) problems.push("unlabelled " + control.tagName.toLowerCase() + " "
      + (control.name || control.id || control.outerHTML.slice(0, 80)));
  }
  if (!phone) return problems;
  const over = document.documentElement.scrollWidth - window.innerWidth;
  if (over <= 1) return problems;
  const scrolls = (element) => {
    for (let up = element.parentElement; up; up = up.parentElement) {
      if (["auto", "scroll", "hidden"].includes(getComputedStyle(up).overflowX)) return true;
    }
    return false;
  };
  for (const element of document.querySelectorAll("body *")) {
    if (element.getBoundingClientRect().right > window.innerWidth + 1 && !scrolls(element)) {
      const classes = typeof element.className === "string" ? element.className.trim() : "";
      const dotted = classes ? "." + classes.split(/\\s+/).join(".") : "";
      const name = element.tagName.toLowerCase() + dotted;
      problems.push(over + "px wider than the screen, from " + name);
      return problems;
    }
  }
  problems.push(over + "px wider than the screen");
  return problems;
}
"""
# Done once the new document has loaded and no htmx request is running (the tree's
# rows and other fragments load after the page).
SETTLED = "() => document.readyState === 'complete' && !document.querySelector('.htmx-request')"


@dataclass(frozen=True)
class Page:
    """A page to visit, the permission it needs (None: any member) and a name for files."""

    name: str
    path: str
    permission: str | None


@dataclass
class Walk:
    """The demo organization, a staff member of each role, and the rows behind the pages."""

    organization: Organization
    people: dict[str, User]
    rows: dict[str, Any] = field(default_factory=dict)


def _routes(patterns: list[Any], prefix: str = "", namespace: str = "") -> Iterator[Any]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            space = pattern.namespace or namespace
            yield from _routes(pattern.url_patterns, prefix + str(pattern.pattern), space)
        elif isinstance(pattern, URLPattern):
            name = f"{namespace}:{pattern.name}" if namespace else pattern.name
            yield name, prefix + str(pattern.pattern), pattern.callback


def console_routes() -> list[tuple[str, str, Any]]:
    """Return (name, route, view class) of every console route that answers GET."""
    routes = []
    for name, route, callback in _routes(get_resolver().url_patterns):
        if route.startswith(("admin/", "api/v1/")):
            continue
        view = getattr(callback, "view_class", None)
        if view is not None and not hasattr(view, "get"):
            continue  # POST only: a form's target, reached from the pages walked
        routes.append((name, route, view))
    return routes


def _argument(walk: Walk, name: str, key: str) -> Any:
    rows = walk.rows
    table: dict[str, Callable[[], Any]] = {
        "pools:": lambda: rows["pool"].pk,
        "cloud:": lambda: rows["account"].pk,
        "discovery:network-pool": lambda: rows["pool"].pk,
        "discovery:resource-detail": lambda: rows["resource"].pk,
        "discovery:run-detail": lambda: rows["sync_run"].pk,
        "discovery:account-runs": lambda: rows["account"].pk,
        "analysis:run-detail": lambda: rows["analysis_run"].pk,
        "analysis:pool-analysis": lambda: rows["pool"].pk,
        "planning:import-detail": lambda: rows["import"].pk,
        "planning:plan-detail": lambda: rows["plan"].pk,
        "planning:template-delete": lambda: rows["template"].key,
        "planning:llm-provider": lambda: rows["llm_provider"].pk,
        "planning:ai-session": lambda: rows["admin:planning.aisession"].pk,
        "tenancy:sso-provider": lambda: rows["identity_provider"].pk,
        "audit:event-detail": lambda: rows["audit_event"].pk,
    }
    for prefix, value in sorted(table.items(), key=lambda item: -len(item[0])):
        if name.startswith(prefix):
            return value()
    raise AssertionError(f"the walk has no row for {name}'s <{key}>: add one to _argument")


def console_pages(walk: Walk) -> list[Page]:
    pages = []
    for name, route, view in console_routes():
        if name in NOT_WALKED:
            continue
        path = re.sub(
            r"<(?:\w+:)?(\w+)>",
            lambda match, name=name: str(_argument(walk, name, match.group(1))),
            route,
        )
        permission = CONSOLE_PERMISSIONS.get(name)
        if permission is None and view is not None:
            methods = getattr(view, "method_permissions", {}) or {}
            permission = methods.get("get", getattr(view, "permission", None))
        pages.append(Page(name, f"/{path}", permission))
    return pages


def admin_pages(walk: Walk) -> list[tuple[Page, str]]:
    """Return every admin changelist and change page with its label in the admin walk."""
    pages = [(Page("admin:index", "/admin/", None), "")]
    for model in admin.site._registry:
        label = model._meta.label_lower
        app_label, model_name = label.split(".")
        row = walk.rows[f"admin:{label}"]
        base = f"/admin/{app_label}/{model_name}/"
        pages.append((Page(f"admin-{app_label}-{model_name}", base, None), label))
        change = f"{base}{row.pk}/change/"
        pages.append((Page(f"admin-{app_label}-{model_name}-change", change, None), label))
    return pages


def build_walk(organization: Organization) -> Walk:
    """Seed the demo data in ``organization``, and one member of each role (staff)."""
    people = {}
    for role in ROLES:
        user = User.objects.create_user(f"{role}@walk.example.com", PASSWORD, is_staff=True)
        Membership.objects.create(user=user, organization=organization, role=role)
        people[role] = user
    people[SUPERUSER] = User.objects.create_superuser("root@walk.example.com", PASSWORD)
    Membership.objects.create(user=people[SUPERUSER], organization=organization, role=Role.OWNER)
    with (
        tenant_context(organization),
        context.bound(organization=organization, actor={"system": "page_walk"}),
    ):
        for app in DEMO_APPS:
            module = f"apps.{app}.demo"
            if find_spec(module) is not None:
                import_module(module).seed(organization=organization, user=people[Role.OWNER])
    walk = Walk(organization, people)
    # The admin walk's rows give an owner MFA devices and sessions: one who does not walk.
    holder = User.objects.create_user("devices@walk.example.com", PASSWORD)
    Membership.objects.create(user=holder, organization=organization, role=Role.OWNER)
    world = World(organization, holder, holder, people)
    pools = Pool.objects.for_organization(organization).live()
    account = _account(world)
    plans = Plan.objects.for_organization(organization)
    walk.rows = {
        # A pool with children, so that its page shows its tree, map and free space.
        "pool": pools.filter(numchild__gt=0, depth=2).order_by("pk").first(),
        "account": account,
        "resource": discovery_factories.resource(account),
        "sync_run": discovery_factories.sync_run(account),
        "analysis_run": AnalysisRun.objects.create(organization=organization, all_pools=True),
        "import": plans.filter(source="import").first(),
        "plan": plans.exclude(source="import").order_by("pk").first(),
        "template": OrganizationTemplate.objects.for_organization(organization).first(),
        "llm_provider": llm_services.llm_provider_create(
            organization=organization,
            actor=TEST_ACTOR,
            name="Walk model",
            provider="openai",
            model="gpt-walk",
        ),
        "identity_provider": sso_services.identity_provider_create(
            organization=organization,
            actor=TEST_ACTOR,
            name="Walk IdP",
            # A closed loopback port: nothing is fetched from it.
            issuer="http://127.0.0.1:9",
            client_id="walk-client",
        ),
        "audit_event": AuditEvent.objects.filter(organization=organization).first(),
    }
    for model in admin.site._registry:
        label = model._meta.label_lower
        row = walk.rows["pool"] if label == "pools.pool" else ROWS[label](world)
        walk.rows[f"admin:{label}"] = row
    missing = [name for name, row in walk.rows.items() if row is None]
    assert not missing, f"the demo data has no {missing}"
    return walk


@dataclass(frozen=True)
class Visit:
    """A page to visit, whether the person may see it, and where to save screenshots."""

    page: Page
    allowed: bool
    # Also check the page at phone width (the same page, resized: no second load).
    phone: bool = False
    shots: tuple[str | None, str | None] = (None, None)


class Walker:
    """One person's signed-in browser page: visits pages and notes what is wrong with them.

    ``start`` sends the browser to a page and returns with its answer; ``finish`` waits for
    it and checks it. The walkers of several people run in step (``walk_together``),
    so that one person's page renders while the live server answers another's.
    """

    def __init__(self, browser: Any, base: str, state: Any, who: str) -> None:
        self.base = base
        self.who = who
        self.context = browser.new_context(storage_state=state, viewport=DESKTOP)
        self.page = self.context.new_page()
        self.page.set_default_timeout(15_000)
        self.errors: list[str] = []
        self.failed: list[str] = []
        self.status: int | None = None
        self.visit: Visit | None = None
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.errors.append(f"script error: {error}"))
        self.page.on("response", self._response)

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def _response(self, response: Any) -> None:
        if response.status >= 400:
            self.failed.append(f"{response.status} {response.url.removeprefix(self.base)}")
        request = response.request
        if request.is_navigation_request() and response.frame == self.page.main_frame:
            # The last one is the document's (after any redirect).
            self.status = response.status

    def start(self, visit: Visit) -> None:
        self.errors.clear()
        self.failed.clear()
        self.status = None
        self.visit = visit
        # Returns once the document's answer arrives: the walkers' documents reach the
        # server one at a time (the in-memory SQLite of the tests refuses two writers of a
        # table at once instead of waiting), while each browser page renders on its own.
        self.page.goto(self.base + visit.page.path, wait_until="commit")

    def finish(self) -> list[str]:
        """Wait for the page ``start`` opened; return its problems, each naming the page."""
        visit = self.visit
        assert visit is not None
        page = visit.page
        # Polled on a timer: animation frames may be throttled in a page not in front.
        self.page.wait_for_function(SETTLED, polling=50)
        wanted = 200 if visit.allowed else 403
        problems = []
        if self.status != wanted:
            problems.append(f"status {self.status}, expected {wanted}")
        document = f"{self.status} {page.path}"
        failed = [line for line in self.failed if visit.allowed or line != document]
        problems += [f"request failed: {line}" for line in failed]
        errors = self.errors
        if not visit.allowed:
            # The browser reports the refused document itself as a failed load.
            errors = [e for e in errors if "status of 403" not in e]
        # One line per distinct message: a refused inline style repeats for every element.
        problems += [f"console: {error[:160]}" for error in dict.fromkeys(errors)]
        where = f"{page.path} as {self.who}"
        if visit.allowed:
            problems = [f"{where}: {problem}" for problem in problems]
            problems += [f"{where}: {p}" for p in self._checks(page, phone=False)]
            self._screenshot(visit.shots[0])
            if visit.phone:
                # The phone width: the same document, resized (media queries apply again).
                self.page.set_viewport_size(PHONE)
                problems += [
                    f"{where} at {PHONE['width']}px: {problem}"
                    for problem in self._checks(page, phone=True)
                ]
                self._screenshot(visit.shots[1])
                self.page.set_viewport_size(DESKTOP)
        else:
            problems = [f"{where}: {problem}" for problem in problems]
        known = KNOWN_THIRD_PARTY.get(page.name, ())
        return [problem for problem in problems if not problem.split(": ", 1)[1].startswith(known)]

    def _checks(self, page: Page, *, phone: bool) -> list[str]:
        return [
            problem
            for problem in self.page.evaluate(PAGE_CHECKS, phone)
            if not (problem.startswith("raw JSON") and page.name in KNOWN_JSON_TEXTAREAS)
        ]

    def _screenshot(self, shot: str | None) -> None:
        if shot:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=SCREENSHOTS / f"{shot}.png", full_page=True)

    def close(self) -> None:
        self.context.close()


def walk_together(walkers: dict[Walker, list[Visit]]) -> list[str]:
    """Visit each walker's pages, all walkers in step; return every problem found."""
    problems: list[str] = []
    queues = {walker: list(visits) for walker, visits in walkers.items()}
    loading = []
    for walker, visits in queues.items():
        if visits:
            walker.start(visits.pop(0))
            loading.append(walker)
    # A walker starts its next page as soon as its last one is checked, not once every
    # walker's is: the server answers it while the other walkers' pages render.
    while loading:
        walker = loading.pop(0)
        problems += walker.finish()
        if queues[walker]:
            walker.start(queues[walker].pop(0))
            loading.append(walker)
    return problems


def sign_in(browser: Any, base: str, user: User) -> Any:
    """Sign ``user`` in through the login form; return the context's cookies."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{base}/login/")
    page.fill("#id_username", user.email)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
    state = context.storage_state()
    context.close()
    return state


def _screenshot(person: str, page: Page, width: int) -> str | None:
    """Name the screenshot of a main page (no detail or form page), when asked for."""
    if not os.environ.get("CLOUDPAM_SCREENSHOTS"):
        return None
    main = not re.search(r"\d", page.path)
    if person not in (Role.OWNER, SUPERUSER) or not main:
        return None
    name = page.name.replace(":", "-")
    return f"{person}-{name}-{width}"


@pytest.fixture
def walk(db: None) -> Walk:
    organization = Organization.objects.create(name="Demo Corp", slug="demo")
    return build_walk(organization)


def test_every_console_route_is_walked_or_skipped_with_a_reason() -> None:
    names = {name for name, _route, _view in console_routes()}
    assert not set(NOT_WALKED) - names, "NOT_WALKED names routes that are gone"
    assert set(CONSOLE_PERMISSIONS) <= names


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@needs_chromium
def test_console_pages_as_each_role_at_desktop_and_phone_widths(live_server, walk) -> None:
    pages = console_pages(walk)
    walkers: dict[Walker, list[Visit]] = {}
    try:
        with chromium() as browser:
            for role in ROLES:
                state = sign_in(browser, live_server.url, walk.people[role])
                walker = Walker(browser, live_server.url, state, role)
                walkers[walker] = [
                    Visit(
                        page,
                        page.permission is None or role_has(role, page.permission),
                        phone=True,
                        shots=(
                            _screenshot(role, page, DESKTOP["width"]),
                            _screenshot(role, page, PHONE["width"]),
                        ),
                    )
                    for page in pages
                ]
            problems = walk_together(walkers)
            for walker in walkers:
                walker.close()
    finally:
        connections.close_all()
    assert not problems, "\n".join(problems)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@needs_chromium
def test_admin_pages_as_each_role_and_a_superuser(live_server, walk) -> None:
    pages = admin_pages(walk)
    walkers: dict[Walker, list[Visit]] = {}
    try:
        with chromium() as browser:
            for person in [*ROLES, SUPERUSER]:
                state = sign_in(browser, live_server.url, walk.people[person])
                walker = Walker(browser, live_server.url, state, person)
                walkers[walker] = [
                    Visit(
                        page,
                        not label
                        or any(
                            may(person, PAGES[label][operation]) for operation in ("view", "change")
                        ),
                        shots=(_screenshot(person, page, DESKTOP["width"]), None),
                    )
                    for page, label in pages
                ]
            problems = walk_together(walkers)
            for walker in walkers:
                walker.close()
    finally:
        connections.close_all()
    assert not problems, "\n".join(problems)
