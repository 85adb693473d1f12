from __future__ import annotations

from pathlib import Path

from license_analyzer.config import Config
from license_analyzer.errors import NotImplementedYet
from license_analyzer.store.db import Store


def export_activity(config: Config, store: Store, out: Path) -> int:
    raise NotImplementedYet("`export activity` is not built yet (issue #6).")
