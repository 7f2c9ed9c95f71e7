"""Run every bench script, each in its own process, and print one summary table at the end.

Usage: ``python bench/run_all.py [SCRIPT ...]`` (default: every ``bench/bench_*.py`` but
``bench_scale.py``, which ``make bench-scale`` runs on its own). Every script runs, even
after one crashes or misses its targets. The table lists each figure a script reported
through ``bench/_report.py`` (script, figure, value, target, met or missed) and each script
that crashed. The exit status is non-zero only when a script crashed (a non-zero exit),
never for a missed target.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _report import EXIT_BROKEN, MARKER  # noqa: E402

SEPARATE = {"bench_scale.py"}


def run(script: Path) -> tuple[int, list[dict[str, object]], float]:
    """Run ``script``, echoing its output; return its exit code, figures and duration."""
    figures: list[dict[str, object]] = []
    started = time.monotonic()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(
        [sys.executable, str(script)],
        cwd=HERE.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith(MARKER):
                figures.append(json.loads(line[len(MARKER) :]))
            else:
                sys.stdout.write(line)
        code = process.wait()
    return code, figures, time.monotonic() - started


def main(argv: list[str]) -> int:
    scripts = (
        [Path(name).resolve() for name in argv]
        if argv
        else [path for path in sorted(HERE.glob("bench_*.py")) if path.name not in SEPARATE]
    )
    rows: list[tuple[str, str, str, str, str]] = []
    crashed: list[str] = []
    for script in scripts:
        print(f"== {script.name}", flush=True)
        code, figures, seconds = run(script)
        rows.extend(
            (
                script.name,
                str(figure["name"]),
                f"{figure['value']:,.3f} {figure['unit']}",
                str(figure["target"]),
                "met" if figure["met"] else "MISSED",
            )
            for figure in figures
        )
        if code != 0:
            kind = "broken result" if code == EXIT_BROKEN else f"crashed (exit {code})"
            crashed.append(script.name)
            rows.append((script.name, "-", "-", "-", kind))
        elif not figures:
            rows.append((script.name, "(no figure reported)", f"{seconds:.1f} s", "-", "-"))
    headers = ("script", "figure", "value", "target", "result")
    widths = [max(len(headers[i]), *(len(row[i]) for row in rows)) for i in range(5)]
    print()
    print("  ".join(header.ljust(width) for header, width in zip(headers, widths, strict=True)))
    print("  ".join("-" * width for width in widths))
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    missed = sum(1 for row in rows if row[4] == "MISSED")
    print(f"\n{len(scripts)} scripts, {missed} missed targets, {len(crashed)} crashed")
    if crashed:
        print("crashed: " + ", ".join(crashed))
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
