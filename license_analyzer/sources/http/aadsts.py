"""Entra ID's AADSTS error codes, each as what went wrong and the one thing to do about it."""

from __future__ import annotations

import re

from license_analyzer.errors import AuthError
from license_analyzer.redact import redact

_CODE = re.compile(r"AADSTS(\d+)")

# code -> (problem, fix); {tenant}, {client} and {resource} are filled in
FIXES: dict[int, tuple[str, str]] = {
    90002: ("tenant {tenant} does not exist in this cloud",
            "Check tenant_id (and cloud or authority_host) in the profile."),
    90023: ("the token request was refused as invalid for tenant {tenant}",
            "Check tenant_id (and cloud or authority_host) in the profile."),
    900023: ("tenant_id {tenant} is not a valid tenant",
             "Copy the Directory (tenant) ID from the app registration's overview page into "
             "tenant_id."),
    700016: ("app {client} was not found in tenant {tenant}",
             "Check client_id, and that the app is registered and admin-consented in that "
             "tenant."),
    7000215: ("the client secret is wrong",
              "Copy the secret's Value (not its Secret ID) from Certificates & secrets into "
              "client_secret."),
    7000222: ("the client secret has expired",
              "Create a new secret under Certificates & secrets and update client_secret."),
    700027: ("the certificate is not registered on app {client}",
             "Upload the certificate (its public part) to the app registration under "
             "Certificates & secrets."),
    500011: ("resource {resource} does not exist in tenant {tenant}",
             "Check the environment URL, and that the environment belongs to this tenant."),
    7000112: ("app {client} is disabled in tenant {tenant}",
              "Enable the app's service principal under Enterprise applications."),
    700024: ("the client assertion is outside its validity period",
             "Check this machine's clock."),
    # delegated sign-in (auth = "delegated")
    7000218: ("app {client} does not allow public client flows, which the device-code sign-in "
              "uses",
              "In the app registration > Authentication, set Allow public client flows to Yes."),
    65001: ("app {client} has no admin consent for the delegated permissions it asks of "
            "{resource}",
            "In the app registration > API permissions, add the delegated permissions the README "
            "lists and select Grant admin consent."),
}

# refresh failures that only a new sign-in mends: code -> what became of the sign-in
# (https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes)
REAUTHENTICATE: dict[int, str] = {
    50173: "was revoked",
    700082: "expired after going unused for too long",
    70008: "expired",
    70043: "expired under a Conditional Access sign-in frequency policy",
    50089: "expired",
    50132: "ended with a password change",
    50133: "ended with a password change",
    50055: "ended because the account's password expired",
    50057: "belongs to a disabled account",
    50076: "now needs multifactor authentication",
    50078: "needs a fresh multifactor authentication",
    50079: "now needs multifactor authentication registration",
    53000: "is blocked by Conditional Access (the device is not compliant)",
    53003: "is blocked by a Conditional Access policy",
}


class TokenError(AuthError):
    """A token could not be had; `code` is the AADSTS number when Entra gave one."""

    def __init__(self, problem: str, fix: str, code: int | None,
                 detail: str | None = None) -> None:
        label = f" (AADSTS{code})" if code is not None else ""
        super().__init__(f"{problem[:1].upper()}{problem[1:]}{label}; {fix[:1].lower()}{fix[1:]}",
                         detail=detail)
        self.problem = problem
        self.fix = fix
        self.code = code


def aadsts_code(text: str) -> int | None:
    match = _CODE.search(text)
    return int(match.group(1)) if match else None


def token_error(*, error: str, description: str, codes: list[int] | None, tenant: str,
                client: str, resource: str) -> TokenError:
    """The TokenError for a failed token request (msal's result dict or a discovery failure)."""
    code = (codes[0] if codes else None) or aadsts_code(description)
    detail = redact(f"{error}: {description}")
    known = FIXES.get(code) if code is not None else None
    if known is not None:
        problem, fix = known
        return TokenError(f"no token for {resource}: "
                          + problem.format(tenant=tenant, client=client, resource=resource),
                          fix.format(tenant=tenant, client=client, resource=resource),
                          code, detail=detail)
    return TokenError(f"no token for {resource} ({error or 'unknown error'})",
                      "Look the code up at https://login.microsoftonline.com/error and fix the "
                      "app registration.", code, detail=detail)


class SignInRequired(TokenError):
    """A delegated profile's stored sign-in cannot give tokens: a person must sign in again."""


def login_command(profile: str) -> str:
    return f"`license-analyzer login --profile {profile}`"


def sign_in_required(profile: str, account: str | None, code: int | None,
                     detail: str | None = None) -> SignInRequired:
    """The one sentence naming who must run `login` again, and why."""
    command = login_command(profile)
    if account is None:
        return SignInRequired(f"profile {profile} has no stored sign-in",
                              f"An administrator must run {command} first.", None, detail)
    what = REAUTHENTICATE.get(code or 0, "can no longer be refreshed")
    who = "An administrator with an enabled account" if code == 50057 else account
    where = (" from a device and place the Conditional Access policy allows"
             if code in (53000, 53003) else "")
    return SignInRequired(f"the sign-in of {account} for profile {profile} {what}",
                          f"{who} must run {command} again{where}.", code, detail)
