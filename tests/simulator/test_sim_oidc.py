"""Entra ID sign-in for web apps in the simulator, checked against Microsoft's protocol pages
(oidc.py): authorize, the sign-in page, the code grant with PKCE, ID token claims; and
managers through Graph's $expand."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import jwt

from license_analyzer.simulator import Simulator
from tests.simulator.simclient import Api

REDIRECT = "http://127.0.0.1:4321/auth/callback"  # a loopback URI matches on any port


def _authorize(sim: Simulator, http: httpx.Client, **params: str) -> httpx.Response:
    info = sim.info
    query = {"client_id": info["web_client_id"], "response_type": "code",
             "redirect_uri": REDIRECT, "scope": "openid profile offline_access",
             "state": "s1", "nonce": "n1", **params}
    return http.get(f"{info['authority_host']}/{info['tenant_id']}/oauth2/v2.0/authorize?"
                    + urlencode(query))


def _code(sim: Simulator, http: httpx.Client, upn: str, verifier: str) -> str:
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(
        b"=").decode()
    page = _authorize(sim, http, code_challenge=challenge, code_challenge_method="S256")
    assert page.status_code == 200 and upn in page.text  # the sign-in page lists people
    form = dict(parse_qsl(urlsplit(str(page.url)).query))
    back = http.post(str(page.url).split("?")[0], data={**form, "login": upn})
    assert back.status_code == 302
    answer = dict(parse_qsl(urlsplit(back.headers["location"]).query))
    assert back.headers["location"].startswith(REDIRECT) and answer["state"] == "s1"
    return answer["code"]


def _redeem(sim: Simulator, http: httpx.Client, code: str, verifier: str,
            **extra: str) -> httpx.Response:
    info = sim.info
    return http.post(f"{info['authority_host']}/{info['tenant_id']}/oauth2/v2.0/token", data={
        "client_id": info["web_client_id"], "client_secret": info["web_client_secret"],
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
        "code_verifier": verifier, "scope": "openid profile offline_access", **extra})


def test_code_grant_with_pkce_gives_an_id_token_with_groups_and_roles(sim: Simulator,
                                                                      own: Api) -> None:
    info = sim.info
    reviewer = info["web_people"]["reviewer"]
    verifier = secrets.token_urlsafe(48)
    code = _code(sim, own.http, reviewer, verifier)
    wrong = _redeem(sim, own.http, code, "not-the-verifier")
    assert wrong.status_code == 400 and "AADSTS501481" in wrong.json()["error_description"]
    # the failed attempt used the code up, as Entra does
    again = _redeem(sim, own.http, code, verifier)
    assert "AADSTS54005" in again.json()["error_description"]
    code = _code(sim, own.http, reviewer, verifier)
    token = _redeem(sim, own.http, code, verifier).json()
    keys = own.http.get(f"{info['authority_host']}/{info['tenant_id']}/discovery/v2.0/keys")
    key = jwt.PyJWKSet.from_dict(keys.json()).keys[0].key
    claims: dict[str, Any] = jwt.decode(
        token["id_token"], key, algorithms=["RS256"], audience=info["web_client_id"],
        issuer=f"{info['authority_host']}/{info['tenant_id']}/v2.0")
    user = next(u for u in sim.tenant.users if u.upn == reviewer)
    assert (claims["oid"], claims["preferred_username"], claims["tid"], claims["nonce"]) == (
        user.id, reviewer, info["tenant_id"], "n1")
    assert info["web_groups"]["reviewers"] in claims["groups"]
    assert claims["ver"] == "2.0" and "refresh_token" in token
    by_role = next(u for u in sim.tenant.users
                   if u.idx in sim.tenant.web_app.role_assignments["Reviewer"])
    role_code = _code(sim, own.http, by_role.upn, verifier)
    role_claims = jwt.decode(_redeem(sim, own.http, role_code, verifier).json()["id_token"],
                             options={"verify_signature": False})
    assert role_claims["roles"] == ["Reviewer"]


def test_authorize_refuses_what_entra_refuses(sim: Simulator, own: Api) -> None:
    elsewhere = _authorize(sim, own.http, redirect_uri="https://evil.example/auth/callback")
    assert elsewhere.status_code == 400 and "AADSTS50011" in elsewhere.text
    stranger = _authorize(sim, own.http, client_id="00000000-0000-0000-0000-000000000001")
    assert "AADSTS700016" in stranger.text
    disabled = next(u for u in sim.tenant.users if not u.account_enabled)
    page = _authorize(sim, own.http)
    form = dict(parse_qsl(urlsplit(str(page.url)).query))
    refused = own.http.post(str(page.url).split("?")[0], data={**form, "login": disabled.upn})
    assert refused.status_code == 400 and "AADSTS50057" in refused.text
    unknown = own.http.post(str(page.url).split("?")[0],
                            data={**form, "login": "nobody@contoso.com"})
    assert "AADSTS50034" in unknown.text


def test_managers_through_expand_and_the_manager_link(sim: Simulator, own: Api) -> None:
    first = own.graph("/users", params={"$select": "id", "$expand": "manager($select=id)",
                                        "$top": "999"})
    users = own.follow(first, own.graph)
    by_id = {u.id: u for u in sim.tenant.users}
    for row in users:
        expected = by_id[row["id"]].manager
        if expected is None:
            assert "manager" not in row
        else:
            assert row["manager"] == {"@odata.type": "#microsoft.graph.user",
                                      "id": sim.tenant.users[expected].id}
    someone = next(u for u in sim.tenant.users if u.manager is not None)
    link = own.graph(f"/users/{someone.id}/manager", params={"$select": "id"})
    assert link.json()["id"] == sim.tenant.users[someone.manager].id  # type: ignore[index]
    chain = own.graph("/users", params={"$expand": "manager($levels=max;$select=id)"})
    assert chain.status_code == 400 and "only supported on a single user" in chain.text
