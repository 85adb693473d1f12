"""The HTML of the simulated sign-in: a page listing the tenant's people, and error pages.

Real Entra asks for a username and a password; the simulator has no passwords, so picking a
person (or typing any UPN of the tenant) signs them in. The people who hold access to the
review app, and the managers, come first; the form carries the authorize request along.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from .wire import Response

if TYPE_CHECKING:
    from .cloud import Cloud
    from .tenant import User

LISTED = 40
_STYLE = ("body{font-family:Segoe UI,Arial,sans-serif;max-width:40rem;margin:2rem auto;"
          "color:#1b1b1b}button.person{display:block;width:100%;text-align:left;margin:.2rem 0;"
          "padding:.5rem;border:1px solid #ccc;background:#fff;cursor:pointer}"
          ".upn{color:#555;font-size:.9em}.why{color:#0067b8;font-size:.8em}")
HEADERS = [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store"),
           # no form-action: the form's answer is a redirect to the app, which it would block
           ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline';"
            " frame-ancestors 'none'")]


def _page(title: str, body: str, status: int = 200) -> Response:
    text = (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>"
            f"{escape(title)}</title><style>{_STYLE}</style></head><body>{body}</body></html>")
    return Response(status, text.encode("utf-8"), list(HEADERS))


def error_page(code: int, text: str) -> Response:
    """What Entra shows when it cannot send the browser back to the app."""
    return _page("Sign in to your account", f"<h1>Sorry, but we're having trouble signing you"
                 f" in.</h1><p id=\"error\">AADSTS{code}: {escape(text)}</p>", 400)


def _notable(cloud: Cloud) -> list[tuple[User, str]]:
    tenant = cloud.tenant
    why: dict[int, list[str]] = {}
    for group in tenant.groups:
        if not group.licenses and group.security_enabled and not group.mail_enabled:
            for idx in group.members:
                why.setdefault(idx, []).append(group.display_name)
    for role, people in tenant.web_app.role_assignments.items():
        for idx in people:
            why.setdefault(idx, []).append(f"app role {role}")
    managers = {u.manager for u in tenant.users if u.manager is not None}
    for idx in sorted(managers):
        why.setdefault(idx, []).append("manager")
    listed = [(tenant.users[i], ", ".join(w)) for i, w in sorted(why.items())]
    rest = [(u, "") for u in tenant.users if u.idx not in why and u.account_enabled]
    return (listed + rest)[:LISTED]


def sign_in_page(cloud: Cloud, request: dict[str, str]) -> Response:
    hidden = "".join(f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">'
                     for k, v in request.items())
    people = "".join(
        f'<button class="person" type="submit" name="login" value="{escape(u.upn)}">'
        f'{escape(u.display_name)} <span class="upn">{escape(u.upn)}</span>'
        f'{f" <span class=why>{escape(why)}</span>" if why else ""}</button>'
        for u, why in _notable(cloud))
    body = (f"<h1>Sign in</h1><p>{escape(cloud.tenant.display_name)} (simulated Microsoft Entra"
            f" ID): pick an account.</p><form method=\"post\">{hidden}{people}</form>"
            f"<form method=\"post\">{hidden}<p><label>Someone else (user principal name)"
            f" <input name=\"login\" id=\"login\" autocomplete=\"off\"></label>"
            f" <button type=\"submit\" id=\"next\">Next</button></p></form>")
    return _page("Sign in to your account", body)
