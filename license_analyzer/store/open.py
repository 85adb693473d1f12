"""The configured store: [storage] of the config opened (and brought to the newest schema).

Below the stages that use it (run.py, rules/apply.py, rules/restore.py, the doors), so no stage
reaches up into run.py for it.
"""

from __future__ import annotations

from pathlib import Path

from license_analyzer.config import Config
from license_analyzer.store.db import Store, open_store


def open_configured_store(config: Config) -> Store:
    base = config.source_path.parent if config.source_path else Path.cwd()
    data_dir = config.resolve(config.storage.data_dir) if config.storage.data_dir else None
    return open_store(config.storage.url, base=base, data_dir=data_dir,
                      lock_timeout_s=config.storage.lock_timeout_s)
