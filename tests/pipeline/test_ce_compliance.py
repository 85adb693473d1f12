"""Customer Engagement: Team Members holders writing restricted Dataverse tables, directly or
through a team, against the licenses they hold; the cheapest license covering every table."""

from __future__ import annotations

from sqlmodel import Session

from license_analyzer.pipeline.ce_compliance import cheapest_cover
from license_analyzer.pipeline.fo_compliance import compute
from license_analyzer.store.db import Store
from license_analyzer.store.models import DataverseRestrictedWrite
from tests.factories import (
    SALES_ENV,
    SERVICE_ENV,
    add_profile,
    add_user,
    assign,
    ensure_sku,
    make_config,
    object_id,
    utc,
)


def _writer(s: Session, name: str, held: tuple[str, ...],
            writes: list[tuple[str, str, str, str]]) -> None:
    add_user(s, name)
    for part in held:
        assign(s, object_id(name), ensure_sku(s, part))
    for env, table, role, via in writes:
        s.add(DataverseRestrictedWrite(profile="contoso", environment_url=env,
                                       user_id=object_id(name), table_name=table,
                                       role_name=role, via=via, updated_at=utc(2026, 11, 21)))


def test_team_members_holders_writing_restricted_tables(store: Store) -> None:
    with store.session() as s:
        add_profile(s)
        # a case writer through the Support team, and a knowledge article writer directly
        _writer(s, "tia", ("DYN365_TEAM_MEMBERS",),
                [(SALES_ENV, "incident", "CSR", "team:Support Team"),
                 (SERVICE_ENV, "knowledgearticle", "CSR", "direct")])
        # also holds Customer Service Enterprise: nothing missing
        _writer(s, "uri", ("DYN365_TEAM_MEMBERS", "DYN365_ENTERPRISE_CUSTOMER_SERVICE"),
                [(SALES_ENV, "incident", "CSR", "direct")])
        # writes goals and work orders: two licenses, no single one covers both
        _writer(s, "val", ("DYN365_TEAM_MEMBERS",),
                [(SALES_ENV, "goal", "Salesperson", "direct"),
                 (SALES_ENV, "msdyn_workorder", "Dispatcher", "direct")])
        # not a Team Members holder: not this check's business
        _writer(s, "wes", ("SPE_E3",), [(SALES_ENV, "incident", "CSR", "direct")])
    rows = {r["user_principal_name"].split("@")[0]: r
            for r in compute(make_config(store=store), store).rows}
    assert set(rows) == {"tia", "uri", "val"}
    tia = rows["tia"]
    assert (tia["status"], tia["required"], tia["assigned"], tia["monthly_delta"]) == (
        "under_licensed", ["DYN365_ENTERPRISE_CUSTOMER_SERVICE"], ["DYN365_TEAM_MEMBERS"], 105.0)
    assert tia["driving_roles"] == ["CSR", "CSR (team Support Team)"]
    assert tia["environments"] == sorted([SALES_ENV, SERVICE_ENV])
    assert tia["restricted_tables"] == ["incident", "knowledgearticle"]
    assert rows["uri"]["status"] == "compliant" and rows["uri"]["required"] == []
    assert rows["val"]["status"] == "under_licensed"
    assert sorted(rows["val"]["required"]) == ["D365_SALES_PRO", "DYN365_ENTERPRISE_FIELD_SERVICE"]


def test_cheapest_cover() -> None:
    assert cheapest_cover({"incident"}, {}) == ["DYN365_CUSTOMER_SERVICE_PRO"]
    assert cheapest_cover({"incident", "entitlement"}, {}) == ["DYN365_ENTERPRISE_CUSTOMER_SERVICE"]
    # configured prices win over the packaged list
    assert cheapest_cover({"incident"}, {"DYN365_ENTERPRISE_CUSTOMER_SERVICE": 1.0}) == [
        "DYN365_ENTERPRISE_CUSTOMER_SERVICE"]
    assert cheapest_cover(set(), {}) == []
