"""Shared fixtures: a fresh store on SQLite always, and on PostgreSQL when
LICENSE_ANALYZER_TEST_DATABASE_URL is set (each test gets its own schema, so parallel
workers never see each other's rows)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from license_analyzer.store.db import Store, open_store

PG_URL = os.environ.get("LICENSE_ANALYZER_TEST_DATABASE_URL")

BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


def _pg_url() -> str:
    assert PG_URL
    return PG_URL.replace("postgresql://", "postgresql+psycopg://", 1) if PG_URL.startswith(
        "postgresql://") else PG_URL


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a schema of its own, dropped afterwards."""
    if not PG_URL:
        pytest.skip("LICENSE_ANALYZER_TEST_DATABASE_URL is not set")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(_pg_url())
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in _pg_url() else "?"
    yield f"{_pg_url()}{sep}application_name={schema}&options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        # A connection the test left open (an undisposed engine, a killed child's session)
        # would make DROP SCHEMA wait on its locks forever: end those sessions first.
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                          " WHERE application_name = :name AND pid <> pg_backend_pid()"),
                     {"name": schema})
        conn.execute(text("SET LOCAL lock_timeout = '60s'"))
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def make_store_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return str(request.getfixturevalue("pg_schema_url"))


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL for a fresh store, once per backend."""
    return make_store_url(request.param, tmp_path, request)


@pytest.fixture
def store(store_url: str, tmp_path: Path) -> Iterator[Store]:
    """A fresh, migrated store (SQLite and, when configured, PostgreSQL)."""
    s = open_store(store_url, base=tmp_path, data_dir=tmp_path / "data")
    yield s
    s.dispose()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    """A fresh SQLite store, for tests that need only one backend."""
    s = open_store(f"sqlite:///{tmp_path / 'store.db'}", base=tmp_path,
                   data_dir=tmp_path / "data")
    yield s
    s.dispose()
