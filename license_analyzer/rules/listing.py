"""`rules list`: every rule with the candidates and saving it produced in the last analysis."""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from license_analyzer.config import Config
from license_analyzer.rules.inputs import latest_analysis_id
from license_analyzer.rules.loading import load_rules
from license_analyzer.store.db import Store
from license_analyzer.store.models import RuleResult


def rules_summary(config: Config, store: Store) -> list[dict[str, Any]]:
    """Loading the rules validates them: a malformed rule is a ConfigError naming it."""
    rules = load_rules(config)
    analysis_id = latest_analysis_id(store)
    results: dict[str, RuleResult] = {}
    if analysis_id is not None:
        with store.session() as session:
            stmt = select(RuleResult).where(RuleResult.analysis_id == analysis_id)
            results = {r.rule: r for r in session.exec(stmt)}
    rows = []
    for compiled in rules:
        rule = compiled.rule
        result = results.get(rule.id)
        action = rule.action + (f" to {rule.target}" if rule.target else "")
        if rule.action == "downgrade" and not rule.target:
            action += " (per the downgrade table)"
        products = ", ".join(rule.products)
        # the "*" copy of a per-product rule leaves the products with their own copy
        excluded = list(rule.exclude_products) + (
            list(config.analysis.products) if rule.threshold_key == "*" else [])
        if excluded:
            products += " except " + ", ".join(excluded)
        rows.append({
            "rule": rule.id,
            "description": rule.description,
            "products": products,
            "priority": rule.priority,
            "action": action,
            "source": rule.source,
            "matched": result.matched if result else 0,
            "candidates": result.candidates if result else 0,
            "monthly_saving": result.monthly_saving if result else 0.0,
        })
    return rows
