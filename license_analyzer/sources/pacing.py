"""Client-side pacing: a token bucket for the sign-in log, AIMD concurrency for audit windows.

The sign-in log allows about 5 requests per 10 s per app per tenant; asking faster only earns
429s and long Retry-Afters, so requests are spaced here before they are sent. Audit windows
run concurrently under a limit that halves when Dataverse answers 429 and grows by one after
a limit's worth of clean windows (additive increase, multiplicative decrease), and within the
service's execution-time budget, which for long collections binds before the request count.
"""

from __future__ import annotations

import threading
import time
from collections import deque
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


class ExecutionBudget:
    """Dataverse's execution-time limit (1,200 s of request time per 300 s, per user and web
    server), tracked client-side so that concurrent windows slow down before the service
    answers 429 with a Retry-After of minutes.

    Finished requests count for `window_s` after they end, running ones for their elapsed
    time; a new one starts only while the total plus its expected duration stays in budget.
    """

    def __init__(self, budget_s: float, window_s: float, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.budget_s = budget_s
        self.window_s = window_s
        self._clock = clock
        self._done: deque[tuple[float, float]] = deque()  # (finished at, duration)
        self._spent_done = 0.0
        self._running: dict[int, float] = {}
        self._next = 0
        self._cond = threading.Condition()
        self.waited_s = 0.0

    def _expire(self, now: float) -> None:
        while self._done and self._done[0][0] <= now - self.window_s:
            self._spent_done -= self._done.popleft()[1]

    def _expected(self) -> float:
        if not self._done:
            return 0.0
        recent = list(self._done)[-32:]
        return sum(d for _, d in recent) / len(recent)

    def start(self) -> int:
        with self._cond:
            began = self._clock()
            while True:
                now = self._clock()
                self._expire(now)
                running = sum(now - s for s in self._running.values())
                if self._spent_done + running + self._expected() < self.budget_s or (
                        not self._running and not self._done):
                    break
                # room comes back when the oldest finished request leaves the window
                until = (self._done[0][0] + self.window_s - now) if self._done else 1.0
                self._cond.wait(timeout=max(0.01, min(until, 1.0)))
            self.waited_s += self._clock() - began
            token = self._next
            self._next += 1
            self._running[token] = self._clock()
            return token

    def finish(self, token: int) -> None:
        with self._cond:
            now = self._clock()
            started = self._running.pop(token, now)
            self._done.append((now, now - started))
            self._spent_done += now - started
            self._cond.notify_all()
