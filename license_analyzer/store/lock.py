"""A lock in the database so two runs (scheduled or manual) never run the job at once.

It lives in the store rather than in a file so that it also holds across machines sharing a
PostgreSQL store. A holder that died is detected by its heartbeat going stale, or, on the
same host, by its process being gone.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import timedelta
from types import TracebackType

from sqlalchemy.exc import IntegrityError
from sqlmodel import delete

from license_analyzer.errors import LicenseAnalyzerError
from license_analyzer.store.db import Store, utcnow
from license_analyzer.store.models import JobLock

log = logging.getLogger(__name__)

STALE_AFTER = timedelta(minutes=5)
HEARTBEAT_EVERY_S = 30.0


class JobBusy(LicenseAnalyzerError):
    """Another run holds the job lock."""


def _holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _is_dead(holder: str) -> bool:
    host, _, pid = holder.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class JobLockHolder:
    def __init__(self, store: Store, name: str = "job") -> None:
        self.store = store
        self.name = name
        self.holder = _holder()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self) -> None:
        now = utcnow()
        for _ in range(2):
            try:
                with self.store.session() as session:
                    session.add(JobLock(name=self.name, holder=self.holder, acquired_at=now,
                                        heartbeat_at=now))
                break
            except IntegrityError:
                with self.store.session() as session:
                    current = session.get(JobLock, self.name)
                    if current is None:
                        continue
                    stale = utcnow() - current.heartbeat_at > STALE_AFTER
                    if stale or _is_dead(current.holder):
                        log.warning("taking over the job lock left by %s", current.holder)
                        session.delete(current)
                        continue
                    raise JobBusy(
                        f"Another run ({current.holder}, started"
                        f" {current.acquired_at:%Y-%m-%d %H:%M} UTC) is in progress; wait for it"
                        " to finish and try again."
                    ) from None
        else:
            raise JobBusy("Could not take the job lock; try again.")
        self._thread = threading.Thread(target=self._beat, name="job-lock-heartbeat",
                                        daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_EVERY_S):
            try:
                with self.store.session() as session:
                    current = session.get(JobLock, self.name)
                    if current is not None and current.holder == self.holder:
                        current.heartbeat_at = utcnow()
                        session.add(current)
            except Exception:  # a missed heartbeat only risks a later takeover warning
                log.debug("job lock heartbeat failed", exc_info=True)

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self.store.session() as session:
            session.exec(delete(JobLock).where(JobLock.name == self.name)  # type: ignore[arg-type]
                         .where(JobLock.holder == self.holder))  # type: ignore[arg-type]

    def __enter__(self) -> JobLockHolder:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
