"""Tenant values are hostile until escaped: display names, departments and notes come from the
tenant, guests' names from outside it. Everything that leaves the report code passes here."""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import urlsplit

import orjson

# Inside <script type="application/json"> only `</script>` and `<!--` can end the block early;
# escaping every <, > and & (and the two JavaScript line separators older parsers choke on)
# leaves nothing to break out with, and JSON.parse reads the \u escapes back unchanged.
_SCRIPT_ESCAPES = {
    ord("<"): "\\u003c",
    ord(">"): "\\u003e",
    ord("&"): "\\u0026",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}

# A spreadsheet treats a cell starting with one of these as a formula (or DDE payload).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def script_json(value: Any) -> str:
    """JSON safe to place verbatim inside a <script type="application/json"> element."""
    text = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode("utf-8")
    return text.translate(_SCRIPT_ESCAPES)


def neutralize_cell(value: Any) -> Any:
    """A spreadsheet cell that can never run as a formula: risky text gets a leading quote."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def safe_http_url(value: Any) -> str | None:
    """The URL if it is plain http(s), else None: no javascript:, data: or relative tricks."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return text


def chart_label(value: Any) -> str:
    """A label for a Plotly figure. Plotly renders a subset of HTML in labels (<a href>, <b>),
    so tenant text is entity-escaped: Plotly shows the entities as the literal characters."""
    return html.escape("" if value is None else str(value), quote=True)
