"""`schedule`: the daily job on the cron of [schedule], until stopped.

The job store lives in the same database, so a restarted scheduler keeps its next run time
(and catches up a run missed while it was down, once, thanks to coalescing). A scheduler lock
keeps a second scheduler from starting; the job lock inside `run.job` keeps a scheduled run and
a manual one apart.
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from types import FrameType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from license_analyzer.config import Config, load_config
from license_analyzer.errors import ConfigError, LicenseAnalyzerError
from license_analyzer.store.lock import JobLockHolder

log = logging.getLogger(__name__)

JOB_ID = "daily-run"
JOBS_TABLE = "apscheduler_jobs"
MISFIRE_GRACE_S = 6 * 3600


def build_trigger(config: Config) -> CronTrigger:
    try:
        zone = ZoneInfo(config.schedule.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"[schedule] timezone {config.schedule.timezone!r} is not a known time zone; write"
            " an IANA name like \"UTC\" or \"Europe/Paris\".") from None
    try:
        return CronTrigger.from_crontab(config.schedule.cron, timezone=zone)
    except ValueError as exc:
        raise ConfigError(f"[schedule] cron {config.schedule.cron!r} is not valid ({exc}); write"
                          " five cron fields like \"0 6 * * *\".") from None


def scheduled_run(config_path: str | None) -> None:
    """The job APScheduler calls; one log line per run, never an exception out of it."""
    from license_analyzer.run import job

    try:
        config = load_config(Path(config_path) if config_path else None)
        result = job(config, trigger="schedule")
        log.info("scheduled run %d finished with exit code %d; report: %s", result.run_id,
                 result.exit_code, result.report_path)
    except LicenseAnalyzerError as exc:
        log.error("scheduled run failed: %s", exc.message)
    except Exception:
        log.exception("scheduled run failed unexpectedly")


def make_scheduler(config: Config) -> BackgroundScheduler:
    """A paused scheduler holding the daily job, kept from an earlier start when unchanged."""
    from license_analyzer.store.open import open_configured_store

    trigger = build_trigger(config)
    store = open_configured_store(config)
    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=store.engine, tablename=JOBS_TABLE)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": MISFIRE_GRACE_S},
        timezone=trigger.timezone,
    )
    scheduler.start(paused=True)
    existing = scheduler.get_job(JOB_ID)
    config_path = str(config.source_path.resolve()) if config.source_path else None
    if existing is None or str(existing.trigger) != str(trigger) or existing.args != (
            config_path,):
        scheduler.add_job(scheduled_run, trigger, id=JOB_ID, replace_existing=True,
                          args=[config_path], name="license-analyzer run")
    return scheduler


def run_scheduler(config: Config, stop: threading.Event | None = None) -> int:
    if config.analysis.as_of is not None:
        raise ConfigError("[analysis] as_of is set, which would repeat the same day forever;"
                          " remove it from the config to schedule daily runs.")
    from license_analyzer.store.open import open_configured_store

    stop = stop or threading.Event()
    with JobLockHolder(open_configured_store(config), name="scheduler"):
        scheduler = make_scheduler(config)

        def on_signal(signum: int, _frame: FrameType | None) -> None:
            log.info("received %s; stopping the scheduler", signal.Signals(signum).name)
            stop.set()

        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, on_signal)
            signal.signal(signal.SIGINT, on_signal)
        scheduler.resume()
        job = scheduler.get_job(JOB_ID)
        log.info("scheduler started; next run at %s", job.next_run_time if job else "never")
        stop.wait()
        scheduler.shutdown(wait=True)
        log.info("scheduler stopped")
    return 0
