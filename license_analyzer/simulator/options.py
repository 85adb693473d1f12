"""Knobs of the simulated cloud: size, clock, speed, faults and Microsoft's traps."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime


@dataclass(frozen=True)
class Traps:
    """Microsoft behaviours that surprise clients; each on by default, each switchable off."""

    short_pages: bool = True
    signin_activity_limits: bool = True
    consistency_level: bool = True
    sentinel_dates: bool = True
    none_error_strings: bool = True
    sku_id_case: bool = True
    signin_log_rules: bool = True
    late_audits: bool = True
    per_env_systemuserids: bool = True
    async_group_licensing: bool = True
    group_removal_refusals: bool = True
    # Group licences that outgrow the purchased seats end in state Error (CountViolation).
    group_license_errors: bool = True
    # Dynamics and F&O use seen only as non-interactive sign-ins (beta signInEventTypes).
    non_interactive_signins: bool = True
    # Subscriptions Suspended, LockedOut and trials ending inside the renewal horizon.
    subscription_lifecycle: bool = True
    # The standalone Entra ID P1 subscription is in its grace period (capabilityStatus Warning).
    p1_in_grace: bool = True
    # The Power Platform admin API lists environments over several pages (`nextLink`).
    bap_paging: bool = True
    # lastSuccessfulSignInDateTime is blank for successes before 2023-12-01 (not backfilled),
    # and some people last tried to sign in before that day.
    success_not_backfilled: bool = True


@dataclass(frozen=True)
class SimulatorOptions:
    users: int = 300
    seed: int = 7
    now: datetime = datetime(2026, 11, 21, 6, 0, tzinfo=UTC)
    host: str = "127.0.0.1"
    port: int = 0
    latency_ms: float = 0.0
    fault_rate: float = 0.0
    time_scale: float = 1.0
    dataverse_envs: int = 2
    fno_envs: int = 1
    token_lifetime_s: int = 3600
    # Delegated sign-in: the device code's life and polling interval (Microsoft: 15 min, 5 s),
    # and how long an unused refresh token lives (90 days of inactivity, on the tenant clock).
    device_code_lifetime_s: int = 900
    device_code_interval_s: int = 5
    refresh_token_inactive_days: int = 90
    audit_page_latency_ms: float = 0.0
    # Activity exists from now - history_days up to now + future_days, so advance() reveals more.
    history_days: int = 200
    future_days: int = 60
    traps: Traps = field(default_factory=Traps)
    # Limits, in unscaled seconds; time_scale shrinks the windows.
    graph_requests_per_10s: int = 8000
    signin_requests_per_10s: int = 5
    # GET signInActivity: 10 requests per minute per app per tenant (Graph throttling limits)
    signin_activity_requests_per_minute: int = 10
    bap_page_size: int = 2
    dataverse_requests_per_window: int = 6000
    dataverse_window_s: float = 300.0
    dataverse_concurrency: int = 52
    dataverse_execution_s: float = 1200.0
    group_processing_s: float = 5.0
    request_log_size: int = 20000
    server_threads: int = 0  # 0 = one thread per connection

    def scaled(self, seconds: float) -> float:
        return seconds * self.time_scale
