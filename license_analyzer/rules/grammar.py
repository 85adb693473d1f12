"""The condition grammar of a rule (venmo/business-rules style), compiled to one Polars expression.

    when = { all = [ { field = "days_since_activity", op = ">=", value = 60 },
                     { any = [ { field = "read_only", op = "==", value = true },
                               { field = "read_only", op = "is_null" } ] } ] }

A value written as "$name" is a parameter (a threshold such as $inactive_days) resolved when the
rule is built. Every mistake is a ConfigError naming the rule and the field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import polars as pl

from license_analyzer.errors import ConfigError

OPS = ("==", "!=", "<", "<=", ">", ">=", "in", "not_in", "is_null", "not_null", "contains")
_NO_VALUE = ("is_null", "not_null")
_LIST_VALUE = ("in", "not_in")


def _fail(rule: str, where: str, problem: str, fix: str) -> ConfigError:
    """`rule` is the rule's label: its id, and where it was written when known."""
    return ConfigError(f"Rule {rule}: {where} {problem}; {fix}.")


def _resolve(value: Any, params: Mapping[str, Any], rule_id: str, field: str) -> Any:
    if isinstance(value, str) and value.startswith("$"):
        name = value[1:]
        if name not in params:
            known = ", ".join(f"${p}" for p in sorted(params))
            raise _fail(rule_id, f"field {field!r}", f"uses the unknown parameter {value!r}",
                        f"use one of {known}")
        return params[name]
    if isinstance(value, list):
        return [_resolve(v, params, rule_id, field) for v in value]
    return value


def _compare(column: pl.Expr, op: str, value: Any, dtype: pl.DataType) -> pl.Expr:
    if op == "is_null":
        return column.is_null()
    if op == "not_null":
        return column.is_not_null()
    if op == "in":
        return column.is_in(pl.Series(values=value, dtype=dtype, strict=False))
    if op == "not_in":
        return ~column.is_in(pl.Series(values=value, dtype=dtype, strict=False))
    if op == "contains":
        if isinstance(dtype, pl.List):
            return column.list.contains(pl.lit(value, dtype=dtype.inner))
        return column.str.contains(str(value), literal=True)
    comparisons: dict[str, Callable[[pl.Expr, pl.Expr], pl.Expr]] = {
        "==": lambda a, b: a == b,
        "!=": lambda a, b: a != b,
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
    }
    return comparisons[op](column, pl.lit(value))


def _condition(node: Mapping[str, Any], schema: Mapping[str, pl.DataType],
               params: Mapping[str, Any], rule_id: str) -> pl.Expr:
    field = node.get("field")
    op = node.get("op")
    unknown_keys = set(node) - {"field", "op", "value"}
    if unknown_keys:
        raise _fail(rule_id, f"condition {dict(node)!r}",
                    f"has unknown keys {sorted(unknown_keys)}",
                    "a condition has only field, op and value")
    if not isinstance(field, str) or field not in schema:
        known = ", ".join(sorted(schema))
        raise _fail(rule_id, f"field {field!r}", "is not a facts column",
                    f"use one of: {known}")
    if op not in OPS:
        raise _fail(rule_id, f"field {field!r}", f"has the unknown op {op!r}",
                    f"use one of {', '.join(OPS)}")
    dtype = schema[field]
    if op in _NO_VALUE:
        if "value" in node:
            raise _fail(rule_id, f"field {field!r}", f"gives a value to op {op!r}",
                        "remove the value")
        return _compare(pl.col(field), str(op), None, dtype)
    if "value" not in node:
        raise _fail(rule_id, f"field {field!r}", f"has no value for op {op!r}", "add value = ...")
    value = _resolve(node["value"], params, rule_id, field)
    if op in _LIST_VALUE and not isinstance(value, list):
        raise _fail(rule_id, f"field {field!r}", f"needs a list for op {op!r}",
                    'write value = ["a", "b"]')
    if op not in _LIST_VALUE and isinstance(value, list | dict):
        raise _fail(rule_id, f"field {field!r}", f"needs a single value for op {op!r}",
                    "write one value or use op \"in\"")
    return _compare(pl.col(field), str(op), value, dtype)


def compile_conditions(node: Any, schema: Mapping[str, pl.DataType], params: Mapping[str, Any],
                       rule_id: str, source: str | None = None) -> pl.Expr:
    """`{all = [...]}`, `{any = [...]}` (nested freely) or one condition, as a boolean pl.Expr.

    Nulls count as "does not match" so that a missing fact never proposes anything.
    """
    label = f"{rule_id!r} in {source}" if source else repr(rule_id)
    return _compile(node, schema, params, label)


def _compile(node: Any, schema: Mapping[str, pl.DataType], params: Mapping[str, Any],
             rule_id: str) -> pl.Expr:
    if not isinstance(node, Mapping):
        raise _fail(rule_id, "'when'", "is not a table", 'write when = { all = [ ... ] }')
    keys = set(node)
    if keys & {"all", "any"}:
        if len(keys) != 1:
            raise _fail(rule_id, "'when'", f"mixes {sorted(keys)} in one table",
                        "nest them: { all = [ ..., { any = [...] } ] }")
        kind = "all" if "all" in node else "any"
        children = node[kind]
        if not isinstance(children, list) or not children:
            raise _fail(rule_id, f"'{kind}'", "is not a non-empty list",
                        f"write {kind} = [ {{ field = ..., op = ..., value = ... }} ]")
        exprs = [_compile(c, schema, params, rule_id) for c in children]
        return pl.all_horizontal(exprs) if kind == "all" else pl.any_horizontal(exprs)
    return _condition(node, schema, params, rule_id).fill_null(False)
