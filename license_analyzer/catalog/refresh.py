from __future__ import annotations

from pathlib import Path

from license_analyzer.errors import NotImplementedYet


def refresh_catalog(source: Path | None) -> str:
    raise NotImplementedYet("`catalog refresh` is not built yet (issue #6).")
