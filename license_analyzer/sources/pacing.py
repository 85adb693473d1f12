"""Client-side pacing: a token bucket for the sign-in log, AIMD concurrency for audit windows.

The sign-in log allows about 5 requests per 10 s per app per tenant; asking faster only earns
429s and long Retry-Afters, so requests are spaced here before they are sent. Audit windows
run concurrently under a limit that halves when Dataverse answers 429 and grows by one after
a limit's worth of clean windows (additive increase, multiplicative decrease), and within the
service's execution-time budget, which for long collections binds before the request count and
which Dataverse reports on every response.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import httpx


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


# Dataverse reports what is left of the caller's service-protection budget on every response;
# values may carry thousands separators ("1,200.00")
# (https://learn.microsoft.com/power-apps/developer/data-platform/api-limits)
TIME_REMAINING = "x-ms-ratelimit-time-remaining-xrm-requests"
BURST_REMAINING = "x-ms-ratelimit-burst-remaining-xrm-requests"


def header_number(value: str | None) -> float | None:
    """A rate-limit header as a number ("1,200.00" -> 1200.0); None when absent or unreadable."""
    if value is None:
        return None
    try:
        number = float(value.replace(",", "").strip())
    except ValueError:
        return None
    return number if number >= 0 else None


@dataclass(frozen=True)
class Report:
    """What the service last said was left: execution seconds and requests, and when."""

    seconds: float
    requests: float | None
    at: float


class ExecutionBudget:
    """Dataverse's execution-time limit (1,200 s of request time per 300 s, per user and web
    server), kept client-side so that concurrent windows slow down before the service answers
    429 with a Retry-After of minutes.

    The service says on every response how much execution time (and how many requests) the
    caller has left: while such a report is fresh, a new request starts when the time left,
    less what running requests have spent since, still holds a typical request and the reserve
    kept for other streams; with none left, requests go one at a time, each bringing a fresh
    figure (or the service's own Retry-After). Only without those headers is the budget
    estimated from the client's wall time, which counts network latency and queueing too:
    finished requests count for `window_s` after they end, running ones for their elapsed time.
    """

    def __init__(self, budget_s: float, window_s: float, *, reserve_s: float = 0.0,
                 report_scale: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.budget_s = budget_s
        self.window_s = window_s
        self.reserve_s = reserve_s
        self.report_scale = report_scale  # the service's seconds in this clock's (tests shrink)
        self._clock = clock
        self._done: deque[tuple[float, float]] = deque()  # (finished at, duration)
        self._spent_done = 0.0
        self._running: dict[int, float] = {}
        self._next = 0
        self._cond = threading.Condition()
        self.report: Report | None = None
        self.waited_s = 0.0
        self.held_back = 0  # requests that had to wait for room

    def _expire(self, now: float) -> None:
        while self._done and self._done[0][0] <= now - self.window_s:
            self._spent_done -= self._done.popleft()[1]

    def _expected(self) -> float:
        if not self._done:
            return 0.0
        recent = list(self._done)[-32:]
        return sum(d for _, d in recent) / len(recent)

    def _may_start(self, now: float) -> bool:
        if not self._running and not self._done:
            return True
        report = self.report
        if report is not None and now - report.at < self.window_s:
            if not self._running:
                return True  # one request at a time while the service says little is left
            spending = sum(now - max(started, report.at) for started in self._running.values())
            enough_time = report.seconds - spending - self._expected() > self.reserve_s
            enough_requests = report.requests is None or report.requests > len(self._running)
            return enough_time and enough_requests
        running = sum(now - started for started in self._running.values())
        return self._spent_done + running + self._expected() < self.budget_s

    def start(self) -> int:
        with self._cond:
            began = self._clock()
            waited = False
            while True:
                now = self._clock()
                self._expire(now)
                if self._may_start(now):
                    break
                waited = True
                # room comes back when a running request reports or the oldest finished one
                # leaves the window
                until = (self._done[0][0] + self.window_s - now) if self._done else 1.0
                self._cond.wait(timeout=max(0.01, min(until, 1.0)))
            if waited:
                self.held_back += 1
                self.waited_s += self._clock() - began
            token = self._next
            self._next += 1
            self._running[token] = self._clock()
            return token

    def finish(self, token: int, response: httpx.Response | None = None) -> None:
        with self._cond:
            now = self._clock()
            started = self._running.pop(token, now)
            self._done.append((now, now - started))
            self._spent_done += now - started
            seconds = header_number(response.headers.get(TIME_REMAINING)) if response else None
            if seconds is not None and response is not None:
                self.report = Report(seconds * self.report_scale,
                                     header_number(response.headers.get(BURST_REMAINING)), now)
            self._cond.notify_all()
