"""Plotly figures as HTML fragments: light, readable, printable, with no plotly.js of their own
(the page inlines plotly.js once). Tenant labels go through `chart_label`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import plotly.graph_objects as go
import plotly.io as pio
from markupsafe import Markup

from license_analyzer.report.activity import BUCKETS, ActivityBuckets
from license_analyzer.report.formatting import currency_prefix
from license_analyzer.report.position import ProductPosition, TrendPoint
from license_analyzer.report.safety import chart_label, script_json
from license_analyzer.store.models import DepartmentPositionDaily

COLORS = {
    "active": "#2e7d32",
    "in grace": "#90caf9",
    "no data": "#b0bec5",
    "inactive": "#f9a825",
    "never used": "#c62828",
    "unassigned": "#e0e0e0",
    "spend": "#5c6bc0",
    "waste": "#e53935",
}
BUCKET_COLORS = ("#2e7d32", "#9ccc65", "#fbc02d", "#ef6c00", "#c62828")
TOP_PRODUCTS = 8
TOP_DEPARTMENTS = 15
_FONT = dict(family="-apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif", size=12,
             color="#263238")
_CONFIG = {"displaylogo": False, "responsive": True,
           "modeBarButtonsToRemove": ["select2d", "lasso2d", "autoScale2d"]}


@dataclass(frozen=True)
class Chart:
    """A figure, drawn two ways: the report's fragment with its inline script (a file opened
    offline), or for the review app a JSON data block that its own script draws, since its
    Content-Security-Policy runs no inline script."""

    figure: go.Figure
    div_id: str
    height: int

    def __html__(self) -> str:
        html: str = self.figure.to_html(full_html=False, include_plotlyjs=False,
                                        div_id=self.div_id, config=_CONFIG,
                                        default_height=f"{self.height}px")
        # Plotly writes the figure's JSON with <, > and & escaped, and tenant labels arrive
        # entity-escaped: the fragment is safe markup as it is.
        return html

    def data_block(self) -> Markup:
        figure = orjson.loads(pio.to_json(self.figure, validate=False))
        data = script_json({"data": figure.get("data", []), "layout": figure.get("layout", {}),
                            "config": _CONFIG})
        return Markup(  # script_json escapes < > & for a script element; the id is ours
            f'<div id="{self.div_id}" class="plotly-chart" style="height:{self.height}px">'
            f'</div><script type="application/json" data-chart="{self.div_id}">{data}</script>')


def _fragment(fig: go.Figure, div_id: str, height: int) -> Chart:
    fig.update_layout(
        template="plotly_white", font=_FONT, height=height,
        margin=dict(l=10, r=10, t=30, b=10),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0),
        hoverlabel=dict(font=dict(family=_FONT["family"])),
    )
    return Chart(fig, div_id, height)


def position_chart(products: Sequence[ProductPosition]) -> Chart | None:
    # capacity and free SKUs (a million "purchased" free seats) would dwarf the paid ones
    shown = [p for p in products if p.row.waste_counts and (p.row.purchased or p.row.assigned)]
    shown = shown[:20]
    if not shown:
        return None
    labels = [chart_label(p.row.product_name) for p in shown][::-1]
    parts: list[tuple[str, list[int]]] = [
        ("active", [p.row.active for p in shown]),
        ("in grace", [p.row.in_grace for p in shown]),
        ("no data", [p.row.no_data for p in shown]),
        ("inactive", [p.row.inactive for p in shown]),
        ("never used", [p.row.never_used for p in shown]),
        ("unassigned", [max(p.row.purchased - p.row.assigned, 0) for p in shown]),
    ]
    fig = go.Figure()
    for name, values in parts:
        fig.add_bar(y=labels, x=values[::-1], name=name, orientation="h",
                    marker_color=COLORS[name],
                    hovertemplate="%{y}<br>" + name + ": %{x:,}<extra></extra>")
    fig.add_scatter(y=labels, x=[p.row.purchased for p in shown][::-1], name="purchased",
                    mode="markers", marker=dict(symbol="line-ns-open", size=26, color="#263238",
                                                line=dict(width=3)),
                    hovertemplate="%{y}<br>purchased: %{x:,}<extra></extra>")
    fig.update_layout(barmode="stack", xaxis_title="licenses", legend_traceorder="normal")
    fig.update_yaxes(automargin=True)
    return _fragment(fig, "chart-position", 120 + 32 * len(shown))


def activity_chart(buckets: ActivityBuckets) -> Chart | None:
    if not buckets.by_product:
        return None
    products = list(buckets.by_product)[:TOP_PRODUCTS]
    labels = [chart_label(p) for p in products][::-1]
    fig = go.Figure()
    for index, name in enumerate(BUCKETS):
        fig.add_bar(y=labels, x=[buckets.by_product[p][index] for p in products][::-1],
                    name=name, orientation="h", marker_color=BUCKET_COLORS[index],
                    hovertemplate="%{y}<br>last activity " + name + ": %{x:,}<extra></extra>")
    fig.update_layout(barmode="stack", xaxis_title="assigned licenses", legend_traceorder="normal")
    return _fragment(fig, "chart-activity", 120 + 32 * len(products))


def trend_charts(series: dict[str, list[TrendPoint]],
                 currency: str) -> tuple[Chart | None, Chart | None]:
    """(assigned vs active per product, monthly waste), over the stored history."""
    if not series or max(len(points) for points in series.values()) < 2:
        return None, None
    biggest = sorted(series, key=lambda n: -max(p.assigned for p in series[n]))[:TOP_PRODUCTS]
    palette = ["#3949ab", "#00897b", "#8e24aa", "#f4511e", "#6d4c41", "#546e7a", "#c0ca33",
               "#d81b60"]
    usage = go.Figure()
    for color, name in zip(palette, biggest, strict=False):
        points = series[name]
        label = chart_label(name)
        days = [p.day.isoformat() for p in points]
        usage.add_scatter(x=days, y=[p.assigned for p in points], name=f"{label} assigned",
                          mode="lines", line=dict(color=color, width=2), legendgroup=label)
        usage.add_scatter(x=days, y=[p.active for p in points], name=f"{label} active",
                          mode="lines", line=dict(color=color, width=2, dash="dot"),
                          legendgroup=label)
    usage.update_layout(yaxis_title="licenses", hovermode="x unified")
    usage.update_yaxes(rangemode="tozero")

    totals: dict[str, float] = {}
    for points in series.values():
        for p in points:
            totals[p.day.isoformat()] = totals.get(p.day.isoformat(), 0.0) + p.monthly_waste
    days = sorted(totals)
    waste = go.Figure()
    waste.add_scatter(x=days, y=[round(totals[d], 2) for d in days], name="monthly waste",
                      mode="lines", fill="tozeroy", line=dict(color=COLORS["waste"], width=2))
    waste.update_layout(yaxis_title="waste per month", showlegend=False, hovermode="x")
    waste.update_yaxes(rangemode="tozero", tickprefix=chart_label(currency_prefix(currency)))
    return _fragment(usage, "chart-trend-usage", 360), _fragment(waste, "chart-trend-waste", 260)


def department_chart(rows: Sequence[DepartmentPositionDaily], currency: str) -> Chart | None:
    shown = [r for r in rows if r.monthly_cost or r.monthly_waste][:TOP_DEPARTMENTS]
    if not shown:
        return None
    labels = [chart_label(r.department or "(no department)") for r in shown][::-1]
    fig = go.Figure()
    series: list[tuple[str, list[Any]]] = [
        ("spend", [round(r.monthly_cost, 2) for r in shown][::-1]),
        ("waste", [round(r.monthly_waste, 2) for r in shown][::-1]),
    ]
    for name, values in series:
        fig.add_bar(y=labels, x=values, name=name, orientation="h", marker_color=COLORS[name],
                    hovertemplate="%{y}<br>" + name + ": %{x:,.2f}<extra></extra>")
    fig.update_layout(barmode="group", xaxis_title="per month")
    fig.update_xaxes(tickprefix=chart_label(currency_prefix(currency)))
    return _fragment(fig, "chart-departments", 120 + 40 * len(shown))
