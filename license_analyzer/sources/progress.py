"""How collection shows itself: a rich progress bar per stream on a terminal, plain log lines
otherwise (cron, CI, pipes)."""

from __future__ import annotations

import logging
import sys
import threading
import time
from types import TracebackType
from typing import Any

from license_analyzer.sources.context import Ticker

log = logging.getLogger("license_analyzer.collect")


class Display:
    """Plain log lines: a line when a stream starts, every 30 s while it runs, and at its end."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[int, float] = {}

    def __enter__(self) -> Display:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        return None

    def start(self, key: str) -> Ticker:
        log.info("%s: started", key)
        ticker = Ticker(lambda t: self._changed(key, t))
        with self._lock:
            self._last[id(ticker)] = time.monotonic()
        return ticker

    def _changed(self, key: str, ticker: Ticker) -> None:
        with self._lock:
            due = time.monotonic() - self._last.get(id(ticker), 0.0) >= 30.0
            if due:
                self._last[id(ticker)] = time.monotonic()
        if due:
            log.info("%s: %d records, %d pages %s", key, ticker.records, ticker.pages,
                     ticker.status_text)

    def finish(self, key: str, ticker: Ticker, status: str, summary: str) -> None:
        with self._lock:
            self._last.pop(id(ticker), None)
        level = logging.INFO if status in ("ok", "degraded") else logging.WARNING
        log.log(level, "%s: %s, %s", key, status, summary)


class RichDisplay(Display):
    """One progress line per stream: records, pages, and the throttling waits so far."""

    def __init__(self, waited: Any) -> None:
        super().__init__()
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self._waited = waited
        self._progress = Progress(SpinnerColumn(), TextColumn("{task.description}"),
                                  TextColumn("{task.fields[detail]}"), TimeElapsedColumn(),
                                  transient=False)
        self._tasks: dict[int, Any] = {}

    def __enter__(self) -> RichDisplay:
        self._progress.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._progress.stop()

    def start(self, key: str) -> Ticker:
        ticker = Ticker(lambda t: self._changed(key, t))
        self._tasks[id(ticker)] = self._progress.add_task(key, total=None, detail="")
        return ticker

    def _changed(self, key: str, ticker: Ticker) -> None:
        task = self._tasks.get(id(ticker))
        if task is not None:
            self._progress.update(task, detail=(
                f"{ticker.records:,} records, {ticker.pages:,} pages, waited "
                f"{self._waited():.0f} s {ticker.status_text}"))

    def finish(self, key: str, ticker: Ticker, status: str, summary: str) -> None:
        task = self._tasks.pop(id(ticker), None)
        if task is not None:
            self._progress.update(task, detail=f"{status}: {summary}", total=1, completed=1)


def display(progress: bool | None, waited: Any) -> Display:
    tty = sys.stderr.isatty() if progress is None else progress
    return RichDisplay(waited) if tty else Display()
