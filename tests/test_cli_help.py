"""Every command of CONTRACT.md exists and has help text (sqlite-utils' test_docs idea)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from license_analyzer.cli import main

COMMANDS = [
    ["demo"], ["simulate"], ["doctor"], ["collect"], ["analyze"], ["run"], ["report"], ["usage"],
    ["candidates", "list"], ["candidates", "approve"], ["candidates", "reject"],
    ["candidates", "snooze"], ["candidates", "import"], ["candidates", "apply"],
    ["candidates", "restore"], ["rules", "list"], ["catalog", "refresh"],
    ["export", "activity"], ["schedule"], ["serve"], ["login"], ["compliance"],
    ["compliance", "import"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*command, "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "Usage:" in out
    # a docstring's first line shows up as the description
    assert len([line for line in out.splitlines() if line.strip()]) > 3


def test_top_level_help_lists_every_command() -> None:
    out = subprocess.run([sys.executable, "-m", "license_analyzer", "--help"], check=True,
                         capture_output=True, text=True).stdout
    for name in {c[0] for c in COMMANDS}:
        assert f" {name} " in out


def test_bad_usage_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["usage", "--format", "yaml"])
    assert exited.value.code == 2
