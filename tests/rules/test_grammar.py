"""The condition grammar compiles to Polars expressions; mistakes name the rule and field."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from license_analyzer.errors import ConfigError
from license_analyzer.rules.grammar import compile_conditions
from license_analyzer.rules.loading import load_rules
from license_analyzer.rules.model import parse_rule
from license_analyzer.rules.schema import RULE_FIELDS
from tests.factories import make_config

FRAME = pl.DataFrame({
    "days_since_activity": [10, 60, 90, None],
    "bucket": ["active", "inactive", "inactive", "never_used"],
    "department": ["Sales", "Finance", None, "Sales"],
    "via_groups": [["g1"], [], ["g2", "g1"], []],
    "read_only": [True, None, False, None],
})


def rows(when: dict[str, Any], params: dict[str, Any] | None = None) -> list[int]:
    expr = compile_conditions(when, FRAME.schema, params or {}, "t")
    return FRAME.with_row_index().filter(expr)["index"].to_list()


@pytest.mark.parametrize(("when", "expected"), [
    ({"field": "days_since_activity", "op": ">=", "value": 60}, [1, 2]),
    ({"field": "days_since_activity", "op": "<", "value": 60}, [0]),
    ({"field": "days_since_activity", "op": "<=", "value": 60}, [0, 1]),
    ({"field": "days_since_activity", "op": ">", "value": 60}, [2]),
    ({"field": "bucket", "op": "==", "value": "inactive"}, [1, 2]),
    ({"field": "bucket", "op": "!=", "value": "inactive"}, [0, 3]),
    ({"field": "department", "op": "in", "value": ["Sales", "HR"]}, [0, 3]),
    ({"field": "department", "op": "not_in", "value": ["Sales"]}, [1]),
    ({"field": "days_since_activity", "op": "is_null"}, [3]),
    ({"field": "department", "op": "not_null"}, [0, 1, 3]),
    ({"field": "via_groups", "op": "contains", "value": "g1"}, [0, 2]),
    ({"field": "department", "op": "contains", "value": "ale"}, [0, 3]),
    ({"all": [{"field": "bucket", "op": "==", "value": "inactive"},
              {"any": [{"field": "read_only", "op": "==", "value": True},
                       {"field": "read_only", "op": "is_null"}]}]}, [1]),
    ({"any": [{"field": "days_since_activity", "op": ">=", "value": "$inactive_days"},
              {"field": "bucket", "op": "==", "value": "never_used"}]}, [1, 2, 3]),
])
def test_ops(when: dict[str, Any], expected: list[int]) -> None:
    assert rows(when, {"inactive_days": 60}) == expected


@pytest.mark.parametrize(("when", "message"), [
    ({"field": "nope", "op": "==", "value": 1},
     "Rule 't' in here: field 'nope' is not a facts column"),
    ({"field": "bucket", "op": "~", "value": 1}, "field 'bucket' has the unknown op '~'"),
    ({"field": "bucket", "op": "in", "value": "x"}, "needs a list for op 'in'"),
    ({"field": "bucket", "op": "=="}, "has no value"),
    ({"field": "bucket", "op": "is_null", "value": 1}, "gives a value"),
    ({"field": "days_since_activity", "op": ">", "value": "$nope"}, "unknown parameter '$nope'"),
    ({"all": []}, "is not a non-empty list"),
    ({"all": [], "any": []}, "mixes"),
    ({"field": "bucket", "op": "==", "value": 1, "extra": 2}, "unknown keys"),
])
def test_mistakes_name_the_rule_and_field(when: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("$", r"\$").replace("(", r"\(")):
        compile_conditions(when, FRAME.schema, {"inactive_days": 60}, "t", "here")


def test_rule_keys_are_checked() -> None:
    with pytest.raises(ConfigError, match="Rule 'r' in here: field 'action' is 'burn'"):
        parse_rule({"id": "r", "action": "burn", "when": {}}, "here")
    with pytest.raises(ConfigError, match="field 'priorty' is not a rule key"):
        parse_rule({"id": "r", "priorty": 1, "when": {}}, "here")


def test_config_rules_disable_and_replace_defaults() -> None:
    custom = {"id": "inactive", "description": "mine", "priority": 75,
              "when": {"all": [{"field": "days_since_activity", "op": ">=", "value": 120}]}}
    config = make_config(rules={"custom": [custom], "disabled": ["low_usage"]},
                         analysis={"products": {"sales": {"inactive_days": 90}}})
    ids = [r.id for r in load_rules(config)]
    assert "low_usage" not in ids and ids.count("inactive") == 1
    assert "never_used.sales" in ids and "never_used" in ids
    assert all(name in RULE_FIELDS for name in ("covered_by", "downgrade_target", "bucket"))
    with pytest.raises(ConfigError, match=r"Rule 'bad' in \[rules\] custom\[0\]"):
        load_rules(make_config(rules={"custom": [{"id": "bad", "when": {
            "field": "x", "op": "==", "value": 1}}]}))
