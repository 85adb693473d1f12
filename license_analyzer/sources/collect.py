"""`collect`: pull every source of the given profiles into the store.

Per profile, the streams run in dependency order (organization before users, systemusers
before audits, users before F&O matching). A stream that fails is recorded and the others go
on; one failing profile does not stop the next. Each stream's outcome (records, pages,
retries, throttling waits, duration) is returned for run history.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial

from license_analyzer.config import Config, ProfileConfig
from license_analyzer.errors import AuthError, ExitCode, LicenseAnalyzerError
from license_analyzer.redact import redact
from license_analyzer.sources import (
    audits,
    dataverse,
    dataverse_security,
    environments,
    fno,
    fno_security,
    graph_managers,
    graph_tenant,
    graph_users,
    usage_reports,
)
from license_analyzer.sources import signins as signin_log
from license_analyzer.sources.context import Clients, Context, Degraded, Ticker, Tuning
from license_analyzer.sources.http.aadsts import SignInRequired
from license_analyzer.sources.http.errors import NoPremiumLicense
from license_analyzer.sources.http.retry import ThrottledTooLong
from license_analyzer.sources.pacing import TokenBucket
from license_analyzer.sources.progress import Display, display
from license_analyzer.sources.state import save_state
from license_analyzer.store.activity import cleanup_orphans
from license_analyzer.store.db import Store
from license_analyzer.store.sign_in import stored_sign_in

log = logging.getLogger(__name__)


@dataclass
class StreamOutcome:
    profile: str
    stream: str
    partition: str
    status: str  # ok | partial | degraded | failed
    records: int = 0
    pages: int = 0
    retries: int = 0
    waited_s: float = 0.0
    duration_s: float = 0.0
    message: str | None = None
    auth_failure: bool = False

    @property
    def key(self) -> str:
        return "/".join(p for p in (self.profile, self.stream, self.partition) if p)

    def as_dict(self) -> dict[str, object]:
        return {"status": self.status, "records": self.records, "pages": self.pages,
                "retries": self.retries, "waited_s": round(self.waited_s, 3),
                "duration_s": round(self.duration_s, 3), "message": self.message}


@dataclass
class CollectOutcome:
    streams: list[StreamOutcome] = field(default_factory=list)
    # a delegated profile's stored sign-in gave no token: who must run `login` again
    sign_in_required: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        if not self.streams:
            return "ok"
        failed = [s for s in self.streams if s.status == "failed"]
        if len(failed) == len(self.streams):
            return "failed"
        if failed or any(s.status == "partial" for s in self.streams):
            return "partial"
        return "ok"

    @property
    def exit_code(self) -> int:
        if self.sign_in_required:  # nothing mends it but a person: say so, whatever else ran
            return int(ExitCode.AUTH)
        status = self.status
        if status == "ok":
            return int(ExitCode.OK)
        if status == "partial":
            return int(ExitCode.PARTIAL)
        if all(s.auth_failure for s in self.streams):
            return int(ExitCode.AUTH)
        return int(ExitCode.SOURCE)

    def needs_sign_in(self, exc: SignInRequired) -> None:
        sentence = redact(exc.message)
        if sentence not in self.sign_in_required:  # several streams meet the same refusal
            self.sign_in_required.append(sentence)

    @property
    def retries(self) -> int:
        return sum(s.retries for s in self.streams)

    def as_dict(self) -> dict[str, object]:
        """For Run.sources: "profile/stream/partition" -> counts and status."""
        return {s.key: s.as_dict() for s in self.streams}


Collector = Callable[[Ticker], str | None]


class ProfileRun:
    """Runs one profile's streams, each guarded so that its failure stays its own."""

    def __init__(self, ctx: Context, screen: Display, outcome: CollectOutcome) -> None:
        self.ctx = ctx
        self.screen = screen
        self.outcome = outcome

    def stream(self, stream: str, partition: str, collector: Collector) -> StreamOutcome:
        key = "/".join(p for p in (self.ctx.name, stream, partition) if p)
        # retries and waits are the connection's deltas during the stream: streams that run
        # side by side (environments, the sign-in log) share them approximately
        stats = self.ctx.clients.stats
        retries0, waited0 = stats.retries, stats.waited_s
        ticker = self.screen.start(key)
        started = time.monotonic()
        status, message, auth = "ok", None, False
        try:
            message = collector(ticker)
        except ThrottledTooLong as exc:
            status, message = "partial", exc.message
        except (Degraded, NoPremiumLicense) as exc:
            status, message = "degraded", exc.message
        except AuthError as exc:
            status, message, auth = "failed", exc.message, True
            log.debug("%s: %s", key, exc.detail)
            if isinstance(exc, SignInRequired):
                self.outcome.needs_sign_in(exc)
        except LicenseAnalyzerError as exc:
            status, message = "failed", exc.message
            log.debug("%s: %s", key, exc.detail)
        except Exception as exc:  # a bug in one stream must not lose the others
            status, message = "failed", f"{stream} failed unexpectedly ({type(exc).__name__})."
            log.exception("%s failed", key)
        result = StreamOutcome(
            profile=self.ctx.name, stream=stream, partition=partition, status=status,
            records=ticker.records, pages=ticker.pages, retries=stats.retries - retries0,
            waited_s=stats.waited_s - waited0, duration_s=time.monotonic() - started,
            message=redact(message) if message else None, auth_failure=auth)
        if status != "ok":
            self._remember(stream, partition, status, result.message)
        self.screen.finish(key, ticker, status, _summary(result))
        self.outcome.streams.append(result)
        return result

    def _remember(self, stream: str, partition: str, status: str, message: str | None) -> None:
        try:
            with self.ctx.store.session() as session:
                save_state(session, self.ctx.name, stream, partition, status=status,
                           message=message)
        except Exception:  # the outcome still carries it
            log.exception("could not record the state of %s", stream)

    def run(self) -> None:
        ctx = self.ctx
        environments.configured(ctx)
        self.stream("organization", "", lambda t: graph_tenant.collect_organization(ctx, t))
        self.stream("subscribed_skus", "", lambda t: graph_tenant.collect_skus(ctx, t))
        self.stream("subscriptions", "", lambda t: graph_tenant.collect_subscriptions(ctx, t))
        self.stream("groups", "", lambda t: graph_tenant.collect_groups(ctx, t))
        if ctx.has_p1 is None:
            ctx.has_p1 = graph_tenant.known_p1(ctx)
        self.stream("users", "", lambda t: graph_users.collect_users(ctx, t))
        # Microsoft 365 workload use (Reports.Read.All): after users, whose UPNs it matches
        self.stream(usage_reports.STREAM, "",
                    lambda t: usage_reports.collect_usage_reports(ctx, t))
        if ctx.config.web.route_to_manager:
            self.stream("managers", "", lambda t: graph_managers.collect_managers(ctx, t))
        if ctx.profile.discover_environments:
            self.stream("environments", "", lambda t: environments.discover(ctx, t))
        # The sign-in log, each Dataverse and each F&O environment have service limits of
        # their own, so they run side by side; the slow sign-in log no longer delays the rest.
        chains: list[Callable[[], None]] = [self._signin_log]
        chains += [partial(self._dataverse, url) for url in ctx.dataverse_urls]
        chains += [partial(self._finance_operations, url) for url in ctx.fno_urls]
        with ThreadPoolExecutor(max_workers=len(chains), thread_name_prefix="source") as pool:
            for future in [pool.submit(chain) for chain in chains]:
                future.result()

    def _signin_log(self) -> None:
        bucket = signin_log.signin_bucket(self.ctx)
        for source in signin_log.RESOURCES:
            self.stream("signins", source, partial(_signins, self.ctx, source, bucket))

    def _dataverse(self, url: str) -> None:
        ctx = self.ctx
        env = self.stream("dataverse_organization", url,
                          partial(_per_env, dataverse.collect_environment, ctx, url))
        users = self.stream("systemusers", url,
                            partial(_per_env, dataverse.collect_systemusers, ctx, url))
        if env.auth_failure or users.auth_failure:
            return  # the app cannot get into this environment: the audit would fail too
        self.stream(audits.SOURCE, url, partial(_per_env, audits.collect_audits, ctx, url))
        # Team Members holders writing restricted tables (license compliance, issue 21)
        self.stream(dataverse_security.STREAM, url,
                    partial(_per_env, dataverse_security.collect_restricted_writes, ctx, url))

    def _finance_operations(self, url: str) -> None:
        users = self.stream("fno_users", url,
                            partial(_per_env, fno.collect_fno_users, self.ctx, url))
        if users.auth_failure:
            return  # the app cannot get into this environment at all
        # security roles and who holds them: the license each user requires (issue 21)
        self.stream("fno_security_roles", url,
                    partial(_per_env, fno_security.collect_security_roles, self.ctx, url))
        self.stream("fno_user_roles", url,
                    partial(_per_env, fno_security.collect_user_roles, self.ctx, url))


def _per_env(fn: Callable[[Context, Ticker, str], str | None], ctx: Context, url: str,
             ticker: Ticker) -> str | None:
    return fn(ctx, ticker, url)


def _signins(ctx: Context, source: str, bucket: TokenBucket,
             ticker: Ticker) -> str | None:
    return signin_log.collect_signins(ctx, ticker, source, bucket)


def _summary(s: StreamOutcome) -> str:
    text = (f"{s.records:,} records in {s.pages:,} pages, {s.duration_s:.1f} s, "
            f"{s.retries} retries, waited {s.waited_s:.1f} s")
    return f"{text}: {s.message}" if s.message else text


def collect(config: Config, store: Store, profiles: list[ProfileConfig], *, full: bool = False,
            run_id: int | None = None, progress: bool | None = None,
            now: datetime | None = None, tuning: Tuning | None = None,
            clients: Callable[[ProfileConfig], Clients] | None = None) -> CollectOutcome:
    """Collect every profile into the store; the outcome says what each stream did.

    `now` is the run's start (cursors never pass it; default: the current UTC time).
    `tuning` and `clients` are for tests and benchmarks (a time-scaled simulator, mock
    transports); run.py passes neither.
    """
    started = (now or datetime.now(UTC)).astimezone(UTC)
    knobs = tuning or Tuning()
    cleanup_orphans(store)
    outcome = CollectOutcome()
    for profile in profiles:
        connection: Clients | None = None
        try:
            connection = (clients(profile) if clients is not None
                          else _connect(config, profile, knobs, store))
            # a sign-in that is gone stops the profile in one sentence, not one per stream
            connection.check_sign_in()
        except LicenseAnalyzerError as exc:
            if connection is not None:
                connection.close()
            outcome.streams.append(StreamOutcome(
                profile=profile.name, stream="connect", partition="", status="failed",
                message=redact(exc.message), auth_failure=isinstance(exc, AuthError)))
            if isinstance(exc, SignInRequired):  # the caller says it, as the command's error
                outcome.needs_sign_in(exc)
            else:
                log.warning("%s: %s", profile.name, exc.message)
            continue
        ctx = Context(config=config, store=store, profile=profile, clients=connection,
                      now=started, run_id=run_id, full=full, tuning=knobs)
        try:
            with display(progress, lambda c=connection: c.stats.waited_s) as screen:
                ProfileRun(ctx, screen, outcome).run()
        finally:
            connection.close()
    return outcome


def _connect(config: Config, profile: ProfileConfig, tuning: Tuning, store: Store) -> Clients:
    from license_analyzer.sources.http import connect

    base = config.source_path.parent if config.source_path else None
    # one pool per environment client, as wide as the audit concurrency
    return connect(profile, concurrency=profile.audit_concurrency, max_wait_s=tuning.max_wait_s,
                   timeout_s=tuning.timeout_s, base_dir=base,
                   sign_in=stored_sign_in(store, profile))
