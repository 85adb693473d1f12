"""The report's sections, live: read once per change of the store, not once per page view.

Building the report reads the facts of the latest analysis (seconds at 200,000 users); it is
kept until a new analysis, run or decision changes what it shows.
"""

from __future__ import annotations

import dataclasses
import threading
from datetime import date
from typing import Any

from sqlalchemy import func, select

from license_analyzer.config import Config
from license_analyzer.report.build import Report, collect_report
from license_analyzer.report.charts import Chart
from license_analyzer.rules.candidate_page import filter_choices
from license_analyzer.rules.writes import table_of
from license_analyzer.store.db import Store
from license_analyzer.store.models import Analysis, Decision, Run


def _stamp(store: Store) -> tuple[Any, ...]:
    """What changes whenever the report would: the newest analysis, run and decision."""
    with store.engine.connect() as conn:
        latest = conn.execute(select(table_of(Analysis).c.id, table_of(Analysis).c.as_of)
                              .order_by(table_of(Analysis).c.id.desc()).limit(1)).first()
        run = conn.execute(select(func.max(table_of(Run).c.id))).scalar()
        decision = conn.execute(select(func.max(table_of(Decision).c.id))).scalar()
    return (tuple(latest) if latest else None, run, decision)


class Overview:
    def __init__(self, config: Config, store: Store) -> None:
        self.config = config
        self.store = store
        self._lock = threading.Lock()
        self._cached: tuple[tuple[Any, ...], Report | None] | None = None
        self._choices: tuple[tuple[Any, ...], dict[str, list[str]]] | None = None

    def choices(self) -> dict[str, list[str]]:
        """The filters' values (a scan of every candidate): they change only with a run."""
        stamp = _stamp(self.store)[:2]
        with self._lock:
            if self._choices is None or self._choices[0] != stamp:
                self._choices = (stamp, filter_choices(self.store))
            return self._choices[1]

    def report(self) -> Report | None:
        """The report as of the latest analysis, None before the first one."""
        stamp = _stamp(self.store)
        with self._lock:
            if self._cached is not None and self._cached[0] == stamp:
                return self._cached[1]
            latest = stamp[0]
            report = None
            if latest is not None:
                as_of: date = latest[1]
                report = collect_report(self.config, self.store, as_of, None, table_rows=0)
                # charts as data blocks that /static/app.js draws: no inline script
                report = dataclasses.replace(report, charts={
                    name: chart.data_block() if isinstance(chart, Chart) else chart
                    for name, chart in report.charts.items()})
            self._cached = (stamp, report)
            return report
