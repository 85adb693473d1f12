"""Defensive parsing of Microsoft's payloads and the roll-up to day rows."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import polars as pl

from license_analyzer.sources.dataverse import is_human
from license_analyzer.sources.graph_tenant import has_premium_plan
from license_analyzer.sources.graph_users import assignments_of
from license_analyzer.sources.rollup import audit_day_rows, signin_day_rows
from license_analyzer.sources.values import guid, moment, text


def test_sentinels_and_empty_strings_mean_never() -> None:
    assert moment("0001-01-01T00:00:00Z") is None
    assert moment("") is None
    assert moment(None) is None
    assert moment("2026-11-20T10:11:12.1234567Z") == datetime(2026, 11, 20, 10, 11, 12, 123456,
                                                               tzinfo=UTC)
    assert text(" None ") is None
    assert text(" Active ") == "Active"
    assert guid(" ABC-Def ") == "abc-def"


def test_license_assignment_states_are_read_defensively() -> None:
    user = {
        "assignedLicenses": [{"skuId": "AAAA-1", "disabledPlans": []},
                             {"skuId": "cccc-3", "disabledPlans": ["P2", "p1"]}],
        "licenseAssignmentStates": [
            {"skuId": " AAAA-1 ", "assignedByGroup": None, "state": " Active ", "error": "None",
             "lastUpdatedDateTime": "2026-01-02T03:04:05Z", "disabledPlans": []},
            {"skuId": "aaaa-1", "assignedByGroup": "GROUP-9", "state": "Active", "error": None,
             "lastUpdatedDateTime": "0001-01-01T00:00:00Z"},
        ],
    }
    held = {(h.sku_id, h.via): h for h in assignments_of("u1", user)}
    assert set(held) == {("aaaa-1", "direct"), ("aaaa-1", "group-9"), ("cccc-3", "direct")}
    direct = held[("aaaa-1", "direct")]
    assert direct.state == "Active" and direct.error is None
    assert direct.updated_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert held[("aaaa-1", "group-9")].updated_at is None
    assert held[("cccc-3", "direct")].disabled_plans == ("p1", "p2")


def test_non_human_systemusers() -> None:
    assert is_human({"fullname": "Ada", "accessmode": 0})
    assert not is_human({"fullname": "SYSTEM", "accessmode": 0})
    assert not is_human({"fullname": "INTEGRATION"})
    assert not is_human({"fullname": "# App", "applicationid": "a-b"})
    assert not is_human({"fullname": "Support", "accessmode": 3})
    assert not is_human({"fullname": "Flow", "accessmode": 4})
    assert not is_human({"fullname": "Robot", "isintegrationuser": True})


def test_premium_plan_detection() -> None:
    assert has_premium_plan([{"capabilityStatus": "Enabled", "service": "AADPremiumService",
                              "servicePlanId": "41781fb2-bc02-4b7c-bd55-b576c07bb09d"}])
    assert not has_premium_plan([{"capabilityStatus": "Deleted", "service": "AADPremiumService"}])
    assert not has_premium_plan([{"capabilityStatus": "Enabled", "service": "exchange"}])


def test_audit_records_roll_up_per_entra_user_and_day() -> None:
    humans = pl.DataFrame({"systemuser_id": ["s1", "s2"], "entra_object_id": ["e1", "e2"]})
    page: list[dict[str, Any]] = [
        {"createdon": "2026-11-20T08:00:00Z", "objecttypecode": "systemuser",
         "_objectid_value": "S1", "_userid_value": "app"},
        {"createdon": "2026-11-20T12:00:00Z", "objecttypecode": "systemuser",
         "_objectid_value": "s1", "_userid_value": "app"},
        # older records carry the user in _userid_value
        {"createdon": "2026-11-21T01:00:00Z", "objecttypecode": "account",
         "_objectid_value": "x", "_userid_value": "s2"},
        # application users are not in `humans`: dropped
        {"createdon": "2026-11-21T01:00:00Z", "objecttypecode": "systemuser",
         "_objectid_value": "app-user", "_userid_value": None},
    ]
    rows = audit_day_rows([page], humans, profile="p", environment="https://org").sort("user_id")
    assert rows["user_id"].to_list() == ["e1", "e2"]
    assert rows["day"].to_list() == [date(2026, 11, 20), date(2026, 11, 21)]
    assert rows["events"].to_list() == [2, 1]
    assert rows["last_at"][0] == datetime(2026, 11, 20, 12, tzinfo=UTC)
    assert set(rows["source"]) == {"dataverse_audit"}


def test_only_successful_sign_ins_count() -> None:
    rows = signin_day_rows([
        {"userId": "U1", "createdDateTime": "2026-11-20T08:00:00Z", "status": {"errorCode": 0}},
        {"userId": "u1", "createdDateTime": "2026-11-20T09:00:00Z",
         "status": {"errorCode": 50126}},
    ], profile="p", source="signin_crm")
    assert rows.height == 1 and rows["events"][0] == 1 and rows["user_id"][0] == "u1"


def test_times_with_offsets_or_fractions_roll_up_to_the_utc_day() -> None:
    rows = signin_day_rows([
        {"userId": "u", "createdDateTime": "2026-11-21T01:30:00+02:00",  # 2026-11-20 UTC
         "status": {"errorCode": 0}},
        {"userId": "u", "createdDateTime": "2026-11-20T23:00:00.25Z", "status": {"errorCode": 0}},
        {"userId": "u", "createdDateTime": "2026-11-21T00:00:00Z", "status": {"errorCode": 0}},
    ], profile="p", source="signin_crm").sort("day")
    assert rows["day"].to_list() == [date(2026, 11, 20), date(2026, 11, 21)]
    assert rows["events"].to_list() == [2, 1]
    assert rows["last_at"][0] == datetime(2026, 11, 20, 23, 30, tzinfo=UTC)
