"""Reconciliation window by window agrees with the engine run on everything (no database).

The service reads the estate in address order and reconciles it a window at a time against
the pools that meet each window (``WindowedReconciliation``). On generated plans and
estates, with windows as small as one resource, every resource's and pool's outcome must be
the one the engine gives on the whole estate, whatever the window size.
"""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.discovery import reconcile as engine
from apps.discovery.reconciliation import (
    WindowedReconciliation,
    windows_of,
)
from tests.discovery.test_drift_model import rows
from tests.discovery.test_reconcile_engine import estates


def _rows(pools, resources):
    return rows(
        pools,
        resources,
        {item.id: f"r-{item.id}" for item in resources},
        account_of=lambda item: 100 + item.id % 3,
    )


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(estates(), st.integers(1, 4))
def test_windows_agree_with_the_whole_estate(estate, size) -> None:
    pools, resources = estate
    whole = engine.reconcile(pools, resources)
    pool_rows, resource_rows = _rows(pools, resources)
    # The order the database reads them in: address, then id.
    ordered = sorted(resource_rows, key=lambda row: (row.item.cidr, row.item.id))

    windowed = WindowedReconciliation(pool_rows)
    outcomes: dict[int, engine.ResourceOutcome] = {}
    windows = list(windows_of(ordered, size))
    for window in windows:
        result = windowed.reconcile(window)
        assert not set(result.resources) & set(outcomes)
        outcomes.update(result.resources)
    assert outcomes == whole.resources
    assert windowed.finish() == whole.pools
    for row, outcome in windowed.finish().items():
        if outcome.linked_resource is not None and not outcome.orphaned:
            assert windowed.account_of[outcome.linked_resource] == 100 + (
                outcome.linked_resource % 3
            ), row
    # The windows are cut only where nothing spans the cut.
    assert [row for window in windows for row in window] == ordered
    for before, after in itertools.pairwise(windows):
        family = after[0].item.cidr.family
        reach = max(
            (row.item.cidr.last for row in before if row.item.cidr.family == family), default=-1
        )
        assert reach < after[0].item.cidr.first


def test_a_window_holds_everything_that_overlaps_across_its_size() -> None:
    """A /8 spanning a thousand /24s keeps them in one window, whatever the size asked."""
    big = engine.ResourceItem(1, engine.Prefix(4, 10 << 24, 8), "net-a", "present")
    small = [
        engine.ResourceItem(
            2 + index, engine.Prefix(4, (10 << 24) + (index << 8), 24), "", "present"
        )
        for index in range(1_000)
    ]
    after = engine.ResourceItem(5_000, engine.Prefix(4, 11 << 24, 24), "", "present")
    _, rows = _rows([], [big, *small, after])
    windows = list(windows_of(sorted(rows, key=lambda row: (row.item.cidr, row.item.id)), 10))
    assert [len(window) for window in windows] == [1_001, 1]
