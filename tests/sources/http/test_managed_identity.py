"""auth = "managed_identity" end to end: a job on an Azure host, no secret anywhere."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from license_analyzer.cli import main
from license_analyzer.config import load_config
from license_analyzer.doctor import Status, diagnose
from license_analyzer.simulator import Simulator, SimulatorOptions
from license_analyzer.simulator.identities import managed_identity
from tests.doctor.doctor_setup import simulator
from tests.sign_in_setup import cli, write_profile

IMDS = "/metadata/identity/oauth2/token"


def _imds_profile(sim: Simulator, path: Path, extra: str = "") -> Path:
    endpoint = sim.info["managed_identity_endpoint"]
    return write_profile(sim, path, "managed_identity",
                         extra=f'managed_identity_endpoint = "{endpoint}"\n{extra}')


def test_a_full_run_as_the_system_assigned_identity(tmp_path: Path) -> None:
    # its own process: the entry point as cron would start it on the Azure host
    now = datetime.now(UTC)
    opts = SimulatorOptions(users=40, seed=3, now=now, time_scale=0.01, dataverse_envs=1,
                            fno_envs=1, token_lifetime_s=360_000, signin_requests_per_10s=100)
    with Simulator(opts) as sim:
        config = _imds_profile(sim, tmp_path / "la.toml", "signin_requests_per_10s = 100\n")
        profile = config.read_text().partition("[[profiles]]")[2]  # [web] has its own
        assert "client_secret" not in profile and "client_id" not in profile
        ran = cli(config, "run", "--as-of", now.date().isoformat())
        assert ran.returncode == 0, ran.stderr[-3000:]
        log = sim.request_log
    assert Path(ran.stdout.strip().splitlines()[-1]).exists()
    asked = {path.split("?")[0] for method, path, status in log if status == 200}
    assert IMDS in asked  # every token came from the identity endpoint ...
    assert not [p for p in asked if p.endswith("/oauth2/v2.0/token")]  # ... none from Entra's


def test_app_service_endpoint_and_a_user_assigned_identity(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    with simulator() as sim:
        info = sim.info
        user_mi = info["managed_identities"]["user"]
        config = write_profile(sim, tmp_path / "la.toml", "managed_identity",
                               extra=f'client_id = "{user_mi}"\n')
        # what App Service, Functions and Container Apps put in the job's environment
        monkeypatch.setenv("IDENTITY_ENDPOINT", info["identity_endpoint"])
        monkeypatch.setenv("IDENTITY_HEADER", info["identity_header"])
        with pytest.raises(SystemExit) as exited:
            main(["--config", str(config), "doctor", "--format", "json"])
    out = capsys.readouterr().out
    rows = json.loads(out)
    assert exited.value.code == 0, out
    token = next(r for r in rows if r["check"] == "token")
    assert (f"user-assigned managed identity {user_mi}, through App Service's "
            "IDENTITY_ENDPOINT") in token["message"]
    assert not [r for r in rows if r["check"] == "credential_expiry"]  # nothing to expire


def test_doctor_names_what_the_identity_lacks(tmp_path: Path) -> None:
    with simulator() as sim:
        system = managed_identity(sim.tenant, "system")
        system.roles.discard("AuditLog.Read.All")
        sim.tenant.dataverse[0].app_users.discard(system.client_id)
        results = diagnose(load_config(_imds_profile(sim, tmp_path / "la.toml")))
    failed = {(r.check, r.target): r for r in results if r.status is Status.FAILED}
    audit = failed[("permission", "graph AuditLog.Read.All")]
    assert "New-MgServicePrincipalAppRoleAssignment" in audit.fix
    dataverse = failed[("application_user", f"dataverse {sim.info['dataverse'][0].lower()}")]
    assert dataverse.fix.startswith("Add the managed identity (its application id) as an "
                                    "application user")


def test_an_identity_not_on_this_host_and_no_endpoint_are_sentences(tmp_path: Path) -> None:
    with simulator() as sim:
        managed_identity(sim.tenant, "system").attached = False
        detached = diagnose(load_config(_imds_profile(sim, tmp_path / "a.toml")))
        nowhere = write_profile(sim, tmp_path / "b.toml", "managed_identity",
                                extra='managed_identity_endpoint = "https://127.0.0.1:9/x"\n')
        unreachable = diagnose(load_config(nowhere))
    token = next(r for r in detached if r.check == "token")
    assert token.status is Status.FAILED
    assert token.message == ("The system-assigned managed identity gave no token for "
                             f"{sim.info['graph_url'].rsplit('/', 1)[0]} (invalid_request: "
                             "Identity not found).")
    assert token.fix.startswith("Run the job on an Azure resource with this managed identity")
    token = next(r for r in unreachable if r.check == "token")
    assert token.status is Status.FAILED
    assert token.message.startswith("No managed identity endpoint answered")
