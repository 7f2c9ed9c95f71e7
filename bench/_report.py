"""The one convention of the bench scripts: how a figure is reported, and what exit means.

A script calls :func:`report` once per figure it measures, met or missed, and exits 0 when
it ran to the end, whatever its figures: a missed target is a result, not a crash. It
exits non-zero only when it could not measure: an exception (Python exits 1), or a broken
result that makes the figures meaningless (overlapping blocks, a broken audit chain), which
it signals with :func:`broken` (exit 3). ``bench/run_all.py`` (``make bench``) runs every
script in its own process, reads the report lines and prints one table at the end.

Each figure is printed twice: a line for people, and a line starting with ``MARKER`` and a
JSON object for the runner.
"""

from __future__ import annotations

import json
import os
import sys
from typing import NoReturn

MARKER = "@@bench-figure "
EXIT_BROKEN = 3


def report(name: str, value: float, unit: str, target: str, met: bool) -> None:
    """Print the figure ``name`` (``value`` ``unit``) against ``target``, met or missed."""
    script = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "?"
    verdict = "met" if met else "MISSED"
    print(f"  {name}: {value:,.3f} {unit} (target {target}): {verdict}", flush=True)
    line = {
        "script": script,
        "name": name,
        "value": value,
        "unit": unit,
        "target": target,
        "met": bool(met),
    }
    print(MARKER + json.dumps(line), flush=True)


def broken(reason: str) -> NoReturn:
    """Stop the script: its result is wrong, so its figures mean nothing (exit 3)."""
    print(f"BROKEN: {reason}", flush=True)
    sys.exit(EXIT_BROKEN)
