"""Delegated sign-in through the real entry point: `login`, a full `run` on the person's tokens,
silent refresh in every later command, and a revoked sign-in (exit 3, one sentence, nothing
collected before is lost). No token or refresh token shows anywhere."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import func, select

from license_analyzer.cli import main
from license_analyzer.config import load_config
from license_analyzer.simulator import Simulator, SimulatorOptions
from license_analyzer.store.models import DirectoryUser, Run, SignIn
from license_analyzer.store.open import open_configured_store
from tests.sign_in_setup import (
    KEY,
    KEY_VAR,
    LoginProcess,
    approve_on_page,
    files_under,
    write_profile,
)

JWT = re.compile(r"eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}")


def _login(config: Path, env: dict[str, str], sim: Simulator, upn: str) -> tuple[int, str, str]:
    with LoginProcess(config, env) as login:
        approve_on_page(sim, login.code(), upn)
        return login.finish()


def _main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The CLI's entry point in this process (only `login` needs a process of its own)."""
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def _users(config: Path) -> int:
    with open_configured_store(load_config(config)).session() as session:
        return int(session.exec(select(func.count()).select_from(DirectoryUser)).one())


def test_login_run_silent_refresh_and_a_revoked_sign_in(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(KEY_VAR, KEY)  # the key comes from the environment, as documented
    now = datetime.now(UTC)
    opts = SimulatorOptions(users=40, seed=11, now=now, time_scale=0.01, dataverse_envs=1,
                            fno_envs=1, token_lifetime_s=360_000, signin_requests_per_10s=100)
    with Simulator(opts) as sim:
        admin = sim.tenant.users[0].upn  # Global Administrator
        sim.make_dynamics_admin(admin)
        config = write_profile(sim, tmp_path / "la.toml", "delegated",
                               key=f"${{{KEY_VAR}}}",
                               extra="signin_requests_per_10s = 100\n")
        env = dict(os.environ)
        outputs: list[str] = []

        code, out, err = _login(config, env, sim, admin)
        outputs += [out, err]
        assert code == 0, out + err
        assert "enter the code" in out and f"Signed in as {admin}" in out
        assert out.count(": signed in.") == 2, out  # the Dataverse and the F&O environment

        issued = len(sim.cloud.delegation.grants)
        code, out, err = _main(capsys, "--config", str(config), "--verbose", "run", "--as-of",
                               now.date().isoformat())
        outputs += [out, err]
        assert code == 0, err[-3000:]
        assert Path(out.strip().splitlines()[-1]).exists()
        # nobody was asked to sign in: the stored refresh token bought every token
        assert len(sim.cloud.delegation.grants) > issued
        assert not sim.cloud.device_codes.by_device
        users = _users(config)
        assert users >= 40

        sim.revoke_sign_in_sessions(admin)
        code, out, err = _main(capsys, "--config", str(config), "run", "--as-of",
                               now.date().isoformat())
        outputs += [out, err]
        assert code == 3, err[-3000:]
        errors = [line for line in err.splitlines() if line.startswith("error:")]
        assert errors == [
            f"error: The sign-in of {admin} for profile simulated was revoked (AADSTS50173); "
            f"{admin} must run `license-analyzer login --profile simulated` again."]
        assert _users(config) == users  # what the first run collected is still there
        with open_configured_store(load_config(config)).session() as session:
            last = session.exec(select(Run).order_by(Run.id.desc())).first()  # type: ignore[union-attr]
            assert last is not None and last.stages["collect"]["status"] == "failed"

        code, out, err = _login(config, env, sim, admin)
        outputs += [out, err]
        assert code == 0, out + err
        code, out, err = _main(capsys, "--config", str(config), "collect")
        outputs += [out, err]
        assert code == 0, err[-3000:]

        refresh_tokens = list(sim.cloud.delegation.grants)
    for text in outputs:
        assert not JWT.search(text)
        assert not [rt for rt in refresh_tokens if rt in text]
    for path in files_under(tmp_path):  # the store, its WAL, Parquet, the report, exports
        data = path.read_bytes()
        assert not JWT.search(data.decode("latin-1")), path
        assert not [rt for rt in refresh_tokens if rt.encode() in data], path
    with open_configured_store(load_config(config)).session() as session:
        row = session.get(SignIn, "simulated")
        assert row is not None and row.account == admin and row.sealed.startswith(b"LAS1")
