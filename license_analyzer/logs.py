"""Logging set-up: one line per event on stderr, secrets redacted on every handler."""

from __future__ import annotations

import logging
import sys

from license_analyzer.redact import RedactingFilter


def configure_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    # the libraries' own chatter stays out unless asked for
    for noisy in ("httpx", "httpcore", "msal", "urllib3", "alembic", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.WARNING)
