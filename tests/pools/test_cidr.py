"""Tests for the pure CIDR engine: worked examples, then properties against a brute-force model.

The model enumerates addresses, which the engine must never do, so the properties draw
small parents (IPv4 /22 to /32, IPv6 /118 to /128: at most 1,024 addresses). Children are
drawn inside, across and outside the parent, nested, repeated, and of the other family.
No database and no Django: these tests run under plain pytest.
"""

from __future__ import annotations

import ast
import ipaddress
import itertools
import pickle
import sys
from bisect import bisect_left, bisect_right
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.pools import cidr
from apps.pools.cidr import (
    CidrError,
    Prefix,
    address_key,
    address_to_str,
    best_fit,
    covered_size,
    first_fit,
    free_blocks,
    free_blocks_of_length,
    free_ranges,
    largest_free_block,
    merge_ranges,
    parse_address,
    parse_prefix,
    range_to_prefixes,
    summarize,
    validate_prefix_length,
)

BITS = {4: 32, 6: 128}
# The longest parents whose addresses the model can enumerate quickly (1,024 addresses).
SMALLEST_PARENT_LENGTH = {4: 22, 6: 118}

PROPERTY = settings(
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def P(text: str) -> Prefix:  # noqa: N802 - reads like a literal in the examples
    """Return the prefix spelled by ``text``."""
    return parse_prefix(text)


def strs(prefixes: list[Prefix]) -> list[str]:
    """Return the canonical text of each prefix."""
    return [str(prefix) for prefix in prefixes]


# Brute-force model: it enumerates addresses and candidate blocks on purpose.


def model_free_set(parent: Prefix, children: list[Prefix]) -> set[int]:
    """Return every address of ``parent`` that no child of its family covers."""
    free = set(range(parent.first, parent.last + 1))
    for child in children:
        if child.family == parent.family:
            free.difference_update(
                range(max(child.first, parent.first), min(child.last, parent.last) + 1)
            )
    return free


def model_maximal_blocks(family: int, addresses: set[int]) -> list[Prefix]:
    """Return, in order, the largest aligned blocks lying wholly within ``addresses``.

    From each address not yet placed, grow the aligned block around it one bit at a time
    while every address of the block is in the set; the blocks found partition the set.
    """
    bits = BITS[family]
    ordered = sorted(addresses)

    def all_in(low: int, high: int) -> bool:
        return bisect_right(ordered, high) - bisect_left(ordered, low) == high - low + 1

    blocks = []
    index = 0
    while index < len(ordered):
        address = ordered[index]
        length = bits
        while length > 0:
            size = 1 << (bits - length + 1)
            low = address - address % size
            if not all_in(low, low + size - 1):
                break
            length -= 1
        size = 1 << (bits - length)
        blocks.append(Prefix(family, address - address % size, length))
        # Every address of the block has that block as its own largest one: skip them.
        index = bisect_right(ordered, blocks[-1].last)
    return blocks


def model_candidates(parent: Prefix, free: set[int], prefix_length: int) -> list[Prefix]:
    """Return every aligned block of ``prefix_length`` in ``parent`` that is wholly free."""
    if prefix_length < parent.length:
        return []
    size = 1 << (parent.bits - prefix_length)
    return [
        Prefix(parent.family, start, prefix_length)
        for start in range(parent.first, parent.last + 1, size)
        if all(address in free for address in range(start, start + size))
    ]


def model_runs(addresses: set[int]) -> list[tuple[int, int]]:
    """Return the maximal runs of consecutive addresses as inclusive ranges."""
    runs: list[tuple[int, int]] = []
    for address in sorted(addresses):
        if runs and runs[-1][1] == address - 1:
            runs[-1] = (runs[-1][0], address)
        else:
            runs.append((address, address))
    return runs


# Strategies


def aligned(value: int, bits: int, length: int) -> int:
    """Return ``value`` with the host bits of a ``length`` prefix cleared."""
    return value >> (bits - length) << (bits - length)


@st.composite
def small_parents(draw: st.DrawFn, family: int | None = None) -> Prefix:
    """Draw a parent small enough to enumerate, often at the edges of the address space."""
    family = draw(st.sampled_from([4, 6])) if family is None else family
    bits = BITS[family]
    length = draw(st.integers(SMALLEST_PARENT_LENGTH[family], bits))
    # Off-by-one errors live at address 0 and at the top of the space.
    raw = draw(st.one_of(st.integers(0, (1 << bits) - 1), st.sampled_from([0, (1 << bits) - 1])))
    return Prefix(family, aligned(raw, bits, length), length)


@st.composite
def children_of(draw: st.DrawFn, parent: Prefix) -> list[Prefix]:
    """Draw children mostly inside ``parent``, some across or beyond its edges."""
    bits = parent.bits
    top = (1 << bits) - 1
    children = []
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["inside"] * 8 + ["near"] * 2 + ["rare"]))
        if kind == "rare":
            kind = draw(st.sampled_from(["supernet", "other_family"]))
        if kind == "other_family":
            other = 6 if parent.family == 4 else 4
            length = draw(st.integers(0, BITS[other]))
            raw = draw(st.integers(0, (1 << BITS[other]) - 1))
            children.append(Prefix(other, aligned(raw, BITS[other], length), length))
            continue
        # Children the size of the parent or larger leave nothing free: keep them rare.
        if kind == "supernet":
            length = draw(st.integers(max(0, parent.length - 3), parent.length))
        else:
            # Either end of the length range biases towards its bounds; draw from both.
            length = draw(
                st.one_of(
                    st.integers(min(parent.length + 1, bits), bits),
                    st.integers(0, max(0, bits - parent.length - 1)).map(lambda n: bits - n),
                )
            )
        if kind == "inside":
            offset = draw(st.integers(0, parent.size - 1))
        else:
            offset = draw(st.integers(-parent.size, 2 * parent.size - 1))
        address = min(max(parent.first + offset, 0), top)
        child = Prefix(parent.family, aligned(address, bits, length), length)
        children.append(child)
        if draw(st.booleans()) and draw(st.booleans()):
            children.append(child)
    return children


@st.composite
def parent_and_children(draw: st.DrawFn) -> tuple[Prefix, list[Prefix]]:
    """Draw a small parent and its children."""
    parent = draw(small_parents())
    return parent, draw(children_of(parent))


@st.composite
def small_prefixes(draw: st.DrawFn) -> list[Prefix]:
    """Draw prefixes of both families, each small enough to enumerate, in a narrow window."""
    prefixes = []
    for _ in range(draw(st.integers(0, 12))):
        family = draw(st.sampled_from([4, 6]))
        bits = BITS[family]
        base = draw(st.sampled_from([0, 1 << (bits - 1), (1 << bits) - 4096]))
        length = draw(st.integers(SMALLEST_PARENT_LENGTH[family], bits))
        address = base + draw(st.integers(0, 4095))
        prefixes.append(Prefix(family, aligned(address, bits, length), length))
    return prefixes


@st.composite
def small_ranges(draw: st.DrawFn) -> tuple[int, int, int]:
    """Draw ``(family, first, last)`` spanning at most 1,024 addresses."""
    family = draw(st.sampled_from([4, 6]))
    top = (1 << BITS[family]) - 1
    first = draw(st.one_of(st.integers(0, top), st.sampled_from([0, top - 1023])))
    last = min(top, first + draw(st.integers(0, 1023)))
    return family, first, last


def covered_addresses(prefixes: list[Prefix], family: int) -> set[int]:
    """Return every address of ``family`` that ``prefixes`` cover."""
    covered: set[int] = set()
    for prefix in prefixes:
        if prefix.family == family:
            covered.update(range(prefix.first, prefix.last + 1))
    return covered


# Module boundaries


def test_engine_imports_only_the_standard_library() -> None:
    source = Path(cidr.__file__).read_text(encoding="utf-8")
    modules = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "the engine must not import from its package"
            modules.add(node.module or "")
    roots = {module.split(".")[0] for module in modules}
    assert not {root for root in roots if root == "django"}
    assert roots <= set(sys.stdlib_module_names) | {"__future__"}


# Parsing and canonical text


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("10.0.0.0/8", "10.0.0.0/8"),
        ("  10.0.0.0/8\n", "10.0.0.0/8"),
        ("\t192.168.1.0/24 ", "192.168.1.0/24"),
        ("0.0.0.0/0", "0.0.0.0/0"),
        ("10.1.2.3", "10.1.2.3/32"),
        ("255.255.255.255/32", "255.255.255.255/32"),
        ("10.1.2.3/32", "10.1.2.3/32"),
        ("2001:DB8::/32", "2001:db8::/32"),
        ("2001:0db8:0000:0000:0000:0000:0000:0000/32", "2001:db8::/32"),
        ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1/128"),
        ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1/128"),
        ("1:0:0:1:0:0:0:1", "1:0:0:1::1/128"),
        ("1:0:0:2:0:0:3:4", "1::2:0:0:3:4/128"),
        ("fe80::/10", "fe80::/10"),
        ("::/0", "::/0"),
        ("::", "::/128"),
        ("::1", "::1/128"),
        ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"),
        ("::ffff:10.0.0.0/104", "::ffff:10.0.0.0/104"),
        ("::ffff:a00:0/104", "::ffff:10.0.0.0/104"),
        ("::ffff:0:0/96", "::ffff:0.0.0.0/96"),
        ("::a00:1", "::a00:1/128"),
    ],
)
def test_parse_prefix_returns_canonical_form(text: str, canonical: str) -> None:
    assert str(parse_prefix(text)) == canonical


def test_parse_prefix_fields() -> None:
    prefix = parse_prefix("10.0.0.0/8")
    assert prefix == Prefix(4, 0x0A000000, 8)
    assert (prefix.bits, prefix.size, prefix.last) == (32, 1 << 24, 0x0AFFFFFF)
    assert prefix.network_address == "10.0.0.0"
    host = parse_prefix("2001:db8::1")
    assert (host.family, host.length, host.size, host.bits) == (6, 128, 1, 128)
    assert host.first == host.last == 0x20010DB8 << 96 | 1
    assert parse_prefix("::/0").size == 1 << 128


@pytest.mark.parametrize(
    ("text", "message", "canonical"),
    [
        (
            "10.0.0.1/16",
            "10.0.0.1/16 has host bits set; did you mean 10.0.0.0/16?",
            "10.0.0.0/16",
        ),
        (
            "  10.0.0.1/16 ",
            "10.0.0.1/16 has host bits set; did you mean 10.0.0.0/16?",
            "10.0.0.0/16",
        ),
        ("1.2.3.4/0", "1.2.3.4/0 has host bits set; did you mean 0.0.0.0/0?", "0.0.0.0/0"),
        (
            "192.168.1.255/31",
            "192.168.1.255/31 has host bits set; did you mean 192.168.1.254/31?",
            "192.168.1.254/31",
        ),
        (
            "2001:DB8::1/32",
            "2001:DB8::1/32 has host bits set; did you mean 2001:db8::/32?",
            "2001:db8::/32",
        ),
        ("::1/0", "::1/0 has host bits set; did you mean ::/0?", "::/0"),
    ],
)
def test_parse_prefix_with_host_bits_names_the_canonical_prefix(
    text: str, message: str, canonical: str
) -> None:
    with pytest.raises(CidrError) as excinfo:
        parse_prefix(text)
    assert excinfo.value.message == message
    assert str(excinfo.value) == message
    assert excinfo.value.canonical == canonical


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "hello",
        "10.0.0.0/",
        "/8",
        "10.0.0/8",
        "10.0.0.0.0/8",
        "10.0.0.256/32",
        "10.0.0.0/8/8",
        "10.0.0.0/-1",
        "10.0.0.0/+8",
        "10.0.0.0/ 8",
        "10.0.0.0 /8",
        "10.0.0.0/1_6",
        "10.0.0.0/\u0661\u0666",
        "10.0.0.0/0008",
        "10.0.0.0/255.0.0.0",
        "010.0.0.0/8",
        "2001:db8::/0x20",
        "2001:db8:::/32",
        "2001:db8::g/128",
        "1:2:3:4:5:6:7:8:9",
    ],
)
def test_parse_prefix_rejects_garbage(text: str) -> None:
    with pytest.raises(CidrError) as excinfo:
        parse_prefix(text)
    assert excinfo.value.message == f"'{text.strip()}' is not a valid IPv4 or IPv6 prefix"
    assert excinfo.value.canonical is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "10.0.0.0/33",
            "'10.0.0.0/33' is not a valid IPv4 or IPv6 prefix: "
            "the prefix length must be between 0 and 32",
        ),
        (
            "::/129",
            "'::/129' is not a valid IPv4 or IPv6 prefix: "
            "the prefix length must be between 0 and 128",
        ),
        (
            "fe80::1%eth0",
            "'fe80::1%eth0' has an IPv6 zone id ('%'); scoped addresses are not accepted",
        ),
        (
            " fe80::%1/64 ",
            "'fe80::%1/64' has an IPv6 zone id ('%'); scoped addresses are not accepted",
        ),
        (None, "None is not a valid IPv4 or IPv6 prefix"),
        (167772160, "167772160 is not a valid IPv4 or IPv6 prefix"),
    ],
)
def test_parse_prefix_error_messages(text: object, message: str) -> None:
    with pytest.raises(CidrError) as excinfo:
        parse_prefix(text)  # type: ignore[arg-type]
    assert excinfo.value.message == message


def test_parse_address() -> None:
    assert parse_address(" 10.1.2.3 ") == (4, 0x0A010203)
    assert parse_address("2001:db8::1") == (6, 0x20010DB8 << 96 | 1)
    assert parse_address("::") == (6, 0)
    for text in ("10.0.0.0/8", "10.0.0", "", "2001:db8::/32", "x"):
        with pytest.raises(CidrError) as excinfo:
            parse_address(text)
        assert excinfo.value.message == f"'{text}' is not a valid IPv4 or IPv6 address"
    with pytest.raises(CidrError, match="zone id"):
        parse_address("fe80::1%eth0")


def test_address_to_str() -> None:
    assert address_to_str(4, 0) == "0.0.0.0"  # noqa: S104 - text, not a socket bind
    assert address_to_str(4, (1 << 32) - 1) == "255.255.255.255"
    assert address_to_str(6, 0x20010DB8 << 96) == "2001:db8::"
    assert address_to_str(6, 1) == "::1"
    assert address_to_str(6, 0xFFFF_0A00_0001) == "::ffff:10.0.0.1"
    for family, value in ((4, 1 << 32), (4, -1), (6, 1 << 128), (5, 0), (4, True), (4, "1")):
        with pytest.raises(CidrError):
            address_to_str(family, value)


def test_address_key() -> None:
    assert address_key(0) == "0" * 32
    assert address_key((1 << 128) - 1) == "f" * 32
    assert address_key(0x0A000000) == "0" * 24 + "0a000000"
    for value in (-1, 1 << 128, True, "0"):
        with pytest.raises(CidrError):
            address_key(value)  # type: ignore[arg-type]


def test_cidr_error_is_a_value_error_and_pickles() -> None:
    error = CidrError("10.0.0.1/16 has host bits set", canonical="10.0.0.0/16")
    assert isinstance(error, ValueError)
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own object
    assert (copy.message, copy.canonical, str(copy)) == (
        error.message,
        error.canonical,
        str(error),
    )


# Prefix


def test_prefix_validates_on_construction() -> None:
    with pytest.raises(CidrError) as excinfo:
        Prefix(4, 0x0A000001, 16)
    assert excinfo.value.message == "10.0.0.1/16 has host bits set; did you mean 10.0.0.0/16?"
    assert excinfo.value.canonical == "10.0.0.0/16"
    for family, first, length in (
        (5, 0, 8),
        (4, 0, 33),
        (4, 0, -1),
        (6, 0, 129),
        (4, 1 << 32, 32),
        (4, -1, 32),
        (6, 1 << 128, 128),
        (4, 0, True),
    ):
        with pytest.raises(CidrError):
            Prefix(family, first, length)


def test_prefix_from_range_start() -> None:
    assert Prefix.from_range_start(4, 0x0A000000, 8) == P("10.0.0.0/8")
    with pytest.raises(CidrError) as excinfo:
        Prefix.from_range_start(6, 1, 64)
    assert excinfo.value.canonical == "::/64"


def test_prefix_is_frozen_and_hashable() -> None:
    prefix = P("10.0.0.0/8")
    with pytest.raises(AttributeError):
        prefix.length = 9  # type: ignore[misc]
    assert {prefix, P("10.0.0.0/8")} == {prefix}
    assert repr(prefix) == "<Prefix 10.0.0.0/8>"


def test_prefix_order_is_family_then_address_then_length() -> None:
    texts = ["2001:db8::/32", "10.0.0.0/24", "10.0.0.0/8", "::/0", "9.0.0.0/8", "0.0.0.0/0"]
    assert strs(sorted(map(P, texts))) == [
        "0.0.0.0/0",
        "9.0.0.0/8",
        "10.0.0.0/8",
        "10.0.0.0/24",
        "::/0",
        "2001:db8::/32",
    ]


def test_contains_and_overlaps() -> None:
    net = P("10.0.0.0/8")
    assert net.contains(net)
    assert net.contains(P("10.255.255.255/32"))
    assert not net.contains(P("11.0.0.0/32"))
    assert not net.contains(P("0.0.0.0/0"))
    assert P("0.0.0.0/0").contains(net)
    assert net.overlaps(P("0.0.0.0/0"))
    assert net.overlaps(P("10.1.0.0/16"))
    assert not net.overlaps(P("11.0.0.0/8"))
    assert not net.overlaps(P("9.255.255.255/32"))
    # The integers of ::/0 include those of 0.0.0.0/0; the families still differ.
    assert not P("::/0").contains(P("10.0.0.0/8"))
    assert not P("::/0").overlaps(P("10.0.0.0/8"))
    assert not P("0.0.0.0/0").overlaps(P("::/96"))


def test_validate_prefix_length() -> None:
    validate_prefix_length(4, 0)
    validate_prefix_length(4, 32)
    validate_prefix_length(6, 128)
    with pytest.raises(CidrError) as excinfo:
        validate_prefix_length(4, 33)
    assert excinfo.value.message == "prefix length 33 is out of range for IPv4 (0 to 32)"
    with pytest.raises(CidrError) as excinfo:
        validate_prefix_length(6, -1)
    assert excinfo.value.message == "prefix length -1 is out of range for IPv6 (0 to 128)"
    with pytest.raises(CidrError) as excinfo:
        validate_prefix_length(7, 8)
    assert excinfo.value.message == "7 is not an IP family; expected 4 or 6"
    for length in (True, "24", 24.0, None):
        with pytest.raises(CidrError):
            validate_prefix_length(4, length)  # type: ignore[arg-type]


# Ranges


def test_range_to_prefixes_examples() -> None:
    assert strs(range_to_prefixes(4, 0, (1 << 32) - 1)) == ["0.0.0.0/0"]
    assert strs(range_to_prefixes(6, 0, (1 << 128) - 1)) == ["::/0"]
    assert strs(range_to_prefixes(4, 0x0A000001, 0x0A000006)) == [
        "10.0.0.1/32",
        "10.0.0.2/31",
        "10.0.0.4/31",
        "10.0.0.6/32",
    ]
    assert len(range_to_prefixes(4, 1, (1 << 32) - 2)) == 62
    assert len(range_to_prefixes(6, 1, (1 << 128) - 2)) == 254
    for family, first, last in (
        (4, 5, 4),
        (4, -1, 3),
        (4, 0, 1 << 32),
        (6, 0, 1 << 128),
        (3, 0, 0),
    ):
        with pytest.raises(CidrError):
            range_to_prefixes(family, first, last)


def test_free_ranges_takes_children_sorted_by_first_address_only() -> None:
    # The /32 at 12 comes before the /28 at 0 that holds it: order within a start is free.
    ranges = [(0, 0), (0, 15), (12, 12), (20, 23), (24, 27), (40, 100)]
    assert free_ranges(0, 63, ranges) == [(16, 19), (28, 39)]
    assert free_ranges(8, 63, []) == [(8, 63)]
    assert free_ranges(8, 15, [(0, 7), (16, 31)]) == [(8, 15)]
    assert free_ranges(8, 15, [(0, 100)]) == []


def test_merge_ranges_and_covered_size() -> None:
    prefixes = [P(text) for text in ("10.0.1.0/24", "10.0.0.0/24", "10.0.0.128/25", "10.0.3.0/24")]
    assert merge_ranges(prefixes) == [(0x0A000000, 0x0A0001FF), (0x0A000300, 0x0A0003FF)]
    assert merge_ranges([]) == []
    assert covered_size(prefixes) == 768
    assert covered_size([P("::/0"), P("2001:db8::/32"), P("0.0.0.0/0")]) == (1 << 128) + (1 << 32)
    with pytest.raises(CidrError) as excinfo:
        merge_ranges([P("10.0.0.0/8"), P("::/0")])
    assert excinfo.value.message == "cannot merge IPv4 and IPv6 prefixes into one list of ranges"


def test_summarize_examples() -> None:
    prefixes = [
        P("2001:db8:0:1::/64"),
        P("10.0.1.0/24"),
        P("2001:db8::/64"),
        P("10.0.0.0/24"),
        P("10.0.0.0/25"),
        P("10.0.2.0/24"),
    ]
    assert strs(summarize(prefixes)) == ["10.0.0.0/23", "10.0.2.0/24", "2001:db8::/63"]
    assert summarize([]) == []
    assert strs(summarize([P("0.0.0.0/1"), P("128.0.0.0/1")])) == ["0.0.0.0/0"]


# Free space


def test_free_blocks_examples() -> None:
    parent = P("10.0.0.0/24")
    children = [P("10.0.0.0/26"), P("10.0.0.128/27")]
    assert strs(free_blocks(parent, children)) == [
        "10.0.0.64/26",
        "10.0.0.160/27",
        "10.0.0.192/26",
    ]
    assert strs(free_blocks(parent, [])) == ["10.0.0.0/24"]
    assert free_blocks(parent, [parent]) == []
    assert free_blocks(parent, [P("10.0.0.0/8")]) == []
    # Duplicates, nesting, the other family and children outside change nothing.
    noisy = [*children, *children, P("10.0.0.0/28"), P("::/0"), P("10.0.1.0/24"), P("9.0.0.0/8")]
    assert free_blocks(parent, noisy) == free_blocks(parent, children)
    # A child reaching outside is clipped to the parent.
    assert strs(free_blocks(P("10.0.0.128/25"), [P("10.0.0.0/24")])) == []


def test_free_blocks_at_the_edges_of_the_address_space() -> None:
    assert strs(free_blocks(P("0.0.0.0/0"), [])) == ["0.0.0.0/0"]
    assert strs(free_blocks(P("::/0"), [])) == ["::/0"]
    assert strs(free_blocks(P("0.0.0.0/0"), [P("0.0.0.0/1")])) == ["128.0.0.0/1"]
    assert strs(free_blocks(P("::/0"), [P("::1/128")])) == [
        "::/128",
        *(str(Prefix(6, 1 << n, 128 - n)) for n in range(1, 128)),
    ]
    assert strs(free_blocks(P("255.255.255.255/32"), [])) == ["255.255.255.255/32"]
    assert free_blocks(P("255.255.255.255/32"), [P("255.255.255.255/32")]) == []
    top = P("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127")
    assert strs(free_blocks(top, [P("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/128")])) == [
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"
    ]


def test_huge_ipv6_gaps_cost_nothing_to_step_through() -> None:
    parent = P("2001:db8::/32")
    children = [P("2001:db8::/64"), P("2001:db8:0:2::/64")]
    blocks = free_blocks(parent, children)
    assert strs(blocks[:3]) == ["2001:db8:0:1::/64", "2001:db8:0:3::/64", "2001:db8:0:4::/62"]
    assert covered_size(blocks) == parent.size - 2 * (1 << 64)
    assert strs(free_blocks_of_length(parent, children, 64, limit=3)) == [
        "2001:db8:0:1::/64",
        "2001:db8:0:3::/64",
        "2001:db8:0:4::/64",
    ]
    # 2**96 candidate /128s: only the first ten may be produced.
    assert strs(free_blocks_of_length(P("::/0"), [P("::/128")], 128)) == [
        f"::{n:x}/128" for n in range(1, 11)
    ]
    assert first_fit(parent, children, 128) == P("2001:db8:0:1::/128")
    assert best_fit(parent, children, 128) == P("2001:db8:0:1::/128")
    assert largest_free_block(parent, children) == P("2001:db8:8000::/33")


def test_allocation_examples() -> None:
    parent = P("10.0.0.0/24")
    children = [P("10.0.0.0/26"), P("10.0.0.128/27")]
    assert first_fit(parent, children, 28) == P("10.0.0.64/28")
    # best fit takes the smallest free block that holds the request, the /27.
    assert best_fit(parent, children, 28) == P("10.0.0.160/28")
    assert best_fit(parent, children, 27) == P("10.0.0.160/27")
    # Two free /26: the lower one wins.
    assert best_fit(parent, children, 26) == P("10.0.0.64/26")
    assert first_fit(parent, children, 25) is None
    assert best_fit(parent, children, 25) is None
    assert largest_free_block(parent, children) == P("10.0.0.64/26")
    assert largest_free_block(parent, [parent]) is None
    assert strs(free_blocks_of_length(parent, children, 27, limit=3)) == [
        "10.0.0.64/27",
        "10.0.0.96/27",
        "10.0.0.160/27",
    ]
    assert free_blocks_of_length(parent, children, 27, limit=0) == []


def test_allocation_needs_a_valid_length_that_fits_in_the_parent() -> None:
    parent = P("10.0.0.0/24")
    for function in (first_fit, best_fit, free_blocks_of_length):
        with pytest.raises(CidrError) as excinfo:
            function(parent, [], 33)
        assert excinfo.value.message == "prefix length 33 is out of range for IPv4 (0 to 32)"
    assert first_fit(parent, [], 23) is None
    assert best_fit(parent, [], 23) is None
    assert free_blocks_of_length(parent, [], 23) == []
    assert first_fit(P("::/0"), [], 128) == P("::/128")
    assert best_fit(P("2001:db8::/32"), [], 128) == P("2001:db8::/128")


def test_children_may_be_any_iterable() -> None:
    parent = P("10.0.0.0/24")
    children = (prefix for prefix in [P("10.0.0.0/25")])
    assert strs(free_blocks(parent, children)) == ["10.0.0.128/25"]


# Properties against the brute-force model


@PROPERTY
@given(parent_and_children())
def test_free_blocks_match_the_model(case: tuple[Prefix, list[Prefix]]) -> None:
    parent, children = case
    free = model_free_set(parent, children)
    blocks = free_blocks(parent, children)
    assert blocks == model_maximal_blocks(parent.family, free)
    assert all(parent.contains(block) for block in blocks)
    assert sum(block.size for block in blocks) == len(free)
    assert free_blocks(parent, list(reversed(children))) == blocks


@PROPERTY
@given(parent_and_children(), st.data())
def test_allocation_matches_the_model(
    case: tuple[Prefix, list[Prefix]], data: st.DataObject
) -> None:
    parent, children = case
    prefix_length = data.draw(st.integers(max(0, parent.length - 2), parent.bits))
    limit = data.draw(st.integers(0, 12))
    free = model_free_set(parent, children)
    candidates = model_candidates(parent, free, prefix_length)
    assert free_blocks_of_length(parent, children, prefix_length, limit) == candidates[:limit]
    assert first_fit(parent, children, prefix_length) == (candidates[0] if candidates else None)

    maximal = model_maximal_blocks(parent.family, free)
    holders = [block for block in maximal if block.length <= prefix_length]
    if prefix_length < parent.length or not holders:
        expected = None
    else:
        smallest = min(holders, key=lambda block: (-block.length, block.first))
        expected = Prefix(parent.family, smallest.first, prefix_length)
    chosen = best_fit(parent, children, prefix_length)
    assert chosen == expected
    # Both strategies agree on whether there is room.
    assert (chosen is None) == (first_fit(parent, children, prefix_length) is None)

    largest = min(maximal, key=lambda block: (block.length, block.first)) if maximal else None
    assert largest_free_block(parent, children) == largest


@PROPERTY
@given(small_prefixes())
def test_unions_match_the_model(prefixes: list[Prefix]) -> None:
    covered = {family: covered_addresses(prefixes, family) for family in (4, 6)}
    assert covered_size(prefixes) == len(covered[4]) + len(covered[6])
    assert summarize(prefixes) == [
        *model_maximal_blocks(4, covered[4]),
        *model_maximal_blocks(6, covered[6]),
    ]
    for family in (4, 6):
        same_family = [prefix for prefix in prefixes if prefix.family == family]
        assert merge_ranges(same_family) == model_runs(covered[family])


@PROPERTY
@given(small_ranges())
def test_range_to_prefixes_matches_the_model(case: tuple[int, int, int]) -> None:
    family, first, last = case
    assert range_to_prefixes(family, first, last) == model_maximal_blocks(
        family, set(range(first, last + 1))
    )


@PROPERTY
@given(st.sampled_from([4, 6]), st.data())
def test_range_to_prefixes_blocks_are_maximal_on_any_range(
    family: int, data: st.DataObject
) -> None:
    top = (1 << BITS[family]) - 1
    first, last = sorted(data.draw(st.lists(st.integers(0, top), min_size=2, max_size=2)))
    blocks = range_to_prefixes(family, first, last)
    assert blocks[0].first == first
    assert blocks[-1].last == last
    for before, after in itertools.pairwise(blocks):
        assert after.first == before.last + 1
    for block in blocks:
        # The aligned block one bit shorter must reach outside the range, else it was usable.
        if block.length:
            size = block.size * 2
            outer_first = block.first - block.first % size
            assert outer_first < first or outer_first + size - 1 > last


@PROPERTY
@given(parent_and_children())
def test_free_ranges_matches_the_model(case: tuple[Prefix, list[Prefix]]) -> None:
    parent, children = case
    ranges = sorted(
        ((child.first, child.last) for child in children if child.family == parent.family),
        key=lambda pair: pair[0],
    )
    expected = model_runs(model_free_set(parent, children))
    assert free_ranges(parent.first, parent.last, ranges) == expected


@PROPERTY
@given(st.sampled_from([4, 6]), st.data())
def test_text_round_trips_and_agrees_with_ipaddress(family: int, data: st.DataObject) -> None:
    bits = BITS[family]
    length = data.draw(st.integers(0, bits))
    value = data.draw(st.integers(0, (1 << bits) - 1))
    prefix = Prefix(family, aligned(value, bits, length), length)
    text = str(prefix)
    assert parse_prefix(text) == prefix
    address_type = ipaddress.IPv4Address if family == 4 else ipaddress.IPv6Address
    network_type = ipaddress.IPv4Network if family == 4 else ipaddress.IPv6Network
    # ipaddress prints IPv4-mapped addresses differently across Python versions; the engine
    # prints them as RFC 5952 says, checked by the examples above.
    if not (family == 6 and prefix.first >> 32 == 0xFFFF):
        assert text == network_type((prefix.first, length)).compressed
    if not (family == 6 and value >> 32 == 0xFFFF):
        assert address_to_str(family, value) == str(address_type(value))
    if value != prefix.first:
        with pytest.raises(CidrError) as excinfo:
            parse_prefix(f"{address_to_str(family, value)}/{length}")
        assert excinfo.value.canonical == text


@PROPERTY
@given(st.integers(0, (1 << 128) - 1), st.integers(0, (1 << 128) - 1))
def test_address_key_order_is_numeric_order(left: int, right: int) -> None:
    assert len(address_key(left)) == 32
    assert (address_key(left) < address_key(right)) == (left < right)
    assert int(address_key(left), 16) == left


@PROPERTY
@given(
    st.one_of(
        st.text(alphabet="0123456789.", max_size=17),
        st.lists(st.integers(0, 300), min_size=4, max_size=4).map(
            lambda octets: ".".join(map(str, octets))
        ),
        st.text(max_size=17),
    )
)
def test_the_ipv4_fast_path_reads_what_ipaddress_reads(text: str) -> None:
    # parse_prefix reads dotted quads itself for speed; ipaddress stays the authority, so
    # the fast path must accept exactly what it accepts, as the same value.
    try:
        expected = int(ipaddress.IPv4Address(text))
    except ValueError:
        expected = None
    assert cidr._ipv4_value(text) == expected
    if expected is not None:
        assert parse_prefix(f"{text}/32") == Prefix(4, expected, 32)
