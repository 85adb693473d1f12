"""A database another program holds: the command gives up after lock_timeout_s with one sentence,
on PostgreSQL too (whose own default is to wait forever)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from license_analyzer.store.db import open_store
from tests.reliability.harness import Cli


@pytest.mark.parametrize("schema_version", ["locked", "free"])
def test_a_table_locked_by_another_program_gives_a_sentence_not_a_wait(
        pg_schema_url: str, tmp_path: Path, schema_version: str) -> None:
    """Locked: the command stops while checking the schema; free: at its first query."""
    store = open_store(pg_schema_url, base=tmp_path, data_dir=tmp_path / "data")
    config = tmp_path / "la.toml"
    config.write_text(f'[storage]\nurl = "{pg_schema_url}"\nlock_timeout_s = 1\n')
    tables = ", ".join(f'"{name}"' for name in inspect(store.engine).get_table_names()
                       if schema_version == "locked" or name != "alembic_version")
    with store.engine.connect() as holder:
        holder.execute(text(f"LOCK TABLE {tables} IN ACCESS EXCLUSIVE MODE"))
        done = Cli(config).run("usage", timeout=120)
        holder.rollback()
    store.dispose()
    assert done.returncode == 1, done.stderr
    assert "holds it" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_the_lock_timeout_keeps_the_urls_own_options(pg_schema_url: str, tmp_path: Path) -> None:
    store = open_store(pg_schema_url, base=tmp_path, data_dir=tmp_path / "data",
                       lock_timeout_s=2.5)
    with store.engine.connect() as conn:
        assert conn.execute(text("SHOW lock_timeout")).scalar() == "2500ms"
        assert conn.execute(text("SHOW search_path")).scalar() == pg_schema_url.rsplit("%3D", 1)[1]
    store.dispose()
