"""Secrets never reach a log, a report, the database or an error (dlt's sanitize_url).

Registered values are masked wherever they appear: in messages, in log records and in the
tracebacks logged with them. The config registers every secret-bearing value as soon as the
file is parsed, before validation, so even an error about the profile that holds a secret
cannot show it.
"""

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
        re.compile(r"(?i)(client_secret|client_assertion|password|passphrase|access_token|"
                   r"refresh_token|session_secret|token_cache_key)"
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


def register_url_secrets(url: str | None) -> None:
    """A URL whose path and query carry a token (webhooks): both are masked from now on."""
    if not url:
        return
    parts = urlsplit(url)
    if len(parts.path) > 1:
        register_secret(parts.path)
    register_secret(parts.query)


def url_origin(url: str) -> str:
    """Only scheme://host[:port]: how a secret-bearing URL is named in a message."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}"


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
    """Applied to every handler: the formatted message is redacted once, args folded in, and
    the traceback and stack logged with it are formatted and redacted here, before any
    formatter writes them."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
