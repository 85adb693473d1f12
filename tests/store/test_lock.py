from __future__ import annotations

import pytest

from license_analyzer.store.db import Store, utcnow
from license_analyzer.store.lock import STALE_AFTER, JobBusy, JobLockHolder
from license_analyzer.store.models import JobLock


def test_second_holder_is_refused_then_admitted_after_release(store: Store) -> None:
    with JobLockHolder(store), pytest.raises(JobBusy, match="Another run"):
        JobLockHolder(store).acquire()
    with JobLockHolder(store):
        pass


def test_lock_of_a_dead_process_is_taken_over(store: Store) -> None:
    with store.session() as session:
        session.add(JobLock(name="job", holder="elsewhere:1", acquired_at=utcnow() - STALE_AFTER,
                            heartbeat_at=utcnow() - 2 * STALE_AFTER))
    with JobLockHolder(store) as holder, store.session() as session:
        lock = session.get(JobLock, "job")
        assert lock is not None and lock.holder == holder.holder
