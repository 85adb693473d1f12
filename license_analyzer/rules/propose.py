"""`propose`: run the rules on an analysis' facts and keep the candidates' life cycle.

Writes Candidate rows (one per profile, user, SKU), Decision rows for the automatic transitions
(reopened, cancelled) and one RuleResult row per rule for the analysis.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import orjson
import polars as pl
from sqlmodel import Session, col, delete, select

from license_analyzer.config import Config
from license_analyzer.pipeline import fo_compliance
from license_analyzer.rules import derive
from license_analyzer.rules.derive_fo import add_fo_compliance
from license_analyzer.rules.evaluate import matched_counts, matches, winners
from license_analyzer.rules.evidence import candidate_id
from license_analyzer.rules.inputs import TenantInputs, read_facts, read_inputs
from license_analyzer.rules.lifecycle import (
    OPEN,
    SHOWN_CHANGES,
    Stored,
    decision_row,
    last_decision_days,
    merge,
    stored_evidence,
    stored_frame,
)
from license_analyzer.rules.loading import load_rules
from license_analyzer.rules.proposals import CANDIDATE_COLUMNS, proposal_frame
from license_analyzer.rules.schema import FACTS_SCHEMA
from license_analyzer.rules.tables import downgrades, overlap_pairs
from license_analyzer.rules.writes import (
    cancel_candidates,
    insert_candidates,
    insert_rows,
    update_candidates,
    upsert_candidates,
)
from license_analyzer.store.db import Store, utcnow
from license_analyzer.store.models import Candidate, Decision, RuleResult


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


def _new_id(profile: str, user_id: str, sku_id: str, taken: set[str]) -> str:
    """`taken`: every id in the store and handed out in this run."""
    for length in (8, 12, 16, 64):
        cid = candidate_id(profile, user_id, sku_id, length)
        if cid not in taken:
            taken.add(cid)
            return cid
    raise AssertionError("sha256 collision")  # pragma: no cover


_WAITING = ("applied", "partial")  # wait for the change to show, or for a restore
_WRITTEN = [c for c in CANDIDATE_COLUMNS]
# what a new candidate starts with
_NEW_STATUS = {"status": pl.lit("proposed"), "status_reason": pl.lit(None, pl.String),
               "snoozed_until": pl.lit(None, pl.Date),
               "decided_evidence_hash": pl.lit(None, pl.String),
               "decided_by": pl.lit(None, pl.String), "version": pl.lit(0, pl.Int64)}
# merged rows carry every column, so all go in one upsert (insert-only ones ignored)
_KEEP = {"status_reason": None}
# what a stored candidate is compared on: the evidence without the analysis id, and every
# column shown or filtered on
_COMPARED = ("_evidence_core", *(c for c in CANDIDATE_COLUMNS
                                 if c not in ("profile", "user_id", "sku_id", "evidence")))


_WRITES = {c: "evidence" if c == "_evidence_core" else c for c in _COMPARED}


def _changed(session: Session, current: pl.DataFrame) -> pl.DataFrame:
    """The still-proposed rows that differ from the stored candidate, with _d0, _d1, ...:
    whether each _COMPARED column does. The stored evidence (the widest column) is read only
    for rows whose other columns are all the same: on a new day the counts in the reason and
    days_inactive have moved for nearly every row, and its evidence is then written anyway."""
    narrow = [pl.col(c).ne_missing(pl.col(f"{c}_stored")).alias(f"_d{i}")
              for i, c in enumerate(_COMPARED) if c != "_evidence_core"]
    flagged = current.with_columns(narrow).with_columns(
        _other=pl.any_horizontal(f"_d{i}" for i in range(1, len(_COMPARED))))
    same = flagged.filter(~pl.col("_other"))["id"].to_list()
    flagged = flagged.join(stored_evidence(session, same), on="id", how="left",
                           maintain_order="left")
    evidence = _COMPARED.index("_evidence_core")  # 0: the others are _d1, _d2, ...
    return flagged.with_columns(
        (pl.col("_other") | pl.col("_evidence_core").ne_missing(
            pl.col("_evidence_core_stored"))).alias(f"_d{evidence}")
    ).filter(pl.any_horizontal(f"_d{i}" for i in range(len(_COMPARED))))


def _count(outcome: ProposeOutcome, proposals: pl.DataFrame) -> None:
    per_rule = proposals.group_by("rule").agg(n=pl.len(), saving=pl.col("monthly_saving").sum())
    for rule_id, n, saving in per_rule.iter_rows():
        count = outcome.per_rule[rule_id]
        count.candidates, count.monthly_saving = n, float(saving or 0.0)
    outcome.monthly_saving = float(proposals["monthly_saving"].sum() or 0.0)
    outcome.blocked = int(proposals["blocked_reason"].is_not_null().sum())


def _life_cycle(session: Session, decided: pl.DataFrame, as_of: date, idle_days: int,
                now: datetime) -> tuple[list[dict[str, Any]], list[dict[str, Any]],
                                        list[dict[str, Any]]]:
    """merge() for each decided (or cancelled) candidate proposed again: the rows to upsert,
    the rows that reopen and their Decision rows."""
    upserts: list[dict[str, Any]] = []
    reopens: list[dict[str, Any]] = []
    decisions: list[dict[str, Any]] = []
    # older stores kept no decided_as_of in the evidence: the day of the decision, in one query
    asked = decided.filter(pl.col("decided_as_of").is_null()
                           & pl.col("status").is_in(["rejected", "restored"]))["id"].to_list()
    days = last_decision_days(session, asked)
    for row in decided.iter_rows(named=True):
        stored = Stored(id=row["id"], status=row["status"],
                        evidence_hash=row["evidence_hash_stored"],
                        decided_evidence_hash=row["decided_evidence_hash"],
                        snoozed_until=row["snoozed_until"], decided_as_of=row["decided_as_of"],
                        shown={name: row[f"{name}_stored"] for name in SHOWN_CHANGES},
                        version=row["version"])
        proposal = {name: row[name] for name in (*_WRITTEN, "updated_at", "last_run_id")}
        proposal["evidence"] = orjson.loads(row["evidence"])
        proposal["also_matching"] = orjson.loads(row["also_matching"])
        result = merge(stored, proposal, as_of, idle_days,
                       lambda cid, kind: days.get((cid, kind)))
        merged = {**_KEEP, **result.update, "proposed_at": now, "decided_evidence_hash": None,
                  "decided_by": None}
        if result.decision is not None:
            reopens.append(merged)
            decisions.append(decision_row(result.update, result.decision, result.reason or "",
                                          now))
        else:
            upserts.append(merged)
    return upserts, reopens, decisions


def propose(config: Config, store: Store, analysis_id: int,
            run_id: int | None = None) -> ProposeOutcome:
    """Run the rules on the facts of `analysis_id` and bring the candidates up to date."""
    analysis, facts = read_facts(store, analysis_id)
    profiles = [p.name for p in config.profiles]
    with store.session() as session:
        open_profiles = session.exec(select(Candidate.profile).distinct()
                                     .where(col(Candidate.status).in_(OPEN))).all()
    inputs = read_inputs(store, sorted(set(profiles) | set(open_profiles)))
    inputs.fo_compliance = fo_compliance.compute(config, store).rule_columns
    # materialized once: every rule, the winners and the cancellations read it, and a lazy
    # plan would recompute the overlap and attach joins for each of them
    prepared = prepare(facts, config, inputs, analysis.as_of).collect().lazy()
    rules = load_rules(config, {**prepared.collect_schema()})
    matched = matches(prepared, rules)
    chosen = winners(prepared, matched)
    won, counts, seen = pl.collect_all(
        [chosen, matched_counts(matched), prepared.select("profile").unique()])

    outcome = ProposeOutcome(analysis_id=analysis_id,
                             per_rule={r.id: RuleCount() for r in rules})
    for rule_id, n in counts.iter_rows():
        outcome.per_rule[rule_id].matched = n
    now = utcnow()
    seen_profiles = sorted(set(seen["profile"].to_list()))
    proposals = proposal_frame(won, rules, config, inputs, analysis_id, now, run_id)
    _count(outcome, proposals)
    with store.session() as session:
        stored = stored_frame(session, seen_profiles)
        vanished = (stored.filter(pl.col("status").is_in(list(OPEN)))
                    .join(proposals.select(derive.ROW), on=derive.ROW, how="anti"))
        # the rows of open candidates that no rule proposes now: why they are cancelled
        still = (vanished.lazy().select(derive.ROW).join(prepared, on=derive.ROW, how="inner")
                 .select(*derive.ROW, "sku_part_number", "bucket", "last_activity",
                         "last_activity_source", "excluded_reason", "in_grace_period")
                 .collect())
        still_rows = {(r["profile"], r["user_id"], r["sku_id"]): r
                      for r in still.iter_rows(named=True)}
        joined = proposals.join(stored, on=derive.ROW, how="left", suffix="_stored",
                                maintain_order="left")
        status = pl.col("status")
        fresh = joined.filter(pl.col("id").is_null())
        # still proposed: brought up to date set-based, written only where something changed
        current = joined.filter(status == "proposed")
        changed = _changed(session, current)
        # decided or cancelled: the life cycle per row (a few percent of the candidates)
        decided = joined.filter(status.is_not_null() & ~status.is_in(["proposed", *_WAITING]))
        waiting = joined.filter(status.is_in(list(_WAITING)))  # for the change, or a restore
        outcome.new = fresh.height
        taken = set(stored["id"].to_list()) | set(
            session.exec(select(Candidate.id).where(col(Candidate.profile).notin_(
                seen_profiles))).all())
        first_run = not taken  # no candidate stored for any profile
        ids = [_new_id(p, u, k, taken) for p, u, k in fresh.select(derive.ROW).iter_rows()]
        insert_candidates(session, fresh.select(
            pl.Series("id", ids, dtype=pl.String), *_WRITTEN, "updated_at", "last_run_id",
            proposed_at=pl.lit(now), **_NEW_STATUS), table_empty=first_run)
        # one statement per set of changed columns: SQLite and PostgreSQL rewrite only the
        # indexes whose columns a statement sets (a day's new counts touch one of five)
        for flags, rows in changed.group_by([f"_d{i}" for i in range(len(_COMPARED))]):
            names = [_WRITES[c] for c, f in zip(_COMPARED, flags, strict=True) if f]
            update_candidates(session, rows.select("id", "version", *names, "updated_at",
                                                   "last_run_id"))
        upserts, reopens, decisions = _life_cycle(session, decided, analysis.as_of,
                                                  config.analysis.inactive_days, now)
        statuses = ["proposed"] * (fresh.height + current.height) + [
            r["status"] for r in upserts + reopens] + waiting["status"].to_list()
        for name in statuses:
            outcome.by_status[name] = outcome.by_status.get(name, 0) + 1
        cancels = []
        for profile, user_id, sku_id, cid, version, action, ehash in vanished.select(
                *derive.ROW, "id", "version", "action", "evidence_hash").iter_rows():
            reason = _why_not(still_rows.get((profile, user_id, sku_id)))
            cancels.append({"id": cid, "version": version, "status_reason": reason,
                            "updated_at": now})
            decisions.append(decision_row({"id": cid, "action": action,
                                           "evidence_hash": ehash}, "cancelled", reason, now))
        # rows a reviewer decided on while this ran are left as the reviewer set them
        upsert_candidates(session, upserts)
        reopened = upsert_candidates(session, reopens, written=True)
        cancelled = cancel_candidates(session, cancels)
        outcome.reopened, outcome.cancelled = len(reopened), len(cancelled)
        done = reopened | cancelled
        insert_rows(session, Decision, [d for d in decisions if d["candidate_id"] in done])
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
