"""Pure CIDR arithmetic for the address plan: parse, format, compare, free space, allocation.

Every function works on the integer value of addresses, for IPv4 and IPv6 alike, and never
expands a prefix into its addresses or enumerates candidate subnets: an IPv6 /32 holds 2**96
addresses and must cost no more than an IPv4 /24. Computing free space over ``n`` children is
``O(n log n)`` (one sort, one sweep).

This module imports nothing from Django so that it can be unit-tested and benchmarked on its
own; a test walks its imports to keep it that way. ``ipaddress`` is used to parse text only.

Vocabulary: a *prefix* is an aligned CIDR block; a *range* is an inclusive ``(first, last)``
pair of integers; a *free block* is a maximal prefix inside a parent that no child covers.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

__all__ = [
    "CidrError",
    "Prefix",
    "address_key",
    "address_to_str",
    "best_fit",
    "covered_size",
    "first_fit",
    "format_address_count",
    "free_blocks",
    "free_blocks_of_length",
    "free_ranges",
    "largest_free_block",
    "merge_ranges",
    "parse_address",
    "parse_prefix",
    "range_to_prefixes",
    "summarize",
    "validate_prefix_length",
]

_BITS: dict[int, int] = {4: 32, 6: 128}
_KEY_WIDTH = 32
# Prefix lengths fit in 8 bits, which lets a child be packed into one sortable integer
# ``first << 8 | length``: sorting plain ints is about twice as fast as sorting tuples.
_LENGTH_BITS = 8
_LENGTH_MASK = (1 << _LENGTH_BITS) - 1
_IPV4_MAPPED_PREFIX = 0xFFFF << 32
_IPV4_MAPPED_MASK = ((1 << 96) - 1) << 32


class CidrError(ValueError):
    """Report text or numbers that do not form a valid address, prefix or prefix length.

    ``message`` is a sentence fit to show to a user. ``canonical`` is set when the input was
    a prefix with host bits set: it holds the prefix the user most likely meant.
    """

    def __init__(self, message: str, canonical: str | None = None) -> None:
        super().__init__(message)
        self.message: str = message
        self.canonical: str | None = canonical

    def __reduce__(self) -> tuple[type[CidrError], tuple[str, str | None]]:
        """Keep ``canonical`` when the error is pickled (Celery results, multiprocessing)."""
        return (type(self), (self.message, self.canonical))


def _bits(family: int) -> int:
    """Return the address width of ``family``, raising CidrError for anything but 4 or 6."""
    try:
        return _BITS[family]
    except (KeyError, TypeError):
        raise CidrError(f"{family!r} is not an IP family; expected 4 or 6") from None


@dataclass(frozen=True, order=True, slots=True)
class Prefix:
    """An aligned CIDR block, stored as its family, first address (an int) and length.

    Instances order by family, then first address, then length, so sorting puts IPv4 before
    IPv6, lower addresses first, and a block before the blocks nested at its start.
    Construction validates the family, the range and the alignment; a Prefix with host bits
    set cannot exist.
    """

    family: int
    first: int
    length: int

    def __post_init__(self) -> None:
        """Reject a family, length or first address that does not make a CIDR block."""
        bits = _bits(self.family)
        validate_prefix_length(self.family, self.length)
        if isinstance(self.first, bool) or not isinstance(self.first, int):
            raise CidrError(f"{self.first!r} is not an integer address")
        if not 0 <= self.first < 1 << bits:
            raise CidrError(f"{self.first} is not an IPv{self.family} address")
        if self.first & ((1 << (bits - self.length)) - 1):
            text = f"{address_to_str(self.family, self.first)}/{self.length}"
            canonical = _unchecked(self.family, _mask(self.first, bits, self.length), self.length)
            raise CidrError(
                f"{text} has host bits set; did you mean {canonical}?",
                canonical=str(canonical),
            )

    @classmethod
    def from_range_start(cls, family: int, first: int, length: int) -> Prefix:
        """Return the block of ``length`` that starts at address ``first``.

        Raise CidrError when ``first`` is not aligned on that length, like the constructor:
        this is the spelling to use when the numbers come from range arithmetic.
        """
        return cls(family, first, length)

    @classmethod
    def trusted(cls, family: int, first: int, length: int) -> Prefix:
        """Return the block without validating it, for numbers valid by construction.

        For hot loops only (the analysis of a million pools builds two per pool): rows the
        database holds, written through ``Pool.set_prefix``, and arithmetic on aligned
        blocks. Anything read from a user goes through the constructor.
        """
        return _unchecked(family, first, length)

    @property
    def bits(self) -> int:
        """Return the address width of the family: 32 or 128."""
        return _BITS[self.family]

    @property
    def size(self) -> int:
        """Return the number of addresses in the block."""
        return 1 << (_BITS[self.family] - self.length)

    @property
    def last(self) -> int:
        """Return the last (highest) address of the block as an int."""
        return self.first + (1 << (_BITS[self.family] - self.length)) - 1

    @property
    def network_address(self) -> str:
        """Return the first address of the block as canonical text."""
        return address_to_str(self.family, self.first)

    def __repr__(self) -> str:
        """Return the canonical text in angle brackets, readable in test failures and logs."""
        return f"<Prefix {self}>"

    def __str__(self) -> str:
        """Return the canonical text: ``10.0.0.0/8``, ``2001:db8::/32``."""
        return f"{address_to_str(self.family, self.first)}/{self.length}"

    def contains(self, other: Prefix) -> bool:
        """Return True if ``other`` lies within this block (an equal block counts)."""
        return (
            self.family == other.family
            and self.length <= other.length
            and self.first <= other.first <= self.last
        )

    def overlaps(self, other: Prefix) -> bool:
        """Return True if the two blocks share at least one address."""
        return self.family == other.family and self.first <= other.last and other.first <= self.last


# Build Prefix instances without running __post_init__, for results the arithmetic has
# already proven valid. Writing the slots directly costs less than half of the constructor
# in the loops that emit thousands of free blocks.
_new_object = object.__new__
_set_family = Prefix.__dict__["family"].__set__
_set_first = Prefix.__dict__["first"].__set__
_set_length = Prefix.__dict__["length"].__set__


def _unchecked(family: int, first: int, length: int) -> Prefix:
    """Return a Prefix without validation; callers guarantee alignment and bounds."""
    prefix = _new_object(Prefix)
    _set_family(prefix, family)
    _set_first(prefix, first)
    _set_length(prefix, length)
    return prefix


def _mask(value: int, bits: int, length: int) -> int:
    """Return ``value`` with the host bits of a ``length`` prefix cleared."""
    return value >> (bits - length) << (bits - length)


# Parsing and formatting


def validate_prefix_length(family: int, prefix_length: int) -> None:
    """Raise CidrError unless ``prefix_length`` is a valid length for ``family``."""
    bits = _bits(family)
    if isinstance(prefix_length, bool) or not isinstance(prefix_length, int):
        raise CidrError(f"prefix length {prefix_length!r} is not an integer")
    if not 0 <= prefix_length <= bits:
        raise CidrError(
            f"prefix length {prefix_length} is out of range for IPv{family} (0 to {bits})"
        )


def _parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """Return the address ``text`` spells, or None when it spells none."""
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


_DIGITS = frozenset("0123456789")


def _ipv4_value(text: str) -> int | None:
    """Return the value of a dotted-quad IPv4 address exactly as ``ipaddress`` reads it.

    ``ipaddress`` spends most of a bulk import's parsing time on IPv4; this reads the
    common spelling directly, with its rules: four octets of one to three ASCII digits, no
    leading zero, at most 255. None means "not that spelling" (IPv6, a typo): the caller
    then asks ``ipaddress``, whose verdict and messages stay the authority.
    """
    parts = text.split(".")
    if len(parts) != 4:
        return None
    value = 0
    for part in parts:
        if not part or len(part) > 3 or not _DIGITS.issuperset(part):
            return None
        if part[0] == "0" and len(part) > 1:
            return None
        octet = int(part)
        if octet > 255:
            return None
        value = value << 8 | octet
    return value


def _check_text(text: object, kind: str) -> str:
    """Return ``text`` stripped, raising CidrError for non-strings and zone ids."""
    if not isinstance(text, str):
        raise CidrError(f"{text!r} is not a valid IPv4 or IPv6 {kind}")
    stripped = text.strip()
    if "%" in stripped:
        # A zone id (fe80::1%eth0) names a link on one host; it has no meaning in an
        # address plan shared across networks, and ipaddress would otherwise accept it.
        raise CidrError(
            f"'{stripped}' has an IPv6 zone id ('%'); scoped addresses are not accepted"
        )
    return stripped


def parse_prefix(text: str) -> Prefix:
    """Return the Prefix that ``text`` spells, such as ``10.0.0.0/8`` or ``2001:db8::/32``.

    Surrounding whitespace is ignored and a bare address is read as a host prefix (/32 or
    /128). Only a decimal length is accepted after the slash, not a netmask. A prefix with
    host bits set raises CidrError whose ``canonical`` holds the prefix it most likely meant.
    """
    stripped = _check_text(text, "prefix")
    invalid = f"'{stripped}' is not a valid IPv4 or IPv6 prefix"
    address_text, slash, length_text = stripped.partition("/")
    first = _ipv4_value(address_text)
    if first is not None:
        family = 4
    else:
        address = _parse_ip(address_text)
        if address is None:
            raise CidrError(invalid)
        family, first = address.version, int(address)
    bits = _BITS[family]
    if not slash:
        return _unchecked(family, first, bits)
    # int() would also take "+8", " 8", "1_6" and non-ASCII digits; a length is plain digits.
    if not (length_text.isascii() and length_text.isdigit()) or len(length_text) > 3:
        raise CidrError(invalid)
    length = int(length_text)
    if length > bits:
        raise CidrError(f"{invalid}: the prefix length must be between 0 and {bits}")
    network = _mask(first, bits, length)
    if network != first:
        canonical = str(_unchecked(family, network, length))
        raise CidrError(
            f"{stripped} has host bits set; did you mean {canonical}?",
            canonical=canonical,
        )
    return _unchecked(family, network, length)


def parse_address(text: str) -> tuple[int, int]:
    """Return ``(family, value)`` for the single address that ``text`` spells."""
    stripped = _check_text(text, "address")
    address = _parse_ip(stripped)
    if address is None:
        raise CidrError(f"'{stripped}' is not a valid IPv4 or IPv6 address")
    return address.version, int(address)


def _format_ipv4(value: int) -> str:
    """Return ``value`` in dotted-quad notation."""
    return f"{value >> 24}.{(value >> 16) & 0xFF}.{(value >> 8) & 0xFF}.{value & 0xFF}"


def _format_ipv6(value: int) -> str:
    """Return ``value`` in RFC 5952 canonical text.

    ipaddress is not used here because its output for IPv4-mapped addresses changed in
    Python 3.13; canonical text is stored and compared, so it must not depend on the
    interpreter.
    """
    if value & _IPV4_MAPPED_MASK == _IPV4_MAPPED_PREFIX:
        # RFC 5952 section 5: IPv4-mapped addresses keep the dotted quad.
        return f"::ffff:{_format_ipv4(value & 0xFFFFFFFF)}"
    groups = [(value >> shift) & 0xFFFF for shift in range(112, -1, -16)]
    # The longest run of two or more zero groups becomes "::", the leftmost on ties.
    best_start, best_len, run_start = -1, 1, -1
    for index, group in enumerate(groups):
        if group:
            run_start = -1
            continue
        if run_start < 0:
            run_start = index
        if index - run_start + 1 > best_len:
            best_start, best_len = run_start, index - run_start + 1
    hextets = [f"{group:x}" for group in groups]
    if best_start < 0:
        return ":".join(hextets)
    head = ":".join(hextets[:best_start])
    tail = ":".join(hextets[best_start + best_len :])
    return f"{head}::{tail}"


def address_to_str(family: int, value: int) -> str:
    """Return the canonical text of the address ``value`` of ``family``."""
    bits = _bits(family)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << bits:
        raise CidrError(f"{value!r} is not an IPv{family} address")
    return _format_ipv4(value) if family == 4 else _format_ipv6(value)


def address_key(value: int) -> str:
    """Return ``value`` as 32 lowercase hex digits, for indexed columns.

    The width is the same for both families so that, together with the family column,
    string order equals numeric order on every database.
    """
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << 128:
        raise CidrError(f"{value!r} is not an IPv4 or IPv6 address")
    return f"{value:0{_KEY_WIDTH}x}"


# Ranges and prefixes


def _check_range(family: int, first: int, last: int) -> int:
    """Return the address width of ``family`` after checking ``first <= last`` in bounds."""
    bits = _bits(family)
    top = (1 << bits) - 1
    if not (isinstance(first, int) and isinstance(last, int) and 0 <= first <= last <= top):
        raise CidrError(f"({first!r}, {last!r}) is not an IPv{family} address range")
    return bits


def _iter_range_blocks(first: int, last: int, bits: int) -> Iterator[tuple[int, int]]:
    """Yield ``(first, length)`` of the maximal aligned blocks covering ``first..last``.

    At each step the block is as large as both the alignment of ``first`` (its lowest set
    bit) and the remaining span (the highest power of two not above it) allow.
    """
    whole = 1 << bits
    while first <= last:
        size = first & -first or whole
        fit = 1 << ((last - first + 1).bit_length() - 1)
        if fit < size:
            size = fit
        yield first, bits + 1 - size.bit_length()
        first += size


def range_to_prefixes(family: int, first: int, last: int) -> list[Prefix]:
    """Return the fewest CIDR blocks covering exactly ``first..last``, in address order.

    Raise CidrError when the range is reversed or outside the address space of ``family``.
    """
    bits = _check_range(family, first, last)
    return [
        _unchecked(family, start, length) for start, length in _iter_range_blocks(first, last, bits)
    ]


def _sorted_keys(prefixes: Iterable[Prefix], family: int) -> list[int]:
    """Return the packed sort keys of the prefixes of ``family``, sorted.

    Blocks outside the parent are left to the sweep, which skips them in one comparison
    each; filtering them here would cost more for the usual case of children inside.
    """
    keys = [
        prefix.first << _LENGTH_BITS | prefix.length
        for prefix in prefixes
        if prefix.family == family
    ]
    keys.sort()
    return keys


def _iter_free(low: int, high: int, keys: list[int], bits: int) -> Iterator[tuple[int, int]]:
    """Yield the gaps of ``low..high`` not covered by the blocks of the sorted ``keys``.

    ``next_free`` only moves forward, so a block nested in space already covered costs one
    comparison and the sweep is linear after the sort.
    """
    sizes = [1 << (bits - length) for length in range(bits + 1)]
    next_free = low
    for key in keys:
        first = key >> _LENGTH_BITS
        last = first + sizes[key & _LENGTH_MASK] - 1
        if last < next_free:
            continue
        if first > high:
            break
        if first > next_free:
            yield next_free, first - 1
        next_free = last + 1
        if next_free > high:
            return
    if next_free <= high:
        yield next_free, high


def free_ranges(
    parent_first: int, parent_last: int, sorted_child_ranges: Iterable[tuple[int, int]]
) -> list[tuple[int, int]]:
    """Return the inclusive ranges of ``parent_first..parent_last`` that no child covers.

    ``sorted_child_ranges`` are inclusive ``(first, last)`` pairs sorted by ``first``, as a
    database returns them from an index on the first address. They may nest, overlap, repeat
    or reach outside the parent.
    """
    gaps: list[tuple[int, int]] = []
    next_free = parent_first
    for first, last in sorted_child_ranges:
        if last < next_free:
            continue
        if first > parent_last:
            break
        if first > next_free:
            gaps.append((next_free, first - 1))
        next_free = last + 1
        if next_free > parent_last:
            return gaps
    if next_free <= parent_last:
        gaps.append((next_free, parent_last))
    return gaps


def _parent_gaps(parent: Prefix, children: Iterable[Prefix]) -> Iterator[tuple[int, int]]:
    """Yield the free ranges of ``parent`` given unsorted ``children``."""
    bits = _BITS[parent.family]
    last = parent.first + (1 << (bits - parent.length)) - 1
    keys = _sorted_keys(children, parent.family)
    return _iter_free(parent.first, last, keys, bits)


def _iter_free_blocks(parent: Prefix, children: Iterable[Prefix]) -> Iterator[tuple[int, int]]:
    """Yield ``(first, length)`` of the free blocks of ``parent``, in address order."""
    bits = _BITS[parent.family]
    for gap_first, gap_last in _parent_gaps(parent, children):
        yield from _iter_range_blocks(gap_first, gap_last, bits)


def free_blocks(parent: Prefix, children: Iterable[Prefix]) -> list[Prefix]:
    """Return the maximal CIDR blocks inside ``parent`` that no child covers, in address order.

    Children may nest, overlap or repeat. Children of the other family or outside the
    parent are ignored, and children reaching outside it are clipped to it.
    """
    family = parent.family
    bits = _BITS[family]
    whole = 1 << bits
    blocks: list[Prefix] = []
    append = blocks.append
    # The range decomposition is inlined: this loop emits every free block of the pool.
    for first, last in _parent_gaps(parent, children):
        while first <= last:
            size = first & -first or whole
            fit = 1 << ((last - first + 1).bit_length() - 1)
            if fit < size:
                size = fit
            append(_unchecked(family, first, bits + 1 - size.bit_length()))
            first += size
    return blocks


def _check_wanted_length(parent: Prefix, prefix_length: int) -> bool:
    """Validate ``prefix_length`` for the parent's family; return whether a block can fit."""
    validate_prefix_length(parent.family, prefix_length)
    return prefix_length >= parent.length


def free_blocks_of_length(
    parent: Prefix, children: Iterable[Prefix], prefix_length: int, limit: int = 10
) -> list[Prefix]:
    """Return the first ``limit`` free aligned blocks of exactly ``prefix_length``.

    Blocks come in address order. Candidates are produced by stepping through each gap, so
    a huge IPv6 gap costs ``limit`` steps, not one step per candidate.
    """
    if not _check_wanted_length(parent, prefix_length) or limit <= 0:
        return []
    family = parent.family
    shift = _BITS[family] - prefix_length
    size = 1 << shift
    found: list[Prefix] = []
    for gap_first, gap_last in _parent_gaps(parent, children):
        # Round the gap's start up to the next boundary of the wanted size.
        start = ((gap_first + size - 1) >> shift) << shift
        while start + size - 1 <= gap_last:
            found.append(_unchecked(family, start, prefix_length))
            if len(found) >= limit:
                return found
            start += size
    return found


def first_fit(parent: Prefix, children: Iterable[Prefix], prefix_length: int) -> Prefix | None:
    """Return the lowest-addressed free aligned block of ``prefix_length``, or None."""
    found = free_blocks_of_length(parent, children, prefix_length, limit=1)
    return found[0] if found else None


def best_fit(parent: Prefix, children: Iterable[Prefix], prefix_length: int) -> Prefix | None:
    """Return the first block of ``prefix_length`` in the smallest free block that holds it.

    Among the free blocks that ``free_blocks`` lists and that are at least as large as the
    request, the smallest wins, the lowest address among equals; this keeps large blocks
    whole for large requests. Return None when no free block is large enough.
    """
    if not _check_wanted_length(parent, prefix_length):
        return None
    best_first, best_length = -1, -1
    for first, length in _iter_free_blocks(parent, children):
        if best_length < length <= prefix_length:
            best_first, best_length = first, length
            if length == prefix_length:
                # An exact fit cannot be beaten, and blocks come in address order.
                break
    if best_length < 0:
        return None
    return _unchecked(parent.family, best_first, prefix_length)


def largest_free_block(parent: Prefix, children: Iterable[Prefix]) -> Prefix | None:
    """Return the largest free block of ``parent``, the lowest address among equals."""
    best: tuple[int, int] | None = None
    for first, length in _iter_free_blocks(parent, children):
        if best is None or length < best[1]:
            best = (first, length)
            if length == parent.length:
                break
    return None if best is None else _unchecked(parent.family, *best)


# Unions


def _merge_sorted(keys: list[int], bits: int) -> list[tuple[int, int]]:
    """Return the disjoint, merged ranges of the blocks of sorted packed ``keys``."""
    sizes = [1 << (bits - length) for length in range(bits + 1)]
    ranges: list[tuple[int, int]] = []
    run_first = run_last = -2
    for key in keys:
        first = key >> _LENGTH_BITS
        last = first + sizes[key & _LENGTH_MASK] - 1
        if first <= run_last + 1:
            # Overlapping or adjacent: extend the current run.
            if last > run_last:
                run_last = last
            continue
        if run_last >= 0:
            ranges.append((run_first, run_last))
        run_first, run_last = first, last
    if run_last >= 0:
        ranges.append((run_first, run_last))
    return ranges


def _keys_by_family(prefixes: Iterable[Prefix]) -> dict[int, list[int]]:
    """Return the sorted packed keys of ``prefixes``, grouped by family."""
    keys: dict[int, list[int]] = {4: [], 6: []}
    for prefix in prefixes:
        keys[prefix.family].append(prefix.first << _LENGTH_BITS | prefix.length)
    for family_keys in keys.values():
        family_keys.sort()
    return keys


def merge_ranges(prefixes: Iterable[Prefix]) -> list[tuple[int, int]]:
    """Return the union of ``prefixes`` as sorted, disjoint, inclusive ``(first, last)`` ranges.

    Adjacent ranges are merged. All prefixes must be of one family, since the integers of
    IPv4 and IPv6 addresses overlap; mixing them raises CidrError.
    """
    keys = _keys_by_family(prefixes)
    if keys[4] and keys[6]:
        raise CidrError("cannot merge IPv4 and IPv6 prefixes into one list of ranges")
    family = 6 if keys[6] else 4
    return _merge_sorted(keys[family], _BITS[family])


def covered_size(prefixes: Iterable[Prefix]) -> int:
    """Return the number of addresses in the union of ``prefixes``, each counted once.

    IPv4 and IPv6 prefixes may be mixed; their counts add up.
    """
    return sum(
        last - first + 1
        for family, family_keys in _keys_by_family(prefixes).items()
        for first, last in _merge_sorted(family_keys, _BITS[family])
    )


def summarize(prefixes: Iterable[Prefix]) -> list[Prefix]:
    """Return the fewest CIDR blocks covering exactly the union of ``prefixes``.

    IPv4 blocks come first, then IPv6, each in address order.
    """
    result: list[Prefix] = []
    for family, family_keys in _keys_by_family(prefixes).items():
        bits = _BITS[family]
        for first, last in _merge_sorted(family_keys, bits):
            result.extend(
                _unchecked(family, start, length)
                for start, length in _iter_range_blocks(first, last, bits)
            )
    return result


# Address counts above this are IPv6-sized: shown as a power of two, never as 20-odd digits.
_GROUPED_MAX = 2**32
# The units an IPv6 count is also given in, largest first: a /48 is a site, a /64 a subnet.
_IPV6_UNITS: tuple[tuple[int, str], ...] = ((2**80, "/48"), (2**64, "/64"))


def format_address_count(count: int) -> str:
    """Return ``count`` addresses as a person reads them, in one format everywhere.

    Up to 2^32 (every IPv4 count and small IPv6 ones): a grouped integer,
    ``16,777,216 addresses``. Above: the power of two, with the equivalent
    number of /48s or /64s once there is at least one, ``2^72 addresses
    (256 /64s)``; a count that is not a power of two is marked approximate,
    ``≈2^72 addresses (255 /64s)``.

    >>> format_address_count(1)
    '1 address'
    >>> format_address_count(2**24)
    '16,777,216 addresses'
    >>> format_address_count(2**72)
    '2^72 addresses (256 /64s)'
    >>> format_address_count(2**80 + 2**79)
    '≈2^81 addresses (≈1.5 /48s)'
    """
    count = int(count)
    if count < 0:
        raise ValueError("An address count cannot be negative.")
    if count <= _GROUPED_MAX:
        return f"{count:,} address{'' if count == 1 else 'es'}"
    exact = count & (count - 1) == 0
    power = count.bit_length() - 1 if exact else round(math.log2(count))
    text = f"{'' if exact else '≈'}2^{power} addresses"
    for size, unit in _IPV6_UNITS:
        if count >= size:
            units, rest = divmod(count, size)
            if rest == 0:
                amount = f"{units:,}"
            else:
                share = count / size
                amount = f"≈{round(share):,}" if share >= 10 else f"≈{share:.1f}"
                amount = amount.removesuffix(".0")
            plural = "" if amount.lstrip("≈") == "1" else "s"
            return f"{text} ({amount} {unit}{plural})"
    return text
