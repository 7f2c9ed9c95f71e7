"""
The preview of a plan over plain data: risk findings and level, ASCII diagram, to-scale bars.

The services gather what the dry run did (the pools it added, changed and removed, every
affected parent's utilization before and after, discovered usage, compliance findings)
and hand it here as dicts; these functions decide the risk and draw the pictures.

Risk rules (SPEC.md section 7.0), each finding ``{rule, severity, level, ref, pool,
message}``:

=====================  ========  ===========================================================
rule                   level     when
=====================  ========  ===========================================================
DISCOVERED_OVERLAP     high      a new pool overlaps discovered cloud usage it does not
                                 contain (the cloud already uses some of that space)
CHANGED_IN_USE         high      a changed or removed pool has discovered resources
CHANGED_WITH_CHILDREN  medium    a changed (moved, resized) or removed pool has live children
OVER_THRESHOLD         medium    a parent ends at or above the organization's utilization
                                 threshold (``OVER_UTILIZED``, default 80 %)
TAKES_HALF_FREE        medium    the plan takes more than half of a parent's free space
(compliance rules)     by their  public or special-purpose space, prefix bounds, naming,
                       severity  required tags: error is high, warning medium, info low
=====================  ========  ===========================================================

The plan's level is the highest of its findings' levels, ``low`` without findings.

No Django import.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction
from typing import Any

from apps.pools.cidr import format_address_count

LEVELS = ("low", "medium", "high")
LEVEL_OF_SEVERITY = {"error": "high", "warning": "medium", "info": "low"}
SEVERITY_OF_LEVEL = {"high": "error", "medium": "warning", "low": "info"}
# Pictures stay light whatever the plan's size.
MAX_ASCII_LINES = 400
MAX_PICTURES = 50
MAX_SEGMENTS = 500
BAR_WIDTH = 40
SCALE_WIDTH = 1000.0
MIN_WIDTH = 1.0


def finding(
    rule: str, level: str, message: str, *, ref: str = "", pool: int | None = None
) -> dict[str, Any]:
    """Return one risk finding with its severity derived from its level."""
    return {
        "rule": rule,
        "severity": SEVERITY_OF_LEVEL[level],
        "level": level,
        "ref": ref,
        "pool": pool,
        "message": message,
    }


def level_of(findings: Iterable[Mapping[str, Any]]) -> str:
    """Return the highest level among ``findings``, ``low`` when there are none."""
    rank = max((LEVELS.index(item["level"]) for item in findings), default=0)
    return LEVELS[rank]


def parent_findings(
    parents: Sequence[Mapping[str, Any]], *, threshold: Fraction | float
) -> list[dict[str, Any]]:
    """Return the OVER_THRESHOLD and TAKES_HALF_FREE findings of the affected parents.

    Each parent is ``{pool, ref, label, before_percent, after_percent, free_before,
    free_after}`` with the free counts as integers (``before_percent`` None for a parent
    the plan creates).
    """
    results = []
    limit = float(threshold)
    for parent in parents:
        after = parent["after_percent"]
        before = parent["before_percent"]
        label = parent["label"]
        ref, pool = parent.get("ref", ""), parent.get("pool")
        if after >= limit and (before is None or after > before):
            results.append(
                finding(
                    "OVER_THRESHOLD",
                    "medium",
                    f"{label} ends {after}% used, at or above the {limit:g}% threshold.",
                    ref=ref,
                    pool=pool,
                )
            )
        free_before, free_after = parent.get("free_before"), parent["free_after"]
        if before is not None and free_before and (free_before - free_after) * 2 > free_before:
            taken = free_before - free_after
            results.append(
                finding(
                    "TAKES_HALF_FREE",
                    "medium",
                    f"The plan takes {format_address_count(taken)} of {label}, more than half "
                    f"of its {format_address_count(free_before)} free.",
                    ref=ref,
                    pool=pool,
                )
            )
    return results


def compliance_findings(findings: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Return risk findings for compliance findings ``{rule, severity, pool, ref, message}``."""
    return [
        finding(
            item["rule"],
            LEVEL_OF_SEVERITY.get(item["severity"], "low"),
            item["message"],
            ref=item.get("ref", ""),
            pool=item.get("pool"),
        )
        for item in findings
    ]


def ascii_bar(percent: float, width: int = BAR_WIDTH) -> str:
    """Return ``[#####.....]`` for ``percent`` (0 to 100)."""
    filled = min(width, max(0, round(percent * width / 100)))
    return "[" + "#" * filled + "." * (width - filled) + "]"


_MARKS = {"added": "+", "changed": "~", "removed": "-", "context": " "}


def ascii_diagram(
    rows: Sequence[Mapping[str, Any]], parents: Sequence[Mapping[str, Any]] = ()
) -> str:
    """Return the plan as text: the diff as an indented tree, then a bar per parent.

    ``rows`` come in tree order, each ``{kind, depth, cidr, name, detail}``; ``depth`` is
    relative (0 at the shallowest row shown).
    """
    lines = []
    for row in rows[:MAX_ASCII_LINES]:
        indent = "  " * row.get("depth", 0)
        detail = f"  ({row['detail']})" if row.get("detail") else ""
        lines.append(f"{_MARKS.get(row['kind'], ' ')} {indent}{row['cidr']}  {row['name']}{detail}")
    if len(rows) > MAX_ASCII_LINES:
        lines.append(f"  ... {len(rows) - MAX_ASCII_LINES} more")
    if parents:
        lines.append("")
        for parent in parents[:MAX_ASCII_LINES]:
            before = parent["before_percent"]
            shown = "new" if before is None else f"{before:6.2f}%"
            lines.append(
                f"{parent['label']}\n  before {ascii_bar(before or 0)} {shown}\n"
                f"  after  {ascii_bar(parent['after_percent'])} {parent['after_percent']:6.2f}%"
            )
    return "\n".join(lines)


def scale_segments(
    first: int, size: int, children: Sequence[tuple[int, int, str, str]]
) -> list[dict[str, Any]]:
    """Return the to-scale bar of a pool: its children and free runs, ``SCALE_WIDTH`` wide.

    ``children`` are ``(first, last, kind, label)`` with kind ``existing``, ``added`` or
    ``changed``; positions are linear in addresses, blocks narrower than ``MIN_WIDTH``
    drawn that wide. Past ``MAX_SEGMENTS`` children, the rest are left out (``more``).
    """
    segments: list[dict[str, Any]] = []

    def add(kind: str, low: int, high: int, label: str) -> None:
        width = max((high - low + 1) * SCALE_WIDTH / size, MIN_WIDTH)
        x = min((low - first) * SCALE_WIDTH / size, SCALE_WIDTH - width)
        segments.append({"kind": kind, "x": round(x, 3), "width": round(width, 3), "label": label})

    cursor = first
    end = first + size - 1
    for low, high, kind, label in sorted(children)[:MAX_SEGMENTS]:
        if low > cursor:
            add("free", cursor, low - 1, f"{format_address_count(low - cursor)} free")
        add(kind, low, high, label)
        cursor = max(cursor, high + 1)
    if cursor <= end and len(children) <= MAX_SEGMENTS:
        add("free", cursor, end, f"{format_address_count(end - cursor + 1)} free")
    return segments
