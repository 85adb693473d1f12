from __future__ import annotations

from typing import Any

from license_analyzer.config import Config
from license_analyzer.errors import NotImplementedYet
from license_analyzer.store.db import Store


def rules_summary(config: Config, store: Store) -> list[dict[str, Any]]:
    raise NotImplementedYet("`rules list` is not built yet (issue #7).")
