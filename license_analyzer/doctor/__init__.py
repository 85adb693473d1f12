"""`doctor`: checks every setup step and names the fix for each failure."""

from __future__ import annotations

from license_analyzer.config import Config
from license_analyzer.errors import NotImplementedYet


def run_doctor(config: Config, profile: str | None, fmt: str) -> int:
    raise NotImplementedYet("`doctor` is not built yet (issue #4).")
