"""
The deterministic planner: the assistant's answer when no language model does (SPEC 7.3).

:func:`plan_request` reads the common requests and answers them with a plan of SPEC
7.0's operations, or says why it cannot be done:

- **allocate** N blocks of a size in a pool: "allocate four /24s for staging in
  10.20.0.0/16", "three subnets with room for 500 hosts in prod-vpc". Counts in digits or
  words ("a", "four", "a dozen"); sizes as ``/N`` or a host count ("room for 500 hosts":
  500 plus the 5 addresses a cloud subnet reserves, a /23, as the wizard counts them);
  the pool by CIDR (or the narrowest pool holding it) or by name; names from the word
  after "for", "named" or "called", or an environment word (``staging-1`` ...
  ``staging-4``, numbered after the pool's children of that name). Each block is a
  ``create`` with ``prefix_length`` + ``within``: the dry run places it in the first
  free block, as the pool service would.
- **reserve** room for growth: "reserve a /20 in X", or "reserve room for growth in X"
  (a quarter of X, or the largest free block when a quarter does not fit), as pools of
  type and status ``reserved``.
- **template**: "generate a template with regions us-east,eu-west and environments
  prod,dev in 10.0.0.0/8": the Regional template of the wizard's pure generator
  (public and private /24 tiers, 25 % headroom unless the request says otherwise), in the
  given CIDR, or in the smallest free block of the given pool that holds it.

A request that cannot fit is answered with ``impossible`` naming the largest free block.
Anything else: ``understood=False`` and a reply saying that AI is unavailable, pointing to
the wizard and the recommendations.

No Django import.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from apps.planning.ai.context import (
    ContextFacts,
    PoolFacts,
    cidrs_in,
    focus_pools,
    narrowest_holding,
)
from apps.planning.engine import templates
from apps.pools import cidr

MAX_BLOCKS = 20_000
RESERVED_PER_SUBNET = 5  # AWS and Azure reserve 5 addresses per subnet: the wizard's default
DEFAULT_TIERS = ({"name": "public", "prefix_length": 24}, {"name": "private", "prefix_length": 24})
DEFAULT_HEADROOM = 25
WIZARD_PATH = "/plans/wizard/"
RECOMMENDATIONS_PATH = "/recommendations/"
UNAVAILABLE = (
    "The AI assistant is unavailable right now (no language model is configured or none "
    'answered), and the built-in planner only understands requests such as "allocate four '
    '/24s for staging in 10.20.0.0/16", "reserve a /20 in <pool> for growth" or "generate '
    'a template with regions us-east,eu-west and environments prod,dev in 10.0.0.0/8". '
    f"Use the schema wizard ({WIZARD_PATH}) to design a plan, or the recommendations "
    f"({RECOMMENDATIONS_PATH}) for suggested changes."
)
PREFACE = "No language model answered, so the built-in planner made this plan. "

NUMBER_WORDS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "single": 1,
    "two": 2,
    "couple": 2,
    "pair": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "dozen": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "sixty-four": 64,
    "hundred": 100,
}
ENVIRONMENTS = (
    "production",
    "prod",
    "staging",
    "stage",
    "development",
    "dev",
    "test",
    "qa",
    "uat",
    "sandbox",
    "nonprod",
    "preprod",
)
_STOP_NAMES = frozenset(
    {"growth", "hosts", "host", "the", "a", "an", "room", "future", "later", "each", "it", "me"}
)

_SIZE = re.compile(r"(?<![0-9A-Fa-f.:/])/(\d{1,3})(?:s\b|'s\b|\b)")
_HOSTS = re.compile(
    r"(?:room|space|capacity)?\s*(?:for\s+)?(\d[\d,_]*)\s*(?:usable\s+)?"
    r"(?:hosts?|addresses|ips?|ip addresses|machines|instances|nodes|devices)\b"
)
_NUMBER = re.compile(
    r"(?<![\w./:-])(\d{1,6}|"
    + "|".join(sorted(NUMBER_WORDS, key=len, reverse=True))
    + r")(?![\w/.:-])"
)
_PERCENT = re.compile(r"(\d{1,2})\s*%")
_NAMED = re.compile(r"\b(?:named|called|prefix(?:ed)?)\s+[\"']?([a-z0-9][a-z0-9_.\-]{0,62})")
_FOR = re.compile(r"\bfor\s+(?:the\s+)?[\"']?([a-z][a-z0-9_.\-]{0,62})")
_TARGET = re.compile(r"\b(?:in|inside|within|from|under|of)\s+(?:the\s+)?(?:pool\s+)?(.+)$")
_LIST = r"([a-z0-9][a-z0-9\-]*(?:\s*(?:,|\band\b|&|\s)\s*[a-z0-9][a-z0-9\-]*)*)"
_REGIONS = re.compile(r"\bregions?\s*(?:[:=]|of|named|called)?\s*" + _LIST)
_ENVS = re.compile(r"\b(?:environments?|envs?)\s*(?:[:=]|of|named|called)?\s*" + _LIST)
_TIERS = re.compile(r"\btiers?\s*(?:[:=]|of|named|called)?\s*" + _LIST)
_LIST_STOP = frozenset(
    {
        "and",
        "environments",
        "environment",
        "envs",
        "env",
        "tiers",
        "tier",
        "in",
        "with",
        "under",
        "inside",
        "within",
        "regions",
        "region",
        "for",
        "using",
        "the",
        "of",
    }
)


@dataclass(frozen=True)
class FallbackAnswer:
    """The deterministic planner's answer: a reply, and operations or why not.

    ``understood`` is False when the request is not one the planner reads.
    """

    reply: str
    operations: list[dict[str, Any]] | None = None
    impossible: str | None = None
    understood: bool = True


@dataclass(frozen=True)
class _Target:
    pool: PoolFacts
    prefix: cidr.Prefix
    children: tuple[cidr.Prefix, ...]

    @property
    def label(self) -> str:
        return f"'{self.pool.name}' ({self.prefix})" if self.pool.name else str(self.prefix)

    def free(self) -> list[cidr.Prefix]:
        return cidr.free_blocks(self.prefix, self.children)

    def largest(self) -> str:
        block = cidr.largest_free_block(self.prefix, self.children)
        return f"the largest free block is {block}" if block else "it has no free space left"


def _target_of(pool: PoolFacts, facts: ContextFacts) -> _Target:
    children = []
    for other in facts.pools:
        if other.parent_id == pool.id:
            try:
                children.append(cidr.parse_prefix(other.cidr))
            except cidr.CidrError:
                continue
    return _Target(pool, cidr.parse_prefix(pool.cidr), tuple(children))


def _find_target(text: str, facts: ContextFacts) -> PoolFacts | None:
    """Return the pool the request places blocks in: after "in"/"within"/..., then anywhere.

    A CIDR in the request must be a pool's own: blocks never go into a pool that merely
    holds the CIDR given.
    """
    given = cidrs_in(text)
    if given:
        wanted = {str(prefix) for prefix in given}
        return next((pool for pool in facts.pools if pool.cidr in wanted), None)
    match = _TARGET.search(text)
    if match:
        pools = focus_pools(facts, match.group(1))
        if pools:
            return pools[0]
    pools = focus_pools(facts, text)
    return pools[0] if pools else None


def _number(token: str) -> int:
    return int(token) if token.isdigit() else NUMBER_WORDS[token]


def _strip(text: str, *patterns: re.Pattern[str]) -> str:
    for pattern in patterns:
        text = pattern.sub(" ", text)
    return text


def _count(text: str) -> int:
    """Return the number of blocks asked for: the first number left once CIDRs, sizes,
    host counts and percentages are taken out (1 when none is).
    """
    rest = text
    for prefix_text in re.findall(r"[0-9a-f.:]+/\d{1,3}", rest):
        rest = rest.replace(prefix_text, " ")
    rest = _strip(rest, _SIZE, _HOSTS, _PERCENT)
    for match in _NUMBER.finditer(rest):
        if match.group(1) not in ("a", "an"):
            return _number(match.group(1))
    return 1


def _environment(text: str) -> str | None:
    for word in ENVIRONMENTS:
        if re.search(rf"(?<![a-z0-9-]){word}(?![a-z0-9-])", text):
            return word
    return None


def _prefix_name(text: str, target: PoolFacts | None, *, reserve: bool) -> str | None:
    """Return the name the new pools are numbered after, if the request gives one.

    An environment word serves when nothing else does, except for a reservation or when
    it is the pool's own name.
    """
    for pattern in (_NAMED, _FOR):
        for match in pattern.finditer(text):
            word = match.group(1).strip(".-_")
            if not word or word in _STOP_NAMES or word in NUMBER_WORDS or word.isdigit():
                continue
            if target is not None and word == target.name.lower():
                continue
            return word
    environment = _environment(text)
    if reserve or (target is not None and environment == target.name.lower()):
        return None
    return environment


def _first_number(target: _Target, facts: ContextFacts, stem: str) -> int:
    """Return the first free number of ``stem-N`` among the target's children."""
    pattern = re.compile(rf"{re.escape(stem)}-(\d+)$", re.IGNORECASE)
    used = 0
    for pool in facts.pools:
        if pool.parent_id == target.pool.id:
            match = pattern.match(pool.name)
            if match:
                used = max(used, int(match.group(1)))
    return used + 1


def _capacity(free: Sequence[cidr.Prefix], length: int) -> int:
    return sum(1 << (length - block.length) for block in free if block.length <= length)


def _length_of(text: str, family: int) -> tuple[int | None, str | None]:
    """Return the prefix length asked for (``/N`` or a host count) or an error sentence."""
    bits = 32 if family == 4 else 128
    size = _SIZE.search(text)
    if size:
        length = int(size.group(1))
        if length > bits:
            return None, f"/{length} is not an IPv{family} prefix length."
        return length, None
    hosts = _HOSTS.search(text)
    if hosts:
        count = int(re.sub(r"[,_]", "", hosts.group(1)))
        if count <= 0:
            return None, "A block needs room for at least one host."
        length = templates.hosts_to_prefix_length(count, RESERVED_PER_SUBNET, bits)
        if length < 0:
            return None, f"No IPv{family} block has room for {count} hosts."
        return length, None
    return None, None


def _child_type(parent: PoolFacts, reserve: bool) -> str:
    if reserve:
        return "reserved"
    return "custom" if parent.type in ("subnet", "reserved") else "subnet"


def _blocks(text: str, facts: ContextFacts, *, reserve: bool) -> FallbackAnswer:
    pool = _find_target(text, facts)
    if pool is None:
        given = cidrs_in(text)
        if given:
            holder = narrowest_holding(facts.pools, given[0])
            where = (
                f"; it lies in '{holder.name}' ({holder.cidr})"
                if holder is not None
                else "; create it first"
            )
            reason = f"No pool of this organization is {given[0]}{where}."
            return FallbackAnswer(reply=reason, impossible=reason)
        return FallbackAnswer(
            reply="Which pool should the blocks go in? Name it or give its CIDR, for example "
            '"in 10.20.0.0/16".'
        )
    target = _target_of(pool, facts)
    family = target.prefix.family
    length, error = _length_of(text, family)
    free = target.free()
    if error:
        return FallbackAnswer(reply=error, impossible=error)
    if length is None:
        if not reserve:
            return FallbackAnswer(
                reply='How large should each block be? Give a prefix length ("/24") or a '
                'host count ("room for 500 hosts").'
            )
        # Room for growth: a quarter of the pool, or the largest free block below it.
        length = min(target.prefix.length + 2, target.prefix.bits)
        if _capacity(free, length) < 1 and free:
            length = min(block.length for block in free)
    count = _count(text)
    if not free:
        reason = f"{target.label} has no free space left."
        return FallbackAnswer(reply=reason, impossible=reason)
    if length <= target.prefix.length:
        reason = f"A /{length} does not fit in {target.label}: {target.largest()}."
        return FallbackAnswer(reply=reason, impossible=reason)
    if count > MAX_BLOCKS:
        reason = f"A plan holds at most {MAX_BLOCKS} operations; {count} blocks were asked for."
        return FallbackAnswer(reply=reason, impossible=reason)
    capacity = _capacity(free, length)
    if capacity < count:
        room = f"only {capacity} free /{length} block{'s' if capacity != 1 else ''}"
        blocks = f"{count} /{length} blocks do not" if count != 1 else f"A /{length} does not"
        reason = f"{blocks} fit in {target.label}: it has {room}, and {target.largest()}."
        return FallbackAnswer(reply=reason, impossible=reason)
    stem = _prefix_name(text, pool, reserve=reserve) or ("growth-reserve" if reserve else "block")
    first = _first_number(target, facts, stem)
    environment = _environment(text)
    operations = []
    for number in range(first, first + count):
        tags = {"env": environment} if environment else {}
        if reserve:
            tags["purpose"] = "growth"
        operations.append(
            {
                "op": "create",
                "ref": f"b{number - first + 1}",
                "name": f"{stem}-{number}",
                "prefix_length": length,
                "within": pool.id,
                "parent": pool.id,
                "type": _child_type(pool, reserve),
                "status": "reserved" if reserve else "active",
                "description": "Reserved for growth." if reserve else "",
                "tags": tags,
            }
        )
    names = ", ".join(str(op["name"]) for op in operations[:6])
    if count > 6:
        names += f" and {count - 6} more"
    verb = "reserve" if reserve else "allocate"
    reply = (
        f"{PREFACE}It would {verb} {count} /{length} block{'s' if count != 1 else ''} in "
        f"{target.label}, each in the first free block of that size: {names}. Review the "
        "plan and apply it if it is what you want."
    )
    return FallbackAnswer(reply=reply, operations=operations)


def _list(pattern: re.Pattern[str], text: str) -> list[str]:
    match = pattern.search(text)
    if not match:
        return []
    values = []
    for word in re.split(r"\s*(?:,|\band\b|&|\s)\s*", match.group(1)):
        if not word:
            continue
        if word in _LIST_STOP:
            break
        if word not in values:
            values.append(word)
    return values


def _template(text: str, facts: ContextFacts) -> FallbackAnswer:
    regions = _list(_REGIONS, text)
    environments = _list(_ENVS, text)
    if not regions or not environments:
        return FallbackAnswer(
            reply='Which regions and environments? For example "generate a template with '
            'regions us-east,eu-west and environments prod,dev in 10.0.0.0/8".'
        )
    tier_names = _list(_TIERS, text)
    tiers = (
        [{"name": name, "prefix_length": 24} for name in tier_names]
        if tier_names
        else [dict(tier) for tier in DEFAULT_TIERS]
    )
    percent = _PERCENT.search(text)
    params: dict[str, Any] = {
        "regions": regions,
        "environments": environments,
        "tiers": tiers,
        "headroom": int(percent.group(1)) if percent else DEFAULT_HEADROOM,
    }
    given = cidrs_in(text)
    pools = focus_pools(facts, text)
    exact = [pool for pool in pools if given and pool.cidr == str(given[0])]
    if given and not exact:
        holder = narrowest_holding(facts.pools, given[0])
        params.update(supernet=str(given[0]), parent=holder.id if holder else None)
        return _generate(params, where=str(given[0]))
    pool = exact[0] if exact else (pools[0] if pools else None)
    if pool is None:
        return FallbackAnswer(
            reply='Where should the template go? Give a CIDR ("in 10.0.0.0/8") or a pool.'
        )
    target = _target_of(pool, facts)
    last_error = f"{target.label} has no free space left."
    for length in range(min(target.prefix.bits - 2, 30), target.prefix.length, -1):
        block = cidr.first_fit(target.prefix, target.children, length)
        if block is None:
            break
        answer = _generate({**params, "supernet": str(block), "parent": pool.id}, where=None)
        if answer.operations is not None:
            return answer
        last_error = answer.impossible or last_error
    reason = f"The template does not fit in {target.label}: {last_error} ({target.largest()})."
    return FallbackAnswer(reply=reason, impossible=reason)


def _generate(params: dict[str, Any], *, where: str | None) -> FallbackAnswer:
    try:
        generated = templates.generate(templates.parse_params("regional", params))
    except templates.TemplateError as error:
        return FallbackAnswer(reply=error.message, impossible=error.message)
    operations = [dict(operation) for operation in generated.operations]
    counts = ", ".join(f"{count} {kind}" for kind, count in sorted(generated.counts.items()))
    reply = (
        f"{PREFACE}It would lay out the Regional template in {where or generated.supernet} "
        f"for regions {', '.join(params['regions'])} and environments "
        f"{', '.join(params['environments'])}: {counts} ({generated.used_percent} % of the "
        f"block used, {params['headroom']} % headroom per level). The schema wizard "
        f"({WIZARD_PATH}) adjusts tiers and sizes."
    )
    return FallbackAnswer(reply=reply, operations=operations)


def plan_request(text: str, facts: ContextFacts) -> FallbackAnswer:
    """Return the deterministic planner's answer to ``text`` over ``facts``."""
    request = " ".join((text or "").lower().split())
    if "template" in request or (_REGIONS.search(request) and _ENVS.search(request)):
        return _template(request, facts)
    if re.search(r"\breserve[sd]?\b|\breservation\b", request):
        return _blocks(request, facts, reserve=True)
    if _SIZE.search(request) or _HOSTS.search(request):
        return _blocks(request, facts, reserve=False)
    return FallbackAnswer(reply=UNAVAILABLE, understood=False)
