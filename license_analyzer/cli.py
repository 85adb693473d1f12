"""The command line: a thin door into run.py and the stages. No logic lives here."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from license_analyzer.errors import ConfigError, ExitCode, LicenseAnalyzerError
from license_analyzer.logs import configure_logging
from license_analyzer.redact import redact
from license_analyzer.terminal import visible

if TYPE_CHECKING:
    from license_analyzer.config import Config

log = logging.getLogger("license_analyzer")

app = typer.Typer(
    help="Find unused Microsoft 365, Dynamics 365 and Power Apps licenses and take them back.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
candidates_app = typer.Typer(help="Review and carry out reclamation candidates.",
                             no_args_is_help=True)
rules_app = typer.Typer(help="The reclamation rules.", no_args_is_help=True)
catalog_app = typer.Typer(help="The packaged SKU catalog (Microsoft's product names CSV).",
                          no_args_is_help=True)
export_app = typer.Typer(help="Export collected data.", no_args_is_help=True)
compliance_app = typer.Typer(
    help="Finance & Operations license compliance per user: the license the security roles "
         "require against the Dynamics licenses held.")
app.add_typer(candidates_app, name="candidates")
app.add_typer(rules_app, name="rules")
app.add_typer(catalog_app, name="catalog")
app.add_typer(export_app, name="export")
app.add_typer(compliance_app, name="compliance")


class State:
    config_path: Path | None = None
    verbose: bool = False

    def config(self) -> Config:
        from license_analyzer.config import load_config  # pydantic: not for --help

        return load_config(self.config_path)


state = State()


class ListFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


class TextFormat(StrEnum):
    text = "text"
    json = "json"


def _as_of(value: str | None, config: Config | None = None) -> date | None:
    """--as-of wins, then [analysis] as_of, else None (today)."""
    if value is None:
        return config.analysis.as_of if config else None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"--as-of {value!r} is not a date; write it as YYYY-MM-DD.") from None


def _date(value: str | None, flag: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"{flag} {value!r} is not a date; write it as YYYY-MM-DD.") from None


ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", help="Config file (default: $LICENSE_ANALYZER_CONFIG, else "
                 "./license-analyzer.toml).", show_default=False),
]


@app.callback()
def main_options(
    config: ConfigOpt = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show details and debug logs.")]
    = False,
) -> None:
    state.config_path = config
    state.verbose = verbose
    configure_logging(verbose)


AsOfOpt = Annotated[str | None, typer.Option("--as-of", help="Fix 'today' (YYYY-MM-DD, UTC).")]
ProfileOpt = Annotated[str | None, typer.Option("--profile", help="Only this profile.")]


HostOpt = Annotated[str, typer.Option(help="Address the review app listens on.")]
PortOpt = Annotated[int, typer.Option(help="Port the review app listens on.")]


@app.command()
def demo(
    users: Annotated[int, typer.Option(help="Simulated users.")] = 2000,
    seed: Annotated[int, typer.Option(help="Seed of the simulated tenant.")] = 42,
    out: Annotated[Path, typer.Option(help="Report folder.")] = Path("reports"),
    as_of: AsOfOpt = None,
    serve: Annotated[bool, typer.Option("--serve", help="Then serve the review app over the "
                     "demo's store, signed in through the simulated Entra ID, until "
                     "interrupted.")] = False,
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 8080,
) -> None:
    """Run the whole job against a simulated Microsoft cloud and print the report path."""
    from license_analyzer.run import run_demo

    path = run_demo(users=users, seed=seed, out=out, as_of=_as_of(as_of),
                    serve=(host, port) if serve else None, echo=typer.echo)
    typer.echo(str(path))


@app.command()
def simulate(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0: any free port).")] = 0,
    users: Annotated[int, typer.Option(help="Simulated users.")] = 2000,
    seed: Annotated[int, typer.Option(help="Seed of the simulated tenant.")] = 42,
    now: Annotated[str | None, typer.Option(help="Fix the tenant's clock (ISO datetime).")] = None,
    latency_ms: Annotated[float, typer.Option(help="Added latency per request.")] = 0.0,
    fault_rate: Annotated[float, typer.Option(help="Share of requests that fail (0-1).")] = 0.0,
    time_scale: Annotated[float, typer.Option(help="Shrink every wait and window.")] = 1.0,
    write_config: Annotated[Path | None, typer.Option(help="Also write a config file here.")]
    = None,
) -> None:
    """Serve the simulated Microsoft cloud until interrupted; prints one JSON line when ready."""
    from license_analyzer.simulator import SimulatorOptions, serve_forever

    moment = datetime.now(UTC)
    if now is not None:
        try:
            moment = datetime.fromisoformat(now.replace("Z", "+00:00"))
        except ValueError:
            raise ConfigError(f"--now {now!r} is not an ISO datetime; write it like "
                              "2026-11-21T06:00:00Z.") from None
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    opts = SimulatorOptions(host=host, port=port, users=users, seed=seed, now=moment,
                            latency_ms=latency_ms, fault_rate=fault_rate, time_scale=time_scale)
    serve_forever(opts, write_config)


@app.command("serve")
def serve_command(host: HostOpt = "127.0.0.1", port: PortOpt = 8080) -> None:
    """Serve the review web app over the configured store; sign-in with Entra ID per [web]."""
    from license_analyzer.store.open import open_configured_store
    from license_analyzer.web.serve import serve

    config = state.config()
    serve(config, open_configured_store(config), host, port,
          on_ready=lambda where: typer.echo(f"Review app at {where}; Ctrl+C stops it."))


@app.command()
def doctor(
    profile: ProfileOpt = None,
    format: Annotated[TextFormat, typer.Option("--format", help="text or json.")]
    = TextFormat.text,
) -> None:
    """Check every profile's setup (token, permissions, endpoints, Dynamics-side registration)."""
    from license_analyzer.doctor import run_doctor

    raise typer.Exit(run_doctor(state.config(), profile, format.value))


@app.command()
def login(profile: ProfileOpt = None) -> None:
    """Sign a delegated profile in (device code: open the URL, enter the code); keeps its
    refresh token encrypted for every later command."""
    from license_analyzer.run import run_login

    raise typer.Exit(run_login(state.config(), profile))


@app.command()
def collect(
    profile: ProfileOpt = None,
    full: Annotated[bool, typer.Option("--full", help="Re-read everything, not only what is new.")]
    = False,
) -> None:
    """Pull from every source of the profile(s) into the store (incremental unless --full)."""
    from license_analyzer.run import run_collect

    raise typer.Exit(run_collect(state.config(), profile=profile, full=full))


@app.command()
def analyze(as_of: AsOfOpt = None) -> None:
    """Compute activity, usage and license position, then run the rules and store candidates."""
    from license_analyzer.run import run_analyze

    config = state.config()
    raise typer.Exit(run_analyze(config, as_of=_as_of(as_of, config)))


@app.command("run")
def run_command(as_of: AsOfOpt = None) -> None:
    """Collect, analyze, report: the scheduled job."""
    from license_analyzer.run import run_job

    config = state.config()
    raise typer.Exit(run_job(config, as_of=_as_of(as_of, config)))


@app.command()
def report(
    out: Annotated[Path | None, typer.Option(help="Report folder (default: [reports] dir).")]
    = None,
    as_of: AsOfOpt = None,
) -> None:
    """Write the HTML report and exports into DIR/<YYYY-MM-DD>/."""
    from license_analyzer.run import run_report

    config = state.config()
    path = run_report(config, out=out, as_of=_as_of(as_of, config))
    typer.echo(str(path))


@app.command()
def usage(
    format: Annotated[ListFormat, typer.Option("--format", help="table, json or csv.")]
    = ListFormat.table,
) -> None:
    """License position per SKU: purchased, assigned, active, inactive, waste."""
    from license_analyzer.output import print_rows
    from license_analyzer.pipeline.usage import usage_rows
    from license_analyzer.store.open import open_configured_store

    config = state.config()
    rows = usage_rows(open_configured_store(config), config)
    print_rows(rows, format.value, columns=[
        ("profile", "profile"), ("sku_part_number", "SKU"), ("purchased", "bought"),
        ("assigned", "assigned"), ("active", "active"), ("inactive", "inactive"),
        ("never_used", "never used"), ("in_grace", "grace"), ("no_data", "no data"),
        ("low_usage", "low use"), ("assignment_errors", "failed"),
        ("monthly_cost", "cost/mo"), ("monthly_waste", "waste/mo"),
        ("reducible_at_renewal", "cut at renewal"), ("next_renewal", "renewal")],
        title="License position")


StatusOpt = Annotated[str | None, typer.Option("--status", help="Only this status.")]


@candidates_app.command("list")
def candidates_list(
    status: StatusOpt = None,
    format: Annotated[ListFormat, typer.Option("--format", help="table, json or csv.")]
    = ListFormat.table,
) -> None:
    """List reclamation candidates."""
    from license_analyzer.output import print_rows
    from license_analyzer.rules.review import list_candidates
    from license_analyzer.store.open import open_configured_store

    config = state.config()
    rows = list_candidates(open_configured_store(config), status=status)
    print_rows(rows, format.value, columns=[
        ("id", "id"), ("profile", "profile"), ("user_principal_name", "user"),
        ("sku_part_number", "SKU"), ("rule", "rule"), ("action", "action"),
        ("days_inactive", "idle days"), ("monthly_saving", "saving/mo"), ("status", "status"),
        ("blocked_reason", "blocked because")], title="Reclamation candidates")


ByOpt = Annotated[str, typer.Option("--by", help="Who decides (kept with the decision).")]
NoteOpt = Annotated[str | None, typer.Option("--note", help="Why.")]


def _decide(decision: str, ids: list[str], by: str, note: str | None,
            until: date | None = None) -> None:
    from license_analyzer.rules.review import decide
    from license_analyzer.store.open import open_configured_store
    from license_analyzer.terminal import say

    config = state.config()
    for line in decide(open_configured_store(config), ids, decision, by=by, note=note,
                       until=until):
        say(line)


@candidates_app.command("approve")
def candidates_approve(ids: list[str], by: ByOpt, note: NoteOpt = None) -> None:
    """Approve candidates for `apply`."""
    _decide("approved", ids, by, note)


@candidates_app.command("reject")
def candidates_reject(ids: list[str], by: ByOpt, note: NoteOpt = None) -> None:
    """Reject candidates (not proposed again unless their evidence changes materially)."""
    _decide("rejected", ids, by, note)


@candidates_app.command("snooze")
def candidates_snooze(
    ids: list[str], by: ByOpt, note: NoteOpt = None,
    until: Annotated[str | None, typer.Option("--until", help="Until this date (YYYY-MM-DD).")]
    = None,
) -> None:
    """Put candidates aside until a date."""
    _decide("snoozed", ids, by, note, until=_date(until, "--until"))


@candidates_app.command("import")
def candidates_import(
    file: Annotated[Path, typer.Argument(help="An edited candidates.csv or candidates.xlsx.")],
    by: ByOpt,
) -> None:
    """Take in the decisions written into an exported candidates.csv / candidates.xlsx."""
    from license_analyzer.rules.review import import_decisions
    from license_analyzer.store.open import open_configured_store

    config = state.config()
    raise typer.Exit(import_decisions(open_configured_store(config), file, by=by))


@candidates_app.command("apply")
def candidates_apply(
    execute: Annotated[bool, typer.Option("--execute", help="Really change the tenant.")] = False,
) -> None:
    """Carry out approved reclamations through Microsoft Graph (a plan unless --execute)."""
    from license_analyzer.rules.apply import apply_candidates

    raise typer.Exit(apply_candidates(state.config(), execute=execute))


@candidates_app.command("restore")
def candidates_restore(ids: list[str]) -> None:
    """Undo applied reclamations from the recorded prior state."""
    from license_analyzer.rules.restore import restore_candidates

    raise typer.Exit(restore_candidates(state.config(), ids))


@rules_app.command("list")
def rules_list(
    format: Annotated[ListFormat, typer.Option("--format", help="table, json or csv.")]
    = ListFormat.table,
) -> None:
    """Each rule with its candidates and savings in the last run."""
    from license_analyzer.output import print_rows
    from license_analyzer.rules.listing import rules_summary
    from license_analyzer.store.open import open_configured_store

    config = state.config()
    rows = rules_summary(config, open_configured_store(config))
    print_rows(rows, format.value, columns=[
        ("rule", "rule"), ("description", "description"), ("products", "products"),
        ("action", "action"), ("candidates", "candidates"), ("monthly_saving", "saving/mo")],
        title="Rules")


@catalog_app.command("refresh")
def catalog_refresh(
    from_file: Annotated[Path | None, typer.Option("--from", help="A downloaded copy of "
                         "Microsoft's product names CSV.")] = None,
) -> None:
    """Replace the packaged SKU catalog with a newer copy of Microsoft's CSV."""
    from license_analyzer.catalog.refresh import refresh_catalog

    typer.echo(refresh_catalog(from_file))


class ExportFormat(StrEnum):
    parquet = "parquet"


@export_app.command("activity")
def export_activity(
    out: Annotated[Path, typer.Option("--out", help="Output file.")],
    format: Annotated[ExportFormat, typer.Option("--format", help="parquet.")]
    = ExportFormat.parquet,
) -> None:
    """One row per (profile, user_id, product, source, day) with that day's activity."""
    from license_analyzer.pipeline.export import export_activity as do_export
    from license_analyzer.store.open import open_configured_store

    config = state.config()
    rows = do_export(config, open_configured_store(config), out)
    typer.echo(f"{rows} rows written to {out}")


@compliance_app.callback(invoke_without_command=True)
def compliance(
    ctx: typer.Context,
    format: Annotated[ListFormat, typer.Option("--format", help="table, json or csv.")]
    = ListFormat.table,
) -> None:
    """Per user: required license (from security roles) vs held, status and monthly delta."""
    if ctx.invoked_subcommand is not None:
        return
    from license_analyzer.output import print_rows
    from license_analyzer.pipeline.fo_compliance import compute, contract_rows, flat
    from license_analyzer.store.open import open_configured_store

    config = state.config()
    store = open_configured_store(config)
    try:
        result = compute(config, store)
    finally:
        store.dispose()
    rows = contract_rows(result)
    if format.value == "json":
        print_rows(rows, "json")
        return
    print_rows(flat(rows), format.value, columns=[
        ("profile", "profile"), ("user_principal_name", "user"), ("status", "status"),
        ("required", "required"), ("assigned", "held"), ("driving_roles", "driving roles"),
        ("monthly_delta", "delta/mo"), ("source", "source"), ("disagreement", "disagreement")],
        title="Finance & Operations license compliance")
    if format.value == "table" and result.role_what_if:
        print_rows(result.role_what_if, "table", columns=[
            ("profile", "profile"), ("role", "role"), ("license", "needs"),
            ("holders", "holders"), ("licenses_saved", "licenses saved"),
            ("monthly_saving", "saving/mo")],
            title="What if the role only read (Team Members)")


@compliance_app.command("import")
def compliance_import(
    file: Annotated[Path, typer.Argument(help="The admin center's user license consumption "
                                              "CSV or the security object licenses export.")],
) -> None:
    """Keep a Microsoft admin-center export in the store (the newest of each kind counts)."""
    from license_analyzer.sources.admin_center_files import KIND_NAMES, import_export
    from license_analyzer.store.open import open_configured_store

    config = state.config()
    store = open_configured_store(config)
    try:
        record = import_export(store, file)
    finally:
        store.dispose()
    when = f", refreshed {record.refreshed_on:%Y-%m-%d %H:%M} UTC" if record.refreshed_on else ""
    typer.echo(f"Imported {file.name} as the {KIND_NAMES[record.kind]}: {record.row_count} "
               f"rows{when}.")


@app.command()
def schedule() -> None:
    """Run `run` on the cron of [schedule] until stopped."""
    from license_analyzer.scheduler import run_scheduler

    raise typer.Exit(run_scheduler(state.config()))


def main(argv: list[str] | None = None) -> None:
    """Entry point: every failure becomes one plain sentence and its exit code."""
    try:
        app(args=argv, prog_name="license-analyzer")  # usage errors print and exit 2 themselves
    except LicenseAnalyzerError as exc:
        if exc.detail:
            log.debug("detail: %s", exc.detail)
        typer.echo(visible(redact(f"error: {exc.message}")), err=True)
        sys.exit(int(exc.exit_code))
    except Exception as exc:
        if not _is_database_error(exc):
            _unexpected(exc)
        log.debug("database error: %s", exc)
        typer.echo("error: the database is locked by another process or cannot be reached;"
                   " check [storage] url and that no other program holds it, then run again.",
                   err=True)
        sys.exit(int(ExitCode.BUG))
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)


def _is_database_error(exc: Exception) -> bool:
    """The database went away or stayed locked mid-command. Looked up, not imported: a command
    that never opened the store (`--help`) need not load SQLAlchemy to rule it out."""
    sqlalchemy_exc = sys.modules.get("sqlalchemy.exc")
    return sqlalchemy_exc is not None and isinstance(exc, sqlalchemy_exc.OperationalError)


def _unexpected(exc: Exception) -> NoReturn:
    """A bug: say so plainly, the traceback goes to --verbose."""
    if state.verbose:
        log.exception("unexpected error")
    typer.echo(visible(redact(f"error: unexpected {type(exc).__name__}: {exc}; run again"
                              " with --verbose and report it.")), err=True)
    sys.exit(int(ExitCode.BUG))
