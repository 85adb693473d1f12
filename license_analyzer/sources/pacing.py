"""Client-side pacing: a token bucket for the sign-in log, AIMD concurrency for audit windows.

The sign-in log allows about 5 requests per 10 s per app per tenant; asking faster only earns
429s and long Retry-Afters, so requests are spaced here before they are sent. Audit windows
run concurrently under a limit that halves when Dataverse answers 429 and grows by one after
a limit's worth of clean windows (additive increase, multiplicative decrease).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    """`rate` requests per `per` seconds, with bursts up to `rate`."""

    def __init__(self, rate: int, per: float, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.capacity = float(max(1, rate))
        self.fill_per_s = self.capacity / per if per > 0 else float("inf")
        self.tokens = self.capacity
        self._clock = clock
        self._sleep = sleep
        self._last = clock()
        self._lock = threading.Lock()
        self.waited_s = 0.0

    def acquire(self) -> float:
        """Take one token, sleeping until one is there; returns the seconds slept."""
        with self._lock:
            now = self._clock()
            self.tokens = min(self.capacity, self.tokens + (now - self._last) * self.fill_per_s)
            self._last = now
            wait = 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.fill_per_s
            self.tokens -= 1  # may go negative: the debt is paid by the wait below
        if wait > 0:
            self._sleep(wait)
            self.waited_s += wait
        return wait


class AdaptiveLimit:
    """A concurrency limit between 1 and `maximum`, adjusted by AIMD."""

    def __init__(self, maximum: int, throttled_count: Callable[[], int]) -> None:
        self.maximum = max(1, maximum)
        self.limit = self.maximum
        self.active = 0
        self.lowest = self.maximum
        self._successes = 0
        self._throttled_count = throttled_count
        self._seen = throttled_count()
        self._cond = threading.Condition()

    def acquire(self) -> None:
        with self._cond:
            while self.active >= self.limit:
                self._cond.wait()
            self.active += 1

    def release(self) -> None:
        """One unit of work done: halve on new 429s since the last look, else grow slowly."""
        with self._cond:
            self.active -= 1
            count = self._throttled_count()
            if count > self._seen:
                self._seen = count
                self.limit = max(1, self.limit // 2)
                self.lowest = min(self.lowest, self.limit)
                self._successes = 0
            else:
                self._successes += 1
                if self._successes >= self.limit and self.limit < self.maximum:
                    self.limit += 1
                    self._successes = 0
            self._cond.notify_all()
