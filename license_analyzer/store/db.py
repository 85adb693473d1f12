"""Opening the store: engine, sessions, migrations to the newest schema, the data folder."""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from license_analyzer.errors import StoreError
from license_analyzer.redact import sanitize_url
from license_analyzer.store.schema_head import is_current

if TYPE_CHECKING:
    from sqlmodel import Session

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    """Aware UTC: the one datetime form the store takes and gives back."""
    return datetime.now(UTC)


@dataclass
class Store:
    engine: Engine
    url: str
    data_dir: Path

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on any error."""
        from sqlmodel import Session  # the ORM loads when a session is first needed

        with Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(lock_timeout_s: float) -> Any:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        # WAL lets a reader (the report) run beside the writer (collect); busy_timeout makes a
        # second writer wait instead of failing at once.
        cursor.execute(f"PRAGMA busy_timeout={int(lock_timeout_s * 1000)}")
        _switch_to_wal(cursor, lock_timeout_s)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return on_connect


def _switch_to_wal(cursor: Any, lock_timeout_s: float) -> None:
    """PRAGMA journal_mode=WAL, retried while the database is locked: SQLite does not call the
    busy handler for it, so two programs opening a new store at once failed about one time in
    five ("database is locked") whatever busy_timeout said."""
    deadline = time.monotonic() + lock_timeout_s
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.02)


def create_private_file(path: Path) -> None:
    """Create `path` readable by its owner only, if it does not exist yet: the store holds
    names and usage. SQLite gives its -wal and -shm files the database file's permissions."""
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def private_dir(path: Path) -> None:
    """mkdir -p, the last folder readable by its owner only when this creates it."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.mkdir(mode=0o700, exist_ok=True)


def default_data_dir(url: str, base: Path) -> Path:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        db_path = Path(parsed.database or "")
        if not db_path.is_absolute():
            db_path = base / db_path
        return db_path.with_name(db_path.name + ".data")
    return base / "license-analyzer-data"


def create_store_engine(url: str, base: Path, lock_timeout_s: float = 30.0) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not Path(database).is_absolute():
            parsed = parsed.set(database=str(base / database))
        if parsed.database:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            if database != ":memory:":
                create_private_file(Path(parsed.database))
        engine = create_engine(parsed, connect_args={"timeout": lock_timeout_s,
                                                     "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas(lock_timeout_s))
        return engine
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    # PostgreSQL waits for a lock forever by default: a run stuck behind another program's open
    # transaction would never end. lock_timeout turns the wait into an error after the same time
    # SQLite's busy_timeout allows; appended to any options the URL already sets.
    given = parsed.query.get("options") or ()
    options = " ".join([*([given] if isinstance(given, str) else given),
                        f"-c lock_timeout={int(lock_timeout_s * 1000)}"])
    parsed = parsed.update_query_dict({"options": options})
    return create_engine(parsed, pool_pre_ping=True,
                         connect_args={"connect_timeout": max(1, int(lock_timeout_s))})


def open_store(url: str, base: Path | None = None, data_dir: Path | None = None,
               migrate: bool = True, lock_timeout_s: float = 30.0) -> Store:
    """Open (and by default create or upgrade) the store at `url`."""
    base = base or Path.cwd()
    engine = create_store_engine(url, base, lock_timeout_s)
    try:
        with engine.connect():
            pass
    except OperationalError as exc:
        raise StoreError(
            f"Cannot open the database {sanitize_url(url)}; check [storage] url, that the server"
            " is running and that the file's folder is writable.",
            detail=str(exc),
        ) from None
    store = Store(engine=engine, url=url, data_dir=data_dir or default_data_dir(url, base))
    private_dir(store.data_dir)
    if migrate and not is_current(engine):
        from license_analyzer.store.migrate import upgrade  # Alembic only when behind

        try:
            upgrade(store)
        except SQLAlchemyError as exc:
            raise StoreError(
                f"Cannot upgrade the database {sanitize_url(url)} to this version's schema;"
                " check that no other process holds it and that it was not made by a newer"
                " license-analyzer.",
                detail=str(exc),
            ) from None
    return store


def table_names(store: Store) -> list[str]:
    return sorted(inspect(store.engine).get_table_names())
