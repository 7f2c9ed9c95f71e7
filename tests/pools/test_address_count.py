"""The one format of address counts: grouped up to 2^32, a power of two with /64s or /48s above."""

from __future__ import annotations

import re

import pytest

from apps.pools.cidr import format_address_count
from apps.pools.templatetags.pools import addresses


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (0, "0 addresses"),
        (1, "1 address"),
        (256, "256 addresses"),
        (2**24, "16,777,216 addresses"),
        (2**32, "4,294,967,296 addresses"),
        (2**48, "2^48 addresses"),
        (2**48 - 256, "≈2^48 addresses"),
        (2**64, "2^64 addresses (1 /64)"),
        (2**72, "2^72 addresses (256 /64s)"),
        (255 * 2**64, "≈2^72 addresses (255 /64s)"),
        (2**64 + 5, "≈2^64 addresses (≈1 /64)"),
        (2**80, "2^80 addresses (1 /48)"),
        (2**80 + 2**79, "≈2^81 addresses (≈1.5 /48s)"),
        (2**96, "2^96 addresses (65,536 /48s)"),
        (2**128, "2^128 addresses (281,474,976,710,656 /48s)"),
    ],
)
def test_address_counts_read_one_way(count: int, text: str) -> None:
    assert format_address_count(count) == text


@pytest.mark.parametrize("count", [2**n for n in range(33, 129)] + [3 * 2**70, 2**100 - 1])
def test_no_ipv6_count_is_written_out_in_full(count: int) -> None:
    text = format_address_count(count)
    digits = max(len(run) for run in re.findall(r"\d+", text.replace(",", "")))
    assert digits <= 15, text  # at most a count of /48s, never the 20-odd digits of 2^n
    assert "2^" in text


def test_the_template_filter_is_the_same_function() -> None:
    assert addresses("16777216") == "16,777,216 addresses"
    assert addresses(2**72) == format_address_count(2**72)


def test_a_negative_count_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        format_address_count(-1)
