"""A store made by the first schema version upgrades in place, its data intact."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from sqlmodel import select

from license_analyzer.store.db import open_store
from license_analyzer.store.migrate import current_revision, head_revision
from license_analyzer.store.models import Candidate, Decision, DirectoryUser, LicenseAssignment, Run
from license_analyzer.store.schema_head import head_revisions, is_current, stored_revisions

FIXTURE = Path(__file__).with_name("fixtures") / "store-v0001.db"


def test_first_version_store_upgrades_through_every_migration(tmp_path: Path) -> None:
    copy = tmp_path / "old.db"
    shutil.copy(FIXTURE, copy)
    store = open_store(f"sqlite:///{copy}", data_dir=tmp_path / "data", migrate=False)
    assert current_revision(store) == "0001"
    store.dispose()

    store = open_store(f"sqlite:///{copy}", data_dir=tmp_path / "data")
    assert current_revision(store) == head_revision() != "0001"
    with store.session() as session:
        user = session.exec(select(DirectoryUser)).one()
        assert (user.user_principal_name, user.department) == ("ada@contoso.com", "Sales")
        assignment = session.exec(select(LicenseAssignment)).one()
        assert assignment.sku_id == "1e1a282c-9c54-43a2-9310-98ef728faace"
        assert assignment.valid_from.tzinfo is not None and assignment.valid_to is None
        candidate = session.exec(select(Candidate)).one()
        assert (candidate.id, candidate.status, candidate.monthly_saving) == (
            "c-0000abcd", "approved", 105.0)
        decision = session.exec(select(Decision)).one()
        assert (decision.by, decision.note) == ("alice", "left the company")
        # a column added by a later migration has its default on old rows and new ones
        session.add(Run(command="run", started_at=assignment.valid_from))
    with store.session() as session:
        assert session.exec(select(Run)).one().trigger == "manual"
    store.dispose()


def test_fresh_store_is_at_head(store_url: str, tmp_path: Path) -> None:
    store = open_store(store_url, base=tmp_path, data_dir=tmp_path / "data")
    assert current_revision(store) == head_revision()
    store.dispose()
    # opening again is a no-op
    store = open_store(store_url, base=tmp_path, data_dir=tmp_path / "data")
    assert current_revision(store) == head_revision()
    store.dispose()


def test_static_head_is_alembics_head() -> None:
    """open_store decides "behind or not" from the migration files without Alembic: the head
    it reads must be the one Alembic would upgrade to (a new migration moves both)."""
    assert head_revisions() == {head_revision()}


def test_opening_a_current_store_does_not_load_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'current.db'}"
    open_store(url, data_dir=tmp_path / "data").dispose()  # created and migrated
    probe = (f"import sys; from pathlib import Path;"
             f" from license_analyzer.store.db import open_store;"
             f" open_store({url!r}, data_dir=Path({str(tmp_path / 'data')!r})).dispose();"
             " print('alembic' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "False"


def test_a_store_behind_is_seen_as_behind(tmp_path: Path) -> None:
    copy = tmp_path / "old.db"
    shutil.copy(FIXTURE, copy)
    store = open_store(f"sqlite:///{copy}", data_dir=tmp_path / "data", migrate=False)
    assert stored_revisions(store.engine) == {"0001"} and not is_current(store.engine)
    store.dispose()
