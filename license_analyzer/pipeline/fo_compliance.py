"""Finance & Operations license compliance: the license each user requires from their security
roles, against the Dynamics SKUs they hold in Graph.

Microsoft's rules, as its pages state them:
- a user needs the highest license their enabled roles require (None < Team members < Activity
  < a full product); several full products make the dearest the base license and the others
  attach licenses; requirements are judged across every production environment of the tenant
  and only for enabled users ("Stay compliant with user licensing requirements",
  https://learn.microsoft.com/en-us/dynamics365/fin-ops-core/dev-itpro/sysadmin/stay-compliant-user-license-requirement;
  the admin center's per-product base and attach view and production-only scope:
  https://learn.microsoft.com/en-us/power-platform/admin/view-license-consumption-finops-apps);
- a user holding only the System administrator role is exempt from the license validation
  (as the issue states Microsoft documents it; the licensing guide's admin-access clause,
  discussed at https://alexdmeyer.com/2024/09/03/what-license-do-sysadmins-need-in-d365fo);
  beside other roles System administrator counts as a full (Operations) license;
- read-only access needs no more than Team Members
  (https://dynamicspedia.com/2024/03/help-my-configured-read-only-role-requires-an-operations-or-activity-license/),
  which is what the what-if per role assumes when a role loses its write access.

The admin center's "User license consumption" export (imported with `compliance import`) is
Microsoft's own answer: where it disagrees with this computation both rows are listed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import col

from license_analyzer.catalog import load_catalog
from license_analyzer.catalog.fno_licenses import SYSADMIN_ROLE, FnoLicenses, load_fno_licenses
from license_analyzer.config import Config
from license_analyzer.pipeline.ce_compliance import ce_rows, merge_ce
from license_analyzer.store.compliance_imports import (
    SECURITY_OBJECT_LICENSES,
    USER_LICENSE_CONSUMPTION,
    latest_imports,
)
from license_analyzer.store.db import Store
from license_analyzer.store.models import (
    DirectoryUser,
    FinanceOperationsUser,
    FnoSecurityRole,
    FnoUserRole,
    LicenseAssignment,
    SkuState,
)

STATUSES = ("compliant", "under_licensed", "over_licensed", "exempt", "unmatched")
GENERIC = "operations"  # the tier named when a role needs a full license of no known product


@dataclass(frozen=True)
class Role:
    role_id: str
    name: str
    tier: str  # none | team_members | activity | operations
    products: tuple[str, ...]  # product keys that satisfy it (operations only); () = any


@dataclass
class Need:
    """What a set of roles requires: items (skuPartNumber or tier), their prices, the roles."""

    tier: str
    items: list[str] = field(default_factory=list)  # base first
    prices: list[float] = field(default_factory=list)
    driving: list[str] = field(default_factory=list)
    exempt: bool = False

    @property
    def cost(self) -> float:
        return round(sum(self.prices), 2)


class Prices:
    def __init__(self, lic: FnoLicenses, configured: Mapping[str, float]) -> None:
        self.lic = lic
        self.configured = {k.upper(): float(v) for k, v in configured.items()}

    def of(self, sku: str) -> float:
        sku = sku.upper()
        if sku in self.configured:
            return self.configured[sku]
        return self.lic.list_price(sku) or 0.0

    def cheapest_full(self) -> tuple[str, float]:
        options = [(p.base, self.of(p.base)) for p in self.lic.products if not p.covers_any]
        return min(options, key=lambda o: (o[1], o[0]))


def need_of(roles: Iterable[Role], lic: FnoLicenses, prices: Prices) -> Need:
    roles = list(roles)
    licensed = [r for r in roles if r.tier != "none"]
    if licensed and all(r.role_id == SYSADMIN_ROLE for r in licensed):
        return Need("none", driving=[r.name for r in licensed], exempt=True)
    if not licensed:
        return Need("none")
    rank = lic.tiers
    top = max(licensed, key=lambda r: rank[r.tier]).tier
    driving = [r for r in licensed if r.tier == top]
    need = Need(top, driving=sorted({r.name for r in driving}))
    if top == "activity":
        need.items, need.prices = [lic.activity_sku], [prices.of(lic.activity_sku)]
    elif top == "team_members":
        sku = lic.team_members_skus[0]
        need.items, need.prices = [sku], [prices.of(sku)]
    else:
        # a role any of several products satisfies asks for the cheapest of them
        wanted: set[str] = set()
        for r in driving:
            if r.products:
                options = [p for p in (lic.product(k) for k in r.products) if p is not None]
                if options:
                    wanted.add(min(options, key=lambda p: (prices.of(p.base), p.key)).key)
        products = [p for p in lic.products if p.key in wanted]
        if not products:
            need.items, need.prices = [GENERIC], [prices.cheapest_full()[1]]
            return need
        products.sort(key=lambda p: (-prices.of(p.base), p.key))
        base, attaches = products[0], products[1:]
        need.items = [base.base] + [p.attach or p.base for p in attaches]
        need.prices = [prices.of(base.base)] + [
            prices.of(p.attach) if p.attach else p.attach_price for p in attaches]
    return need


@dataclass
class Verdict:
    status: str
    missing: list[str]
    monthly_delta: float
    # (held skuPartNumber, "downgrade" | "remove", target skuPartNumber or None, saving)
    excess: list[tuple[str, str, str | None, float]]


def judge(need: Need, held: set[str], lic: FnoLicenses, prices: Prices) -> Verdict:
    """Compare a need with the F&O SKUs held (upper case)."""
    full = {p.base for p in lic.products}
    legacy = {p.base for p in lic.products if p.covers_any}
    held_full = held & full
    kept: set[str] = set()
    missing: list[tuple[str, float]] = []
    replace: str | None = None
    downgrades: list[tuple[str, str, float]] = []  # (held full, its attach, saving)
    if need.exempt or need.tier == "none":
        pass
    elif need.tier == "team_members":
        have = held & set(lic.team_members_skus)
        if have:
            kept.add(sorted(have)[0])
        elif not (held & ({lic.activity_sku} | full)):
            missing.append((need.items[0], need.prices[0]))
        else:
            replace = need.items[0]
    elif need.tier == "activity":
        if lic.activity_sku in held:
            kept.add(lic.activity_sku)
        elif not held_full:
            missing.append((need.items[0], need.prices[0]))
        else:
            replace = need.items[0]
    elif need.items == [GENERIC]:
        if held_full:
            kept.add(max(held_full, key=lambda s: (prices.of(s), s)))
        else:
            missing.append((GENERIC, need.prices[0]))
    else:
        by_sku = {p.base: p for p in lic.products} | {p.attach: p for p in lic.products
                                                       if p.attach}
        for k, (item, price) in enumerate(zip(need.items, need.prices, strict=True)):
            product = by_sku[item]
            if product.base in held:
                kept.add(product.base)
                if k > 0 and product.attach and product.attach not in held:
                    downgrades.append((product.base, product.attach,
                                       prices.of(product.base) - prices.of(product.attach)))
            elif product.attach and product.attach in held and k > 0:
                kept.add(product.attach)
            elif held & legacy:
                kept.add(sorted(held & legacy)[0])
            else:
                missing.append((item, price))
    if missing:
        return Verdict("under_licensed", [m for m, _ in missing],
                       round(sum(p for _, p in missing), 2), [])
    fno_held = held & lic.all_skus
    excess: list[tuple[str, str, str | None, float]] = [
        (sku, "downgrade", target, round(saving, 2)) for sku, target, saving in downgrades
        if saving > 0]
    extra = sorted(fno_held - kept, key=lambda s: (-prices.of(s), s))
    for k, sku in enumerate(extra):
        if k == 0 and replace is not None:
            excess.append((sku, "downgrade", replace,
                           round(max(prices.of(sku) - prices.of(replace), 0.0), 2)))
        else:
            excess.append((sku, "remove", None, round(prices.of(sku), 2)))
    if need.exempt:
        return Verdict("exempt", [], 0.0, [])
    if not excess:
        return Verdict("compliant", [], 0.0, [])
    return Verdict("over_licensed", [], -round(sum(e[3] for e in excess), 2), excess)


@dataclass
class ComplianceResult:
    rows: list[dict[str, Any]]  # the `compliance --format json` rows (CONTRACT.md), + extras
    role_what_if: list[dict[str, Any]]  # per role: licenses and money saved without write access
    # per (profile, user_id, SKU upper) the columns the rules read (rules/fo_columns.py)
    rule_columns: pl.DataFrame
    imported: dict[str, dict[str, Any]]  # kind -> file name, dates, rows of the newest import


RULE_SCHEMA: dict[str, pl.DataType] = {
    "profile": pl.String(), "user_id": pl.String(), "sku_key": pl.String(),
    "fo_status": pl.String(), "fo_excess": pl.String(), "fo_downgrade_target": pl.String(),
    "fo_target_price": pl.Float64(), "fo_monthly_saving": pl.Float64(),
    "fo_driving_roles": pl.String(), "fo_required": pl.String(),
}


def _production(config: Config) -> set[tuple[str, str]]:
    return {(p.name, e.url) for p in config.profiles for e in p.finance_operations
            if e.production}


def _frame(rows: list[Any], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame([tuple(r) for r in rows], schema=schema, orient="row")


def _load(store: Store, profiles: list[str], fno_skus: frozenset[str]
          ) -> dict[str, pl.DataFrame]:
    s = pl.String()
    with store.session() as session:
        users = session.execute(sa_select(
            col(FinanceOperationsUser.profile), col(FinanceOperationsUser.environment_url),
            col(FinanceOperationsUser.user_id), col(FinanceOperationsUser.alias),
            col(FinanceOperationsUser.email), col(FinanceOperationsUser.enabled),
            col(FinanceOperationsUser.object_id), col(FinanceOperationsUser.matched_user_id))
            .where(col(FinanceOperationsUser.profile).in_(profiles))).all()
        assignments = session.execute(sa_select(
            col(FnoUserRole.profile), col(FnoUserRole.environment_url),
            col(FnoUserRole.user_id), col(FnoUserRole.role_id), col(FnoUserRole.role_name),
            col(FnoUserRole.assignment_status), col(FnoUserRole.license_type))
            .where(col(FnoUserRole.profile).in_(profiles))).all()
        roles = session.execute(sa_select(
            col(FnoSecurityRole.profile), col(FnoSecurityRole.environment_url),
            col(FnoSecurityRole.role_id), col(FnoSecurityRole.name),
            col(FnoSecurityRole.license_type))
            .where(col(FnoSecurityRole.profile).in_(profiles))).all()
        held = session.execute(sa_select(
            col(LicenseAssignment.profile), col(LicenseAssignment.user_id),
            col(SkuState.sku_part_number))
            .join(SkuState, (col(SkuState.profile) == col(LicenseAssignment.profile))
                  & (col(SkuState.sku_id) == col(LicenseAssignment.sku_id)))
            # only F&O people, through the (profile, user_id, ...) index, not every license
            .where(col(LicenseAssignment.profile).in_(profiles),
                   col(LicenseAssignment.user_id).in_(
                       sa_select(col(FinanceOperationsUser.matched_user_id))),
                   func.upper(col(SkuState.sku_part_number)).in_(sorted(fno_skus)),
                   col(LicenseAssignment.valid_to).is_(None),
                   (col(LicenseAssignment.state).is_(None))
                   | (col(LicenseAssignment.state) != "Error"))).all()
        directory = session.execute(sa_select(
            col(DirectoryUser.profile), col(DirectoryUser.id),
            col(DirectoryUser.user_principal_name), col(DirectoryUser.account_enabled))
            .where(col(DirectoryUser.profile).in_(profiles),
                   col(DirectoryUser.id).in_(sa_select(col(FinanceOperationsUser.matched_user_id))))
        ).all()
    return {
        "users": _frame(list(users), {"profile": s, "environment_url": s, "fo_user": s,
                                      "alias": s, "email": s, "enabled": pl.Boolean(),
                                      "object_id": s, "matched_user_id": s}),
        "assignments": _frame(list(assignments), {
            "profile": s, "environment_url": s, "fo_user": s, "role_id": s, "role_name": s,
            "assignment_status": s, "assigned_license_type": s}),
        "roles": _frame(list(roles), {"profile": s, "environment_url": s, "role_id": s,
                                      "name": s, "license_type": s}),
        "held": _frame(list(held), {"profile": s, "user_id": s, "sku_part_number": s}),
        "directory": _frame(list(directory), {"profile": s, "user_id": s, "upn": s,
                                              "account_enabled": pl.Boolean()}),
    }


def enabled_assignments(frames: dict[str, pl.DataFrame],
                        production: set[tuple[str, str]]) -> pl.LazyFrame:
    """One row per enabled role of an enabled F&O user in a production environment, with the
    person it belongs to (`person`: the Entra object id, else "fo:" + the F&O UserID)."""
    prod = pl.LazyFrame(sorted(production), schema={"profile": pl.String(),
                                                    "environment_url": pl.String()},
                        orient="row")
    env_key = ["profile", "environment_url"]
    users = (frames["users"].lazy().join(prod, on=env_key, how="semi")
             .filter(pl.col("enabled"))
             .with_columns(_user=pl.col("fo_user").str.to_lowercase()))
    return (
        frames["assignments"].lazy().join(prod, on=env_key, how="semi")
        # only a switched-off assignment is ignored; an empty status is taken as enabled
        .filter(pl.col("assignment_status").fill_null("Enabled").str.to_lowercase()
                != "disabled")
        .with_columns(_user=pl.col("fo_user").str.to_lowercase())
        .join(users.drop("fo_user"), on=[*env_key, "_user"], how="inner")
        .join(frames["roles"].lazy(), on=[*env_key, "role_id"], how="left")
        .with_columns(
            license_type=pl.coalesce("license_type", "assigned_license_type"),
            role_name=pl.coalesce("name", "role_name", "role_id"),
            person=pl.coalesce(pl.col("matched_user_id"),
                               pl.lit("fo:") + pl.col("_user")))
        .select("profile", "person", "environment_url", "fo_user", "alias", "email",
                "object_id", "matched_user_id", "role_id", "role_name", "license_type")
    )


def _role(role_id: str, name: str, license_type: str | None, lic: FnoLicenses,
          acceptable: Mapping[str, tuple[str, ...]]) -> Role:
    tier, product, _ = lic.tier_of(license_type)
    products: tuple[str, ...] = (product,) if product else ()
    if tier == "operations" and name.lower() in acceptable:
        products = acceptable[name.lower()] or products  # the imported object-level answer
    return Role(role_id, name, tier, products)


def compute(config: Config, store: Store) -> ComplianceResult:
    lic = load_fno_licenses()
    prices = Prices(lic, config.prices)
    profiles = [p.name for p in config.profiles]
    frames = _load(store, profiles, lic.all_skus)
    imported = latest_imports(store)
    acceptable = role_products(imported.get(SECURITY_OBJECT_LICENSES), lic)
    per_person = (enabled_assignments(frames, _production(config))
                  .group_by("profile", "person", maintain_order=True)
                  .agg(pl.col("environment_url").unique().sort().alias("environments"),
                       pl.col("matched_user_id").first(), pl.col("fo_user").first(),
                       pl.col("object_id").drop_nulls().first(),
                       pl.col("alias").drop_nulls().first(), pl.col("email").drop_nulls().first(),
                       pl.struct("role_id", "role_name", "license_type").unique()
                       .alias("roles"))
                  .sort("profile", "person").collect())
    # the catalog's spelling for SKUs nobody holds yet (Dyn365_Operations_Activity)
    upper_names = {p.upper(): p for p in load_catalog()["sku_part_number"].to_list()}
    held: dict[tuple[str, str], set[str]] = {}
    for profile, user_id, part in frames["held"].iter_rows():
        upper_names[part.upper()] = part
        if part.upper() in lic.all_skus:
            held.setdefault((profile, user_id), set()).add(part.upper())
    upns = {(p, u): upn for p, u, upn, _ in frames["directory"].iter_rows()}

    def shown(sku: str) -> str:
        return str(upper_names.get(sku, sku))

    rows: list[dict[str, Any]] = []
    rule_rows: list[dict[str, Any]] = []
    people: list[tuple[str, str, list[Role], set[str]]] = []
    for r in per_person.iter_rows(named=True):
        roles = sorted({_role(x["role_id"], x["role_name"], x["license_type"], lic, acceptable)
                        for x in r["roles"]}, key=lambda x: x.role_id)
        need = need_of(roles, lic, prices)
        matched = r["matched_user_id"]
        mine = held.get((r["profile"], matched), set()) if matched else set()
        verdict = judge(need, mine, lic, prices)
        status = verdict.status if matched else "unmatched"
        delta = verdict.monthly_delta
        if status == "unmatched":
            delta = need.cost if not need.exempt else 0.0
        if need.tier == "none" and not need.exempt and not mine:
            continue  # no license needed and none held (System user alone): nothing to say
        user_id = matched or r["fo_user"]
        rows.append({
            "profile": r["profile"], "user_id": user_id,
            "user_principal_name": upns.get((r["profile"], matched)) if matched
            else (r["alias"] or r["email"] or r["fo_user"]),
            "environments": list(r["environments"]),
            "required": [shown(i) for i in need.items],
            "assigned": sorted(shown(s) for s in mine),
            "status": status,
            "driving_roles": need.driving,
            "monthly_delta": round(delta, 2),
            "source": "computed",
            "missing": [shown(m) for m in verdict.missing],
            "fo_user_id": r["fo_user"],
            "object_id": r["object_id"],
            "disagreement": None,
        })
        if matched:
            people.append((r["profile"], matched, roles, mine))
            for sku in mine:
                action = next((e for e in verdict.excess if e[0] == sku), None)
                rule_rows.append({
                    "profile": r["profile"], "user_id": matched, "sku_key": sku,
                    "fo_status": status, "fo_excess": action[1] if action else None,
                    "fo_downgrade_target": shown(action[2]) if action and action[2] else None,
                    "fo_target_price": prices.of(action[2]) if action and action[2] else None,
                    "fo_monthly_saving": action[3] if action else None,
                    "fo_driving_roles": ", ".join(need.driving) or None,
                    "fo_required": ", ".join(shown(i) for i in need.items) or None})
    # Customer Engagement: Team Members holders writing restricted Dataverse tables
    rows = merge_ce(rows, ce_rows(store, profiles, prices.configured, shown))
    tenants = {p.tenant_id.lower(): p.name for p in config.profiles}
    rows = merge_admin_center(rows, imported.get(USER_LICENSE_CONSUMPTION), lic, prices, shown,
                              tenants, profiles[0] if profiles else "")
    return ComplianceResult(rows=rows, role_what_if=what_if(people, lic, prices),
                            rule_columns=pl.DataFrame(rule_rows, schema=RULE_SCHEMA),
                            imported=imported)


def role_products(imported: dict[str, Any] | None,
                  lic: FnoLicenses) -> dict[str, tuple[str, ...]]:
    """From the security object licenses export: per role (lowercased name), the products whose
    license covers every object of the role (no object "Not entitled" for it)."""
    if not imported:
        return {}
    refused: dict[str, set[str]] = {}
    seen: dict[str, set[str]] = {}
    keys = {n.lower(): p.key for p in lic.products for n in p.names}
    for row in imported["rows"]:
        role = str(row.get("role") or "").strip().lower()
        product = keys.get(str(row.get("license") or "").strip().lower())
        if not role or product is None:
            continue
        seen.setdefault(role, set()).add(product)
        if str(row.get("entitlement") or "").strip().lower() == "not entitled":
            refused.setdefault(role, set()).add(product)
    return {role: tuple(sorted(products - refused.get(role, set())))
            for role, products in seen.items()}


def merge_admin_center(rows: list[dict[str, Any]], imported: dict[str, Any] | None,
                       lic: FnoLicenses, prices: Prices, shown: Any,
                       tenants: Mapping[str, str], fallback: str) -> list[dict[str, Any]]:
    """Mark rows the admin center agrees with (source "both"); where it disagrees, or knows a
    user the computation does not, add its own row (source "admin_center")."""
    if not imported:
        return rows
    by_id = {(r["user_id"] or "").lower(): r for r in rows}
    by_id |= {r["object_id"].lower(): r for r in rows if r.get("object_id")}
    by_upn = {(r["user_principal_name"] or "").lower(): r for r in rows}
    out = list(rows)
    for a in imported["rows"]:
        mine = by_id.get(str(a.get("user_id") or "").lower()) or by_upn.get(
            str(a.get("user_email") or "").lower())
        missing = [lic.names.get(n.lower(), n) for n in a.get("missing") or []]
        assigned = [lic.names.get(n.lower(), n) for n in a.get("assigned") or []]
        required = [lic.names.get(n.lower(), n) for n in a.get("required") or []]
        theirs = {
            # a user only the admin center knows belongs to the profile of its TenantId
            "profile": mine["profile"] if mine else tenants.get(
                str(a.get("tenant_id") or "").lower(), fallback),
            "user_id": str(a.get("user_id") or "").lower() or None,
            "user_principal_name": a.get("user_email") or None,
            "environments": mine["environments"] if mine else [],
            "required": [shown(x) for x in (required or missing)],
            "assigned": [shown(x) for x in assigned],
            "status": "under_licensed" if missing else "compliant",
            "driving_roles": [],
            "monthly_delta": round(sum(prices.of(m) for m in missing), 2),
            "source": "admin_center", "missing": [shown(m) for m in missing],
            "fo_user_id": None, "disagreement": None,
        }
        if mine is None:
            theirs["disagreement"] = "only the admin center lists this user"
            out.append(theirs)
            continue
        # the admin center names products: an attach SKU is its product as much as the base
        same_missing = _products(missing, lic) == _products(mine["missing"], lic)
        same_required = not required or _products(required, lic) == _products(
            mine["required"], lic)
        if not theirs["user_principal_name"]:
            theirs["user_principal_name"] = mine["user_principal_name"]
        if same_missing and same_required:
            mine["source"] = "both"
            continue
        why = (f"admin center requires {', '.join(theirs['required']) or 'nothing'}"
               f" (missing {', '.join(theirs['missing']) or 'nothing'}); computed "
               f"{', '.join(mine['required']) or 'nothing'} (missing "
               f"{', '.join(mine['missing']) or 'nothing'})")
        mine["disagreement"] = theirs["disagreement"] = why
        out.append(theirs)
    return out


def _products(skus: Iterable[str], lic: FnoLicenses) -> set[str]:
    out: set[str] = set()
    for sku in skus:
        up = sku.upper()
        product = next((p.key for p in lic.products if up in (p.base, p.attach)), None)
        out.add(product or ("team_members" if up in lic.team_members_skus else up))
    return out


def what_if(people: list[tuple[str, str, list[Role], set[str]]], lic: FnoLicenses,
            prices: Prices) -> list[dict[str, Any]]:
    """Per role held by someone whose need it drives: how many users' required license would
    get cheaper, and by how much a month, if the role only read (read-only: Team Members)."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for profile, _user, roles, _held in people:
        need = need_of(roles, lic, prices)
        if need.exempt:
            continue
        for role in roles:
            if lic.tiers[role.tier] <= lic.tiers["team_members"] or role.name not in need.driving:
                continue
            lowered = [Role(r.role_id, r.name, "team_members", ()) if r == role else r
                       for r in roles]
            saving = need.cost - need_of(lowered, lic, prices).cost
            entry = out.setdefault((profile, role.role_id), {
                "profile": profile, "role_id": role.role_id, "role": role.name,
                "license": role.tier if not role.products else ", ".join(role.products),
                "holders": 0, "licenses_saved": 0, "monthly_saving": 0.0})
            entry["holders"] += 1
            if saving > 0.005:
                entry["licenses_saved"] += 1
                entry["monthly_saving"] = round(entry["monthly_saving"] + saving, 2)
    return sorted(out.values(), key=lambda e: (-e["monthly_saving"], -e["holders"], e["role"]))


def status_totals(rows: list[dict[str, Any]]) -> dict[str, int]:
    counts = dict.fromkeys(STATUSES, 0)
    for r in rows:
        if r["source"] != "admin_center":
            counts[r["status"]] += 1
    return counts




CONTRACT_FIELDS = ("profile", "user_id", "user_principal_name", "environments", "required",
                   "assigned", "status", "driving_roles", "monthly_delta", "source")


def contract_rows(result: ComplianceResult) -> list[dict[str, Any]]:
    """`compliance --format json`: CONTRACT.md's fields first, then what else is known (the
    missing licenses, the F&O UserID, why the admin center disagrees, the restricted Dataverse
    tables a Team Members holder writes)."""
    order = {s: k for k, s in enumerate(("under_licensed", "unmatched", "over_licensed",
                                         "compliant", "exempt"))}
    rows = sorted(result.rows, key=lambda r: (order[r["status"]], -abs(r["monthly_delta"]),
                                              r["profile"], r["user_principal_name"] or "",
                                              r["source"]))
    return [{**{k: r[k] for k in CONTRACT_FIELDS}, "missing": r["missing"],
             "fo_user_id": r["fo_user_id"], "disagreement": r["disagreement"],
             "restricted_tables": r.get("restricted_tables", [])} for r in rows]


def flat(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Lists joined with "; " for CSV cells and table columns."""
    return [{k: "; ".join(v) if isinstance(v, list) else v for k, v in r.items()} for r in rows]
