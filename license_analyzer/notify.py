"""Alerts for a job that runs unattended for years: it must never fail silently.

Sent by webhook (JSON) and/or e-mail (SMTP) from [notify]: a failed or degraded run, a source
whose evidence will fall out of Microsoft's retention before the next run, a secret or
certificate about to expire. Each alert is sent once a day at most (AlertSent).
"""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage

import httpx
from sqlmodel import select

from license_analyzer.config import Config, NotifyConfig
from license_analyzer.redact import redact
from license_analyzer.store.db import Store, utcnow
from license_analyzer.store.models import AlertSent, Environment, Run, StreamState

log = logging.getLogger(__name__)

# How long Microsoft keeps what each incremental stream reads (days), when the store knows no
# better (Dataverse's own retention is read from the environment's audit settings).
SIGNIN_RETENTION_DAYS = 30
RETENTION_MARGIN = timedelta(days=2)


@dataclass(frozen=True)
class Alert:
    kind: str  # run_failed | run_degraded | retention | credential_expiry
    subject: str
    message: str

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.subject}"


def run_alerts(run: Run) -> list[Alert]:
    alerts: list[Alert] = []
    if run.status == "failed":
        alerts.append(Alert("run_failed", f"run {run.id}",
                            f"The license-analyzer {run.command} run {run.id} failed: "
                            f"{run.error or 'see the run history'}."))
    degraded = sorted(name for name, source in (run.sources or {}).items()
                      if isinstance(source, dict) and source.get("status") not in (None, "ok"))
    if run.status == "partial" or degraded:
        detail = ", ".join(degraded) or "see the run history"
        alerts.append(Alert("run_degraded", f"run {run.id}",
                            f"The license-analyzer {run.command} run {run.id} completed only in"
                            f" part; sources not ok: {detail}."))
    return alerts


def _parse_cursor(cursor: str | None) -> datetime | None:
    if not cursor:
        return None
    try:
        moment = datetime.fromisoformat(cursor.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else None


def retention_alerts(store: Store, now: datetime) -> list[Alert]:
    """Streams whose last collected moment will leave Microsoft's retention within two days."""
    alerts: list[Alert] = []
    with store.session() as session:
        states = list(session.exec(select(StreamState)).all())
        retention = {(e.profile, e.url): e.audit_retention_days
                     for e in session.exec(select(Environment)).all()}
    for state in states:
        reached = _parse_cursor(state.cursor)
        if reached is None:
            continue
        if state.stream.startswith("signin"):
            days = SIGNIN_RETENTION_DAYS
        elif "audit" in state.stream:
            kept = retention.get((state.profile, state.partition))
            if kept is None or kept < 0:
                continue
            days = kept
        else:
            continue
        lost_at = reached + timedelta(days=days)
        if now + RETENTION_MARGIN >= lost_at:
            alerts.append(Alert(
                "retention", f"{state.profile}/{state.stream}/{state.partition}".rstrip("/"),
                f"Evidence of {state.profile} {state.stream} {state.partition} collected up to"
                f" {reached:%Y-%m-%d %H:%M} UTC leaves Microsoft's {days}-day retention on"
                f" {lost_at:%Y-%m-%d}; fix the failing collection before then or it is lost."))
    return alerts


def _send_webhook(settings: NotifyConfig, alerts: list[Alert]) -> None:
    assert settings.webhook_url
    body = {
        "text": "\n".join(a.message for a in alerts),
        "alerts": [{"kind": a.kind, "subject": a.subject, "message": a.message} for a in alerts],
    }
    response = httpx.post(settings.webhook_url, json=body, timeout=15.0)
    response.raise_for_status()


def _send_mail(settings: NotifyConfig, alerts: list[Alert]) -> None:
    assert settings.smtp_host
    message = EmailMessage()
    message["Subject"] = f"license-analyzer: {len(alerts)} alert(s)"
    message["From"] = settings.smtp_from or "license-analyzer@localhost"
    message["To"] = ", ".join(settings.smtp_to)
    message.set_content("\n\n".join(a.message for a in alerts))
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=15) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_user and settings.smtp_password:
            smtp.login(settings.smtp_user, settings.smtp_password.get_secret_value())
        smtp.send_message(message)


def deliver(config: Config, store: Store, alerts: list[Alert]) -> list[Alert]:
    """Send the alerts not yet sent today; returns those sent. Delivery problems are logged."""
    settings = config.notify
    today = utcnow().date().isoformat()
    with store.session() as session:
        fresh = [a for a in alerts if session.get(AlertSent, f"{today}:{a.key}") is None]
    if not fresh:
        return []
    for alert in fresh:
        log.warning("alert: %s", alert.message)
    channels = []
    if settings.webhook_url:
        channels.append(("webhook", _send_webhook))
    if settings.smtp_host and settings.smtp_to:
        channels.append(("e-mail", _send_mail))
    delivered = not channels
    for name, send in channels:
        try:
            send(settings, fresh)
            delivered = True
        except (OSError, httpx.HTTPError, smtplib.SMTPException) as exc:
            log.error("could not send the alert by %s: %s", name, redact(str(exc)))
    if delivered:
        with store.session() as session:
            for alert in fresh:
                session.merge(AlertSent(key=f"{today}:{alert.key}", sent_at=utcnow()))
    return fresh


def credential_alerts(config: Config, now: datetime) -> list[Alert]:
    """Secrets and certificates expiring within the warning period (doctor's own check)."""
    from license_analyzer.doctor.graph_checks import credential_expiry
    from license_analyzer.doctor.result import Status
    from license_analyzer.errors import LicenseAnalyzerError
    from license_analyzer.sources.http import connect

    alerts: list[Alert] = []
    base = config.source_path.parent if config.source_path else None
    # only an app registration has a secret or certificate that expires
    for profile in (p for p in config.profiles if p.auth == "application"):
        found: list[tuple[str, Status, str, str]] = []

        def add(check: str, target: str, status: Status, message: str, fix: str,
                found: list[tuple[str, Status, str, str]] = found) -> None:
            found.append((target, status, message, fix))

        try:
            with connect(profile, base_dir=base) as conn:
                credential_expiry(conn, add, config, now)
        except LicenseAnalyzerError as exc:
            log.debug("credential expiry of %s not checked: %s", profile.name, exc.message)
            continue
        for target, status, message, fix in found:
            if status in (Status.WARNING, Status.FAILED) and message.startswith(("Expire",)):
                alerts.append(Alert("credential_expiry", f"{profile.name}/{target}",
                                    f"Profile {profile.name}: the {target} {message[0].lower()}"
                                    f"{message[1:]} {fix}"))
    return alerts


def notify_after_run(config: Config, store: Store, run_id: int,
                     extra: list[Alert] | None = None) -> list[Alert]:
    with store.session() as session:
        run = session.get(Run, run_id)
    now = utcnow()
    alerts = (run_alerts(run) if run else []) + retention_alerts(store, now) + (extra or [])
    if config.notify.webhook_url or config.notify.smtp_host:
        alerts += credential_alerts(config, now)
    return deliver(config, store, alerts)
