"""
The facts a language model is shown about an organization, within a token budget.

:class:`ContextFacts` is what the selector (``apps.planning.ai.selectors``) loads: every
live pool as a :class:`PoolFacts` (utilization, free space, largest free block, runway),
the compliance findings, the discovered usage and the naming patterns seen.
:func:`build_context` turns them into the text of the prompt:

- a header (the organization, how many pools, how to read a line);
- the tree, one line per pool, indented by depth, each pool with its id (the only ids
  the model may reference: ``Context.pool_ids``);
- the findings, the discovered usage and the naming patterns.

Every string of the facts is sanitized (:mod:`.sanitizer`) and every untrusted one (names,
descriptions, tags, messages, patterns) is spotlighted (:mod:`.spotlight`).

Budget. Tokens are estimated as one per four characters (``CHARS_PER_TOKEN``), the usual
figure for English and code with the GPT and Claude tokenizers; the estimate errs on the
safe side for the digits and punctuation of CIDRs. The parts are taken in order of
importance until the budget is spent, so the least important are dropped first:

1. the header;
2. the focus: the pools the user names (by CIDR, or by name, in ``focus``), their
   ancestors, and their whole subtree, level by level;
3. the roots; 4. the first findings (errors first); 5. the second level;
6. the naming patterns; 7. the discovered usage; 8. the other findings;
9. the deeper levels outside the focus, down to ``max_depth``.

A pool outside the focus is shown only with its parent. When anything is left out,
``Context.truncated`` is True and the text says how many pools are not shown.

No Django import.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from apps.planning.ai.sanitizer import is_credential_key, sanitize_text
from apps.planning.ai.spotlight import spotlight
from apps.pools import cidr

CHARS_PER_TOKEN = 4
DEFAULT_MAX_DEPTH = 4
FOCUS_LIMIT = 8
FIRST_FINDINGS = 20
FINDINGS_LIMIT = 100
DISCOVERED_LIMIT = 50
NAMING_LIMIT = 12
DESCRIPTION_LIMIT = 200
TAGS_LIMIT = 10
TAG_LIMIT = 64
SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}

_CIDR_IN_TEXT = re.compile(
    r"(?<![0-9A-Za-z:.])(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7})"
    r"/\d{1,3}(?![0-9])"
)


@dataclass(frozen=True, slots=True)
class PoolFacts:
    """What the model may know about one live pool.

    ``depth`` is 1 for a root. ``largest_free`` is a CIDR or None when the pool is full;
    ``children`` counts its live children; ``runway_days`` is None without a projection.
    """

    id: int
    cidr: str
    name: str
    type: str
    status: str
    parent_id: int | None
    depth: int
    utilization_percent: float
    free_addresses: int
    largest_free: str | None
    children: int
    runway_days: int | None = None
    description: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ContextFacts:
    """Everything a context can be built from: the organization's pools and analysis.

    ``findings`` are ``{rule, severity, pool, message}`` dicts; ``discovered`` are dicts of
    discovered usage (``pool`` id or None, counts, strings); ``naming_patterns`` are the
    shapes of names seen (``{env}-{n}``).
    """

    organization: str
    pools: Sequence[PoolFacts]
    findings: Sequence[Mapping[str, Any]] = ()
    discovered: Sequence[Mapping[str, Any]] = ()
    naming_patterns: Sequence[str] = ()
    # Every live pool of the organization, when ``pools`` holds only those a context can
    # show (the selector's candidates); None means ``pools`` is all of them.
    total_pools: int | None = None


@dataclass(frozen=True, slots=True)
class Context:
    """The text a model is shown, its estimated tokens, the pool ids it shows."""

    text: str
    tokens: int
    pool_ids: frozenset[int]
    truncated: bool


def estimate_tokens(text: str) -> int:
    """Return the estimated tokens of ``text``: one per ``CHARS_PER_TOKEN`` characters."""
    return -(-len(text) // CHARS_PER_TOKEN)


# Focus


def cidrs_in(text: str) -> list[cidr.Prefix]:
    """Return the prefixes written in ``text`` (host bits cleared), in order, each once."""
    found: list[cidr.Prefix] = []
    for match in _CIDR_IN_TEXT.finditer(text or ""):
        try:
            prefix = cidr.parse_prefix(match.group(0))
        except cidr.CidrError as error:
            if error.canonical is None:
                continue
            prefix = cidr.parse_prefix(error.canonical)
        if prefix not in found:
            found.append(prefix)
    return found


def _names_in(text: str, pools: Iterable[PoolFacts]) -> list[PoolFacts]:
    """Return the pools whose name the text spells as a word, the longest names first."""
    lowered = text.lower()
    hits = []
    for pool in pools:
        name = pool.name.strip().lower()
        if len(name) < 3 or name not in lowered:
            continue
        pattern = r"(?<![\w-])" + re.escape(name) + r"(?![\w-])"
        if re.search(pattern, lowered):
            hits.append(pool)
    hits.sort(key=lambda pool: (-len(pool.name), pool.depth, pool.id))
    return hits


def focus_pools(facts: ContextFacts, focus: str | None) -> list[PoolFacts]:
    """Return the pools ``focus`` names: by CIDR (or the narrowest pool holding one), then
    by name; at most ``FOCUS_LIMIT``.
    """
    if not focus:
        return []
    by_cidr: dict[str, PoolFacts] = {}
    for pool in facts.pools:
        by_cidr.setdefault(pool.cidr, pool)
    chosen: list[PoolFacts] = []
    for prefix in cidrs_in(focus):
        found = by_cidr.get(str(prefix)) or narrowest_holding(facts.pools, prefix)
        if found is not None and found not in chosen:
            chosen.append(found)
    for pool in _names_in(focus, facts.pools):
        if pool not in chosen:
            chosen.append(pool)
    return chosen[:FOCUS_LIMIT]


def narrowest_holding(pools: Iterable[PoolFacts], prefix: cidr.Prefix) -> PoolFacts | None:
    """Return the narrowest pool that contains ``prefix``, or None."""
    best: tuple[int, PoolFacts] | None = None
    for pool in pools:
        try:
            pool_prefix = cidr.parse_prefix(pool.cidr)
        except cidr.CidrError:
            continue
        if pool_prefix.contains(prefix) and (best is None or pool_prefix.length > best[0]):
            best = (pool_prefix.length, pool)
    return best[1] if best else None


# Rendering


def _clean(value: Any, limit: int | None = None) -> str:
    text = sanitize_text(str(value))
    if limit is not None and len(text) > limit:
        text = text[:limit] + "..."
    return text


def _number(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)


def _tags_text(tags: Mapping[str, Any]) -> str:
    pairs = [
        f"{_clean(key, TAG_LIMIT)}={_clean(value, TAG_LIMIT)}"
        for key, value in sorted(tags.items(), key=lambda item: str(item[0]))
        if not is_credential_key(key)
    ]
    if len(pairs) > TAGS_LIMIT:
        pairs = [*pairs[:TAGS_LIMIT], f"... {len(pairs) - TAGS_LIMIT} more"]
    return "; ".join(pairs)


def pool_line(pool: PoolFacts, depth: int, *, focused: bool = False) -> str:
    """Return the line of one pool: id, CIDR, type/status, name, usage, runway, text."""
    parts = [
        "  " * (depth - 1) + f"- id={pool.id}",
        *(["[focus]"] if focused else []),
        _clean(pool.cidr),
        f"{_clean(pool.type)}/{_clean(pool.status)}",
        f"name={spotlight(_clean(pool.name, 255))}",
        f"used={_number(float(pool.utilization_percent))}%",
        f"free={pool.free_addresses}",
        f"largest_free={_clean(pool.largest_free) if pool.largest_free else 'none'}",
        f"children={pool.children}",
    ]
    if pool.runway_days is not None:
        parts.append(f"runway={pool.runway_days}d")
    if pool.description:
        parts.append(f"description={spotlight(_clean(pool.description, DESCRIPTION_LIMIT))}")
    tags = _tags_text(pool.tags) if pool.tags else ""
    if tags:
        parts.append(f"tags={spotlight(tags)}")
    return " ".join(parts)


def _finding_line(finding: Mapping[str, Any], pools: Mapping[int, PoolFacts]) -> str:
    pool_id = finding.get("pool")
    pool = pools.get(pool_id) if isinstance(pool_id, int) else None
    where = f"pool id={pool_id} {pool.cidr}" if pool else f"pool id={_clean(pool_id)}"
    message = spotlight(_clean(finding.get("message", ""), 300))
    return (
        f"- [{_clean(finding.get('severity', 'info'))}] {_clean(finding.get('rule', ''))} "
        f"{where}: {message}"
    )


_PLAIN_KEYS = frozenset({"cidr", "provider", "resource_type", "severity", "rule", "state"})


def _discovered_line(entry: Mapping[str, Any], pools: Mapping[int, PoolFacts]) -> str:
    parts = []
    for key, value in entry.items():
        if is_credential_key(key):
            continue
        name = _clean(key, 40)
        if key == "pool":
            pool = pools.get(value) if isinstance(value, int) else None
            parts.append(f"pool id={value} {pool.cidr}" if pool else "outside any pool")
        elif isinstance(value, bool | int | float) or value is None:
            parts.append(f"{name}={value}")
        elif key in _PLAIN_KEYS:
            parts.append(f"{name}={_clean(value, 64)}")
        elif isinstance(value, Mapping):
            parts.append(f"{name}={spotlight(_tags_text(value))}")
        else:
            parts.append(f"{name}={spotlight(_clean(value, 200))}")
    return "- " + ", ".join(parts)


# Building


@dataclass
class _Budget:
    chars: int
    used: int = 0

    def take(self, text: str) -> bool:
        cost = len(text) + 1
        if self.used + cost > self.chars:
            return False
        self.used += cost
        return True


@dataclass
class _Tree:
    pools: dict[int, PoolFacts]
    children: dict[int | None, list[int]]
    depth: dict[int, int]

    @classmethod
    def of(cls, pools: Sequence[PoolFacts]) -> _Tree:
        by_id = {pool.id: pool for pool in pools}
        children: dict[int | None, list[int]] = {}
        for pool in pools:
            parent = pool.parent_id if pool.parent_id in by_id else None
            children.setdefault(parent, []).append(pool.id)
        depth: dict[int, int] = {}
        level, current = 1, list(children.get(None, ()))
        while current:
            following: list[int] = []
            for pool_id in current:
                if pool_id in depth:  # a cycle in hand-made data
                    continue
                depth[pool_id] = level
                following.extend(children.get(pool_id, ()))
            level, current = level + 1, following
        return cls(by_id, children, depth)

    def parent(self, pool_id: int) -> int | None:
        parent = self.pools[pool_id].parent_id
        return parent if parent in self.pools else None

    def ancestors(self, pool_id: int) -> list[int]:
        chain, parent = [], self.parent(pool_id)
        while parent is not None and parent not in chain:
            chain.append(parent)
            parent = self.parent(parent)
        chain.reverse()
        return chain

    def levels_below(self, roots: Sequence[int]) -> Iterator[list[int]]:
        """Yield the subtrees of ``roots`` level by level, the roots' children first."""
        current = [kid for root in roots for kid in self.children.get(root, ())]
        seen: set[int] = set(roots)
        while current:
            current = [pool_id for pool_id in current if pool_id not in seen]
            seen.update(current)
            if current:
                yield current
            current = [kid for pool_id in current for kid in self.children.get(pool_id, ())]

    def level(self, depth: int) -> list[int]:
        current = list(self.children.get(None, ()))
        for _ in range(depth - 1):
            current = [kid for pool_id in current for kid in self.children.get(pool_id, ())]
        return current


def build_context(
    facts: ContextFacts,
    *,
    focus: str | None,
    budget_tokens: int,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> Context:
    """Return the context of ``facts`` for a request about ``focus`` within the budget.

    See the module docstring for what is shown and in which order parts are dropped.
    """
    tree = _Tree.of(facts.pools)
    total = max(facts.total_pools or 0, len(facts.pools))
    budget = _Budget(max(budget_tokens, 0) * CHARS_PER_TOKEN)
    focused = [pool.id for pool in focus_pools(facts, focus)]
    focus_set = set(focused)
    shown: set[int] = set()
    lines: dict[int, str] = {}
    truncated = False
    findings_lines: list[str] = []
    discovered_lines: list[str] = []
    naming_lines: list[str] = []
    extra_ids: set[int] = set()

    header = [
        f"Organization: {spotlight(_clean(facts.organization, 255))}",
        f"Live pools: {total}. One line per pool, indented under its parent: "
        "id, CIDR, type/status, name, used percent, free addresses, largest free block, "
        "live children, runway in days (when projected), description, tags.",
    ]
    # The "not shown" line and the section titles, when needed.
    footer_reserve = 200
    budget.chars = max(budget.chars - footer_reserve, 0)
    for line in header:
        if not budget.take(line):
            truncated = True

    def add_pools(pool_ids: Iterable[int], *, require_parent: bool) -> bool:
        """Add the lines of ``pool_ids`` while they fit; return False once one does not."""
        for pool_id in pool_ids:
            if pool_id in shown:
                continue
            parent = tree.parent(pool_id)
            if require_parent and parent is not None and parent not in shown:
                continue
            line = pool_line(
                tree.pools[pool_id], tree.depth.get(pool_id, 1), focused=pool_id in focus_set
            )
            if not budget.take(line):
                return False
            shown.add(pool_id)
            lines[pool_id] = line
        return True

    def add_lines(target: list[str], candidates: Iterable[tuple[str, Iterable[int]]]) -> bool:
        for line, ids in candidates:
            if not budget.take(line):
                return False
            target.append(line)
            extra_ids.update(pool_id for pool_id in ids if pool_id in tree.pools)
        return True

    findings = sorted(
        facts.findings[: FINDINGS_LIMIT * 10],
        key=lambda f: SEVERITY_ORDER.get(str(f.get("severity")), 3),
    )[:FINDINGS_LIMIT]

    def finding_items(items: Sequence[Mapping[str, Any]]) -> Iterator[tuple[str, list[int]]]:
        for finding in items:
            pool_id = finding.get("pool")
            ids = [pool_id] if isinstance(pool_id, int) else []
            yield _finding_line(finding, tree.pools), ids

    def discovered_items() -> Iterator[tuple[str, list[int]]]:
        for entry in facts.discovered[:DISCOVERED_LIMIT]:
            pool_id = entry.get("pool")
            yield _discovered_line(entry, tree.pools), [pool_id] if isinstance(pool_id, int) else []

    def naming_items() -> Iterator[tuple[str, list[int]]]:
        for pattern in facts.naming_patterns[:NAMING_LIMIT]:
            yield f"- {spotlight(_clean(pattern, 120))}", []

    chain = []
    for pool_id in focused:
        chain.extend(tree.ancestors(pool_id))
        chain.append(pool_id)
    steps: list[tuple[str, Callable[[], bool]]] = [
        ("focus", lambda: add_pools(chain, require_parent=False)),
        *(
            ("focus", lambda level=level: add_pools(level, require_parent=True))
            for level in tree.levels_below(focused)
        ),
        ("tree", lambda: add_pools(tree.level(1), require_parent=False)),
        ("findings", lambda: add_lines(findings_lines, finding_items(findings[:FIRST_FINDINGS]))),
        ("tree", lambda: add_pools(tree.level(2), require_parent=True)),
        ("naming", lambda: add_lines(naming_lines, naming_items())),
        ("discovered", lambda: add_lines(discovered_lines, discovered_items())),
        ("findings", lambda: add_lines(findings_lines, finding_items(findings[FIRST_FINDINGS:]))),
        *(
            ("tree", lambda depth=depth: add_pools(tree.level(depth), require_parent=True))
            for depth in range(3, max_depth + 1)
        ),
    ]
    stopped: set[str] = set()
    for kind, step in steps:
        if kind in stopped or (kind == "tree" and "focus" in stopped):
            continue
        if not step():
            truncated = True
            stopped.add(kind)

    hidden = total - len(shown)
    if hidden:
        truncated = True
    if len(findings_lines) < len(facts.findings):
        truncated = True
    text_lines = list(header)
    text_lines.append("Tree:")
    text_lines.extend(lines[pool_id] for pool_id in _pre_order(tree, shown))
    if hidden:
        text_lines.append(
            f"Not shown: {hidden} pools (deeper levels or beyond the context budget); "
            "their ids are unknown here and must not be referenced."
        )
    for title, section in (
        ("Compliance findings:", findings_lines),
        ("Naming patterns seen:", naming_lines),
        ("Discovered cloud usage:", discovered_lines),
    ):
        if section:
            text_lines.append(title)
            text_lines.extend(section)
    # A budget smaller than the header itself: whole lines go, never half a marker.
    pool_ids = shown | extra_ids
    if estimate_tokens("\n".join(text_lines)) > budget_tokens:
        while len(text_lines) > 1 and estimate_tokens("\n".join(text_lines)) > budget_tokens:
            text_lines.pop()
        remaining = set(text_lines)
        pool_ids = {pool_id for pool_id in shown if lines[pool_id] in remaining}
        truncated = True
    text = "\n".join(text_lines)
    return Context(
        text=text,
        tokens=estimate_tokens(text),
        pool_ids=frozenset(pool_ids),
        truncated=truncated,
    )


def _pre_order(tree: _Tree, shown: set[int]) -> Iterator[int]:
    """Yield the shown pools in tree order (a shown pool under a hidden parent as a root)."""
    roots = [pool_id for pool_id in tree.pools if pool_id in shown]
    roots = [pool_id for pool_id in roots if tree.parent(pool_id) not in shown]
    stack = list(reversed(roots))
    while stack:
        pool_id = stack.pop()
        yield pool_id
        stack.extend(reversed([kid for kid in tree.children.get(pool_id, ()) if kid in shown]))


# Naming patterns


_REGION = re.compile(
    r"\b(?:us|eu|ap|sa|ca|me|af|il|mx|us-gov)-(?:north|south|east|west|central|northeast|"
    r"southeast|northwest|southwest)-\d\b"
)
_ENV = re.compile(
    r"(?<![a-z])(?:prod|production|staging|stage|stg|dev|development|test|qa|uat|sandbox|"
    r"nonprod|preprod)(?![a-z])"
)
_DIGITS = re.compile(r"\d+")


def name_shape(name: str) -> str:
    """Return the shape of a pool name: regions, environments and numbers as placeholders.

    >>> name_shape("prod-us-east-1-web-02")
    '{env}-{region}-web-{n}'
    """
    shape = _REGION.sub("{region}", name.strip().lower())
    shape = _ENV.sub("{env}", shape)
    return _DIGITS.sub("{n}", shape)


def naming_patterns_of(names: Iterable[str], *, limit: int = NAMING_LIMIT) -> list[str]:
    """Return the name shapes seen at least twice, the most frequent first."""
    counts: dict[str, int] = {}
    for name in names:
        if name:
            shape = name_shape(name)
            if "{" in shape:
                counts[shape] = counts.get(shape, 0) + 1
    ranked = sorted(
        (item for item in counts.items() if item[1] >= 2), key=lambda item: (-item[1], item[0])
    )
    return [f"{shape} ({count} pools)" for shape, count in ranked[:limit]]
