"""Is the store's schema behind? Answered without importing Alembic (a tenth of a second at
every start): the revision recorded in `alembic_version` against the head of the migration
files, read from their `revision` / `down_revision` lines. A new migration file moves the head
with it; tests/store/test_migrations.py checks this head is Alembic's own."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

VERSIONS = Path(__file__).with_name("migrations") / "versions"
_ASSIGNMENT = re.compile(r"^(revision|down_revision)\s*(?::[^=]*)?=\s*['\"]?([\w.-]+|None)['\"]?",
                         re.MULTILINE)


@cache
def head_revisions() -> frozenset[str]:
    """Every revision no other migration names as its down_revision (one, on a linear chain)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in VERSIONS.glob("*.py"):
        found = {m.group(1): m.group(2)
                 for m in _ASSIGNMENT.finditer(path.read_text(encoding="utf-8"))}
        if "revision" in found:
            revisions.add(found["revision"])
            parents.add(found.get("down_revision", "None"))
    return frozenset(revisions - parents)


def stored_revisions(engine: Engine) -> frozenset[str] | None:
    """What `alembic_version` says the store is at; None when it cannot say (a new store)."""
    try:
        with engine.connect() as conn:
            return frozenset(conn.execute(text("SELECT version_num FROM alembic_version"))
                             .scalars())
    except SQLAlchemyError:
        return None


def is_current(engine: Engine) -> bool:
    return stored_revisions(engine) == head_revisions()
