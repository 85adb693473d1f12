"""The device authorization grant: /devicecode, the page where a person enters the code, and
the token polls (https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-device-code).

From the moment the code is handed out the person has `expires_in` (15 minutes) to sign in; the
client polls every `interval` (5 s) and hears `authorization_pending` (AADSTS70016) until then,
`expired_token` (AADSTS70019) after, and `bad_verification_code` (AADSTS70018) for a code Entra
never issued. Tests approve a code as a chosen person with `Simulator.approve_device_code`, or
by posting the page's form (`otc`, `login`) as a person would.
"""

from __future__ import annotations

import html
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from . import user_tokens
from .wire import Request, Response, json_response

if TYPE_CHECKING:
    from .cloud import Cloud

USER_CODE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


@dataclass
class DeviceCode:
    device_code: str
    user_code: str
    client_id: str
    scope: str
    expires: float  # time.monotonic()
    user_id: str | None = None


@dataclass
class DeviceCodes:
    by_device: dict[str, DeviceCode] = field(default_factory=dict)
    by_user_code: dict[str, DeviceCode] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def approve(self, user_code: str, user_id: str) -> bool:
        """The person signed in at the page and entered the code; False for an unknown code."""
        with self.lock:
            code = self.by_user_code.get(user_code.strip().upper())
            if code is None or code.expires <= time.monotonic():
                return False
            code.user_id = user_id
            return True


def start(cloud: Cloud, req: Request) -> Response:
    """POST /{tenant}/oauth2/v2.0/devicecode"""
    form = dict(parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True))
    app = cloud.tenant.app
    unknown = user_tokens.check_client(cloud, form, public=False)
    if unknown is not None:
        return unknown
    if not form.get("scope", "").strip():
        return user_tokens.error(cloud, 900144, "The request body must contain the following "
                                 "parameter: 'scope'.", error="invalid_request")
    lifetime = max(1, round(cloud.opts.scaled(cloud.opts.device_code_lifetime_s)))
    interval = max(1, round(cloud.opts.scaled(cloud.opts.device_code_interval_s)))
    user_code = "".join(secrets.choice(USER_CODE_LETTERS) for _ in range(9))
    code = DeviceCode(
        device_code="DAQABAAEAAA" + secrets.token_urlsafe(120),
        user_code=user_code,
        client_id=app.client_id,
        scope=form["scope"],
        expires=time.monotonic() + lifetime,
    )
    codes: DeviceCodes = cloud.device_codes
    with codes.lock:
        codes.by_device[code.device_code] = code
        codes.by_user_code[user_code] = code
    uri = f"{cloud.base_url}/devicelogin"
    return json_response(200, {
        "user_code": user_code,
        "device_code": code.device_code,
        "verification_uri": uri,
        "expires_in": lifetime,
        "interval": interval,
        "message": f"To sign in, use a web browser to open the page {uri} and enter the code "
                   f"{user_code} to authenticate.",
    })


def redeem(cloud: Cloud, form: dict[str, str]) -> Response:
    """grant_type=urn:ietf:params:oauth:grant-type:device_code (the client's polls)."""
    refused = user_tokens.check_client(cloud, form)
    if refused is not None:
        return refused
    codes: DeviceCodes = cloud.device_codes
    with codes.lock:
        code = codes.by_device.get(form.get("device_code", ""))
    if code is None:
        return user_tokens.error(cloud, 70018, "Invalid verification code due to User typing "
                                 "in wrong user code for device code flow. Authorization isn't "
                                 "approved.", error="bad_verification_code")
    if code.expires <= time.monotonic():
        return user_tokens.error(cloud, 70019, "Verification code expired.",
                                 error="expired_token")
    if code.user_id is None:
        return user_tokens.error(cloud, 70016, "OAuth 2.0 device flow error. Authorization is "
                                 "pending. Continue polling.", error="authorization_pending")
    with codes.lock:  # a device code is redeemed once
        codes.by_device.pop(code.device_code, None)
        codes.by_user_code.pop(code.user_code, None)
    user = cloud.tenant.users_by_id[code.user_id]
    scopes = user_tokens.resolve(cloud, code.scope)
    if isinstance(scopes, Response):
        return scopes
    refused = user_tokens.refusal(cloud, user, scopes.api, None)
    if refused is not None:
        return refused
    return user_tokens.issue(cloud, user, code.client_id, scopes)


PAGE = """<!doctype html>
<html><head><title>Enter code</title></head><body>
<h1>Enter code</h1><p>{message}</p>
<form method="post" action="{action}">
<label>Code <input name="otc" autocomplete="off"></label>
<label>Sign in as <input name="login" type="email"></label>
<button type="submit">Next</button>
</form></body></html>
"""


def page(cloud: Cloud, req: Request) -> Response:
    """/devicelogin: where the person enters the code and signs in (no password here)."""
    message = "Enter the code displayed on your app or device."
    status = 200
    if req.method == "POST":
        form = dict(parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True))
        login = form.get("login", "").strip().lower()
        user = next((u for u in cloud.tenant.users if u.upn.lower() == login), None)
        if user is None:
            status, message = 400, f"We couldn't find an account with that username: {login}."
        elif not cloud.device_codes.approve(form.get("otc", ""), user.id):
            status, message = 400, "That code didn't work. Check the code and try again."
        else:
            message = (f"{user.upn} signed in to the {cloud.tenant.app.display_name} "
                       "application on your device. You may now close this window.")
    body = PAGE.format(message=html.escape(message), action=html.escape(req.path))
    return Response(status, body.encode(), [("Content-Type", "text/html; charset=utf-8")])
