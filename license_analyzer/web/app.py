"""The review app: a Starlette application over the store, a door like cli.py.

Every page is a small view in pages.py / decisions.py / auth.py that calls the functions the CLI
calls (rules/review.py decide, rules/candidate_page.py, rules/apply.py plan_rows) and renders
the report's Jinja2 environment. Views are plain functions run in Starlette's thread pool: the
store is synchronous, and a thread pool does.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from license_analyzer.config import Config
from license_analyzer.errors import LicenseAnalyzerError
from license_analyzer.redact import redact
from license_analyzer.report.render import render
from license_analyzer.store.db import Store
from license_analyzer.web import access
from license_analyzer.web.guard import (
    Cookie,
    Refused,
    SecurityHeaders,
    SignInFirst,
    check_post,
    cookie_for,
    here,
    sign_in_url,
)
from license_analyzer.web.overview import Overview
from license_analyzer.web.sessions import Session, SessionStore
from license_analyzer.web.signin import SignIn

log = logging.getLogger(__name__)


@dataclass
class Web:
    """What every view needs."""

    config: Config
    store: Store
    sign_in: SignIn
    sessions: SessionStore
    cookie: Cookie
    overview: Overview
    templates: Path | None
    base_url: str


View = Callable[[Web, Request, Session, Any], Response]


def page(view: View, allowed: Callable[[list[str]], bool] | None = None,
         denied: str = "You may not see this page.") -> Callable[[Request], Any]:
    """A view behind sign-in: no session goes to sign-in (a form post is refused), a form
    post must pass check_post, and `allowed(roles)` must hold."""

    async def endpoint(request: Request) -> Response:
        web: Web = request.app.state.web
        form = await request.form() if request.method == "POST" else None

        def run() -> Response:
            session = web.sessions.load(request.cookies.get(web.cookie.name))
            try:
                if session is None or not session.signed_in:
                    if request.method == "GET":
                        raise SignInFirst(here(request))
                    raise Refused(403, "You are not signed in, or your session ended; sign in"
                                  " and try again. Nothing was changed.")
                if form is not None:
                    check_post(request, session, form, web.base_url)
                if allowed is not None and not allowed(session.roles):
                    raise Refused(403, denied)
                return view(web, request, session, form)
            except SignInFirst as exc:
                return RedirectResponse(sign_in_url(exc.next_path), status_code=303)
            except Refused as exc:
                return message(web, session, exc.status, exc.message)
            except LicenseAnalyzerError as exc:
                log.debug("refused: %s", exc.detail)
                return message(web, session, 400, exc.message)

        return await run_in_threadpool(run)

    return endpoint


def show(web: Web, name: str, session: Session | None, status: int = 200,
         **values: Any) -> HTMLResponse:
    roles = session.roles if session is not None else []
    html = render(name, web.templates, me=session, csrf=session.csrf if session else "",
                  roles=roles, can_decide=access.can_decide(roles),
                  can_view_all=access.can_view_all(roles),
                  only_manager=access.only_manager(roles), is_admin=access.is_admin(roles),
                  currency=web.config.reports.currency.upper(), **values)
    return HTMLResponse(html, status_code=status)


def message(web: Web, session: Session | None, status: int, text: str) -> HTMLResponse:
    """One plain sentence, never a trace; what it says of the tenant is escaped."""
    return show(web, "web_message.html", session, status=status, text=redact(text))


async def _server_error(request: Request, exc: Exception) -> Response:
    log.error("review app: %s on %s", redact(f"{type(exc).__name__}: {exc}"), request.url.path)
    return PlainTextResponse("Something went wrong on the server; it was logged. Reload the"
                             " page, and if it happens again tell whoever runs the app.",
                             status_code=500)


def create_app(config: Config, store: Store, sign_in: SignIn) -> Starlette:
    from license_analyzer.web import auth, decisions, pages, static

    web_config = config.web
    assert web_config.base_url and web_config.session_secret  # serve checked [web]
    base_url = web_config.base_url.rstrip("/")
    web = Web(
        config=config, store=store, sign_in=sign_in,
        sessions=SessionStore(store, web_config.session_secret.get_secret_value(),
                              timedelta(hours=web_config.session_hours)),
        cookie=cookie_for(base_url), overview=Overview(config, store),
        templates=config.resolve(config.reports.templates) if config.reports.templates else None,
        base_url=base_url)
    view_all = functools.partial(page, denied="Only viewers, reviewers and admins see this"
                                 " page; ask an admin to add you to one of their groups.")
    routes = [
        Route("/", view_all(pages.overview, access.can_view_all)),
        Route("/candidates", page(pages.candidates, _sees_candidates, "You have no access to"
                                  " candidates.")),
        Route("/candidates/decide", page(decisions.decide_view, _sees_candidates,
                                         "You have no access to candidates."),
              methods=["POST"]),
        Route("/candidates/{id}", page(pages.candidate, _sees_candidates,
                                       "You have no access to candidates.")),
        Route("/plan", view_all(pages.plan, access.can_view_all)),
        Route("/access", page(pages.access_page, access.is_admin,
                              "Only admins see who may do what.")),
        Route("/auth/sign-in", auth.sign_in_begin),
        Route("/auth/callback", auth.callback),
        Route("/auth/sign-out", auth.sign_out, methods=["POST"]),
        Route("/static/{name}", static.serve_static),
        Route("/healthz", lambda request: PlainTextResponse("ok")),
    ]
    app = Starlette(routes=routes, exception_handlers={Exception: _server_error})
    app.state.web = web
    app.add_middleware(SecurityHeaders, https=web.cookie.secure)
    return app


def _sees_candidates(roles: list[str]) -> bool:
    return access.can_view_all(roles) or access.MANAGER in roles
