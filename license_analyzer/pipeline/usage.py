from __future__ import annotations

from typing import Any

from license_analyzer.config import Config
from license_analyzer.errors import NotImplementedYet
from license_analyzer.store.db import Store


def usage_rows(store: Store, config: Config) -> list[dict[str, Any]]:
    raise NotImplementedYet("`usage` is not built yet (issue #6).")
