"""The one Jinja2 environment of the report and the review app: autoescape on, a user's template
folder before the packaged ones.

The environment is sandboxed: a template from the `[reports] templates` folder is text anyone
with write access to that folder wrote, and an ordinary Jinja2 environment lets it reach
Python's internals (`{{ cycler.__init__.__globals__ }}`, then `os`). The sandbox refuses every
underscore attribute and unsafe call; the packaged templates need none.
"""

from __future__ import annotations

import functools
from datetime import date, datetime
from pathlib import Path
from typing import Any

import plotly.offline
from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    StrictUndefined,
    select_autoescape,
)
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from license_analyzer.errors import ConfigError
from license_analyzer.report.formatting import money
from license_analyzer.report.safety import safe_http_url, script_json


def number(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


def day(value: date | datetime | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    return value.isoformat()


def json_script(value: Any) -> Markup:
    """Data for a <script type="application/json"> block; script_json escapes < > & itself."""
    return Markup(script_json(value))  # escaped for this context


@functools.cache
def plotly_js() -> Markup:
    """plotly.js, inlined once per page so the report opens with no network."""
    return Markup(plotly.offline.get_plotlyjs())


@functools.cache
def report_environment(override: Path | None = None) -> Environment:
    loaders: list[Any] = []
    if override is not None:
        loaders.append(FileSystemLoader(str(override)))
    loaders.append(PackageLoader("license_analyzer.report", "templates"))
    # the review app's pages (web_*.html) beside the report's, overridable the same way
    loaders.append(PackageLoader("license_analyzer.web", "templates"))
    env: Environment = SandboxedEnvironment(
        loader=ChoiceLoader(loaders),
        autoescape=select_autoescape(enabled_extensions=("html", "js", "css"),
                                     default_for_string=True, default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(money=money, number=number, percent=percent, day=day,
                       json_script=json_script, http_url=safe_http_url)
    env.globals["plotly_js"] = plotly_js
    return env


def render(template: str, override: Path | None, **context: Any) -> str:
    try:
        return report_environment(override).get_template(template).render(**context)
    except SecurityError as exc:
        raise ConfigError(f"A report template in {override} tried something templates may not"
                          f" do ({exc}); templates may use the report's data and filters only:"
                          " fix or remove it.", detail=str(exc)) from None
