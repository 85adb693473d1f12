from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

from license_analyzer.config import Config, ReportsConfig


def report_config(currency: str = "USD", templates: Path | None = None) -> Config:
    return Config(reports=ReportsConfig(currency=currency, templates=templates))


class PageParser(HTMLParser):
    """Every element and attribute of a page, the text of each script, and figures by name."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.comments: list[str] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.figures: dict[str, str] = {}
        self._script: dict[str, str | None] | None = None
        self._script_text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))
        found = dict(attrs)
        if "data-figure" in found and found.get("data-value") is not None:
            self.figures[str(found["data-figure"])] = str(found["data-value"])
        if tag == "script":
            self._script = found
            self._script_text = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._script is not None:
            self.scripts.append((self._script, "".join(self._script_text)))
            self._script = None

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._script_text.append(data)

    def handle_comment(self, data: str) -> None:
        self.comments.append(data)


def parse_page(html: str) -> PageParser:
    parser = PageParser()
    parser.feed(html)
    parser.close()
    return parser
