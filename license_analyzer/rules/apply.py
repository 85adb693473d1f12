from __future__ import annotations

from collections.abc import Sequence

from license_analyzer.config import Config
from license_analyzer.errors import NotImplementedYet


def apply_candidates(config: Config, execute: bool) -> int:
    raise NotImplementedYet("`candidates apply` is not built yet (issue #7).")


def restore_candidates(config: Config, ids: Sequence[str]) -> int:
    raise NotImplementedYet("`candidates restore` is not built yet (issue #7).")
