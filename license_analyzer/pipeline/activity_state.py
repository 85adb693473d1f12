"""Per-channel activity state: the compact form every day count is computed from.

A channel is (profile, user_id, source, environment). Its state as of day D is ONE row: the
latest `last_at` it ever saw, and a 64-bit mask per kept 64-day block of the last `KEEP_DAYS`
days, bit (day % 64) set for each active day. The kept blocks (at most SLOTS - 1 consecutive
ones) sit in mask columns `m0`..`m3` by block % SLOTS, so a state needs its day to say which
block a slot holds; blocks that fall out of the kept range are cleared. Bitwise OR and max are
associative, so the state of D can be built from all rows up to D (full) or from a saved state
of an earlier day R plus the rows of (R, D] (incremental), and both give the same frame: that
is what makes daily re-analysis cost grow with what changed, not with history (see rollup.py).
One row per channel (not one per block) keeps the saved state and every pass over it small.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

BLOCK_DAYS = 64
KEEP_DAYS = 128  # active-day windows up to this many days can be counted
SLOTS = 4  # > the most blocks KEEP_DAYS can touch (3), so two kept blocks never share a slot
MASKS = [f"m{slot}" for slot in range(SLOTS)]
CHANNEL = ["profile", "user_id", "source", "environment"]
STATE_SCHEMA: dict[str, pl.DataType] = {
    "profile": pl.String(), "user_id": pl.String(), "source": pl.String(),
    "environment": pl.String(), "last_at": pl.Datetime("us", "UTC"),
    **{mask: pl.UInt64() for mask in MASKS},
}
_EPOCH = date(1970, 1, 1)


def day_number(day: date) -> int:
    return (day - _EPOCH).days


def first_kept_block(as_of: date) -> int:
    """The oldest block a state as of `as_of` keeps bits for."""
    return (day_number(as_of) - KEEP_DAYS + 1) // BLOCK_DAYS


def kept_blocks(as_of: date) -> range:
    return range(first_kept_block(as_of), day_number(as_of) // BLOCK_DAYS + 1)


def empty_state() -> pl.LazyFrame:
    return pl.DataFrame(schema=STATE_SCHEMA).lazy()


def _moved_on(state: pl.LazyFrame, state_day: date, as_of: date) -> pl.LazyFrame:
    """A state as of `state_day` with the slots of blocks no longer kept as of `as_of` cleared
    (a later `as_of` may reuse a slot for a newer block)."""
    still = set(kept_blocks(state_day)) & set(kept_blocks(as_of))
    live = {block % SLOTS for block in still}
    return state.select(*CHANNEL, "last_at", *(
        pl.col(mask) if slot in live else pl.lit(0, pl.UInt64).alias(mask)
        for slot, mask in enumerate(MASKS)))


def day_masks(day: pl.Expr, as_of: date) -> list[pl.Expr]:
    """The mask columns of one active `day` (an Int32 day number) in a state as of `as_of`:
    its bit in its block's slot, nothing when the block is no longer kept."""
    block = day // BLOCK_DAYS
    kept = block >= first_kept_block(as_of)
    bit = pl.lit(_DAY_BITS).gather(day % BLOCK_DAYS)
    return [pl.when(kept & (block % SLOTS == slot)).then(bit)
            .otherwise(pl.lit(0, pl.UInt64)).alias(mask) for slot, mask in enumerate(MASKS)]


# Bit i of the mask of a block is day i of it; a lookup beats computing 2 ** i per row.
_DAY_BITS = pl.Series("bits", [1 << i for i in range(BLOCK_DAYS)], dtype=pl.UInt64)


def _as_categories(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Channel columns as Categorical: grouping tens of millions of rows by 36-character user id
    strings keeps every distinct string per thread and took ~2 GB at 19M rows; by category code
    it takes a fraction of that, and less time (the codes are made once per row, while reading).
    """
    return frame.with_columns(pl.col(c).cast(pl.Categorical) for c in CHANNEL)


def rows_to_state_rows(rows: pl.LazyFrame, as_of: date) -> pl.LazyFrame:
    """Activity day rows -> state rows (one per day row, not yet aggregated per channel)."""
    return rows.select(*CHANNEL, "last_at", *day_masks(pl.col("day").cast(pl.Int32), as_of))


def advance(state: pl.LazyFrame, state_day: date | None, rows: pl.LazyFrame,
            as_of: date) -> pl.LazyFrame:
    """The state as of `as_of` from an earlier state (as of `state_day`; None: empty) and the
    activity rows since it.

    `rows` must hold only days after `state_day` and up to `as_of`. They are first OR-ed per
    (channel, block) with one narrow mask column: tens of millions of day rows carrying four
    mask slots each through the group_by took a third longer.
    """
    day = pl.col("day").cast(pl.Int32)
    blocks = (_as_categories(rows.select(*CHANNEL, "last_at", (day // BLOCK_DAYS).alias("block"),
                                         pl.lit(_DAY_BITS).gather(day % BLOCK_DAYS)
                                         .alias("mask")))
              .group_by(*CHANNEL, "block")
              .agg(pl.col("last_at").max(), pl.col("mask").bitwise_or()))
    kept = pl.col("block") >= first_kept_block(as_of)
    widened = blocks.select(*CHANNEL, "last_at", *(
        pl.when(kept & (pl.col("block") % SLOTS == slot)).then(pl.col("mask"))
        .otherwise(pl.lit(0, pl.UInt64)).alias(mask) for slot, mask in enumerate(MASKS)))
    earlier = _as_categories(
        state if state_day is None else _moved_on(state, state_day, as_of))
    return (pl.concat([earlier.select(list(STATE_SCHEMA)), widened], how="vertical")
            .group_by(CHANNEL)
            .agg(pl.col("last_at").max(), *(pl.col(mask).bitwise_or() for mask in MASKS))
            .with_columns(pl.col(c).cast(pl.String) for c in CHANNEL)
            .select(list(STATE_SCHEMA)))


def ungrouped(state: pl.LazyFrame, state_day: date | None, rows: pl.LazyFrame,
              as_of: date) -> pl.LazyFrame:
    """The rows `advance` would group, not grouped: for a consumer that aggregates per user
    anyway with the same OR / max (evidence.class_activity), a group_by per channel first would
    only be a second pass over the state."""
    base = state if state_day is None else _moved_on(state, state_day, as_of)
    return pl.concat([base.select(list(STATE_SCHEMA)),
                      rows_to_state_rows(rows, as_of)], how="vertical")


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
