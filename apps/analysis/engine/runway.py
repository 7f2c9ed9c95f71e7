"""Runway: when a pool will run out of addresses at its recent rate of growth.

Method:

1. Take the pool's daily utilization snapshots (one per day; for a day recorded twice the
   later entry wins) and keep the most recent ``window`` of them (default 30).
2. With fewer than 3 snapshots, or fewer than 2 days between the first and the last, the
   status is ``insufficient_history`` and nothing is projected.
3. Fit a straight line ``used = a + b * day`` by ordinary least squares. The sums are
   computed on integers and the slope ``b`` as an exact fraction, so IPv6-sized counts keep
   every digit: ``b = (n·Σxy - Σx·Σy) / (n·Σx² - (Σx)²)`` with ``x`` in days.
4. ``growth_per_day`` is ``b``. Projections and the exhaustion date are anchored at the
   latest snapshot (its real value, not the fitted one): ``used(t) = latest + b * t``.
5. If the latest snapshot already uses the whole pool, the status is ``exhausted`` (0 days).
   If ``b <= 0`` the pool is not growing: status ``no_growth`` and no exhaustion date.
   Otherwise ``days_until_exhaustion = floor((total - latest) / b)`` counted from the latest
   snapshot, and the status is ``ok``.
6. Projections at 3, 6 and 12 months (90, 180 and 365 days after the latest snapshot) give
   the projected used count, capped to ``0..total``, and its percentage of the pool.

>>> from datetime import date, timedelta
>>> start = date(2025, 1, 1)
>>> history = [Snapshot(start + timedelta(days=d), 100 + 10 * d) for d in range(10)]
>>> runway = runway_of(history, total=4096)  # 190 used on 2025-01-10, +10 a day
>>> runway.status, runway.growth_per_day, runway.days_until_exhaustion, runway.exhaustion_date
('ok', 10.0, 390, datetime.date(2026, 2, 4))
>>> [(p.months, p.used, p.percent) for p in runway.projections]
[(3, 1090, 26.61), (6, 1990, 48.58), (12, 3840, 93.75)]
>>> [p.used for p in runway_of(history, total=1024).projections]  # capped at the total
[1024, 1024, 1024]
>>> runway_of(history[:2], total=4096).status
'insufficient_history'
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from fractions import Fraction
from typing import Literal

from apps.analysis.engine.data import Snapshot
from apps.analysis.engine.utilization import percent

__all__ = [
    "DEFAULT_WINDOW",
    "HORIZONS",
    "MIN_POINTS",
    "MIN_SPAN_DAYS",
    "Projection",
    "Runway",
    "RunwayStatus",
    "runway_of",
]

DEFAULT_WINDOW = 30
MIN_POINTS = 3
MIN_SPAN_DAYS = 2
# (months, days after the latest snapshot)
HORIZONS: tuple[tuple[int, int], ...] = ((3, 90), (6, 180), (12, 365))

RunwayStatus = Literal["ok", "no_growth", "exhausted", "insufficient_history"]


@dataclass(frozen=True, slots=True)
class Projection:
    """Give the projected use of a pool some months after the latest snapshot."""

    months: int
    day: date
    used: int
    percent: float


@dataclass(frozen=True, slots=True)
class Runway:
    """Report the growth fit of a pool and what it predicts.

    ``growth_per_day`` is None without enough history; ``days_until_exhaustion`` and
    ``exhaustion_date`` are None unless the status is ``ok`` or ``exhausted`` (and the
    date is None when it would fall beyond the calendar).
    """

    status: RunwayStatus
    total: int
    points: int
    span_days: int
    latest: Snapshot | None
    growth_per_day: float | None
    days_until_exhaustion: int | None
    exhaustion_date: date | None
    projections: tuple[Projection, ...]


def _add_days(day: date, days: int) -> date | None:
    """Return ``day + days``, or None past the last representable date."""
    try:
        return day + timedelta(days=days)
    except OverflowError:
        return None


def runway_of(snapshots: Iterable[Snapshot], *, total: int, window: int = DEFAULT_WINDOW) -> Runway:
    """Return the runway of a pool of ``total`` addresses from its utilization history."""
    # A concrete type, not the Sequence ABC, whose check costs as much as the short path.
    if isinstance(snapshots, (list, tuple)) and len(snapshots) < 2:
        # New pools and new plans (every pool of a million on the first days): nothing to
        # fit, nothing to sort.
        if not snapshots or window <= 0:
            return Runway("insufficient_history", total, 0, 0, None, None, None, None, ())
        only = Snapshot(snapshots[0].day, snapshots[0].used)
        return Runway("insufficient_history", total, 1, 0, only, None, None, None, ())
    by_day: dict[date, int] = {}
    for snapshot in snapshots:
        by_day[snapshot.day] = snapshot.used
    days = sorted(by_day)[-window:] if window > 0 else []
    points = [(day, by_day[day]) for day in days]
    latest = Snapshot(*points[-1]) if points else None
    span = (points[-1][0] - points[0][0]).days if points else 0
    if len(points) < MIN_POINTS or span < MIN_SPAN_DAYS or latest is None:
        return Runway(
            "insufficient_history", total, len(points), span, latest, None, None, None, ()
        )

    origin = points[0][0].toordinal()
    n = len(points)
    sum_x = sum_y = sum_xx = sum_xy = 0
    for day, used in points:
        x = day.toordinal() - origin
        sum_x += x
        sum_y += used
        sum_xx += x * x
        sum_xy += x * used
    slope = Fraction(n * sum_xy - sum_x * sum_y, n * sum_xx - sum_x * sum_x)

    projections = []
    for months, horizon in HORIZONS:
        projected = latest.used + slope * horizon
        used = min(max(int(projected), 0), total)
        projections.append(
            Projection(
                months=months,
                day=latest.day + timedelta(days=horizon),
                used=used,
                percent=percent(used, total),
            )
        )

    status: RunwayStatus
    if latest.used >= total:
        status, days_left = "exhausted", 0
    elif slope <= 0:
        status, days_left = "no_growth", None
    else:
        status, days_left = "ok", int((total - latest.used) / slope)
    return Runway(
        status=status,
        total=total,
        points=n,
        span_days=span,
        latest=latest,
        growth_per_day=float(slope),
        days_until_exhaustion=days_left,
        exhaustion_date=None if days_left is None else _add_days(latest.day, days_left),
        projections=tuple(projections),
    )
