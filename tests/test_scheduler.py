from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from license_analyzer.config import Config, load_config
from license_analyzer.errors import ConfigError
from license_analyzer.scheduler import JOB_ID, make_scheduler, run_scheduler
from license_analyzer.store.db import Store
from license_analyzer.store.lock import JobBusy
from license_analyzer.store.models import JobLock
from license_analyzer.store.open import open_configured_store


def write_config(tmp_path: Path, extra: str = "", cron: str = "0 6 * * *") -> Config:
    path = tmp_path / "la.toml"
    path.write_text(f'[storage]\nurl = "sqlite:///{tmp_path / "s.db"}"\n'
                    f'[schedule]\ncron = "{cron}"\ntimezone = "Europe/Paris"\n{extra}')
    return load_config(path)


def next_run(config: Config) -> object:
    scheduler = make_scheduler(config)
    job = scheduler.get_job(JOB_ID)
    assert job is not None
    when = job.next_run_time
    scheduler.shutdown(wait=False)
    return when


def test_restarted_scheduler_keeps_its_next_run_time(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    first = next_run(config)
    assert first is not None and first.hour == 6 and str(first.tzinfo) == "Europe/Paris"
    assert next_run(write_config(tmp_path)) == first


def test_changed_cron_replaces_the_job(tmp_path: Path) -> None:
    first = next_run(write_config(tmp_path))
    second = next_run(write_config(tmp_path, cron="30 7 * * *"))
    assert second != first and second.hour == 7  # type: ignore[attr-defined]


def test_schedule_refuses_a_fixed_as_of(tmp_path: Path) -> None:
    config = write_config(tmp_path, extra='[analysis]\nas_of = "2026-11-21"\n')
    with pytest.raises(ConfigError, match="as_of"):
        run_scheduler(config)


def test_bad_timezone_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "la.toml"
    path.write_text('[schedule]\ntimezone = "Mars/Olympus"\n')
    with pytest.raises(ConfigError, match="time zone"):
        make_scheduler(load_config(path))


def test_second_scheduler_refuses_while_the_first_runs(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    stop = threading.Event()
    # daemon: should the test fail with the first scheduler still up, the worker can still exit
    first = threading.Thread(target=run_scheduler, args=(config, stop), daemon=True)
    first.start()
    try:
        store = open_configured_store(config)
        deadline = time.monotonic() + 120  # a loaded CI machine migrates a fresh store slowly
        while not _holds_scheduler_lock(store) and time.monotonic() < deadline:
            stop.wait(0.05)
        assert first.is_alive(), "the first scheduler stopped before taking its lock"
        assert _holds_scheduler_lock(store), "the first scheduler never took its lock"
        # already set: had the second scheduler been let in, it would return, not wait forever
        with pytest.raises(JobBusy, match="in progress"):
            run_scheduler(config, _set_event())
        store.dispose()
    finally:
        stop.set()
        first.join(timeout=30)
    assert not first.is_alive()


def _holds_scheduler_lock(store: Store) -> bool:
    with store.session() as session:
        return session.get(JobLock, "scheduler") is not None


def _set_event() -> threading.Event:
    event = threading.Event()
    event.set()
    return event
