"""A reclamation rule as read from TOML, validated once with sentences that name the rule."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from license_analyzer.errors import ConfigError

ACTIONS = ("remove", "downgrade", "remove_from_group")
_ID = re.compile(r"^[A-Za-z0-9_.:-]+$")
_KEYS = {"id", "description", "products", "exclude_products", "priority", "action", "target",
         "reason", "when", "grace", "include_free", "per_product"}


@dataclass(frozen=True)
class Rule:
    id: str
    description: str
    when: dict[str, Any]
    action: str = "remove"
    products: tuple[str, ...] = ("*",)
    exclude_products: tuple[str, ...] = ()
    priority: int = 0
    target: str | None = None  # downgrade: a skuPartNumber; None: from the downgrade table
    reason: str = ""
    grace: bool = True  # honour the grace period after assignment
    include_free: bool = False  # also free and company-level capacity SKUs
    per_product: bool = False  # one copy per product with its own thresholds ([analysis.products])
    source: str = "config"
    # set on per-product copies: the [analysis.products] key this copy is for ("*": the rest)
    threshold_key: str | None = field(default=None)

    def for_key(self, key: str) -> Rule:
        if key == "*":
            return replace(self, threshold_key="*")
        return replace(self, id=f"{self.id}.{key}", products=(key,), threshold_key=key,
                       description=f"{self.description} ({key})")


def _strings(value: Any, rule_id: str, key: str, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"Rule {rule_id!r} in {where}: field {key!r} is not a list of names;"
                          f' write {key} = ["sales", "DYN365_ENTERPRISE_SALES"] or ["*"].')
    return tuple(value)


def parse_rule(raw: Any, where: str) -> Rule:
    """One rule table from TOML (`where` says which file or config key it came from)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"A rule in {where} is not a table; write it as [[rules]] with id = ...")
    rule_id = raw.get("id")
    if not isinstance(rule_id, str) or not _ID.match(rule_id):
        raise ConfigError(f"A rule in {where} has no valid id (got {rule_id!r}); give it"
                          ' id = "letters-digits_.-" .')
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise ConfigError(f"Rule {rule_id!r} in {where}: field {unknown[0]!r} is not a rule key;"
                          f" use only {', '.join(sorted(_KEYS - {'per_product'}))}.")
    action = raw.get("action", "remove")
    if action not in ACTIONS:
        raise ConfigError(f"Rule {rule_id!r} in {where}: field 'action' is {action!r}; use one of"
                          f" {', '.join(ACTIONS)}.")
    priority = raw.get("priority", 0)
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise ConfigError(f"Rule {rule_id!r} in {where}: field 'priority' is not a whole number;"
                          " write priority = 50.")
    when = raw.get("when")
    if not isinstance(when, dict):
        raise ConfigError(f"Rule {rule_id!r} in {where}: field 'when' is missing or not a table;"
                          ' write when = { all = [ { field = "bucket", op = "==", value ='
                          ' "inactive" } ] }.')
    target = raw.get("target")
    if target is not None and (not isinstance(target, str) or action != "downgrade"):
        raise ConfigError(f"Rule {rule_id!r} in {where}: field 'target' needs action = "
                          '"downgrade" and a skuPartNumber; fix one of them.')
    for flag in ("grace", "include_free", "per_product"):
        if flag in raw and not isinstance(raw[flag], bool):
            raise ConfigError(f"Rule {rule_id!r} in {where}: field {flag!r} is not true or false;"
                              " fix it.")
    for text in ("description", "reason"):
        if text in raw and not isinstance(raw[text], str):
            raise ConfigError(f"Rule {rule_id!r} in {where}: field {text!r} is not text; quote"
                              " it.")
    return Rule(
        id=rule_id,
        description=raw.get("description", rule_id),
        when=when,
        action=action,
        products=_strings(raw.get("products", ["*"]), rule_id, "products", where),
        exclude_products=_strings(raw.get("exclude_products", []), rule_id, "exclude_products",
                                  where) if raw.get("exclude_products") else (),
        priority=priority,
        target=target,
        reason=raw.get("reason", ""),
        grace=raw.get("grace", True),
        include_free=raw.get("include_free", False),
        per_product=raw.get("per_product", False),
        source=where,
    )
