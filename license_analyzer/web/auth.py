"""Signing in and out: begin the flow, take Entra's answer at <base_url>/auth/callback, end."""

from __future__ import annotations

import logging

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from license_analyzer.errors import AuthError
from license_analyzer.rules.candidate_page import reports_of
from license_analyzer.web import access
from license_analyzer.web.app import Web, message, show
from license_analyzer.web.guard import Refused, check_post, local_path

log = logging.getLogger(__name__)


def _set_cookie(web: Web, response: Response, token: str, max_age: int) -> None:
    response.set_cookie(web.cookie.name, token, max_age=max_age, path="/", httponly=True,
                        samesite="lax", secure=web.cookie.secure)


async def sign_in_begin(request: Request) -> Response:
    web: Web = request.app.state.web

    def run() -> Response:
        flow, url = web.sign_in.begin()
        pending = web.sessions.begin(flow, local_path(request.query_params.get("next")))
        response = RedirectResponse(url, status_code=303)
        _set_cookie(web, response, pending.token, max_age=15 * 60)
        return response

    return await run_in_threadpool(run)


async def callback(request: Request) -> Response:
    web: Web = request.app.state.web
    answer = dict(request.query_params)

    def run() -> Response:
        pending = web.sessions.load(request.cookies.get(web.cookie.name))
        if pending is None or pending.flow is None:
            return message(web, None, 400, "This sign-in was not begun in this browser, or it"
                           " took too long; sign in again.")
        try:
            person = access.identity(web.sign_in.finish(pending.flow, answer))
        except AuthError as exc:
            web.sessions.end(pending)
            log.info("sign-in refused: %s", exc.detail or exc.message)
            return message(web, None, 403, exc.message)
        has_reports = web.config.web.route_to_manager and bool(
            reports_of(web.store, person.object_id))
        roles = access.roles_of(person, web.config.web, has_reports)
        if not roles:
            web.sessions.end(pending)
            return message(web, None, 403, f"You are signed in as {person.upn}, but have no"
                           " access to the license review app; ask an admin to add you to"
                           " the viewers, reviewers or admins group.")
        session = web.sessions.signed_in(pending, person.object_id, person.upn, person.name,
                                         roles)
        log.info("signed in: %s (%s) as %s", person.upn, person.object_id, ", ".join(roles))
        target = pending.next_path or "/"
        if access.only_manager(roles) and target == "/":
            target = "/candidates"
        response = RedirectResponse(local_path(target), status_code=303)
        _set_cookie(web, response, session.token,
                    max_age=int(web.sessions.lifetime.total_seconds()))
        return response

    return await run_in_threadpool(run)


async def sign_out(request: Request) -> Response:
    web: Web = request.app.state.web
    form = await request.form()

    def run() -> Response:
        session = web.sessions.load(request.cookies.get(web.cookie.name))
        if session is not None:
            try:
                check_post(request, session, form, web.base_url)
            except Refused as exc:
                return message(web, session, exc.status, exc.message)
            web.sessions.end(session)
        response = show(web, "web_signed_out.html", None)
        response.delete_cookie(web.cookie.name, path="/", secure=web.cookie.secure,
                               httponly=True, samesite="lax")
        return response

    return await run_in_threadpool(run)
