"""The app's own scripts and styles, served from the package: nothing from a CDN.

htmx (htmx.min.js, 2.0.11, BSD Zero Clause, from the npm registry's htmx.org package) swaps
the candidate list when a filter changes; app.js draws the charts and ticks checkboxes;
plotly.js comes from the installed plotly package; report.css is the report's own stylesheet,
read through the template environment so a deployment's override applies here too.
"""

from __future__ import annotations

import functools
from pathlib import Path

import plotly
from starlette.requests import Request
from starlette.responses import Response

from license_analyzer.report.render import plotly_js, report_environment
from license_analyzer.web.app import Web

FILES = Path(__file__).with_name("static")
TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
OWN = ("htmx.min.js", "app.js", "web.css")
# a new version of the package means new URLs (?v=), so browsers may keep these a day
CACHE = "public, max-age=86400"
VERSION = plotly.__version__


@functools.cache
def _file(name: str) -> bytes:
    return (FILES / name).read_bytes()


@functools.cache
def _report_css(templates: Path | None) -> bytes:
    source, _, _ = report_environment(templates).loader.get_source(  # type: ignore[union-attr]
        report_environment(templates), "report.css")
    return source.encode("utf-8")


async def serve_static(request: Request) -> Response:
    web: Web = request.app.state.web
    name = str(request.path_params["name"])
    if name in OWN:
        body = _file(name)
    elif name == "report.css":
        body = _report_css(web.templates)
    elif name == "plotly.min.js":
        body = str(plotly_js()).encode("utf-8")
    else:
        return Response("Not found", status_code=404, media_type="text/plain")
    return Response(body, media_type=TYPES[Path(name).suffix],
                    headers={"cache-control": CACHE})
