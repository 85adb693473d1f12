"""One line of doctor's answer: which check, on what, how it went, and the fix."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum

from license_analyzer.redact import redact


class Status(StrEnum):
    OK = "ok"
    WARNING = "warning"  # works, but collection degrades or soon will
    FAILED = "failed"  # a setup step is missing: exit 3
    SKIPPED = "skipped"  # could not be checked because an earlier check failed


@dataclass(frozen=True)
class CheckResult:
    profile: str
    check: str  # token, permission, entra_p1, credential_expiry, reachable, application_user, ...
    target: str  # "graph", "graph User.Read.All", "dataverse https://...", ...
    status: Status
    message: str
    fix: str = ""

    def as_row(self) -> dict[str, str]:
        row = asdict(self)
        row["status"] = self.status.value
        return {k: redact(str(v)) for k, v in row.items()}
