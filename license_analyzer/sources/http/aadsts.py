"""Entra ID's AADSTS error codes, each as the one thing the admin has to do."""

from __future__ import annotations

import re

from license_analyzer.errors import AuthError
from license_analyzer.redact import redact

_CODE = re.compile(r"AADSTS(\d+)")

# code -> sentence; {tenant}, {client} and {resource} are filled in
FIXES: dict[int, str] = {
    90002: "tenant {tenant} does not exist in this cloud; check tenant_id (and cloud) in the "
           "profile",
    90023: "the token request was refused as invalid for tenant {tenant}; check tenant_id "
           "(and cloud) in the profile",
    900023: "tenant_id {tenant} is not a valid tenant; copy the Directory (tenant) ID from the "
            "app registration's overview page",
    700016: "app {client} was not found in tenant {tenant}; check client_id, and that the app is "
            "registered (and admin-consented) in that tenant",
    7000215: "the client secret is wrong; copy the secret's Value (not its Secret ID) from "
             "Certificates & secrets into client_secret",
    7000222: "the client secret has expired; create a new secret under Certificates & secrets "
             "and update client_secret",
    700027: "the certificate is not registered on app {client}; upload the certificate (its "
            "public part) under Certificates & secrets",
    500011: "resource {resource} does not exist in tenant {tenant}; check the environment URL, "
            "and that it belongs to this tenant",
    7000112: "app {client} is disabled in tenant {tenant}; enable its service principal in "
             "Enterprise applications",
    700024: "the client assertion is outside its validity period; check this machine's clock",
    50011: "the redirect or audience does not match; check authority_host and the cloud",
}


class TokenError(AuthError):
    """A token could not be had; `code` is the AADSTS number when Entra gave one."""

    def __init__(self, message: str, code: int | None, detail: str | None = None) -> None:
        super().__init__(message, detail=detail)
        self.code = code


def aadsts_code(text: str) -> int | None:
    match = _CODE.search(text)
    return int(match.group(1)) if match else None


def token_error(*, error: str, description: str, codes: list[int] | None, tenant: str,
                client: str, resource: str) -> TokenError:
    """The AuthError for a failed token request (msal's result dict or a discovery failure)."""
    code = (codes[0] if codes else None) or aadsts_code(description)
    detail = redact(f"{error}: {description}")
    template = FIXES.get(code) if code is not None else None
    if template is not None:
        sentence = template.format(tenant=tenant, client=client, resource=resource)
        return TokenError(f"No token for {resource}: {sentence} (AADSTS{code}).", code,
                          detail=detail)
    label = f"AADSTS{code}" if code is not None else (error or "unknown error")
    return TokenError(f"No token for {resource} ({label}); look the code up at "
                      "https://login.microsoftonline.com/error and fix the app registration.",
                      code, detail=detail)
