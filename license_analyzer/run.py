"""The one place that composes the stages: collect, analyze, report, run, demo."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from license_analyzer.config import Config
from license_analyzer.errors import NotImplementedYet
from license_analyzer.store.db import Store, open_store


def open_configured_store(config: Config) -> Store:
    base = config.source_path.parent if config.source_path else Path.cwd()
    data_dir = config.resolve(config.storage.data_dir) if config.storage.data_dir else None
    return open_store(config.storage.url, base=base, data_dir=data_dir)


def run_collect(config: Config, profile: str | None = None, full: bool = False) -> int:
    raise NotImplementedYet("`collect` is not built yet (issue #5).")


def run_analyze(config: Config, as_of: date | None = None) -> int:
    raise NotImplementedYet("`analyze` is not built yet (issue #6).")


def run_report(config: Config, out: Path | None = None, as_of: date | None = None) -> Path:
    raise NotImplementedYet("`report` is not built yet (issue #8).")


def run_job(config: Config, as_of: date | None = None) -> int:
    raise NotImplementedYet("`run` is not built yet (issue #9).")


def run_demo(users: int, seed: int, out: Path, as_of: date | None) -> Path:
    raise NotImplementedYet("`demo` is not built yet (issue #9).")
