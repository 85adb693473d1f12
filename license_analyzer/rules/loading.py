"""The rule registry: packaged defaults, rule files and config rules, minus the disabled ones.

Built-in rules go through the same parser as user rules. A user rule with the id of a default
replaces it. Per-product rules get one copy per [analysis.products] key with that key's
thresholds, and one copy ("*") for every other product.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from importlib import resources
from typing import Any

import polars as pl

from license_analyzer.config import Config
from license_analyzer.errors import ConfigError
from license_analyzer.rules.grammar import compile_conditions
from license_analyzer.rules.model import Rule, parse_rule
from license_analyzer.rules.schema import RULE_FIELDS


@dataclass(frozen=True)
class CompiledRule:
    rule: Rule
    expr: pl.Expr  # the rule's whole filter: products, thresholds scope and conditions

    @property
    def id(self) -> str:
        return self.rule.id


def _parse_file_text(text: str, where: str) -> list[Rule]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"The rule file {where} is not valid TOML ({exc}); fix the syntax.") \
            from None
    unknown = sorted(set(data) - {"rules"})
    if unknown:
        raise ConfigError(f"The rule file {where} has the unknown table {unknown[0]!r}; write each"
                          " rule as [[rules]].")
    raw = data.get("rules", [])
    if not isinstance(raw, list):
        raise ConfigError(f"The rule file {where}: 'rules' is not a list; write each rule as"
                          " [[rules]].")
    return [parse_rule(r, where) for r in raw]


def default_rules() -> list[Rule]:
    text = resources.files("license_analyzer.rules").joinpath("defaults.toml").read_text("utf-8")
    return _parse_file_text(text, "the packaged defaults")


def declared_rules(config: Config) -> list[Rule]:
    """Every rule the config asks for, before per-product expansion, in priority order."""
    by_id: dict[str, Rule] = {r.id: r for r in default_rules()}
    if "mail_only" in by_id:  # its target is a setting: [rules] mail_only_sku
        by_id["mail_only"] = replace(by_id["mail_only"], target=config.rules.mail_only_sku)
    for path in config.rules.files:
        resolved = config.resolve(path)
        try:
            text = resolved.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"Cannot read the rule file {resolved} ({exc.strerror}); fix"
                              " [rules] files.") from None
        for rule in _parse_file_text(text, str(resolved)):
            by_id[rule.id] = rule
    for index, raw in enumerate(config.rules.custom):
        rule = parse_rule(raw, f"[rules] custom[{index}]")
        by_id[rule.id] = rule
    disabled = set(config.rules.disabled)
    rules = [r for r in by_id.values() if r.id not in disabled]
    return sorted(rules, key=lambda r: -r.priority)


def _params(config: Config, key: str) -> dict[str, Any]:
    analysis = config.analysis
    override = analysis.products.get(key)
    inactive = (override.inactive_days if override and override.inactive_days
                else analysis.inactive_days)
    return {
        "inactive_days": inactive,
        "grace_days": override.grace_days if override and override.grace_days is not None
        else analysis.grace_days,
        "low_usage_days": override.low_usage_days
        if override and override.low_usage_days is not None else analysis.low_usage_days,
        "low_usage_window_days": analysis.low_usage_window_days,
        "min_history_days": analysis.min_history_days or inactive,
    }


def _products_expr(rule: Rule) -> pl.Expr:
    expr: pl.Expr = pl.lit(True)
    if "*" not in rule.products:
        names = list(rule.products)
        expr = pl.col("family").is_in(names) | pl.col("sku_part_number").is_in(names)
    if rule.exclude_products:
        names = list(rule.exclude_products)
        expr = expr & ~(pl.col("family").is_in(names) | pl.col("sku_part_number").is_in(names))
    if rule.threshold_key is not None:
        expr = expr & (pl.col("threshold_key") == rule.threshold_key)
    if not rule.include_free:
        expr = expr & ~pl.col("is_free").fill_null(False) & ~pl.col("is_capacity").fill_null(False)
    return expr.fill_null(False)


def load_rules(config: Config, schema: Mapping[str, pl.DataType] | None = None
               ) -> list[CompiledRule]:
    """The rules to run, compiled against `schema` (default: the documented facts columns)."""
    fields = dict(schema) if schema is not None else RULE_FIELDS
    keys = list(config.analysis.products)
    compiled: list[CompiledRule] = []
    for rule in declared_rules(config):
        copies = [rule.for_key(k) for k in [*keys, "*"]] if rule.per_product else [rule]
        for copy in copies:
            params = _params(config, copy.threshold_key or "*")
            condition = compile_conditions(copy.when, fields, params, copy.id, copy.source)
            compiled.append(CompiledRule(copy, _products_expr(copy) & condition))
    return compiled
