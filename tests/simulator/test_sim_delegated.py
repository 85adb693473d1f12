"""Delegated sign-in and managed identity against the simulator, through msal and raw HTTPS."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import msal
import pytest

from license_analyzer.simulator import Simulator, SimulatorOptions
from tests.simulator.simclient import MsalHttpClient

READ_SCOPES = ("User.Read", "Organization.Read.All", "User.Read.All", "AuditLog.Read.All",
               "GroupMember.Read.All")


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(SimulatorOptions(users=40, time_scale=0.01, dataverse_envs=1,
                                    token_lifetime_s=360_000)) as s:
        yield s
        for person in Person.opened:
            person.http.close()
        Person.opened.clear()


class Person:
    """A public client signed in as one person through the device-code flow."""

    opened: list[Person] = []

    def __init__(self, sim: Simulator, upn: str) -> None:
        Person.opened.append(self)
        info = sim.info
        self.sim = sim
        self.graph = info["graph_url"].rsplit("/", 1)[0]
        self.http = MsalHttpClient(info["ca_bundle"])
        self.app = msal.PublicClientApplication(
            info["client_id"], authority=f"{info['authority_host']}/{info['tenant_id']}",
            instance_discovery=False, http_client=self.http, token_cache=msal.TokenCache())
        self.upn = upn

    def sign_in(self, scopes: tuple[str, ...] = READ_SCOPES) -> dict[str, Any]:
        flow = self.app.initiate_device_flow(scopes=[f"{self.graph}/{s}" for s in scopes])
        assert "user_code" in flow, flow
        self.sim.approve_device_code(flow["user_code"], self.upn)
        return dict(self.app.acquire_token_by_device_flow(flow))

    def silent(self, scopes: list[str], force: bool = False) -> dict[str, Any] | None:
        account = self.app.get_accounts(username=self.upn)[0]
        result = self.app.acquire_token_silent_with_error(scopes, account, force_refresh=force)
        return dict(result) if result else None

    def get(self, url: str, token: str) -> httpx.Response:
        return self.http.client.get(url, headers={"Authorization": f"Bearer {token}"})


def claims(token: str) -> dict[str, Any]:
    import jwt

    return dict(jwt.decode(token, options={"verify_signature": False}))


def test_device_code_flow_gives_a_person_tokens_and_a_refresh_token(sim: Simulator) -> None:
    admin = sim.tenant.users[0].upn
    person = Person(sim, admin)
    result = person.sign_in()
    assert result["id_token_claims"]["preferred_username"] == admin
    token = claims(result["access_token"])
    assert token["upn"] == admin and token["idtyp"] == "user"
    assert set(token["scp"].split()) == set(READ_SCOPES)
    assert "roles" not in token  # delegated: scopes, never app roles
    assert result["refresh_token"]
    # the refresh token buys a Dataverse token for the same person: one sign-in, every API
    env = sim.info["dataverse"][0]
    crm = person.silent([f"{env}/user_impersonation"])
    assert crm is not None and "access_token" in crm, crm
    assert claims(crm["access_token"])["aud"] == env
    assert claims(crm["access_token"])["scp"] == "user_impersonation"


def test_polling_before_approval_is_pending_and_codes_expire(sim: Simulator) -> None:
    person = Person(sim, sim.tenant.users[0].upn)
    flow = person.app.initiate_device_flow(scopes=[f"{person.graph}/User.Read"])
    assert flow["interval"] >= 1 and flow["user_code"] in flow["message"]
    once = person.app.acquire_token_by_device_flow(flow, exit_condition=lambda f: True)
    assert once["error"] == "authorization_pending" and 70016 in once["error_codes"]
    code = sim.cloud.device_codes.by_user_code[flow["user_code"]]
    code.expires = 0.0
    gone = person.app.acquire_token_by_device_flow(flow, exit_condition=lambda f: True)
    assert gone["error"] == "expired_token" and 70019 in gone["error_codes"]
    with pytest.raises(ValueError):
        sim.approve_device_code(flow["user_code"], person.upn)


def test_the_verification_page_approves_a_code_as_the_person_who_signs_in(
        sim: Simulator) -> None:
    person = Person(sim, sim.tenant.users[1].upn)
    flow = person.app.initiate_device_flow(scopes=[f"{person.graph}/User.Read"])
    page = person.http.client.get(flow["verification_uri"])
    assert page.status_code == 200 and 'name="otc"' in page.text
    wrong = person.http.client.post(flow["verification_uri"],
                                    data={"otc": "NOPE", "login": person.upn})
    assert wrong.status_code == 400
    ok = person.http.client.post(flow["verification_uri"],
                                 data={"otc": flow["user_code"].lower(), "login": person.upn})
    assert ok.status_code == 200 and person.upn in ok.text
    result = person.app.acquire_token_by_device_flow(flow)
    assert claims(result["access_token"])["oid"] == sim.tenant.users[1].id


def test_refresh_tokens_die_when_revoked_idle_or_blocked(sim: Simulator) -> None:
    admin = sim.tenant.users[0].upn
    person = Person(sim, admin)
    person.sign_in()
    env = sim.info["dataverse"][0]
    scope = [f"{env}/user_impersonation"]
    # Conditional Access blocking only Dynamics CRM leaves Graph usable
    sim.block_sign_ins(admin, {"dataverse"})
    blocked = person.silent(scope)
    assert blocked is not None and blocked["error"] == "invalid_grant"
    assert blocked["error_codes"] == [53003]
    assert "access_token" in (person.silent([f"{person.graph}/User.Read"], force=True) or {})
    sim.cloud.delegation.unblock(sim.user(admin).id)
    # 90 days without a refresh: expired for inactivity
    sim.advance(days=91)
    idle = person.silent(scope)
    assert idle is not None and idle["error_codes"] == [700082], idle
    # a fresh sign-in, then an administrator revokes the sessions
    sim.advance(days=-91)
    person = Person(sim, admin)
    person.sign_in()
    sim.revoke_sign_in_sessions(admin)
    revoked = person.silent(scope)
    assert revoked is not None and revoked["error_codes"] == [50173]
    assert "revoked" in revoked["error_description"]
    # signing in again after the revocation works
    again = Person(sim, admin)
    again.sign_in()
    assert "access_token" in (again.silent(scope) or {})


def test_consent_and_public_client_flows_are_checked(sim: Simulator) -> None:
    person = Person(sim, sim.tenant.users[0].upn)
    sim.tenant.app.delegated_grants["graph"].discard("AuditLog.Read.All")
    refused = person.sign_in()
    assert refused["error"] == "invalid_grant" and 65001 in refused["error_codes"]
    sim.tenant.app.public_client = False
    no_public = person.sign_in(("User.Read",))
    assert no_public["error"] == "invalid_client" and 7000218 in no_public["error_codes"]


def test_graph_grants_the_intersection_of_scopes_and_directory_roles(sim: Simulator) -> None:
    clerk = sim.tenant.users[2].upn  # no directory role
    person = Person(sim, clerk)
    token = person.sign_in()["access_token"]
    graph = sim.info["graph_url"]
    assert person.get(f"{graph}/users?$top=5", token).status_code == 200  # a member's default
    denied = person.get(f"{graph}/auditLogs/signIns?$top=1", token)
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "Authentication_RequestFromUnsupportedUserRole"
    skus = person.get(f"{graph}/subscribedSkus", token)
    assert skus.json()["error"]["code"] == "Authentication_RequestFromUnsupportedUserRole"
    mine = person.get(f"{graph}/me/memberOf", token).json()["value"]
    assert not [m for m in mine if m["@odata.type"] == "#microsoft.graph.directoryRole"]
    sim.grant_role(clerk, "Reports Reader")
    sim.grant_role(clerk, "Directory Readers")
    assert person.get(f"{graph}/auditLogs/signIns?$top=1", token).status_code == 200
    assert person.get(f"{graph}/subscribedSkus", token).status_code == 200
    roles = {m["displayName"]: m["roleTemplateId"]
             for m in person.get(f"{graph}/me/memberOf", token).json()["value"]
             if m["@odata.type"] == "#microsoft.graph.directoryRole"}
    assert roles == {"Reports Reader": "4a5d8f65-41da-4de4-8968-e035b65339cf",
                     "Directory Readers": "88d8e3e3-8f55-4a1e-953a-9b9898b8876b"}
    # the role does not make up for a scope the token lacks
    write = person.get(f"{graph}/me", token)
    assert write.json()["userPrincipalName"] == clerk
    assign = person.http.client.post(
        f"{graph}/users/{sim.tenant.users[3].id}/assignLicense",
        headers={"Authorization": f"Bearer {token}"},
        json={"addLicenses": [], "removeLicenses": []})
    assert assign.json()["error"]["code"] == "Authorization_RequestDenied"


def test_dynamics_admit_a_person_only_with_a_user_and_role_there(sim: Simulator) -> None:
    upn = sim.tenant.users[5].upn
    person = Person(sim, upn)
    person.sign_in()
    env, fno = sim.info["dataverse"][0], sim.info["finance_operations"][0]
    crm = person.silent([f"{env}/user_impersonation"])
    erp = person.silent([f"{fno}/Odata.FullAccess"])
    assert crm and erp
    sim.tenant.dataverse[0].systemusers = [
        s for s in sim.tenant.dataverse[0].systemusers if s.aad_object_id != sim.user(upn).id]
    whoami = person.get(f"{env}/api/data/v9.2/WhoAmI", crm["access_token"])
    assert whoami.status_code == 403 and whoami.json()["error"]["code"] == "0x80072560"
    assert person.get(f"{fno}/data/SystemUsers", erp["access_token"]).status_code == 401
    sim.make_dynamics_admin(upn)
    who = person.get(f"{env}/api/data/v9.2/WhoAmI", crm["access_token"])
    assert who.status_code == 200
    audits = person.get(f"{env}/api/data/v9.2/audits?$top=1", crm["access_token"])
    assert audits.status_code == 200, audits.text
    sim.tenant.dataverse[0].delegated_admins.clear()
    missing = person.get(f"{env}/api/data/v9.2/audits?$top=1", crm["access_token"])
    assert missing.status_code == 403 and "prvReadAuditSummary" in missing.text
    assert person.get(f"{fno}/data/SystemUsers", erp["access_token"]).status_code == 200


def test_managed_identity_endpoints_issue_app_tokens(sim: Simulator) -> None:
    info = sim.info
    client = MsalHttpClient(info["ca_bundle"])
    http = client.client
    graph = info["graph_url"].rsplit("/", 1)[0]
    imds = info["managed_identity_endpoint"]
    query = {"api-version": "2018-02-01", "resource": graph}
    assert http.get(imds, params=query).json()["error"] == "bad_request_102"
    ok = http.get(imds, params=query, headers={"Metadata": "true"})
    body = ok.json()
    assert isinstance(body["expires_in"], str) and body["resource"] == graph
    system = info["managed_identities"]["system"]
    assert claims(body["access_token"])["appid"] == system
    assert "User.Read.All" in claims(body["access_token"])["roles"]
    user = info["managed_identities"]["user"]
    mine = http.get(imds, params={**query, "client_id": user}, headers={"Metadata": "true"})
    assert claims(mine.json()["access_token"])["appid"] == user
    unknown = http.get(imds, params={**query, "client_id": "0" * 8},
                       headers={"Metadata": "true"})
    assert unknown.status_code == 400
    app_service = http.get(info["identity_endpoint"],
                           params={"api-version": "2019-08-01", "resource": graph},
                           headers={"X-IDENTITY-HEADER": info["identity_header"]})
    assert app_service.json()["client_id"] == system
    assert int(app_service.json()["expires_on"]) > 0
    assert http.get(info["identity_endpoint"], params={"api-version": "2019-08-01",
                                                       "resource": graph}).status_code == 401
    client.close()


def test_msal_managed_identity_client_through_imds(sim: Simulator) -> None:
    info = sim.info
    inner = MsalHttpClient(info["ca_bundle"])
    imds = "http://169.254.169.254/metadata/identity/oauth2/token"

    class ToSimulator:
        def get(self, url: str, **kw: Any) -> Any:
            return inner.get(info["managed_identity_endpoint"] if url == imds else url, **kw)

        def post(self, url: str, **kw: Any) -> Any:
            return inner.post(url, **kw)

    client = msal.ManagedIdentityClient(
        msal.UserAssignedManagedIdentity(client_id=info["managed_identities"]["user"]),
        http_client=ToSimulator())
    env = info["dataverse"][0]
    result = client.acquire_token_for_client(resource=env)
    assert claims(result["access_token"])["aud"] == env
    again = client.acquire_token_for_client(resource=env)
    assert again["token_source"] == "cache"
    # a job with a managed identity reads Dataverse as that identity's application user
    who = inner.client.get(f"{env}/api/data/v9.2/WhoAmI",
                           headers={"Authorization": f"Bearer {result['access_token']}"})
    assert who.status_code == 200
    sim.tenant.dataverse[0].app_users.clear()
    refused = inner.client.get(f"{env}/api/data/v9.2/WhoAmI",
                               headers={"Authorization": f"Bearer {result['access_token']}"})
    assert refused.status_code == 403
    inner.close()


def test_expiry_is_on_the_tenant_clock(sim: Simulator) -> None:
    # idle for 89 days is still fine
    person = Person(sim, sim.tenant.users[0].upn)
    person.sign_in()
    sim.set_now(sim.tenant.now + timedelta(days=89))
    fine = person.silent([f"{person.graph}/User.Read"], force=True)
    assert fine is not None and "access_token" in fine
