"""A simulated tenant and a config pointing at it, with one setup step broken at a time."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from collections.abc import Set as AbstractSet
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from license_analyzer.config import Config, load_config
from license_analyzer.doctor import CheckResult, Status, diagnose
from license_analyzer.simulator import Simulator, SimulatorOptions, write_config_file


@contextmanager
def simulator(**options: Any) -> Iterator[Simulator]:
    # the tenant's clock is the real one, so expiry dates mean the same to both sides
    opts: dict[str, Any] = {"users": 30, "seed": 7, "now": datetime.now(UTC),
                            "time_scale": 0.01, "dataverse_envs": 2, "fno_envs": 1, **options}
    with Simulator(SimulatorOptions(**opts)) as sim:
        yield sim


def _line(key: str, value: object) -> str:
    return f"{key} = {json.dumps(value)}"


def write_config(sim: Simulator, path: Path, *, secret: str | None = None,
                 certificate: Path | None = None, ca_bundle: bool = True,
                 fno: list[str] | None = None, reclamation: bool = False,
                 keys: dict[str, Any] | None = None, extra: Iterable[str] = ()) -> Path:
    """write_config_file's output, edited: the ways an admin gets a setup step wrong."""
    write_config_file(sim.info, path)
    # edit the profile only: [web] above it has keys of the same names
    head, profiles, text = path.read_text(encoding="utf-8").partition("[[profiles]]")
    if certificate is not None:
        text = re.sub(r"(?m)^client_secret = .*$", _line("certificate_path", str(certificate)),
                      text)
    elif secret is not None:
        text = re.sub(r"(?m)^client_secret = .*$", _line("client_secret", secret), text)
    if not ca_bundle:
        text = re.sub(r"(?m)^ca_bundle = .*\n", "", text)
    if fno is not None:
        text = re.sub(r"(?m)^finance_operations = .*$", _line("finance_operations", fno), text)
    for key, value in (keys or {}).items():
        text = re.sub(rf"(?m)^{key} = .*$", _line(key, value), text)
    text = head + profiles + text
    text += "".join(line + "\n" for line in extra)  # lands in the [[profiles]] table
    if reclamation:
        text += "\n[reclamation]\nenabled = true\n"
    path.write_text(text, encoding="utf-8")
    return path


def run(sim: Simulator, tmp_path: Path, **edits: Any) -> list[CheckResult]:
    config: Config = load_config(write_config(sim, tmp_path / "la.toml", **edits))
    return diagnose(config)


def by_status(results: list[CheckResult], status: Status) -> set[tuple[str, str]]:
    return {(r.check, r.target) for r in results if r.status is status}


Keys = AbstractSet[tuple[str, str]]


def only(results: list[CheckResult], *, failed: Keys = frozenset(),
         warning: Keys = frozenset(), skipped: Keys = frozenset()) -> None:
    """Exactly these checks failed / warned / were skipped; every other check is ok."""
    assert by_status(results, Status.FAILED) == set(failed), _show(results)
    assert by_status(results, Status.WARNING) == set(warning), _show(results)
    assert by_status(results, Status.SKIPPED) == set(skipped), _show(results)
    assert results, "doctor said nothing"


def _show(results: list[CheckResult]) -> str:
    return "\n".join(f"{r.status} {r.check} {r.target}: {r.message} -> {r.fix}" for r in results)


def find(results: list[CheckResult], check: str, target: str) -> CheckResult:
    return next(r for r in results if r.check == check and r.target == target)
