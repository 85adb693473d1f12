"""Request and response values passed between the HTTP server and the handlers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson


@dataclass
class Request:
    method: str
    path: str
    raw_query: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    base_url: str

    @property
    def path_with_query(self) -> str:
        return f"{self.path}?{self.raw_query}" if self.raw_query else self.path

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    drop: bool = False


def json_response(
    status: int,
    obj: Any,
    headers: list[tuple[str, str]] | None = None,
    content_type: str = "application/json; charset=utf-8",
) -> Response:
    hdrs = [("Content-Type", content_type)] + list(headers or [])
    return Response(status, orjson.dumps(obj), hdrs)


def fmt_seconds(value: float) -> str:
    """Retry-After as Microsoft writes it: whole seconds, or fractional like '2.128'."""
    if value >= 1 and abs(value - round(value)) < 1e-9:
        return str(int(round(value)))
    return f"{max(value, 0.001):.3f}".rstrip("0").rstrip(".")
