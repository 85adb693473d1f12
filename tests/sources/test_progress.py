"""Progress: a rich line per stream on a terminal, log lines otherwise."""

from __future__ import annotations

import logging

import pytest

from license_analyzer.sources.progress import Display, RichDisplay, display


def test_plain_display_logs_start_and_end(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="license_analyzer.collect")
    with display(False, lambda: 0.0) as screen:
        assert type(screen) is Display
        ticker = screen.start("p/users")
        ticker.page(500)
        ticker.page(20)
        screen.finish("p/users", ticker, "ok", "520 records")
    assert ticker.records == 520 and ticker.pages == 2
    text = caplog.text
    assert "p/users: started" in text and "p/users: ok, 520 records" in text


def test_rich_display_tracks_each_stream() -> None:
    with display(True, lambda: 1.5) as screen:
        assert isinstance(screen, RichDisplay)
        ticker = screen.start("p/dataverse_audit/https://org")
        ticker.page(5000)
        ticker.note("limit 16")
        screen.finish("p/dataverse_audit/https://org", ticker, "ok", "5,000 records")
    assert ticker.records == 5000
