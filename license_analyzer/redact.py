"""Secrets never reach a log, a report, the database or an error (dlt's sanitize_url)."""

from __future__ import annotations

import logging
import re
import threading
from urllib.parse import urlsplit, urlunsplit

_lock = threading.Lock()
_secrets: set[str] = set()

_PATTERNS = [
    # bearer tokens and JWTs
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1***"),
    (re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"), "***"),
    # form and query fields that carry credentials
    (
        re.compile(r"(?i)(client_secret|client_assertion|password|access_token|refresh_token)"
                   r"([\"']?\s*[=:]\s*[\"']?)[^&\"'\s,}]+"),
        r"\1\2***",
    ),
    # user:password@ in URLs
    (re.compile(r"(?i)([a-z][a-z0-9+.-]*://[^/\s:@]+:)[^@/\s]+@"), r"\1***@"),
]


def register_secret(value: str | None) -> None:
    """Remember a secret value so that it is masked wherever it shows up."""
    if value and len(value) >= 4:
        with _lock:
            _secrets.add(value)


def redact(text: str) -> str:
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def sanitize_url(url: str) -> str:
    """Drop credentials from a URL (database URLs, proxies) before showing it."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


class RedactingFilter(logging.Filter):
    """Applied to every handler: the formatted message is redacted once, args folded in."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True
