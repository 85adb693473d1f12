"""A delegated profile against the simulator: what a stored sign-in gives, and each way it stops
giving (Conditional Access, inactivity, no sign-in, a wrong key, missing consent)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from sqlmodel import func, select

from license_analyzer.cli import main
from license_analyzer.config import Config, load_config
from license_analyzer.run import run_login
from license_analyzer.simulator import Simulator
from license_analyzer.store.models import DataverseUser, DirectoryUser, SignIn
from license_analyzer.store.open import open_configured_store
from license_analyzer.store.sign_in import (
    StoredSignIn,
    UnreadableSignIn,
    open_sealed,
)
from tests.sign_in_setup import CODE, KEY, sign_in, write_profile
from tests.sources.fast import fast_clients
from tests.sources.simhelp import options
from tests.sources.simhelp import run as collect_from


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(options(users=40, dataverse_envs=1, fno_envs=1)) as s:
        s.make_dynamics_admin(s.tenant.users[0].upn)
        yield s


def _config(sim: Simulator, tmp_path: Path, **kw: str) -> Config:
    return load_config(write_profile(sim, tmp_path / "la.toml", "delegated", **kw))


def _count(config: Config, table: type) -> int:
    with open_configured_store(config).session() as session:
        return int(session.exec(select(func.count()).select_from(table)).one())


def _collect(sim: Simulator, config: Config):  # type: ignore[no-untyped-def]
    store = open_configured_store(config)
    return collect_from(config, store, sim, clients=fast_clients(config, store))


def test_the_stored_sign_in_is_sealed_and_opens_only_with_its_key(
        sim: Simulator, tmp_path: Path) -> None:
    config = _config(sim, tmp_path)
    admin = sim.tenant.users[0].upn
    assert sign_in(sim, config, admin) == admin
    refresh_tokens = list(sim.cloud.delegation.grants)
    store = open_configured_store(config)
    with store.session() as session:
        row = session.get(SignIn, "simulated")
        assert row is not None
        sealed = bytes(row.sealed)
    assert row.account == admin
    assert not [rt for rt in refresh_tokens if rt.encode() in sealed]
    with pytest.raises(UnreadableSignIn):
        StoredSignIn(store, "simulated", "another-key-of-enough-length").load()
    with pytest.raises(UnreadableSignIn):  # bound to its profile: a copied row does not open
        open_sealed(KEY, "other", sealed)
    opened = StoredSignIn(store, "simulated", KEY).load()
    assert opened is not None
    cache = orjson.loads(opened.cache)
    assert {e["secret"] for e in cache["RefreshToken"].values()} <= set(refresh_tokens)
    assert cache["AccessToken"] == {}  # kept in memory only: every command refreshes


def test_conditional_access_on_dataverse_stops_with_exit_3_and_keeps_what_was_read(
        sim: Simulator, tmp_path: Path) -> None:
    config = _config(sim, tmp_path)
    admin = sim.tenant.users[0].upn
    sign_in(sim, config, admin)
    sim.block_sign_ins(admin, {"dataverse"})
    outcome = _collect(sim, config)
    assert outcome.exit_code == 3
    assert outcome.sign_in_required == [
        f"The sign-in of {admin} for profile simulated is blocked by a Conditional Access "
        f"policy (AADSTS53003); {admin} must run `license-analyzer login --profile simulated` "
        "again from a device and place the Conditional Access policy allows."]
    failed = {s.stream for s in outcome.streams if s.status == "failed"}
    assert failed == {"dataverse_organization", "systemusers"}
    assert _count(config, DirectoryUser) == 40  # Graph's part is stored
    assert _count(config, DataverseUser) == 0
    sim.cloud.delegation.unblock(sim.user(admin).id)
    again = _collect(sim, config)
    assert again.exit_code == 0 and not again.sign_in_required
    assert _count(config, DataverseUser) > 0


def test_a_refresh_token_unused_for_90_days_needs_a_new_login(
        sim: Simulator, tmp_path: Path) -> None:
    config = _config(sim, tmp_path)
    admin = sim.tenant.users[0].upn
    sign_in(sim, config, admin)
    sim.advance(days=91)
    outcome = _collect(sim, config)
    assert outcome.exit_code == 3
    assert [s.stream for s in outcome.streams] == ["connect"]  # stopped before any source
    assert outcome.sign_in_required == [
        f"The sign-in of {admin} for profile simulated expired after going unused for too long "
        f"(AADSTS700082); {admin} must run `license-analyzer login --profile simulated` again."]


def test_no_sign_in_and_a_wrong_key_are_one_sentence_each(
        sim: Simulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(sim, tmp_path)
    with pytest.raises(SystemExit) as exited:
        main(["--config", str(config.source_path), "collect"])
    assert exited.value.code == 3
    err = capsys.readouterr().err
    assert ("error: Profile simulated has no stored sign-in; an administrator must run "
            "`license-analyzer login --profile simulated` first.") in err
    admin = sim.tenant.users[0].upn
    sign_in(sim, config, admin)
    other = _config(sim, tmp_path, key="a-different-key-0123456789")
    with pytest.raises(SystemExit) as exited:
        main(["--config", str(other.source_path), "collect"])
    assert exited.value.code == 3
    err = capsys.readouterr().err
    assert (f"error: The stored sign-in of {admin} for profile simulated does not open with "
            "its token_cache_key; set token_cache_key to the key it was stored with, or run "
            "`license-analyzer login --profile simulated` again.") in err
    assert "Traceback" not in err


def test_login_names_each_api_it_cannot_reach(sim: Simulator, tmp_path: Path) -> None:
    config = _config(sim, tmp_path)
    sim.tenant.app.delegated_grants["fno"].clear()  # no admin consent for Dynamics ERP
    admin = sim.tenant.users[0].upn
    lines: list[str] = []

    def person(line: str) -> None:  # reads the code off the screen and enters it
        lines.append(line)
        if match := CODE.search(line):
            sim.approve_device_code(match.group(1), admin)

    assert run_login(config, "simulated", show=person) == 3
    fno = sim.info["finance_operations"][0].lower()
    assert lines[1:] == [
        f"Signed in as {admin} for profile simulated; the sign-in is stored encrypted in the "
        "database.",
        f"Dataverse {sim.info['dataverse'][0].lower()}: signed in.",
        f"Finance & Operations {fno}: No token for {fno}: app {sim.info['client_id']} has no "
        f"admin consent for the delegated permissions it asks of {fno} (AADSTS65001); in the "
        "app registration > API permissions, add the delegated permissions the README lists "
        "and select Grant admin consent.",
    ]


def test_login_refuses_what_it_cannot_do(sim: Simulator, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    application = tmp_path / "app.toml"
    from license_analyzer.simulator import write_config_file

    write_config_file(sim.info, application)
    with pytest.raises(SystemExit) as exited:
        main(["--config", str(application), "login"])
    assert exited.value.code == 2
    assert 'No profile has auth = "delegated"' in capsys.readouterr().err
    config = _config(sim, tmp_path)
    sim.tenant.app.public_client = False
    with pytest.raises(SystemExit) as exited:
        main(["--config", str(config.source_path), "login"])
    assert exited.value.code == 3
    err = capsys.readouterr().err
    assert "does not allow public client flows" in err and "AADSTS7000218" in err
