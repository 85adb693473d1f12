"""Alerts for a job that runs unattended for years: it must never fail silently.

Sent by webhook (JSON) and/or e-mail (SMTP) from [notify]: a failed or degraded run, a source
whose evidence will fall out of Microsoft's retention before the next run, a secret or
certificate about to expire. Each alert is sent once a day at most (AlertSent).

The webhook goes through the project's own HTTP client (https except to loopback, no proxy or
CA from the environment) and is named in logs by its host only: its path and query carry the
token. Mail is sent over verified TLS (the system's roots plus [notify] ca_bundle), STARTTLS
or implicit TLS on port 465; a password never travels unencrypted unless the config says so.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import httpx
from sqlmodel import select

from license_analyzer.config import Config
from license_analyzer.redact import redact, url_origin
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


class DeliveryError(OSError):
    """An alert channel refused or failed; the message names no secret."""


def _ca_bundle(config: Config) -> Path | None:
    bundle = config.notify.ca_bundle
    return config.resolve(bundle) if bundle is not None else None


def _send_webhook(config: Config, alerts: list[Alert]) -> None:
    from license_analyzer.sources.http import plain_client

    url = config.notify.webhook_url
    assert url
    body = {
        "text": "\n".join(a.message for a in alerts),
        "alerts": [{"kind": a.kind, "subject": a.subject, "message": a.message} for a in alerts],
    }
    try:
        with plain_client(ca_bundle=_ca_bundle(config), proxy=config.notify.proxy) as client:
            response = client.post(url, json=body)
    except httpx.HTTPError as exc:
        raise DeliveryError(f"{url_origin(url)} could not be reached ({type(exc).__name__})"
                            ) from None
    if response.is_error or response.is_redirect:
        raise DeliveryError(f"{url_origin(url)} answered HTTP {response.status_code}")


def _tls(config: Config) -> ssl.SSLContext:
    """The system's trusted roots plus [notify] ca_bundle; hostname and chain verified."""
    context = ssl.create_default_context()
    bundle = _ca_bundle(config)
    if bundle is not None:
        context.load_verify_locations(cafile=str(bundle))
    return context


def _send_mail(config: Config, alerts: list[Alert]) -> None:
    settings = config.notify
    assert settings.smtp_host
    message = EmailMessage()
    message["Subject"] = f"license-analyzer: {len(alerts)} alert(s)"
    message["From"] = settings.smtp_from or "license-analyzer@localhost"
    message["To"] = ", ".join(settings.smtp_to)
    message.set_content("\n\n".join(a.message for a in alerts))
    tls = settings.smtp_tls
    smtp = (smtplib.SMTP_SSL(settings.smtp_host, settings.smtp_port, timeout=15,
                             context=_tls(config)) if tls == "implicit"
            else smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=15))
    with smtp:
        if tls == "starttls":
            smtp.starttls(context=_tls(config))  # fails when the server does not offer it
        if settings.smtp_user and settings.smtp_password:
            if tls is None and not settings.smtp_allow_plaintext_password:
                raise DeliveryError("the SMTP password would travel unencrypted; set"
                                    " smtp_starttls = true or use port 465")
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
            send(config, fresh)
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
