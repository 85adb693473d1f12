"""One page of candidates, filtered and sorted in SQL: what the review app's list shows.

`candidates list` prints every candidate; a browser needs 50 of 300,000, so the filter, the
order and the page are the database's work (indexes of migration 0006), and only the columns
the list shows are read (the evidence JSON stays on disk).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from math import ceil
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select, tuple_

from license_analyzer.rules.review import shown_decider
from license_analyzer.rules.writes import table_of
from license_analyzer.store.db import Store
from license_analyzer.store.models import Candidate, DirectoryUser

PAGE_SIZE = 50
# Counting every match of a broad filter costs a scan of 300,000 rows per page: past this many
# the page says "more than" and the pager stops there (narrow the filter to go further).
COUNT_CAP = 10_000
# what a page shows of each candidate
COLUMNS = ("id", "profile", "user_id", "display_name", "user_principal_name", "department",
           "product_name", "sku_part_number", "rule", "reason", "action",
           "target_sku_part_number", "status", "last_activity", "days_inactive",
           "monthly_saving", "blocked_reason", "evidence_hash", "version", "decided_by")
# the sorts the list indexes serve (models.LIST_INDEXES): key and tie-breakers, in index order
SORTS = {"saving": ("monthly_saving", "id"), "idle": ("days_inactive", "monthly_saving", "id"),
         "user": ("user_principal_name", "monthly_saving", "id")}
# the filters that pick one value of a column, by the name the page's form uses
EXACT = {"status": "status", "product": "product_name", "rule": "rule",
         "department": "department", "action": "action"}


@dataclass(frozen=True)
class CandidateQuery:
    status: str = "proposed"  # one status at a time (a tab): the indexes start with it
    product: str | None = None
    rule: str | None = None
    department: str | None = None
    action: str | None = None
    min_saving: float | None = None
    text: str | None = None
    sort: str = "saving"
    descending: bool = True
    page: int = 1
    size: int = PAGE_SIZE


@dataclass(frozen=True)
class CandidatePage:
    rows: list[dict[str, Any]]
    total: int  # capped: COUNT_CAP + 1 means "more than COUNT_CAP"
    query: CandidateQuery

    @property
    def more(self) -> bool:
        return self.total > COUNT_CAP

    @property
    def pages(self) -> int:
        return max(1, ceil(min(self.total, COUNT_CAP) / self.query.size))


def _where(query: CandidateQuery, reports: Sequence[tuple[str, str]] | None
           ) -> list[ColumnElement[bool]]:
    table = table_of(Candidate)
    where: list[ColumnElement[bool]] = []
    for field, column in EXACT.items():
        value = getattr(query, field)
        if value:
            where.append(table.c[column] == value)
    if query.min_saving is not None:
        where.append(table.c.monthly_saving >= query.min_saving)
    text = (query.text or "").strip().lower()
    if text:
        where.append(or_(table.c.id == text,
                         table.c.search_key.contains(text, autoescape=True)))
    if reports is not None:
        where.append(tuple_(table.c.profile, table.c.user_id).in_(list(reports))
                     if reports else table.c.id.is_(None))
    return where


def candidate_page(store: Store, query: CandidateQuery,
                   reports: Sequence[tuple[str, str]] | None = None) -> CandidatePage:
    """The page `query` asks for; `reports` ((profile, user id) pairs) limits it to a
    manager's people. Finding the page reads one list index (models.LIST_INDEXES), never
    the wide rows but the page's own 50."""
    table = table_of(Candidate)
    # every column in the sort's direction, so the index is walked (backwards) in order
    order = [table.c[c].desc() if query.descending else table.c[c].asc()
             for c in SORTS.get(query.sort, SORTS["saving"])]
    where = and_(*_where(query, reports))
    ids = select(table.c.id).where(where).order_by(*order)
    with store.engine.connect() as conn:
        # one walk in order finds the matches (up to the cap: that is their number too)
        found = list(conn.execute(ids.limit(COUNT_CAP + 1)).scalars())
        total = len(found)
        pages = max(1, ceil(min(total, COUNT_CAP) / query.size))
        page = min(max(1, query.page), pages)
        start = (page - 1) * query.size
        shown = found[start:start + query.size]
        rows = [dict(zip(COLUMNS, r, strict=True)) for r in conn.execute(
            select(*(table.c[name] for name in COLUMNS)).where(table.c.id.in_(shown))
            .order_by(*order))] if shown else []
    for row in rows:
        row["decided_by"] = shown_decider(row["status"], row["decided_by"])
    return CandidatePage(rows=rows, total=total, query=replace(query, page=page))


def filter_choices(store: Store) -> dict[str, list[str]]:
    """The values each exact filter can take (a select box per filter)."""
    table = table_of(Candidate)
    out: dict[str, list[str]] = {}
    with store.engine.connect() as conn:
        for field, column in EXACT.items():
            c = table.c[column]
            out[field] = [v for (v,) in conn.execute(
                select(c).where(c.is_not(None)).distinct().order_by(c))]
    return out


def reports_of(store: Store, manager_id: str) -> list[tuple[str, str]]:
    """(profile, user id) of everyone whose manager is `manager_id` (collected from Graph)."""
    table = table_of(DirectoryUser)
    with store.engine.connect() as conn:
        return [(p, u) for p, u in conn.execute(
            select(table.c.profile, table.c.id).where(table.c.manager_id == manager_id.lower(),
                                                      table.c.deleted_at.is_(None)))]
