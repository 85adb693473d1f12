"""The rules commands through the real entry point (a subprocess of `python -m`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from license_analyzer.rules.loading import load_rules
from license_analyzer.rules.propose import propose
from license_analyzer.store.db import open_store
from tests.factories import CLIENT_ID, TENANT_ID, make_config
from tests.rules.builders import add_skus, fact, write_facts


def _config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "license-analyzer.toml"
    path.write_text(f"""
[storage]
url = "sqlite:///store.db"

[rules]
files = ["my-rules.toml"]
{extra}

[[profiles]]
name = "contoso"
tenant_id = "{TENANT_ID}"
client_id = "{CLIENT_ID}"
client_secret = "test-secret"
""", encoding="utf-8")
    return path


def _cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m license_analyzer` in a subprocess: the real thing, slow to start."""
    return subprocess.run([sys.executable, "-m", "license_analyzer", "--config", str(config),
                           *args], capture_output=True, text=True, timeout=120,
                          cwd=config.parent, check=False)


def _main(config: Path, *args: str, monkeypatch: pytest.MonkeyPatch,
          capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """The console script's `main()` in this process: same door, no interpreter start-up."""
    from license_analyzer.cli import main

    monkeypatch.setattr(sys, "argv", ["license-analyzer", "--config", str(config), *args])
    with pytest.raises(SystemExit) as exit_:
        main()
    out, err = capsys.readouterr()
    code = exit_.value.code
    return (code if isinstance(code, int) else 0), out, err


RULE = """
[[rules]]
id = "long_idle"
description = "Idle half a year"
priority = 75
products = ["*"]
when = {{ all = [ {{ field = "{field}", op = "{op}", value = 180 }} ] }}
"""


@pytest.mark.parametrize(("field", "op", "named", "in_subprocess"), [
    ("days_idle", ">=", "field 'days_idle'", True),
    ("days_since_activity", "=>", "unknown op '=>'", False),
])
def test_malformed_rule_file_exits_2_naming_rule_and_field(
        tmp_path: Path, field: str, op: str, named: str, in_subprocess: bool,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path)
    (tmp_path / "my-rules.toml").write_text(RULE.format(field=field, op=op), encoding="utf-8")
    if in_subprocess:
        result = _cli(config, "rules", "list")
        code, err = result.returncode, result.stderr
    else:
        monkeypatch.chdir(tmp_path)
        code, _, err = _main(config, "rules", "list", monkeypatch=monkeypatch, capsys=capsys)
    assert code == 2, err
    message = err.strip()
    assert message.startswith(f"error: Rule 'long_idle' in {tmp_path / 'my-rules.toml'}:")
    assert named in message and "Traceback" not in message
    assert len(message.splitlines()) == 1


def test_rules_list_shows_counts_of_the_last_analysis(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    config_path = _config(tmp_path)
    (tmp_path / "my-rules.toml").write_text(
        RULE.format(field="days_since_activity", op=">="), encoding="utf-8")
    store = open_store("sqlite:///store.db", base=tmp_path)
    with store.session() as s:
        add_skus(s)
    analysis_id = write_facts(store, [fact("a", "SPE_E3", days=200), fact("b", "SPE_E3", days=70)])
    config = make_config(store=store, rules={"files": [str(tmp_path / "my-rules.toml")]})
    propose(config, store, analysis_id)
    store.dispose()
    code, out, err = _main(config_path, "rules", "list", "--format", "json",
                           monkeypatch=monkeypatch, capsys=capsys)
    assert code == 0, err
    rows = {r["rule"]: r for r in json.loads(out)}
    assert rows["long_idle"]["candidates"] == 1 and rows["long_idle"]["monthly_saving"] == 50.0
    assert rows["inactive"]["candidates"] == 1
    assert set(rows) == {r.id for r in load_rules(config)}

    code, out, err = _main(config_path, "candidates", "list", "--format", "json",
                           monkeypatch=monkeypatch, capsys=capsys)
    assert code == 0, err
    listed = json.loads(out)
    assert [c["rule"] for c in listed] == ["long_idle", "inactive"]
    assert listed[0]["days_inactive"] == 200 and listed[0]["status"] == "proposed"
    code, out, err = _main(config_path, "candidates", "approve", listed[0]["id"], "--by", "Jane",
                           monkeypatch=monkeypatch, capsys=capsys)
    assert code == 0 and "approved" in out


def test_execute_needs_reclamation_enabled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path)
    (tmp_path / "my-rules.toml").write_text("", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    code, _, err = _main(config, "candidates", "apply", "--execute", monkeypatch=monkeypatch,
                         capsys=capsys)
    assert code == 2 and "[reclamation] enabled = true" in err
    code, _, err = _main(config, "candidates", "approve", "c-12345678", "--by", "me",
                         monkeypatch=monkeypatch, capsys=capsys)
    assert code == 2 and "No candidate with id c-12345678" in err
