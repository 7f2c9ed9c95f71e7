"""Server-rendered charts of the analysis pages: plain numbers for an inline SVG.

The utilization chart plots a pool's daily used share (percent) over time, the threshold
of OVER_UTILIZED, and the runway projection as a dashed line from the latest snapshot to
the 3-month point. Coordinates are computed here so the template only draws them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

WIDTH = 640
HEIGHT = 200
LEFT = 40
RIGHT = 12
TOP = 10
BOTTOM = 26


@dataclass(frozen=True, slots=True)
class Tick:
    """A labelled position on an axis."""

    position: float
    label: str


@dataclass(frozen=True, slots=True)
class UtilizationChart:
    """Everything the template needs to draw the chart; ``empty`` when there is no data."""

    width: int = WIDTH
    height: int = HEIGHT
    line: str = ""
    dots: list[tuple[float, float, str]] = field(default_factory=list)
    projection: str = ""
    threshold_y: float | None = None
    x_ticks: list[Tick] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    plot_left: int = LEFT
    plot_right: int = WIDTH - RIGHT
    plot_top: int = TOP
    plot_bottom: int = HEIGHT - BOTTOM

    @property
    def empty(self) -> bool:
        """Return whether there is nothing to plot."""
        return not self.line


def _percent(used: int, total: int) -> float:
    return used * 100 / total if total else 0.0


def utilization_chart(
    series: Sequence[tuple[date, int, int]],
    *,
    threshold: float | None = None,
    projection: tuple[date, float] | None = None,
) -> UtilizationChart:
    """Return the chart of ``series`` (``(day, used, total)``, oldest first).

    ``projection`` is ``(day, percent)`` of the runway's 3-month point; the dashed line
    runs to it from the latest snapshot.
    """
    if not series:
        return UtilizationChart()
    first_day = series[0][0]
    last_day = projection[0] if projection else series[-1][0]
    span = max((last_day - first_day).days, 1)
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM

    def x(day: date) -> float:
        return round(LEFT + (day - first_day).days * plot_width / span, 2)

    def y(percent: float) -> float:
        clipped = min(max(percent, 0.0), 100.0)
        return round(TOP + (100 - clipped) * plot_height / 100, 2)

    points = [(x(day), y(_percent(used, total)), day, used, total) for day, used, total in series]
    line = " ".join(f"{px},{py}" for px, py, *_ in points)
    dots = [
        (px, py, f"{day.isoformat()}: {_percent(used, total):.1f}% ({used:,} of {total:,})")
        for px, py, day, used, total in points
    ]
    dashed = ""
    if projection is not None:
        last_x, last_y = points[-1][0], points[-1][1]
        dashed = f"{last_x},{last_y} {x(projection[0])},{y(projection[1])}"
    ticks_x = [Tick(x(first_day), first_day.isoformat())]
    if last_day != first_day:
        ticks_x.append(Tick(x(last_day), last_day.isoformat()))
    return UtilizationChart(
        line=line,
        dots=dots,
        projection=dashed,
        threshold_y=y(threshold) if threshold is not None else None,
        x_ticks=ticks_x,
        y_ticks=[Tick(y(value), f"{value}%") for value in (0, 25, 50, 75, 100)],
    )
