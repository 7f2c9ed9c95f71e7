"""Pacing cloud calls: a per-account token bucket and retries with backoff and jitter.

Pure Python, no Django. Both take their clock and sleep as arguments so tests run them
without waiting.

>>> clock = FakeClock()
>>> bucket = TokenBucket(rate=2, capacity=2, clock=clock.now, sleep=clock.sleep)
>>> for _ in range(4):
...     bucket.acquire()
>>> clock.slept  # two calls from the full bucket, then one every half second
1.0
>>> attempts = []
>>> def flaky():
...     attempts.append(1)
...     if len(attempts) < 3:
...         raise ProviderError("throttled", "slow down", retry_after=7)
...     return "ok"
>>> policy = RetryPolicy(sleep=clock.sleep, random=lambda: 0.5)
>>> policy.call(flaky), len(attempts), clock.slept
('ok', 3, 15.0)
"""

from __future__ import annotations

import random as _random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from apps.cloud.providers.errors import ProviderError

__all__ = ["RETRYABLE", "FakeClock", "RetryPolicy", "TokenBucket"]

T = TypeVar("T")

# Codes worth another try: the provider asked us to slow down, or failed on its side.
RETRYABLE = frozenset({"throttled", "provider_error", "timeout"})


class TokenBucket:
    """Bound the call rate of one account: ``rate`` calls a second, bursts of ``capacity``.

    Thread-safe: the regions of one account may be collected by several threads.
    """

    def __init__(
        self,
        rate: float = 10.0,
        capacity: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = float(rate)
        self.capacity = float(capacity if capacity is not None else max(rate, 1.0))
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.capacity
        self._updated = clock()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        """Take one token, sleeping until one is there."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            self._tokens -= 1
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)


@dataclass
class RetryPolicy:
    """Retry a call on throttling, timeouts and 5xx: at most ``tries`` tries in all.

    The wait doubles from ``base`` up to ``cap`` with full jitter, and is never shorter
    than the provider's ``Retry-After``. After the last try the error propagates, so the
    region fails with ``throttled`` or ``provider_error``.
    """

    tries: int = 5
    base: float = 0.5
    cap: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    random: Callable[[], float] = field(default=_random.random)
    bucket: TokenBucket | None = None

    def call(self, function: Callable[[], T]) -> T:
        """Return ``function()``, retrying the retryable :class:`ProviderError` codes."""
        for attempt in range(1, self.tries + 1):
            if self.bucket is not None:
                self.bucket.acquire()
            try:
                return function()
            except ProviderError as error:
                if error.code not in RETRYABLE or attempt == self.tries:
                    raise
                self.sleep(self.delay(attempt, error.retry_after))
        raise AssertionError("unreachable")  # pragma: no cover

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Return the wait after failed try ``attempt`` (1-based)."""
        backoff = self.random() * min(self.cap, self.base * 2 ** (attempt - 1))
        return max(backoff, retry_after or 0.0)


class FakeClock:
    """A clock whose sleep moves time forward instantly (tests and doctests)."""

    def __init__(self) -> None:
        self.time = 0.0
        self.slept = 0.0

    def now(self) -> float:
        return self.time

    def sleep(self, seconds: float) -> None:
        self.time += seconds
        self.slept += seconds
