from __future__ import annotations

import logging

import pytest

from license_analyzer.redact import RedactingFilter, redact, register_secret, sanitize_url


def test_registered_secret_and_tokens_are_masked() -> None:
    register_secret("Zq8~very-secret-value")
    text = ("client_secret=Zq8~very-secret-value&scope=x Authorization: Bearer abc.def.ghi "
            "token eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJ4In0.c2lnbmF0dXJl")
    shown = redact(text)
    assert "Zq8~very-secret-value" not in shown
    assert "abc.def.ghi" not in shown
    assert "eyJhbGciOiJSUzI1NiJ9" not in shown
    assert "scope=x" in shown


def test_database_url_password_is_hidden() -> None:
    assert sanitize_url("postgresql+psycopg://app:pw123@db/la") == "postgresql+psycopg://app:***@db/la"
    assert sanitize_url("sqlite:///x.db") == "sqlite:///x.db"


def test_log_records_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    register_secret("another-secret-1234")
    logger = logging.getLogger("test.redact")
    caplog.handler.addFilter(RedactingFilter())
    with caplog.at_level(logging.INFO):
        logger.info("posting %s", "client_secret=another-secret-1234")
    assert "another-secret-1234" not in caplog.text


def test_logged_tracebacks_are_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    """A traceback logged at ERROR goes through the same mask as the message."""
    from license_analyzer.logs import configure_logging

    register_secret("tb-secret-77f1")
    configure_logging(verbose=False)
    try:
        raise RuntimeError("token endpoint said client_secret=tb-secret-77f1 was wrong")
    except RuntimeError:
        logging.getLogger("license_analyzer.test").exception("collect failed")
    err = capsys.readouterr().err
    assert "collect failed" in err and "Traceback" in err and "RuntimeError" in err
    assert "tb-secret-77f1" not in err


def test_webhook_path_and_query_are_secrets() -> None:
    from license_analyzer.redact import register_url_secrets, url_origin

    url = "https://hooks.example.com/services/T1/B2/xoxb-4471?token=q-9981"
    register_url_secrets(url)
    shown = redact(f"could not post to {url}")
    assert "xoxb-4471" not in shown and "q-9981" not in shown
    assert url_origin(url) == "https://hooks.example.com"
