"""What every collector of one profile shares: the store, the clients, the run's clock."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

import httpx

from license_analyzer.config import Config, ProfileConfig
from license_analyzer.errors import LicenseAnalyzerError
from license_analyzer.sources.http.retry import RetryStats
from license_analyzer.store.db import Store

DEFAULT_REACH = timedelta(days=180)


class Clients(Protocol):
    """The connection's clients (sources/http `connect`); tests may pass their own."""

    stats: RetryStats

    def graph(self) -> httpx.Client: ...

    def dataverse(self, env_url: str) -> httpx.Client: ...

    def finance_operations(self, env_url: str) -> httpx.Client: ...

    def power_platform(self) -> httpx.Client: ...

    def check_sign_in(self) -> None: ...

    def close(self) -> None: ...


class Degraded(LicenseAnalyzerError):
    """Raised after a stream stored what it could: some evidence is missing (no P1, auditing
    off); recorded as "degraded", never a failure of the run."""


@dataclass(frozen=True)
class Tuning:
    """Knobs the config does not carry; tests shrink them to match a time-scaled simulator."""

    signin_requests_per_10s: int | None = None  # default: the profile's setting (5)
    time_scale: float = 1.0  # shrinks the sign-in pacing window like the simulator's
    flush_every_s: float = 5.0  # how often finished windows are committed
    max_wait_s: float = 300.0  # throttling wait per request before a stream stops softly
    timeout_s: float = 60.0


class Ticker:
    """Counts one stream's pages and records; thread-safe, mirrored to the progress display."""

    def __init__(self, on_change: Callable[[Ticker], None] | None = None) -> None:
        self.records = 0
        self.pages = 0
        self.status_text = ""
        self._lock = threading.Lock()
        self._on_change = on_change

    def page(self, records: int) -> None:
        with self._lock:
            self.pages += 1
            self.records += records
        if self._on_change is not None:
            self._on_change(self)

    def note(self, text: str) -> None:
        self.status_text = text
        if self._on_change is not None:
            self._on_change(self)


@dataclass
class Context:
    config: Config
    store: Store
    profile: ProfileConfig
    clients: Clients
    now: datetime  # the run's start: cursors never pass it
    run_id: int | None = None
    full: bool = False
    tuning: Tuning = field(default_factory=Tuning)
    has_p1: bool | None = None
    # which environments this run collects (configured, plus discovered)
    dataverse_urls: list[str] = field(default_factory=list)
    fno_urls: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.profile.name

    def reach_start(self, first_run_at: datetime | None = None) -> datetime:
        """How far back a first collection reaches: activity_since, else 180 days."""
        from license_analyzer.sources.windows import midnight

        if self.profile.activity_since is not None:
            return midnight(self.profile.activity_since)
        return (first_run_at or self.now) - DEFAULT_REACH

    def overlap(self) -> timedelta:
        return timedelta(hours=self.profile.overlap_hours)

