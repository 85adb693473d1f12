"""The pages that show: the report's sections, the candidate list and one candidate, the apply
plan (read-only: carrying it out stays in the CLI), and who may do what."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from license_analyzer.rules.apply import plan_rows
from license_analyzer.rules.candidate_page import (
    SORTS,
    CandidateQuery,
    candidate_page,
    reports_of,
)
from license_analyzer.rules.review import DECIDABLE, STATUSES, shown_decider
from license_analyzer.rules.writes import table_of
from license_analyzer.store.models import Candidate, Decision, DirectoryGroup
from license_analyzer.web import access
from license_analyzer.web.app import Web, show
from license_analyzer.web.guard import Refused, here
from license_analyzer.web.sessions import Session

# the list's tabs, and what a decision flashes back (never text from the request)
DONE = {"approved": "approved", "rejected": "rejected", "snoozed": "snoozed",
        "kept": "kept", "released": "released"}
PLAN_ROWS_SHOWN = 500


def overview(web: Web, request: Request, session: Session, form: Any) -> Response:
    return show(web, "web_overview.html", session, report=web.overview.report())


def _query(request: Request) -> CandidateQuery:
    p = request.query_params

    def number(name: str, default: int) -> int:
        try:
            return max(1, int(p.get(name, default)))
        except ValueError:
            return default

    try:
        min_saving = float(p["min_saving"]) if p.get("min_saving") else None
    except ValueError:
        min_saving = None
    status = p.get("status") or "proposed"
    sort = p.get("sort") or "saving"
    return CandidateQuery(
        status=status if status in STATUSES else "proposed",
        product=p.get("product") or None, rule=p.get("rule") or None,
        department=p.get("department") or None, action=p.get("action") or None,
        min_saving=min_saving, text=(p.get("q") or "").strip()[:200] or None,
        sort=sort if sort in SORTS else "saving",
        descending=p.get("dir", "desc") != "asc", page=number("page", 1))


def _reports(web: Web, session: Session) -> list[tuple[str, str]] | None:
    """A manager who may not see everything sees their own people only."""
    if access.only_manager(session.roles):
        assert session.object_id is not None
        return reports_of(web.store, session.object_id)
    return None


def flash(request: Request) -> str | None:
    done, count = request.query_params.get("done"), request.query_params.get("n", "")
    if done not in DONE or not count.isdigit():
        return None
    return f"{count} candidate{'' if count == '1' else 's'} {DONE[done]}."


def candidates(web: Web, request: Request, session: Session, form: Any) -> Response:
    query = _query(request)
    result = candidate_page(web.store, query, _reports(web, session))
    values: dict[str, Any] = dict(
        page=result, query=query, choices=web.overview.choices(), statuses=STATUSES,
        decidable=DECIDABLE, back=here(request), flash=flash(request), sorts=SORTS)
    if request.headers.get("hx-request") and request.headers.get("hx-target") == \
            "candidate-list":
        return show(web, "_web_candidate_list.html", session, **values)
    return show(web, "web_candidates.html", session, **values)


def candidate(web: Web, request: Request, session: Session, form: Any) -> Response:
    cid = str(request.path_params["id"])
    with web.store.session() as db:
        found = db.get(Candidate, cid)
        reports = _reports(web, session)
        if found is None or (reports is not None
                             and (found.profile, found.user_id) not in set(reports)):
            raise Refused(404, f"There is no candidate {cid}: a newer analysis may have"
                          " removed it, or the link is wrong. Go back to the list.")
        history = list(db.execute(
            select(table_of(Decision)).where(table_of(Decision).c.candidate_id == cid)
            .order_by(table_of(Decision).c.at.desc(), table_of(Decision).c.id.desc())
            .limit(200)).mappings())
        paths = [p for p in (found.assigned_via or "").split(",") if p]
        group_ids = [p.removeprefix("group:") for p in paths if p.startswith("group:")]
        names = dict(db.execute(select(table_of(DirectoryGroup).c.id,
                                       table_of(DirectoryGroup).c.display_name).where(
            table_of(DirectoryGroup).c.profile == found.profile,
            table_of(DirectoryGroup).c.id.in_(group_ids))).all()) if group_ids else {}
    return show(web, "web_candidate.html", session, c=found, history=history,
                paths=[(p, names.get(p.removeprefix("group:"))) for p in paths],
                decider=shown_decider(found.status, found.decided_by),
                decidable=found.status in DECIDABLE, back=request.query_params.get("back"),
                flash=flash(request), self_path=here(request))


def plan(web: Web, request: Request, session: Session, form: Any) -> Response:
    rows = plan_rows(web.config, web.store)
    return show(web, "web_plan.html", session, rows=rows[:PLAN_ROWS_SHOWN], total=len(rows),
                enabled=web.config.reclamation.enabled,
                max_per_run=web.config.reclamation.max_per_run)


def access_page(web: Web, request: Request, session: Session, form: Any) -> HTMLResponse:
    table = table_of(Decision)
    with web.store.engine.connect() as conn:
        people = conn.execute(
            select(table.c.by, table.c.by_object_id, func.count(), func.max(table.c.at))
            .where(table.c.by_object_id.is_not(None))
            .group_by(table.c.by, table.c.by_object_id)
            .order_by(func.max(table.c.at).desc()).limit(100)).all()
    return show(web, "web_access.html", session, web_config=web.config.web, people=people)
