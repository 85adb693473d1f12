"""Bad configuration: exit 2 and one sentence naming the file, the key and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from license_analyzer.cli import main
from license_analyzer.config import parse_config

GOOD_PROFILE = """
[[profiles]]
name = "contoso"
tenant_id = "00000000-0000-0000-0000-000000000001"
client_id = "00000000-0000-0000-0000-000000000002"
client_secret = "${TEST_LA_SECRET}"
dataverse = [
  "https://Contoso.crm.dynamics.com/",
  { url = "https://sales.crm.dynamics.com", families = ["sales"] },
]
finance_operations = ["https://contoso.operations.dynamics.com"]
"""


def run_cli(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str],
            *args: str) -> tuple[int, str]:
    config = tmp_path / "la.toml"
    config.write_text(text)
    with pytest.raises(SystemExit) as exited:
        main(["--config", str(config), *(args or ("usage",))])
    captured = capsys.readouterr()
    return int(exited.value.code or 0), captured.err.strip()


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        pytest.param(GOOD_PROFILE.replace("${TEST_LA_SECRET}", "${NOT_SET_ANYWHERE}"),
                     ["profiles[0].client_secret", "${NOT_SET_ANYWHERE}", "export"],
                     id="missing-variable"),
        pytest.param("[storage]\nurll = 'sqlite:///x.db'\n",
                     ["unknown key storage.urll", "spelling"], id="unknown-key"),
        pytest.param("[analysis]\ninactive_days = 'sixty'\n",
                     ["analysis.inactive_days", "wrong type"], id="wrong-type"),
        pytest.param(GOOD_PROFILE + GOOD_PROFILE,
                     ["two profiles named 'contoso'", "own name"], id="duplicate-profile"),
        pytest.param(GOOD_PROFILE.replace('"https://contoso.operations.dynamics.com"',
                                          '"contoso.operations"'),
                     ["finance_operations[0].url", "full URL"], id="malformed-url"),
        pytest.param(GOOD_PROFILE.replace("00000000-0000-0000-0000-000000000001", "contoso"),
                     ["profiles[0] (contoso).tenant_id", "GUID"], id="malformed-uuid"),
        pytest.param("[storage\n", ["not valid TOML"], id="bad-toml"),
        pytest.param(GOOD_PROFILE.replace('client_secret = "${TEST_LA_SECRET}"', ""),
                     ["client_secret or certificate_path"], id="no-credential"),
        pytest.param("[storage]\nurl = 'mysql://x'\n", ["storage.url", "postgresql"],
                     id="bad-database-url"),
    ],
)
def test_bad_config_exits_2_with_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    text: str, needles: list[str],
) -> None:
    monkeypatch.setenv("TEST_LA_SECRET", "s3cr3t-value-xyz")
    code, err = run_cli(tmp_path, text, capsys)
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 0
    assert str(tmp_path / "la.toml") in err
    for needle in needles:
        assert needle in err
    assert "s3cr3t-value-xyz" not in err
    assert "Traceback" not in err


def test_missing_config_file_names_the_fix(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--config", str(tmp_path / "nope.toml"), "usage"])
    assert exited.value.code == 2
    assert "config.example.toml" in capsys.readouterr().err


def test_good_config_reads_env_and_normalizes_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_LA_SECRET", "s3cr3t-value-xyz")
    config = parse_config(GOOD_PROFILE, Path("la.toml"))
    profile = config.profiles[0]
    assert profile.client_secret is not None
    assert profile.client_secret.get_secret_value() == "s3cr3t-value-xyz"
    assert "s3cr3t" not in repr(config)
    assert [e.url for e in profile.dataverse] == ["https://contoso.crm.dynamics.com",
                                                 "https://sales.crm.dynamics.com"]
    assert profile.dataverse[0].url_as_written == "https://Contoso.crm.dynamics.com/"
    assert profile.dataverse[1].families == ["sales"]
    assert config.reclamation.enabled is False and config.reclamation.max_per_run == 25


def test_example_config_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTOSO_CLIENT_SECRET", "example-secret")
    example = Path(__file__).parents[1] / "config.example.toml"
    config = parse_config(example.read_text(), example)
    assert config.profiles and config.prices


def test_verbose_config_errors_never_show_a_secret(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The error is about the profile that holds the secret: the detail logged with --verbose
    quotes that profile, so the secret must be masked before validation even starts."""
    # tenant_id is missing; pydantic quotes the profile, shortened in the middle, so the
    # secrets sit at both of its ends
    text = """
[[profiles]]
name = "contoso"
client_secret = "Lt8Q~literal-secret-0042"
client_id = "00000000-0000-0000-0000-000000000002"
certificate_passphrase = "pass-phrase-7761"
"""
    config = tmp_path / "la.toml"
    config.write_text(text)
    with pytest.raises(SystemExit) as exited:
        main(["--verbose", "--config", str(config), "usage"])
    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert "tenant_id is missing" in err and "detail:" in err
    assert "Lt8Q~literal-secret-0042" not in err and "pass-phrase-7761" not in err


@pytest.mark.parametrize(("section", "key"), [
    ("profile", "certificate_passphrase"), ("notify", "smtp_password"),
    ("notify", "webhook_url")])
def test_a_wrong_typed_secret_is_not_printed_back(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        section: str, key: str) -> None:
    monkeypatch.setenv("TEST_LA_SECRET", "s3cr3t-value-xyz")
    line = f"{key} = 73914652\n"
    text = (GOOD_PROFILE + line if section == "profile"
            else f"[notify]\nsmtp_host = \"mail\"\nsmtp_starttls = true\n{line}")
    code, err = run_cli(tmp_path, text, capsys)
    assert code == 2 and key in err
    assert "73914652" not in err
