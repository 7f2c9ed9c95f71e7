"""
Spreadsheet cells that would run as formulas, for exports and imports alike.

A spreadsheet treats a cell that starts with ``=``, ``+``, ``-`` or ``@`` (or a tab or
carriage return before one) as a formula, which is how CSV injection works. Exports
prefix such cells with ``'`` (spreadsheets show the text and drop the quote); imports
take the quote off again, so an export reads back as it was written.

No Django import: the pure import and export modules and the audit export share it.
"""

from __future__ import annotations

import re
from typing import Any

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

# What follows a leading +, - or @ in a formula: a call, a sheet or DDE reference, a
# comparison, or arithmetic on numbers and cell references ("+1+2", "-A1*3").
_FORMULA_BODY = re.compile(
    r"[(!|=]|^\s*[\w.$:]+\s*[-+*/^&<>]\s*[\w.$:(]",
)


def escape_formula(value: Any) -> Any:
    """Return ``value`` with a ``'`` in front when a spreadsheet would run it as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def unescape_formula(value: str) -> str:
    """Return a cell written by ``escape_formula`` as it was before."""
    if value.startswith("'") and value[1:].startswith(FORMULA_PREFIXES):
        return value[1:]
    return value


def looks_like_formula(value: str) -> bool:
    """Return whether the cell text ``value`` is a formula a spreadsheet would run.

    ``=`` always starts one. ``+``, ``-`` and ``@`` do when what follows reads as a
    formula (a call, a reference, arithmetic), so that a description such as
    "- legacy range" or a tag value "-1" is still accepted.

    >>> [looks_like_formula(text) for text in ("=1+1", "@SUM(A1:A3)", "+cmd|' /C calc'!A0")]
    [True, True, True]
    >>> [looks_like_formula(text) for text in ("- legacy range", "-1", "plain", "'=quoted")]
    [False, False, False, False]
    """
    text = value.lstrip("\t\r\n ")
    if not text:
        return False
    if text[0] == "=":
        return True
    if text[0] in "+-@":
        return bool(_FORMULA_BODY.search(text[1:]))
    return False
