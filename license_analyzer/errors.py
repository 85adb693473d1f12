"""One small error hierarchy whose kind picks the exit code (CONTRACT.md).

Every error carries two messages: `message`, one plain sentence for the operator that names the
fix, and `detail`, for the log. Both are redacted before they are shown.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    BUG = 1
    USAGE = 2
    AUTH = 3
    SOURCE = 4
    PARTIAL = 5


class LicenseAnalyzerError(Exception):
    exit_code: ExitCode = ExitCode.BUG

    def __init__(self, message: str, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class ConfigError(LicenseAnalyzerError):
    """Bad usage or bad configuration: the operator must edit a file or a flag."""

    exit_code = ExitCode.USAGE


class AuthError(LicenseAnalyzerError):
    """A token could not be had, or a permission is missing."""

    exit_code = ExitCode.AUTH


class SourceError(LicenseAnalyzerError):
    """A source failed after retries."""

    exit_code = ExitCode.SOURCE


class PartialError(LicenseAnalyzerError):
    """Some profile or source failed; the rest completed."""

    exit_code = ExitCode.PARTIAL


class StoreError(LicenseAnalyzerError):
    """The database cannot be reached, is locked, or is from a newer version."""

    exit_code = ExitCode.BUG


class NotImplementedYet(LicenseAnalyzerError):
    """A command whose issue is not done yet."""

    exit_code = ExitCode.BUG
