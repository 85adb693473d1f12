"""Run history: one Run row per command, with a status per stage and source."""

from __future__ import annotations

import logging
import os
import socket
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

from license_analyzer.errors import LicenseAnalyzerError
from license_analyzer.redact import redact
from license_analyzer.store.db import Store, utcnow
from license_analyzer.store.models import Run

log = logging.getLogger(__name__)


class RunRecorder:
    """Keeps the Run row current as the stages go, so a killed run still shows how far it got."""

    def __init__(self, store: Store, command: str, as_of: date | None,
                 trigger: str = "manual") -> None:
        self.store = store
        mark_interrupted(store)
        with store.session() as session:
            run = Run(command=command, trigger=trigger, started_at=utcnow(), as_of=as_of,
                      pid=os.getpid(),
                      host=socket.gethostname(), stages={}, sources={}, counts={})
            session.add(run)
            session.flush()
            assert run.id is not None
            self.id: int = run.id
        self.stages: dict[str, Any] = {}
        self.sources: dict[str, Any] = {}
        self.counts: dict[str, Any] = {}
        self.retries = 0
        self.report_path: str | None = None
        self.exit_code = 0  # what the command will exit with, when it ends without an error

    def _save(self, **fields: Any) -> None:
        with self.store.session() as session:
            run = session.get(Run, self.id)
            assert run is not None
            run.stages = dict(self.stages)
            run.sources = dict(self.sources)
            run.counts = dict(self.counts)
            run.retries = self.retries
            run.report_path = self.report_path
            for key, value in fields.items():
                setattr(run, key, value)
            session.add(run)

    @contextmanager
    def stage(self, name: str) -> Iterator[dict[str, Any]]:
        """Record a stage; an error marks it failed (with its one sentence) and propagates."""
        entry: dict[str, Any] = {"status": "running", "started_at": utcnow().isoformat()}
        self.stages[name] = entry
        self._save()
        try:
            yield entry
        except LicenseAnalyzerError as exc:
            entry.update(status="failed", error=redact(exc.message))
            raise
        except BaseException as exc:
            entry.update(status="failed", error=redact(f"{type(exc).__name__}: {exc}"))
            log.debug("stage %s failed: %s", name, redact(traceback.format_exc()))
            raise
        else:
            if entry["status"] == "running":
                entry["status"] = "ok"
        finally:
            entry["finished_at"] = utcnow().isoformat()
            self._save()

    def finish(self, status: str, error: str | None = None) -> None:
        self._save(status=status, finished_at=utcnow(), error=redact(error) if error else None)


def _process_alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def mark_interrupted(store: Store) -> int:
    """Runs still 'running' whose process on this host is gone were killed: say so."""
    from sqlmodel import select

    host = socket.gethostname()
    marked = 0
    with store.session() as session:
        for run in session.exec(select(Run).where(Run.status == "running")).all():
            if run.host == host and not _process_alive(run.pid):
                run.status = "interrupted"
                run.error = "the process stopped before the run finished (killed or crashed)"
                run.finished_at = run.finished_at or utcnow()
                session.add(run)
                marked += 1
    return marked


def latest_runs(store: Store, limit: int = 30) -> list[Run]:
    from sqlmodel import col, select

    with store.session() as session:
        return list(session.exec(select(Run).order_by(col(Run.id).desc()).limit(limit)).all())
