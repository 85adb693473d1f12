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
