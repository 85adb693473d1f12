"""The functions the report borrows from other stages, looked up at call time.

The report must still render when a stage is older or not built yet (a store from an earlier
version, a partial install): then the report falls back to reading the tables itself.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from license_analyzer.errors import NotImplementedYet


def optional_function(module: str, name: str) -> Callable[..., Any] | None:
    try:
        found = getattr(importlib.import_module(module), name, None)
    except ImportError:
        return None
    return found if callable(found) else None


def call_or_none(module: str, name: str, *args: Any) -> Any:
    """The stage function's result, or None when it does not exist or is still a stub."""
    function = optional_function(module, name)
    if function is None:
        return None
    try:
        return function(*args)
    except NotImplementedYet:
        return None
