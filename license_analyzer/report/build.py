"""`write_report`: the HTML report and its exports for one as-of day, written atomically.

run.py calls `write_report(config, store, out_dir, as_of, run_id)`; it returns the path of
`out_dir/<YYYY-MM-DD>/index.html`. The exports are written first and the page last, so an
index.html that exists belongs to a complete report.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from markupsafe import Markup

from license_analyzer.config import Config
from license_analyzer.report import charts
from license_analyzer.report.activity import BUCKETS, ActivityBuckets, activity_buckets
from license_analyzer.report.assignment_errors import AssignmentError, assignment_errors
from license_analyzer.report.atomic import write_text_atomic
from license_analyzer.report.candidates import (
    TABLE_ROW_LIMIT,
    CandidateSummary,
    CandidateTable,
    RuleRow,
    candidate_summary,
    candidate_table,
    export_frame,
    realised_saving,
    rule_rows,
)
from license_analyzer.report.charts import Chart
from license_analyzer.report.exports import (
    USAGE_COLUMNS,
    cell_frame,
    columns_of,
    write_csv,
    write_xlsx,
)
from license_analyzer.report.fo_compliance import ComplianceSection, compliance_section
from license_analyzer.report.freshness import Freshness, Notice, freshness
from license_analyzer.report.position import (
    ProductPosition,
    departments,
    history_days,
    position_day,
    positions,
    trends,
)
from license_analyzer.report.render import render
from license_analyzer.report.renewals import (
    RENEWAL_WINDOW_DAYS,
    Ending,
    Renewal,
    ending,
    renewals,
)
from license_analyzer.report.stages import call_or_none
from license_analyzer.report.workloads import WorkloadRow, workload_activity
from license_analyzer.store.db import Store, private_dir
from license_analyzer.store.models import DepartmentPositionDaily

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Headline:
    monthly_spend: float
    monthly_waste: float
    potential_saving: float
    renewal_saving: float
    realised_saving: float
    assigned: int
    unused: int
    open_candidates: int

    @property
    def unused_share(self) -> float | None:
        return self.unused / self.assigned if self.assigned else None


@dataclass(frozen=True)
class Report:
    as_of: date
    position_day: date | None
    generated_at: datetime
    currency: str
    headline: Headline
    products: list[ProductPosition]
    activity: ActivityBuckets
    departments: list[DepartmentPositionDaily]
    renewals: list[Renewal]
    ending: list[Ending]
    assignment_errors: list[AssignmentError]
    candidates: CandidateTable
    summary: CandidateSummary
    rules: list[RuleRow]
    freshness: Freshness
    history_days: int
    # figures; the review app swaps each for its data block (markup drawn by its own script)
    charts: dict[str, Chart | Markup | None] = field(default_factory=dict)
    buckets: tuple[str, ...] = BUCKETS
    renewal_window_days: int = RENEWAL_WINDOW_DAYS
    # Microsoft 365 licences by workload (report/workloads.py)
    workloads: list[WorkloadRow] = field(default_factory=list)
    fo_compliance: ComplianceSection | None = None  # "Finance & Operations license compliance"


def collect_report(config: Config, store: Store, as_of: date, run_id: int | None,
                   table_rows: int = TABLE_ROW_LIMIT) -> Report:
    """Everything the page shows, read from the store in one place; `table_rows` caps the
    candidates embedded for the page's own table (the review app pages them itself: 0)."""
    with store.session() as session:
        day = position_day(session, as_of)
        products = positions(session, day) if day else []
        series = trends(session, day) if day else {}
        dept_rows = departments(session, day) if day else []
        soon = renewals(session, as_of, products)
        not_renewing = ending(session, as_of, products)
        errors = assignment_errors(session, day) if day else []
        table = candidate_table(session, limit=table_rows)
        summary = candidate_summary(session)
        realised = realised_saving(session)
        fresh = freshness(session, as_of, run_id, day)
        history = history_days(session, day) if day else 0
    activity = activity_buckets(store, as_of)
    with store.session() as session:
        rules = rule_rows(session, activity.analysis_id)

    counted = [p for p in products if p.row.waste_counts]
    headline = Headline(
        monthly_spend=sum(p.row.monthly_cost for p in products),
        monthly_waste=sum(p.row.monthly_waste for p in counted),
        potential_saving=summary.open_saving,
        renewal_saving=sum(r.monthly_saving for r in soon),
        realised_saving=realised,
        assigned=sum(p.row.assigned for p in counted),
        unused=sum(p.unused for p in counted),
        open_candidates=summary.open_count,
    )
    no_data = sum(p.row.no_data for p in counted)
    if no_data:
        fresh.warnings.append(Notice(
            "warning", f"{no_data:,} assigned licenses have no source that can speak for them"
            " (\"no data\"): they are neither counted as used nor as waste."))
    currency = config.reports.currency.upper()
    usage_chart, waste_chart = charts.trend_charts(series, currency)
    return Report(
        as_of=as_of,
        position_day=day,
        generated_at=datetime.now(UTC),
        currency=currency,
        headline=headline,
        products=products,
        activity=activity,
        departments=dept_rows,
        renewals=soon,
        ending=not_renewing,
        assignment_errors=errors,
        candidates=table,
        summary=summary,
        rules=rules,
        freshness=fresh,
        history_days=history,
        charts={
            "position": charts.position_chart(products),
            "activity": charts.activity_chart(activity),
            "trend_usage": usage_chart,
            "trend_waste": waste_chart,
            "departments": charts.department_chart(dept_rows, currency),
        },
        workloads=workload_activity(store, as_of),
        fo_compliance=compliance_section(config, store),
    )


def usage_export_rows(config: Config, store: Store, report: Report) -> list[dict[str, Any]]:
    """usage.csv: the `usage` command's rows when they describe the day the page shows (they
    are of the newest analyzed day), else the page's own position, so the two never disagree."""
    with store.session() as session:
        newest = position_day(session, date.max)
    if newest is not None and newest == report.position_day:
        rows = call_or_none("license_analyzer.pipeline.usage", "usage_rows", store, config)
        if rows is not None:
            return list(rows)
    return [
        {name: getattr(p.row, name) for name in USAGE_COLUMNS} for p in report.products
    ]


def report_folder(out_dir: Path, as_of: date) -> Path:
    return out_dir / as_of.isoformat()


def write_report(config: Config, store: Store, out_dir: Path, as_of: date,
                 run_id: int | None = None) -> Path:
    private_dir(out_dir)
    folder = report_folder(out_dir, as_of)
    private_dir(folder)
    report = collect_report(config, store, as_of, run_id)

    candidates = export_frame(store)
    columns = candidates.columns
    cells = cell_frame(columns, candidates)  # once for both files
    write_csv(folder / "candidates.csv", columns, candidates, cells=cells)
    write_xlsx(folder / "candidates.xlsx", "candidates", columns, candidates, cells=cells)
    usage = usage_export_rows(config, store, report)
    write_csv(folder / "usage.csv", columns_of(usage, USAGE_COLUMNS), usage)

    override = config.resolve(config.reports.templates) if config.reports.templates else None
    page = render("index.html", override, report=report)
    index = folder / "index.html"
    write_text_atomic(index, page)
    log.info("report written to %s (%d bytes)", index, len(page.encode("utf-8")))
    return index
