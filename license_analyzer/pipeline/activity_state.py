"""Per-channel activity state: the compact form every day count is computed from.

A channel is (profile, user_id, source, environment). Its state as of day D is one row per
64-day block of the last `KEEP_DAYS` days — `mask` has bit (day % 64) set for each active day —
plus one collapsed row (block = OLDER) for everything before, and each row keeps the latest
`last_at` it saw. Bitwise OR and max are associative, so the state of D can be built from all
rows up to D (full) or from a saved state of an earlier day R plus the rows of (R, D]
(incremental), and both give the same frame: that is what makes daily re-analysis cost grow with
what changed, not with history (see rollup.py).
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

BLOCK_DAYS = 64
KEEP_DAYS = 128  # active-day windows up to this many days can be counted
OLDER = -1  # block id of the collapsed row of days before the kept blocks
CHANNEL = ["profile", "user_id", "source", "environment"]
STATE_SCHEMA: dict[str, pl.DataType] = {
    "profile": pl.String(), "user_id": pl.String(), "source": pl.String(),
    "environment": pl.String(), "block": pl.Int32(), "mask": pl.UInt64(),
    "last_at": pl.Datetime("us", "UTC"),
}
_EPOCH = date(1970, 1, 1)


def day_number(day: date) -> int:
    return (day - _EPOCH).days


def first_kept_block(as_of: date) -> int:
    """The oldest block a state as of `as_of` keeps bits for."""
    return (day_number(as_of) - KEEP_DAYS + 1) // BLOCK_DAYS


def empty_state() -> pl.LazyFrame:
    return pl.DataFrame(schema=STATE_SCHEMA).lazy()


def _blocked(rows: pl.LazyFrame, as_of: date) -> pl.LazyFrame:
    """Activity rows (or state rows, already blocked) mapped onto the blocks kept as of
    `as_of`; older ones go to the OLDER block with no bits."""
    keep = first_kept_block(as_of)
    return rows.with_columns(
        pl.when(pl.col("block") >= keep).then(pl.col("block"))
        .otherwise(pl.lit(OLDER, pl.Int32)).alias("block"),
        pl.when(pl.col("block") >= keep).then(pl.col("mask"))
        .otherwise(pl.lit(0, pl.UInt64)).alias("mask"),
    )


# Bit i of the mask of a block is day i of it; a lookup beats computing 2 ** i per row.
_DAY_BITS = pl.Series("bits", [1 << i for i in range(BLOCK_DAYS)], dtype=pl.UInt64)


def _as_categories(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Channel columns as Categorical: grouping tens of millions of rows by 36-character user id
    strings keeps every distinct string per thread and took ~2 GB at 19M rows; by category code
    it takes a fraction of that, and less time (the codes are made once per row, while reading).
    """
    return frame.with_columns(pl.col(c).cast(pl.Categorical) for c in CHANNEL)


def rows_to_blocks(rows: pl.LazyFrame) -> pl.LazyFrame:
    """Activity day rows -> (channel, block, one-bit mask, last_at), not yet aggregated."""
    day = pl.col("day").cast(pl.Int32)
    return rows.select(
        *CHANNEL,
        (day // BLOCK_DAYS).cast(pl.Int32).alias("block"),
        pl.lit(_DAY_BITS).gather(day % BLOCK_DAYS).alias("mask"),
        "last_at",
    )


def advance(state: pl.LazyFrame, rows: pl.LazyFrame, as_of: date) -> pl.LazyFrame:
    """The state as of `as_of` from an earlier state and the activity rows since it.

    `rows` must hold only days after the earlier state's day and up to `as_of`.
    """
    merged = pl.concat([_as_categories(_blocked(state, as_of)),
                        _as_categories(_blocked(rows_to_blocks(rows), as_of))],
                       how="vertical")
    return (merged.group_by(*CHANNEL, "block")
            .agg(pl.col("mask").bitwise_or(), pl.col("last_at").max())
            .with_columns(pl.col(c).cast(pl.String) for c in CHANNEL)
            .select(list(STATE_SCHEMA)))


def ungrouped(state: pl.LazyFrame, rows: pl.LazyFrame, as_of: date) -> pl.LazyFrame:
    """The rows `advance` would group, not grouped: for a consumer that aggregates per user
    anyway with the same OR / max (evidence.class_activity), a group_by per channel first would
    only be a second pass over a million rows."""
    return pl.concat([_blocked(state, as_of).select(list(STATE_SCHEMA)),
                      _blocked(rows_to_blocks(rows), as_of)], how="vertical")


def window_bits(as_of: date, windows: dict[str, int]) -> dict[int, dict[str, int]]:
    """Per kept block, for each named window of N days ending at `as_of`, the bits of its days
    (a handful of blocks: the day counts become a popcount per block, no join)."""
    end = day_number(as_of)
    bits: dict[int, dict[str, int]] = {}
    for block in range(first_kept_block(as_of), end // BLOCK_DAYS + 1):
        bits[block] = {}
        for name, days in windows.items():
            lo = max(end - days + 1 - block * BLOCK_DAYS, 0)
            hi = min(end - block * BLOCK_DAYS, BLOCK_DAYS - 1)
            bits[block][name] = ((1 << (hi + 1)) - (1 << lo)) if lo <= hi else 0
    return bits


def end_of_day(day: date) -> pl.Expr:
    """The first instant after `day` (UTC): evidence before it counts as of `day`."""
    nxt = day + timedelta(days=1)
    return pl.lit(nxt).cast(pl.Datetime("us", "UTC"))
