"""Well-known address ranges: private space and special-purpose space.

The ranges are :class:`~apps.pools.cidr.Prefix` values compared with integer arithmetic
(``contains``/``overlaps``), never by expanding addresses or asking ``ipaddress`` about each
one. Sources: RFC 1918 and RFC 6598 (private IPv4), RFC 4193 (unique local IPv6), the
IANA IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890 and updates).

>>> from apps.pools.cidr import parse_prefix as p
>>> is_private(p("10.20.0.0/16")), is_private(p("100.64.0.0/12")), is_private(p("8.8.8.0/24"))
(True, True, False)
>>> [(str(r.prefix), r.category) for r in special_purpose_hits(p("169.254.0.0/20"))]
[('169.254.0.0/16', 'link_local')]
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from apps.pools.cidr import Prefix, parse_prefix

__all__ = [
    "PRIVATE_SPACE",
    "SPECIAL_CATEGORIES",
    "SPECIAL_PURPOSE",
    "SpecialRange",
    "is_private",
    "special_purpose_hits",
]

PRIVATE_SPACE: tuple[Prefix, ...] = tuple(
    parse_prefix(text)
    for text in (
        "10.0.0.0/8",  # RFC 1918
        "172.16.0.0/12",  # RFC 1918
        "192.168.0.0/16",  # RFC 1918
        "100.64.0.0/10",  # RFC 6598 shared address space (carrier-grade NAT)
        "fc00::/7",  # RFC 4193 unique local addresses
    )
)

SPECIAL_CATEGORIES: tuple[str, ...] = (
    "loopback",
    "link_local",
    "multicast",
    "documentation",
    "reserved",
)


@dataclass(frozen=True, slots=True)
class SpecialRange:
    """Name a special-purpose range: its prefix, category and a human description."""

    prefix: Prefix
    category: str
    description: str


SPECIAL_PURPOSE: tuple[SpecialRange, ...] = tuple(
    SpecialRange(parse_prefix(text), category, description)
    for text, category, description in (
        ("0.0.0.0/8", "reserved", "'this network' (RFC 791)"),
        ("127.0.0.0/8", "loopback", "loopback (RFC 1122)"),
        ("169.254.0.0/16", "link_local", "link-local (RFC 3927)"),
        ("192.0.0.0/24", "reserved", "IETF protocol assignments (RFC 6890)"),
        ("192.0.2.0/24", "documentation", "documentation TEST-NET-1 (RFC 5737)"),
        ("192.88.99.0/24", "reserved", "deprecated 6to4 relay anycast (RFC 7526)"),
        ("198.18.0.0/15", "reserved", "benchmarking (RFC 2544)"),
        ("198.51.100.0/24", "documentation", "documentation TEST-NET-2 (RFC 5737)"),
        ("203.0.113.0/24", "documentation", "documentation TEST-NET-3 (RFC 5737)"),
        ("224.0.0.0/4", "multicast", "multicast (RFC 5771)"),
        ("240.0.0.0/4", "reserved", "reserved for future use and broadcast (RFC 1112)"),
        ("::/128", "reserved", "the unspecified address (RFC 4291)"),
        ("::1/128", "loopback", "loopback (RFC 4291)"),
        ("::ffff:0:0/96", "reserved", "IPv4-mapped addresses (RFC 4291)"),
        ("100::/64", "reserved", "discard-only (RFC 6666)"),
        ("2001::/23", "reserved", "IETF protocol assignments (RFC 2928)"),
        ("2001:db8::/32", "documentation", "documentation (RFC 3849)"),
        ("3fff::/20", "documentation", "documentation (RFC 9637)"),
        ("fe80::/10", "link_local", "link-local unicast (RFC 4291)"),
        ("fec0::/10", "reserved", "deprecated site-local (RFC 3879)"),
        ("ff00::/8", "multicast", "multicast (RFC 4291)"),
    )
)


# The private blocks as (family, first, last): checked for every pool of a plan, twice.
_PRIVATE_BOUNDS = tuple((space.family, space.first, space.last) for space in PRIVATE_SPACE)


def _in_private_space(prefix: Prefix) -> bool:
    family, first = prefix.family, prefix.first
    for space_family, space_first, space_last in _PRIVATE_BOUNDS:
        # The private blocks are disjoint: the one a block starts in is the only one
        # that can hold it.
        if family == space_family and space_first <= first <= space_last:
            return prefix.last <= space_last
    return False


def is_private(prefix: Prefix, extra: Iterable[Prefix] = ()) -> bool:
    """Return True if ``prefix`` lies wholly in private space or in one of ``extra``."""
    return _in_private_space(prefix) or any(space.contains(prefix) for space in extra)


def special_purpose_hits(
    prefix: Prefix, categories: Iterable[str] = SPECIAL_CATEGORIES
) -> tuple[SpecialRange, ...]:
    """Return the special-purpose ranges of ``categories`` that ``prefix`` overlaps."""
    if _in_private_space(prefix):
        # Private space overlaps no special-purpose range; most pools of a plan are private.
        return ()
    wanted = set(categories)
    return tuple(
        special
        for special in SPECIAL_PURPOSE
        if special.category in wanted and special.prefix.overlaps(prefix)
    )
