"""Throttling, storms and injected faults, all reproducible and scaled by time_scale."""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from .options import SimulatorOptions


class FixedWindow:
    """Counts requests per key in windows of `window_s`; answers the wait when full."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: dict[str, tuple[float, int]] = {}

    def hit(self, key: str, limit: int, window_s: float) -> float | None:
        now = time.monotonic()
        with self._lock:
            start, count = self._state.get(key, (now, 0))
            if now - start >= window_s:
                start, count = now, 0
            if count >= limit:
                return max(0.001, start + window_s - now)
            self._state[key] = (start, count + 1)
        return None


class DataverseGuard:
    """Service protection per environment and caller: requests, execution time, concurrency."""

    def __init__(self, opts: SimulatorOptions) -> None:
        self.opts = opts
        self._lock = threading.Lock()
        self._events: dict[str, deque[tuple[float, float]]] = {}
        self._running: dict[str, int] = {}
        self._spent: dict[str, deque[tuple[float, float]]] = {}

    def enter(self, key: str) -> tuple[str, str, float] | None:
        """(code, message, retry_after) when refused, else None and the caller must leave()."""
        o = self.opts
        window = o.scaled(o.dataverse_window_s)
        now = time.monotonic()
        with self._lock:
            calls = self._events.setdefault(key, deque())
            spent = self._spent.setdefault(key, deque())
            while calls and calls[0][0] < now - window:
                calls.popleft()
            while spent and spent[0][0] < now - window:
                spent.popleft()
            if self._running.get(key, 0) >= o.dataverse_concurrency:
                return (
                    "0x80072326",
                    "Number of concurrent requests exceeded the limit of "
                    f"{o.dataverse_concurrency}.",
                    max(0.001, o.scaled(1.0)),
                )
            if len(calls) >= o.dataverse_requests_per_window:
                wait = calls[0][0] + window - now
                return (
                    "0x80072322",
                    "Number of requests exceeded the limit of "
                    f"{o.dataverse_requests_per_window} over time window of "
                    f"{int(o.dataverse_window_s)} seconds.",
                    max(0.001, wait),
                )
            if sum(e[1] for e in spent) >= o.scaled(o.dataverse_execution_s):
                wait = spent[0][0] + window - now
                ms = f"{int(o.dataverse_execution_s * 1000):,}"
                return (
                    "0x80072321",
                    "Combined execution time of incoming requests exceeded "
                    f"limit of {ms}  milliseconds over time window of "
                    f"{int(o.dataverse_window_s)} seconds. Decrease number of concurrent "
                    "requests or reduce the duration of requests and try again later.",
                    max(0.001, wait),
                )
            self._running[key] = self._running.get(key, 0) + 1
            calls.append((now, 0.0))
        return None

    def remaining(self, key: str) -> tuple[int, float]:
        """(requests, execution seconds) the caller has left in the current window, the time
        in Microsoft's unscaled seconds (of 1,200 per 300 s): a budget, not a wait, so a client
        shrinks it by its own time scale."""
        o = self.opts
        window = o.scaled(o.dataverse_window_s)
        now = time.monotonic()
        with self._lock:
            calls = [c for c in self._events.get(key, ()) if c[0] >= now - window]
            spent = sum(e[1] for e in self._spent.get(key, ()) if e[0] >= now - window)
        left = max(0.0, o.scaled(o.dataverse_execution_s) - spent)
        return (max(0, o.dataverse_requests_per_window - len(calls)),
                left / o.time_scale if o.time_scale > 0 else left)

    def leave(self, key: str, started: float) -> None:
        now = time.monotonic()
        with self._lock:
            self._running[key] = max(0, self._running.get(key, 1) - 1)
            self._spent.setdefault(key, deque()).append((now, now - started))


class Storm:
    def __init__(self) -> None:
        self.until = 0.0
        self.retry_after = 2.128

    def active(self) -> bool:
        return time.monotonic() < self.until


class Faults:
    """Decides faults from hash(seed, path+query, attempt) so runs repeat under concurrency."""

    KINDS = ("500", "503", "504", "drop", "slow")

    def __init__(self, seed: int, rate: float) -> None:
        self.seed = seed
        self.rate = rate
        self._lock = threading.Lock()
        self._attempts: dict[str, int] = {}

    def decide(self, path_with_query: str) -> str | None:
        if self.rate <= 0:
            return None
        with self._lock:
            attempt = self._attempts.get(path_with_query, 0)
            self._attempts[path_with_query] = attempt + 1
        digest = hashlib.blake2b(
            f"{self.seed}|{path_with_query}|{attempt}".encode(), digest_size=8
        ).digest()
        u = int.from_bytes(digest[:6], "big") / float(1 << 48)
        if u >= self.rate:
            return None
        return self.KINDS[digest[6] % len(self.KINDS)]



@dataclass
class Injection:
    """One fault a test asked for (see Simulator.inject)."""

    method: str
    path: re.Pattern[str]
    status: int | str | None  # an HTTP status, "drop", or None (only `call`)
    times: int
    skip: int
    after: bool
    call: Callable[[], object] | None


class Injections:
    """Faults a test asks for by method and path; nothing is injected unless a test adds it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[Injection] = []

    def add(self, rule: Injection) -> None:
        with self._lock:
            self._rules.append(rule)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def take(self, method: str, path: str) -> Injection | None:
        """The rule that fires for this request, if any (its counters move)."""
        with self._lock:
            for rule in self._rules:
                if rule.method not in ("*", method.upper()) or not rule.path.search(path):
                    continue
                if rule.skip > 0:
                    rule.skip -= 1
                    continue
                if rule.times <= 0:
                    continue
                rule.times -= 1
                return rule
        return None
