"""`propose`: run the rules on an analysis' facts and keep the candidates' life cycle.

Writes Candidate rows (one per profile, user, SKU), Decision rows for the automatic transitions
(reopened, cancelled) and one RuleResult row per rule for the analysis.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import polars as pl
from sqlmodel import col, delete, select

from license_analyzer.config import Config
from license_analyzer.pipeline import fo_compliance
from license_analyzer.rules import derive
from license_analyzer.rules.carry_out import GroupInfo, plan_for
from license_analyzer.rules.columnar import evidence_expr, reason_expr
from license_analyzer.rules.derive_fo import add_fo_compliance
from license_analyzer.rules.evaluate import matched_counts, matches, winners
from license_analyzer.rules.evidence import candidate_id, evidence_hash, reason_text
from license_analyzer.rules.inputs import TenantInputs, read_facts, read_inputs
from license_analyzer.rules.lifecycle import (
    OPEN,
    decision_row,
    last_decision_day,
    merge,
    stored_candidates,
)
from license_analyzer.rules.loading import CompiledRule, load_rules
from license_analyzer.rules.schema import FACTS_SCHEMA
from license_analyzer.rules.tables import downgrades, overlap_pairs
from license_analyzer.rules.writes import cancel_candidates, insert_rows, upsert_candidates
from license_analyzer.store.db import Store, utcnow
from license_analyzer.store.models import Candidate, Decision, RuleResult, search_key


@dataclass
class RuleCount:
    matched: int = 0
    candidates: int = 0
    monthly_saving: float = 0.0


@dataclass
class ProposeOutcome:
    analysis_id: int
    candidates: int = 0  # rows some rule matched in this analysis
    new: int = 0
    reopened: int = 0
    cancelled: int = 0
    blocked: int = 0
    monthly_saving: float = 0.0
    per_rule: dict[str, RuleCount] = field(default_factory=dict)
    by_status: dict[str, int] = field(default_factory=dict)


def prepare(facts: pl.LazyFrame, config: Config, inputs: TenantInputs,
            as_of: date) -> pl.LazyFrame:
    """The facts with every derived column the rules may name."""
    schema = facts.collect_schema()
    missing = {name: pl.lit(None, dtype=dtype) for name, dtype in FACTS_SCHEMA.items()
               if name not in schema}
    if "as_of" in missing:
        missing["as_of"] = pl.lit(as_of)
    return (
        facts.with_columns(**missing)
        .pipe(derive.add_threshold_key, config.analysis.products)
        .pipe(derive.add_grace, config.analysis)
        .pipe(derive.add_exclusions, config.exclusions, inputs.memberships.lazy())
        .pipe(derive.add_overlap, overlap_pairs(), inputs.plans.lazy())
        .pipe(derive.add_downgrade, {k: d.target for k, d in downgrades().items()})
        .pipe(derive.add_attach)
        .pipe(add_fo_compliance, inputs.fo_compliance)
    )


def _why_not(row: Mapping[str, Any] | None) -> str:
    if row is None or row.get("bucket") is None and row.get("sku_part_number") is None:
        return "the license is no longer assigned"
    if row.get("excluded_reason"):
        return f"excluded: {row['excluded_reason']}"
    if row.get("bucket") == "active":
        last = row.get("last_activity")
        day = last.date().isoformat() if isinstance(last, datetime) else "recently"
        source = row.get("last_activity_source")
        return f"the user is active again (last activity {day} via {source})"
    if row.get("in_grace_period"):
        return "in the grace period after a new assignment"
    return f"no rule matches any more (now {row.get('bucket')})"


@dataclass
class _ByProfile:
    """The tenant inputs split by profile once, not per candidate."""

    groups: dict[str, dict[str, GroupInfo]]
    skus: dict[str, dict[str, str]]
    protected: dict[tuple[str, str], str]  # (profile, user) -> a protected group they are in

    @classmethod
    def of(cls, inputs: TenantInputs, protected_groups: list[str]) -> _ByProfile:
        split = cls({}, {}, {})
        for (profile, gid), group in inputs.groups.items():
            split.groups.setdefault(profile, {})[gid] = group
        for (profile, part), sku_id in inputs.skus.items():
            split.skus.setdefault(profile, {})[part] = sku_id
        wanted = [g.strip().lower() for g in protected_groups if g.strip()]
        if wanted:
            members = inputs.memberships.filter(
                pl.col("group_id").str.to_lowercase().is_in(wanted)
                | pl.col("group_name").str.to_lowercase().is_in(wanted))
            for profile, user_id, group_id, name in members.iter_rows():
                split.protected.setdefault((profile, user_id),
                                           f"{name} ({group_id})" if name else group_id)
        return split


def _formatted(won: pl.DataFrame, rules: list[CompiledRule]) -> pl.DataFrame:
    """Per winning row, in Polars: `reason` (null where only reason_text can format it) and
    `_evidence` (evidence_of as a struct)."""
    reason: pl.Expr = pl.lit(None, dtype=pl.String)
    for compiled in rules:
        expr = reason_expr(compiled.rule.reason, compiled.rule.description, won.schema)
        if expr is not None:
            reason = pl.when(pl.col("rule") == compiled.id).then(expr).otherwise(reason)
    return won.select(reason.alias("reason"), evidence_expr(won.schema))


# what _proposal and plan_for read from a winning row (reason_text aside)
_PROPOSAL_COLUMNS = (
    "profile", "user_id", "user_principal_name", "display_name", "department", "sku_id",
    "sku_part_number", "product_name", "family", "rule", "also_matching", "assigned_via",
    "via_direct", "via_groups", "disabled_plans", "last_activity", "last_activity_source",
    "days_since_activity", "unit_price_monthly", "downgrade_target", "read_only",
    "strands_attach", "mail_only", "fo_excess", "fo_downgrade_target", "fo_target_price",
    "fo_driving_roles", "fo_required",
)


def _proposal(row: Mapping[str, Any], compiled: CompiledRule, config: Config,
              inputs: TenantInputs, by_profile: _ByProfile, now: datetime, run_id: int | None,
              analysis_id: int, reason: str | None, evidence: dict[str, Any]) -> dict[str, Any]:
    """`reason` and `evidence` as _formatted() gave them for this row."""
    profile = row["profile"]
    groups = by_profile.groups.get(profile, {})
    tenant_skus = by_profile.skus.get(profile, {})
    rule = compiled.rule
    plan = plan_for(row, rule.action, rule.target, groups, tenant_skus, inputs.part_names,
                    config.prices, config.reclamation,
                    by_profile.protected.get((profile, row["user_id"])))
    if evidence["last_activity_day"] is None:
        del evidence["last_activity_day"]  # evidence_of only has it with a last activity
    if row.get("fo_excess"):  # the security roles that set the F&O requirement
        evidence |= {"fo_driving_roles": row.get("fo_driving_roles"),
                     "fo_required": row.get("fo_required")}
    evidence |= {"analysis_id": analysis_id, "remove_direct": plan.remove_direct,
                 "remove_groups": plan.remove_groups, "target_sku_id": plan.target_sku_id,
                 "family": row.get("family"), "disabled_plans": list(row.get("disabled_plans")
                                                                   or [])}
    assigned_via = row.get("assigned_via") or ("direct" if row.get("via_direct") else "")
    last = row.get("last_activity")
    upn = row.get("user_principal_name") or row["user_id"]
    return {
        "profile": profile,
        "user_id": row["user_id"],
        "user_principal_name": upn,
        "display_name": row.get("display_name"),
        "search_key": search_key(upn, row.get("display_name")),
        "department": row.get("department"),
        "sku_id": row["sku_id"],
        "sku_part_number": row.get("sku_part_number") or row["sku_id"],
        "product_name": row.get("product_name") or row.get("sku_part_number") or row["sku_id"],
        "rule": rule.id,
        "also_matching": list(row.get("also_matching") or []),
        "reason": reason if reason is not None
        else reason_text(rule.reason, row, rule.description),
        "action": plan.action,
        "target_sku_part_number": plan.target_sku_part_number,
        "assigned_via": assigned_via,
        "blocked_reason": plan.blocked_reason,
        "monthly_saving": round(plan.monthly_saving, 2),
        "last_activity": last.date() if isinstance(last, datetime) else None,
        "last_activity_source": row.get("last_activity_source"),
        "days_inactive": row.get("days_since_activity"),
        "evidence": evidence,
        "evidence_hash": evidence_hash(rule.id, plan.action, plan.target_sku_part_number,
                                       assigned_via, evidence),
        "updated_at": now,
        "last_run_id": run_id,
    }


def _new_id(profile: str, user_id: str, sku_id: str, taken: set[str]) -> str:
    """`taken`: every id in the store and handed out in this run."""
    for length in (8, 12, 16, 64):
        cid = candidate_id(profile, user_id, sku_id, length)
        if cid not in taken:
            taken.add(cid)
            return cid
    raise AssertionError("sha256 collision")  # pragma: no cover


# every new and every merged row carries every column, so all go in one upsert
_NEW = {"status": "proposed", "status_reason": None, "snoozed_until": None,
        "decided_evidence_hash": None, "decided_by": None, "version": 0}
_KEEP = {"status_reason": None}


def propose(config: Config, store: Store, analysis_id: int,
            run_id: int | None = None) -> ProposeOutcome:
    """Run the rules on the facts of `analysis_id` and bring the candidates up to date."""
    analysis, facts = read_facts(store, analysis_id)
    profiles = [p.name for p in config.profiles]
    with store.session() as session:
        open_rows = session.exec(select(Candidate.profile, Candidate.user_id, Candidate.sku_id)
                                 .where(col(Candidate.status).in_(OPEN))).all()
    open_keys = pl.LazyFrame([tuple(r) for r in open_rows], orient="row",
                             schema={"profile": pl.String, "user_id": pl.String,
                                     "sku_id": pl.String})
    inputs = read_inputs(store, sorted(set(profiles) | {r[0] for r in open_rows}))
    inputs.fo_compliance = fo_compliance.compute(config, store).rule_columns
    # materialized once: every rule, the winners and the cancellations read it, and a lazy
    # plan would recompute the overlap and attach joins for each of them
    prepared = prepare(facts, config, inputs, analysis.as_of).collect().lazy()
    rules = load_rules(config, {**prepared.collect_schema()})
    matched = matches(prepared, rules)
    chosen = winners(prepared, matched)
    # rows of open candidates that no rule proposes now: the reason they are cancelled
    present = (open_keys.join(chosen.select(derive.ROW), on=derive.ROW, how="anti")
               .join(prepared, on=derive.ROW, how="inner")
               .select(*derive.ROW, "sku_part_number", "bucket", "last_activity",
                       "last_activity_source", "excluded_reason", "in_grace_period"))
    won, counts, still, seen = pl.collect_all(
        [chosen, matched_counts(matched), present, prepared.select("profile").unique()])

    by_id = {r.id: r for r in rules}
    outcome = ProposeOutcome(analysis_id=analysis_id,
                             per_rule={r.id: RuleCount() for r in rules})
    for rule_id, n in counts.iter_rows():
        outcome.per_rule[rule_id].matched = n
    now = utcnow()
    by_profile = _ByProfile.of(inputs, config.reclamation.protected_groups)
    seen_profiles = set(seen["profile"].to_list())
    still_rows = {(r["profile"], r["user_id"], r["sku_id"]): r for r in still.iter_rows(named=True)}
    with store.session() as session:
        current = stored_candidates(session, sorted(seen_profiles))
        taken = {s.id for s, _ in current.values()} | set(
            session.exec(select(Candidate.id).where(col(Candidate.profile).notin_(
                sorted(seen_profiles)))).all())
        upserts: list[dict[str, Any]] = []
        reopens: list[dict[str, Any]] = []  # upserts that also change the status
        cancels: list[dict[str, Any]] = []
        decisions: list[dict[str, Any]] = []
        proposed_keys: set[tuple[str, str, str]] = set()

        def decided_day(cid: str, kind: str) -> date | None:
            return last_decision_day(session, cid, kind)

        formatted = _formatted(won, rules)
        # only the columns the proposal reads: turning all ~50 into Python was seconds a run
        narrow = won.select(*(c for c in _PROPOSAL_COLUMNS if c in won.schema))
        for index, (row, reason, evidence) in enumerate(zip(
                narrow.iter_rows(named=True), formatted["reason"].to_list(),
                formatted["_evidence"].to_list(), strict=True)):
            if reason is None:  # a template only reason_text formats: it may name any column
                row = won.row(index, named=True)
            compiled = by_id[row["rule"]]
            proposal = _proposal(row, compiled, config, inputs, by_profile, now, run_id,
                                 analysis_id, reason, evidence)
            key = (row["profile"], row["user_id"], row["sku_id"])
            proposed_keys.add(key)
            count = outcome.per_rule[compiled.id]
            count.candidates += 1
            count.monthly_saving += proposal["monthly_saving"]
            outcome.monthly_saving += proposal["monthly_saving"]
            outcome.blocked += proposal["blocked_reason"] is not None
            found = current.get(key)
            if found is None:
                upserts.append({**_NEW, **proposal, "id": _new_id(*key, taken),
                                "proposed_at": now})
                outcome.new += 1
                status = "proposed"
            elif found[0].status in ("applied", "partial"):
                status = found[0].status  # waits for the change to show, or for a restore
            else:
                result = merge(found[0], proposal, analysis.as_of, config.analysis.inactive_days,
                               decided_day)
                # the insert-only columns are ignored on conflict; present for one key set
                row = {**_KEEP, **result.update, "proposed_at": now,
                       "decided_evidence_hash": None, "decided_by": None}
                status = result.update["status"]
                if result.decision is not None:
                    reopens.append(row)
                    decisions.append(decision_row(result.update, result.decision,
                                                  result.reason or "", now))
                else:
                    upserts.append(row)
            outcome.by_status[status] = outcome.by_status.get(status, 0) + 1
        for key, (stored, action) in current.items():
            if key in proposed_keys or stored.status not in OPEN:
                continue
            reason = _why_not(still_rows.get(key))
            cancels.append({"id": stored.id, "version": stored.version,
                            "status_reason": reason, "updated_at": now})
            decisions.append(decision_row({"id": stored.id, "action": action,
                                           "evidence_hash": stored.evidence_hash},
                                          "cancelled", reason, now))
        # rows a reviewer decided on while this ran are left as the reviewer set them
        upsert_candidates(session, upserts)
        reopened = upsert_candidates(session, reopens, written=True)
        cancelled = cancel_candidates(session, cancels)
        outcome.reopened, outcome.cancelled = len(reopened), len(cancelled)
        changed = reopened | cancelled
        insert_rows(session, Decision, [d for d in decisions if d["candidate_id"] in changed])
        session.exec(delete(RuleResult).where(col(RuleResult.analysis_id) == analysis_id))
        insert_rows(session, RuleResult, [
            {"analysis_id": analysis_id, "rule": compiled.id,
             "description": compiled.rule.description,
             "matched": outcome.per_rule[compiled.id].matched,
             "candidates": outcome.per_rule[compiled.id].candidates,
             "monthly_saving": round(outcome.per_rule[compiled.id].monthly_saving, 2)}
            for compiled in rules])
    outcome.candidates = won.height
    outcome.monthly_saving = round(outcome.monthly_saving, 2)
    return outcome
