"""What every request passes: security headers on every answer, a session for every page, the
CSRF token and the origin of every form post, and the right to what it asks.

A person without a session who asks for a page is sent to sign in; a form post without one, or
from another site, or without the session's CSRF token, is refused and changes nothing.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from license_analyzer.web.sessions import Session

# Scripts only from this origin, none inline and no eval: a tenant string that slipped past
# escaping still could not run. Plotly writes inline styles (and a style element) as it draws,
# hence 'unsafe-inline' for styles only.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline';"
       " img-src 'self' data:; font-src 'self' data:; connect-src 'self';"
       " form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
}


class SecurityHeaders:
    """A plain ASGI middleware: the headers on every response, HSTS behind https."""

    def __init__(self, app: ASGIApp, https: bool) -> None:
        self.app = app
        self.headers = dict(HEADERS)
        if https:
            self.headers["strict-transport-security"] = "max-age=31536000"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers.setdefault(name, value)
                if "cache-control" not in headers:
                    headers["cache-control"] = "no-store"
            await send(message)

        await self.app(scope, receive, with_headers)


class Refused(Exception):
    """A request that must change nothing: the status and one sentence for the page."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class SignInFirst(Exception):
    """No session: the browser goes to sign in, then back to `next_path`."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


@dataclass(frozen=True)
class Cookie:
    name: str
    secure: bool


def cookie_for(base_url: str) -> Cookie:
    """__Host- needs Secure, Path=/ and no Domain: a sibling host cannot plant it."""
    secure = urlsplit(base_url).scheme == "https"
    return Cookie("__Host-la_session" if secure else "la_session", secure)


def local_path(value: str | None) -> str:
    """Where to go after signing in: a path on this site, never another site's URL."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def sign_in_url(next_path: str) -> str:
    return f"/auth/sign-in?next={quote(next_path, safe='')}"


def check_post(request: Request, session: Session, form: Any, base_url: str) -> None:
    """A form post must come from our own page: same origin, and the session's CSRF token."""
    origin = request.headers.get("origin")
    ours = "{0.scheme}://{0.netloc}".format(urlsplit(base_url))
    if origin is not None and origin != ours:
        raise Refused(403, "This form was sent from another site; nothing was changed.")
    if request.headers.get("sec-fetch-site") == "cross-site":
        raise Refused(403, "This form was sent from another site; nothing was changed.")
    token = str(form.get("csrf_token") or "")
    if not secrets.compare_digest(token.encode(), session.csrf.encode()):
        raise Refused(403, "This form is out of date or was not sent from this app (its"
                      " security token does not match your session); reload the page and"
                      " try again. Nothing was changed.")
