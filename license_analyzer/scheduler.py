"""The daily job on a cron (APScheduler)."""

from __future__ import annotations

from license_analyzer.config import Config
from license_analyzer.errors import NotImplementedYet


def run_scheduler(config: Config) -> int:
    raise NotImplementedYet("`schedule` is not built yet (issue #9).")
