"""Alembic migrations, run in process so that an older store upgrades in place on open."""

from __future__ import annotations

import threading
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from license_analyzer.store.db import Store

MIGRATIONS = Path(__file__).with_name("migrations")

# Alembic's `context` is process-global: two threads must not migrate at the same time.
_upgrade_lock = threading.Lock()


def alembic_config(store: Store) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = store.engine
    return cfg


def current_revision(store: Store) -> str | None:
    with store.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    script = ScriptDirectory.from_config(alembic_config_for_scripts())
    return script.get_current_head()


def alembic_config_for_scripts() -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def upgrade(store: Store, revision: str = "head") -> None:
    with _upgrade_lock:
        if revision == "head" and current_revision(store) == head_revision():
            return
        try:
            command.upgrade(alembic_config(store), revision)
        except Exception:
            # another process may have migrated the same store a moment before us
            if revision == "head" and current_revision(store) == head_revision():
                return
            raise
