from __future__ import annotations

import threading
from pathlib import Path

import pytest

from license_analyzer.config import Config, load_config
from license_analyzer.errors import ConfigError
from license_analyzer.scheduler import JOB_ID, make_scheduler, run_scheduler


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
    first = threading.Thread(target=run_scheduler, args=(config, stop))
    first.start()
    try:
        from license_analyzer.run import open_configured_store
        from license_analyzer.store.models import JobLock

        store = open_configured_store(config)
        for _ in range(100):
            with store.session() as session:
                if session.get(JobLock, "scheduler") is not None:
                    break
            stop.wait(0.05)
        from license_analyzer.store.lock import JobBusy

        with pytest.raises(JobBusy, match="in progress"):
            run_scheduler(config, threading.Event())
    finally:
        stop.set()
        first.join(timeout=10)
    assert not first.is_alive()
