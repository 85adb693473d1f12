"""Collector settings for a time-scaled simulator (kept free of simulator imports, so the
kill test's subprocess starts quickly)."""

from __future__ import annotations

import time
from collections.abc import Callable

from license_analyzer.config import Config, ProfileConfig
from license_analyzer.sources.context import Clients, Tuning
from license_analyzer.sources.http import connect
from license_analyzer.store.db import Store
from license_analyzer.store.sign_in import stored_sign_in

SCALE = 0.01
# sign-in pacing scaled like the simulator's limits; commit finished windows often
TUNING = Tuning(time_scale=SCALE, flush_every_s=0.2, max_wait_s=30.0)


def fast_clients(config: Config, store: Store | None = None
                 ) -> Callable[[ProfileConfig], Clients]:
    """Connections whose retry sleeps are capped: the simulator's Retry-After values are
    already time-scaled, its 5xx faults are not (backoff would wait whole seconds). A
    delegated profile signs in from `store`."""

    def make(profile: ProfileConfig) -> Clients:
        base = config.source_path.parent if config.source_path else None
        return connect(profile, concurrency=profile.audit_concurrency, max_wait_s=30.0,
                       base_dir=base, sleep=lambda s: time.sleep(min(s, 0.05)),
                       sign_in=stored_sign_in(store, profile) if store else None)

    return make
