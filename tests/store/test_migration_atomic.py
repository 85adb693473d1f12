"""A migration that fails half-way leaves a SQLite store as it was (no half schema)."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.operations import Operations
from sqlalchemy import inspect

from license_analyzer.store import migrate
from license_analyzer.store.db import open_store
from license_analyzer.store.migrate import current_revision, head_revision


class Killed(Exception):
    pass


def test_interrupted_first_migration_leaves_nothing_and_the_next_open_completes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    created = []
    real_create = Operations.create_table

    def create_then_die(self: Operations, name: str, *columns: object, **kw: object) -> object:
        created.append(name)
        if len(created) == 5:
            raise Killed("the process died half-way through the schema")
        return real_create(self, name, *columns, **kw)

    monkeypatch.setattr(Operations, "create_table", create_then_die)
    url = f"sqlite:///{tmp_path / 's.db'}"
    store = open_store(url, data_dir=tmp_path / "d", migrate=False)
    with pytest.raises(Killed):
        migrate.upgrade(store)
    assert len(created) == 5
    assert inspect(store.engine).get_table_names() == []
    store.dispose()

    monkeypatch.undo()
    store = open_store(url, data_dir=tmp_path / "d")
    assert current_revision(store) == head_revision()
    store.dispose()
