"""The one place that composes the stages: collect, analyze (and propose), report, run, demo.

Every command that changes the store takes the job lock and keeps a Run record, so the run
history shows what happened even when a run was killed half-way.
"""

from __future__ import annotations

import logging
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path

from license_analyzer.config import Config, ProfileConfig, load_config
from license_analyzer.errors import ConfigError, ExitCode, LicenseAnalyzerError
from license_analyzer.store.db import Store
from license_analyzer.store.lock import JobLockHolder
from license_analyzer.store.open import open_configured_store
from license_analyzer.store.runs import RunRecorder

log = logging.getLogger(__name__)


def today_utc() -> date:
    return datetime.now(UTC).date()


def resolve_as_of(config: Config, as_of: date | None) -> date:
    return as_of or config.analysis.as_of or today_utc()


def reports_dir(config: Config, out: Path | None) -> Path:
    return out if out is not None else config.resolve(config.reports.dir)


@dataclass
class JobResult:
    exit_code: int
    report_path: Path | None
    run_id: int


def _collect(config: Config, store: Store, recorder: RunRecorder, profile: str | None,
             full: bool, now: datetime | None) -> int:
    """Collect every profile; returns the exit code the collection alone deserves."""
    from license_analyzer.sources.collect import collect

    with recorder.stage("collect") as entry:
        outcome = collect(config, store, config.profile(profile), full=full,
                          run_id=recorder.id, now=now)
        recorder.sources = {f"{s.profile}/{s.stream}/{s.partition}".rstrip("/"): asdict(s)
                            for s in outcome.streams}
        recorder.retries = sum(s.retries for s in outcome.streams)
        entry["status"] = outcome.status
        entry["records"] = sum(s.records for s in outcome.streams)
    for sentence in outcome.sign_in_required:  # who must run `login` again
        print(f"error: {sentence}", file=sys.stderr, flush=True)
    return int(outcome.exit_code)


def _analyze(config: Config, store: Store, recorder: RunRecorder, as_of: date) -> None:
    from license_analyzer.pipeline.analyze import analyze
    from license_analyzer.rules.propose import propose

    with recorder.stage("analyze") as entry:
        analysis = analyze(config, store, as_of, run_id=recorder.id)
        entry["users"] = analysis.users
        entry["assignments"] = analysis.assignments
    with recorder.stage("propose") as entry:
        proposed = propose(config, store, analysis.analysis_id, run_id=recorder.id)
        entry["candidates"] = proposed.candidates
        entry["monthly_saving"] = proposed.monthly_saving
        recorder.counts["candidates"] = proposed.candidates


def _report(config: Config, store: Store, recorder: RunRecorder, out: Path | None,
            as_of: date) -> Path:
    from license_analyzer.report.build import write_report

    with recorder.stage("report"):
        path = write_report(config, store, reports_dir(config, out), as_of, run_id=recorder.id)
        recorder.report_path = str(path)
    return path


def _finish(recorder: RunRecorder, code: int, error: str | None = None) -> None:
    """A run that failed in part but still wrote its report is partial, not failed."""
    if code == 0:
        status = "ok"
    elif code == ExitCode.PARTIAL or (error is None and recorder.report_path):
        status = "partial"
    else:
        status = "failed"
    recorder.finish(status, error)


@contextmanager
def _recorded(recorder: RunRecorder) -> Iterator[RunRecorder]:
    """Finish the run with the exit code it set, or as failed with the error that ended it."""
    try:
        yield recorder
    except LicenseAnalyzerError as exc:
        _finish(recorder, int(exc.exit_code), exc.message)
        raise
    except Exception as exc:
        _finish(recorder, int(ExitCode.BUG), f"{type(exc).__name__}: {exc}")
        raise
    _finish(recorder, recorder.exit_code)


def run_collect(config: Config, profile: str | None = None, full: bool = False,
                now: datetime | None = None) -> int:
    store = open_configured_store(config)
    with JobLockHolder(store), _recorded(RunRecorder(store, "collect", None)) as recorder:
        code = _collect(config, store, recorder, profile, full, now)
        recorder.exit_code = code
    return code


def run_analyze(config: Config, as_of: date | None = None) -> int:
    store = open_configured_store(config)
    day = resolve_as_of(config, as_of)
    with JobLockHolder(store), _recorded(RunRecorder(store, "analyze", day)) as recorder:
        _analyze(config, store, recorder, day)
    return 0


def run_report(config: Config, out: Path | None = None, as_of: date | None = None) -> Path:
    store = open_configured_store(config)
    day = resolve_as_of(config, as_of)
    with _recorded(RunRecorder(store, "report", day)) as recorder:
        return _report(config, store, recorder, out, day)


def job(config: Config, as_of: date | None = None, now: datetime | None = None,
        out: Path | None = None, trigger: str = "manual") -> JobResult:
    """The scheduled job: collect (all profiles), analyze, propose, report, alert.

    A failing collection does not stop the analysis of what the store already holds: the
    report then shows the stale sources, and the exit code says what failed.
    """
    from license_analyzer.notify import notify_after_run

    store = open_configured_store(config)
    day = resolve_as_of(config, as_of)
    with JobLockHolder(store):
        recorder = RunRecorder(store, "run", day, trigger=trigger)
        try:
            with _recorded(recorder):
                try:
                    recorder.exit_code = _collect(config, store, recorder, None, False, now)
                except LicenseAnalyzerError as exc:
                    log.error("collect failed: %s", exc.message)
                    recorder.exit_code = int(exc.exit_code)
                # analysis and report run on what the store holds; a failed collection (auth
                # 3, source 4, partial 5) still decides the exit code, so a cron wrapper sees it
                _confirm_pending(config, store, recorder)
                _compact_activity(store, recorder)
                _analyze(config, store, recorder, day)
                _report(config, store, recorder, out, day)
        finally:  # failed or not, alerts go out: a job that runs for years never fails silently
            notify_after_run(config, store, recorder.id)
    report = Path(recorder.report_path) if recorder.report_path else None
    return JobResult(exit_code=recorder.exit_code, report_path=report, run_id=recorder.id)


# Daily runs add a few activity files per source; past this many a profile's files are merged
# so scans stay fast (the next analysis then recomputes its rollup once).
COMPACT_AFTER_FILES = 500


def _compact_activity(store: Store, recorder: RunRecorder) -> None:
    from collections import Counter

    from license_analyzer.store.activity import compact, registered_files

    crowded = [p for p, n in Counter(f.profile for f in registered_files(store)).items()
               if n > COMPACT_AFTER_FILES]
    if not crowded:
        return
    with recorder.stage("compact") as entry:
        entry["files_merged"] = sum(compact(store, profile) for profile in crowded)


def _confirm_pending(config: Config, store: Store, recorder: RunRecorder) -> None:
    """Group removals are processed by Microsoft asynchronously: confirm them a run later."""
    from license_analyzer.rules.apply import confirm_pending

    with recorder.stage("confirm_applied") as entry:
        entry["confirmed"] = confirm_pending(config, store)


def run_job(config: Config, as_of: date | None = None) -> int:
    result = job(config, as_of)
    if result.report_path is not None:
        print(result.report_path)
    return result.exit_code


def _login_profile(config: Config, name: str | None) -> ProfileConfig:
    delegated = [p for p in config.profile(name) if p.auth == "delegated"]
    if name is not None and not delegated:
        raise ConfigError(f'Profile {name} does not sign in as a person; `login` is for '
                          'profiles with auth = "delegated".')
    if len(delegated) != 1:
        names = ", ".join(p.name for p in delegated)
        raise ConfigError(
            f"Several profiles sign in as a person ({names}); pick one with --profile."
            if delegated else 'No profile has auth = "delegated"; add one (see '
                              'config.example.toml) to sign in as a person.')
    return delegated[0]


def run_login(config: Config, profile: str | None = None,
              show: Callable[[str], None] | None = None) -> int:
    """The device-code sign-in of a delegated profile; then one silent token per Dynamics
    environment, to show now what a run would meet. 0 when every API answered, 3 otherwise.
    Each line goes to `show` (default: stdout), the code first."""
    from license_analyzer.sources.http import connect, resource_scope
    from license_analyzer.sources.http.delegated import DelegatedTokenProvider
    from license_analyzer.store.sign_in import stored_sign_in

    chosen = _login_profile(config, profile)
    store = open_configured_store(config)
    base = config.source_path.parent if config.source_path else None

    def shown(line: str) -> None:
        print(line, flush=True)

    show = show or shown
    with connect(chosen, base_dir=base, sign_in=stored_sign_in(store, chosen),
                 graph_writes=config.reclamation.enabled) as conn:
        tokens = conn.tokens
        assert isinstance(tokens, DelegatedTokenProvider)
        account = tokens.login(show)
        show(f"Signed in as {account} for profile {chosen.name}; the sign-in is stored "
             "encrypted in the database.")
        apis = [(f"Dataverse {env.url}", resource_scope(env.url)) for env in chosen.dataverse]
        apis += [(f"Finance & Operations {env.url}", resource_scope(env.url))
                 for env in chosen.finance_operations]
        if chosen.discover_environments:
            apis.append(("Power Platform admin API", conn.endpoints.power_platform_scope))
        failed = 0
        for label, scope in apis:
            try:
                tokens.token(scope)
            except LicenseAnalyzerError as exc:
                failed += 1
                show(f"{label}: {exc.message}")
            else:
                show(f"{label}: signed in.")
    return int(ExitCode.AUTH) if failed else int(ExitCode.OK)


DEMO_SIGNIN_REQUESTS_PER_10S = 100
DEMO_SIGNIN_ACTIVITY_REQUESTS_PER_MINUTE = 600


def _serve_demo(config: Config, info: dict[str, object], where: tuple[str, int],
                report: Path, echo: Callable[[str], object]) -> None:
    from license_analyzer.web.serve import serve

    people = info.get("web_people") or {}
    echo(f"Report: {report}")
    echo("Sign in on the simulated Microsoft Entra ID page (its certificate is the simulator's"
         f" own, from {info['ca_bundle']}: let the browser proceed on this loopback address).")
    for role, upn in dict(people).items():  # type: ignore[call-overload]
        echo(f"  {role}: {upn}")
    serve(config, open_configured_store(config), where[0], where[1],
          on_ready=lambda url: echo(f"Review app at {url}; Ctrl+C stops it."))


def _import_admin_center_export(config: Config, workdir: Path, text: str) -> None:
    """The demo imports the simulated admin center's F&O user license consumption CSV, as an
    administrator would, so the compliance section compares with Microsoft's own answer."""
    from license_analyzer.sources.admin_center_files import import_export

    export = workdir / "user-license-consumption.csv"
    export.write_text(text, encoding="utf-8")
    store = open_configured_store(config)
    try:
        import_export(store, export)
    finally:
        store.dispose()


def run_demo(users: int, seed: int, out: Path, as_of: date | None,
             serve: tuple[str, int] | None = None,
             echo: Callable[[str], object] = print) -> Path:
    """Start the simulated cloud in-process, run the whole job against it, return the report;
    with `serve` (host, port), then serve the review app over the demo's store, signed in
    through the simulated Entra ID, until interrupted."""
    from license_analyzer.simulator import Simulator, SimulatorOptions, write_config_file

    day = as_of or today_utc()
    now = datetime.now(UTC) if as_of is None else datetime.combine(day, time(6), tzinfo=UTC)
    workdir = Path(tempfile.mkdtemp(prefix="license-analyzer-demo-"))
    # The demo tenant's sign-in log and signInActivity allow more than Microsoft's 5 requests
    # per 10 s and 10 per minute, and the client paces to match, so the demo shows the whole
    # job in seconds rather than minutes.
    options = SimulatorOptions(
        users=users, seed=seed, now=now, signin_requests_per_10s=DEMO_SIGNIN_REQUESTS_PER_10S,
        signin_activity_requests_per_minute=DEMO_SIGNIN_ACTIVITY_REQUESTS_PER_MINUTE)
    with Simulator(options) as sim:
        config_path = workdir / "license-analyzer.toml"
        base_url = f"http://{serve[0]}:{serve[1]}" if serve else None
        write_config_file(sim.info, config_path, web_base_url=base_url,
                          route_to_manager=serve is not None)
        config = load_config(config_path)
        config = config.model_copy(update={
            "storage": config.storage.model_copy(update={
                "url": f"sqlite:///{workdir / 'demo.db'}"}),
            "profiles": [p.model_copy(update={
                "signin_requests_per_10s": DEMO_SIGNIN_REQUESTS_PER_10S,
                "signin_activity_requests_per_minute": DEMO_SIGNIN_ACTIVITY_REQUESTS_PER_MINUTE})
                for p in config.profiles],
        })
        log.info("demo: simulated tenant of %d users, store in %s", users, workdir)
        _import_admin_center_export(config, workdir, sim.admin_center_export())
        result = job(config, as_of=day, now=now, out=out.resolve())
        if serve is not None and result.report_path is not None:
            _serve_demo(config, sim.info, serve, result.report_path, echo)
    if result.report_path is None:
        raise LicenseAnalyzerError("The demo ran but wrote no report; see the log above.")
    return result.report_path
