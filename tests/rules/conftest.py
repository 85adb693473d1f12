"""A store with the test SKUs (and their service plans) of builders.PLANS."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlmodel import select

from license_analyzer.config import Config
from license_analyzer.rules.propose import ProposeOutcome, propose
from license_analyzer.store.db import Store
from license_analyzer.store.models import Candidate
from tests.factories import AS_OF, make_config
from tests.rules.builders import add_skus, write_facts

Run = Callable[..., dict[str, Candidate]]


@pytest.fixture
def tenant(store: Store) -> Store:
    with store.session() as s:
        add_skus(s)
    return store


def candidates(store: Store) -> dict[str, Candidate]:
    """Stored candidates keyed "user/SKU_PART"."""
    with store.session() as s:
        return {c.user_principal_name.split("@")[0] + "/" + c.sku_part_number: c
                for c in s.exec(select(Candidate))}


@pytest.fixture
def run(tenant: Store) -> Run:
    """Analyze the given facts rows (as of AS_OF unless `as_of=`) and propose; returns the
    candidates. Keyword arguments are config sections (make_config)."""

    def go(rows: list[dict[str, Any]], as_of: Any = AS_OF, config: Config | None = None,
           **sections: Any) -> dict[str, Candidate]:
        analysis_id = write_facts(tenant, rows, as_of=as_of)
        outcome: ProposeOutcome = propose(config or make_config(store=tenant, **sections),
                                          tenant, analysis_id)
        go.outcome = outcome  # type: ignore[attr-defined]
        return candidates(tenant)

    return go
