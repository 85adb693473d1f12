from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from license_analyzer.errors import NotImplementedYet
from license_analyzer.store.db import Store


def list_candidates(store: Store, status: str | None = None) -> list[dict[str, Any]]:
    raise NotImplementedYet("`candidates` is not built yet (issue #7).")


def decide(store: Store, ids: Sequence[str], decision: str, by: str, note: str | None,
           until: date | None = None) -> list[str]:
    raise NotImplementedYet("`candidates` is not built yet (issue #7).")


def import_decisions(store: Store, file: Path, by: str) -> int:
    raise NotImplementedYet("`candidates import` is not built yet (issue #7).")
