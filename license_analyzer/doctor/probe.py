"""Read-only calls for the checks, and the fix sentence for whatever they raise."""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from license_analyzer.errors import ConfigError, LicenseAnalyzerError
from license_analyzer.sources.http import (
    NoPremiumLicense,
    ThrottledTooLong,
    UntrustedCertificate,
    check,
    transport_error,
)
from license_analyzer.sources.http.aadsts import TokenError


def get_json(client: httpx.Client, path: str, what: str,
             params: dict[str, str] | None = None) -> dict[str, Any]:
    """GET and decode, or raise the one-sentence error. Doctor never writes."""
    try:
        response = client.get(path, params=params)
    except httpx.TransportError as exc:
        raise transport_error(exc, what) from None
    check(response, what)
    try:
        data = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def problem_of(exc: LicenseAnalyzerError) -> str:
    """The first half of an error sentence: what is wrong (the fix goes in its own column)."""
    head, sep, _ = exc.message.partition("; ")
    return f"{head}." if sep else exc.message


def fix_for(exc: LicenseAnalyzerError) -> str:
    """The fix sentence for an error raised while checking."""
    if isinstance(exc, TokenError):
        return exc.fix
    if isinstance(exc, UntrustedCertificate):
        return ("Set ca_bundle in the profile to the CA certificate file (PEM) of your proxy or "
                "server.")
    if isinstance(exc, NoPremiumLicense):
        return "Assign a Microsoft Entra ID P1 (or P2) license in the tenant."
    if isinstance(exc, ThrottledTooLong):
        return "Microsoft is throttling this app right now; run doctor again in a few minutes."
    if isinstance(exc, ConfigError):
        return "Fix the profile as the message says."
    # the other errors already end with what to do
    _, _, tail = exc.message.partition("; ")
    tail = tail or "check the URL, the network and the proxy setting, then run doctor again."
    return tail[:1].upper() + tail[1:]
