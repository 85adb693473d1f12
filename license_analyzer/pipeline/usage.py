"""`usage`: the license position of the latest analyzed day (CONTRACT.md field names)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import Date, text

from license_analyzer.config import Config
from license_analyzer.store.db import Store

if TYPE_CHECKING:
    import polars as pl

USAGE_FIELDS = [
    "profile", "sku_id", "sku_part_number", "product_name", "purchased", "warning", "assigned",
    "active", "inactive", "never_used", "in_grace", "no_data", "low_usage", "unit_price_monthly",
    "monthly_cost", "monthly_waste", "reducible_at_renewal", "next_renewal", "assignment_errors",
]


def usage_rows(store: Store, config: Config) -> list[dict[str, Any]]:
    """One dict per (profile, SKU) of the latest analyzed day; empty before any analysis.

    Plain SQL on the engine: the command needs no ORM (its classes take longer to load than
    the query takes)."""
    names = {p.name for p in config.profiles}
    query = text(f"""SELECT {", ".join(USAGE_FIELDS)} FROM positiondaily
                     WHERE day = (SELECT max(day) FROM positiondaily)
                     ORDER BY profile, sku_part_number""").columns(next_renewal=Date)
    with store.engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return [dict(row) for row in rows if not names or row["profile"] in names]


def position_history(store: Store, profile: str | None = None) -> pl.DataFrame:
    """Every PositionDaily row (all columns), by day: the trends the report draws."""
    import polars as pl  # not at import: `usage` itself needs no Polars
    from sqlmodel import col, select

    from license_analyzer.store.models import PositionDaily

    with store.session() as session:
        query = select(PositionDaily).order_by(col(PositionDaily.day))
        if profile is not None:
            query = query.where(PositionDaily.profile == profile)
        rows = [r.model_dump() for r in session.exec(query).all()]
    return pl.DataFrame(rows, infer_schema_length=None) if rows else pl.DataFrame()
