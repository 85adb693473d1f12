"""Deciding: approve, reject with a reason, snooze until a date; one candidate or a selection.

The decision goes through rules/review.py decide(), as the CLI's does, with the signed-in
person's UPN and object id, and bound to what the page showed: each candidate's version and
evidence hash come back with the form, and decide() records nothing if one of them changed
meanwhile (someone else decided it, or a new analysis changed its evidence). A manager who is
not a reviewer keeps (rejects, with a reason) or releases (approves) their own people's
candidates only.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from license_analyzer.errors import ConfigError
from license_analyzer.rules.candidate_page import reports_of
from license_analyzer.rules.review import decide
from license_analyzer.rules.versioning import DecisionConflict
from license_analyzer.rules.writes import table_of
from license_analyzer.store.db import utcnow
from license_analyzer.store.models import Candidate
from license_analyzer.web import access
from license_analyzer.web.app import Web
from license_analyzer.web.guard import Refused, local_path
from license_analyzer.web.sessions import Session

REVIEWER = {"approve": "approved", "reject": "rejected", "snooze": "snoozed"}
MANAGER = {"keep": "rejected", "release": "approved"}
NEEDS_REASON = ("reject", "keep")
MAX_SELECTION = 500
MAX_NOTE = 2000


def _choice(session: Session, word: str) -> str:
    """The decision the button asks for, if this person may take it."""
    if access.can_decide(session.roles) and word in REVIEWER:
        return REVIEWER[word]
    if access.MANAGER in session.roles and word in MANAGER:
        return MANAGER[word]
    if access.can_decide(session.roles) or access.MANAGER in session.roles:
        raise Refused(400, "That is not a decision this page offers; use its buttons.")
    raise Refused(403, "Only reviewers decide on candidates; you may look but not decide."
                  " Nothing was changed.")


def _until(form: Any) -> date:
    text = str(form.get("until") or "")
    try:
        until = date.fromisoformat(text)
    except ValueError:
        raise Refused(400, "A snooze needs the day the candidates come back (YYYY-MM-DD);"
                      " nothing was changed.") from None
    if until <= utcnow().date():
        raise Refused(400, "A snooze must end after today; pick a later day. Nothing was"
                      " changed.")
    return until


def _shown(form: Any, ids: list[str]) -> tuple[dict[str, int], dict[str, str]]:
    """The version and evidence hash of each candidate as the page showed them."""
    versions: dict[str, int] = {}
    evidence: dict[str, str] = {}
    for cid in ids:
        version, _, evidence_hash = str(form.get(f"shown-{cid}") or "").partition(":")
        if not version.isdigit() or not evidence_hash:
            raise Refused(400, f"The page did not say what it showed of {cid}; reload it and"
                          " decide again. Nothing was changed.")
        versions[cid], evidence[cid] = int(version), evidence_hash
    return versions, evidence


def _mine(web: Web, session: Session, ids: list[str]) -> None:
    """A manager who is not a reviewer decides on their own people's candidates only."""
    if access.can_decide(session.roles):
        return
    assert session.object_id is not None
    reports = set(reports_of(web.store, session.object_id))
    table = table_of(Candidate)
    with web.store.engine.connect() as conn:
        owners = conn.execute(table.select().with_only_columns(
            table.c.id, table.c.profile, table.c.user_id).where(table.c.id.in_(ids))).all()
    if any((profile, user_id) not in reports for _, profile, user_id in owners):
        raise Refused(403, "You may decide only on the candidates of people who report to"
                      " you; nothing was changed.")


def decide_view(web: Web, request: Request, session: Session, form: Any) -> Response:
    ids = list(dict.fromkeys(str(v) for v in form.getlist("id") if v))
    if not ids:
        raise Refused(400, "Select at least one candidate, then choose what to do.")
    if len(ids) > MAX_SELECTION:
        raise Refused(400, f"Decide on at most {MAX_SELECTION} candidates at once.")
    word = str(form.get("decision") or "")
    decision = _choice(session, word)
    note = str(form.get("note") or "").strip()[:MAX_NOTE]
    if word in NEEDS_REASON and not note:
        raise Refused(400, f"To {word} you must give a reason (why the license stays);"
                      " nothing was changed.")
    until = _until(form) if decision == "snoozed" else None
    _mine(web, session, ids)
    assert session.upn is not None
    versions, evidence = _shown(form, ids)
    try:
        decide(web.store, ids, decision, by=session.upn, note=note or None, until=until,
               by_object_id=session.object_id, expected_versions=versions,
               expected_evidence=evidence)
    except DecisionConflict as exc:
        raise Refused(409, exc.message) from None
    except ConfigError as exc:  # an unknown id, or one that is applied or cancelled
        raise Refused(409, f"{exc.message.split(';')[0]}; nothing was changed.") from None
    back = urlsplit(local_path(str(form.get("back") or "/candidates")))
    done = {"keep": "kept", "release": "released"}.get(word, decision)
    query = [(k, v) for k, v in parse_qsl(back.query) if k not in ("done", "n")]
    query += [("done", done), ("n", str(len(ids)))]
    return RedirectResponse(f"{back.path}?{urlencode(query)}", status_code=303)
