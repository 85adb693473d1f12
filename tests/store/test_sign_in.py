"""A sealed sign-in in the store (SQLite and PostgreSQL): only ciphertext in the table, opened
only with the key and only for its profile."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from license_analyzer.store.db import Store
from license_analyzer.store.sign_in import StoredSignIn, UnreadableSignIn, open_sealed

KEY = "a-token-cache-key-of-32-characters"
CACHE = '{"RefreshToken": {"k": {"secret": "1.AQ-refresh-token-that-must-not-leak"}}}'


def _raw(store: Store) -> tuple[str, bytes]:
    with store.engine.connect() as conn:
        account, sealed = conn.execute(text("SELECT account, sealed FROM sign_in")).one()
    return str(account), bytes(sealed)


def test_the_table_holds_only_ciphertext_that_opens_with_its_key(store: Store) -> None:
    mine = StoredSignIn(store, "contoso", KEY)
    assert mine.load() is None and mine.account() is None
    mine.save(CACHE, "admin@contoso.com", fresh=True)
    account, sealed = _raw(store)
    assert account == "admin@contoso.com"
    assert b"refresh-token-that-must-not-leak" not in sealed and b"RefreshToken" not in sealed
    opened = StoredSignIn(store, "contoso", KEY).load()
    assert opened is not None and (opened.cache, opened.account) == (CACHE, account)
    with pytest.raises(UnreadableSignIn):
        StoredSignIn(store, "contoso", "another-key-of-32-characters-xx").load()
    with pytest.raises(UnreadableSignIn):  # a row copied to another profile does not open
        open_sealed(KEY, "fabrikam", sealed)
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(UnreadableSignIn):
        open_sealed(KEY, "contoso", tampered)


def test_every_save_reseals_and_a_new_login_starts_over(store: Store) -> None:
    mine = StoredSignIn(store, "contoso", KEY)
    mine.save(CACHE, "admin@contoso.com", fresh=True)
    first = _raw(store)[1]
    mine.save(CACHE.replace("leak", "rotated"), "admin@contoso.com")
    second = _raw(store)[1]
    assert first[4:20] == second[4:20] and first[20:32] != second[20:32]  # same salt, new nonce
    assert "rotated" in open_sealed(KEY, "contoso", second)
    mine.save(CACHE, "other@contoso.com", fresh=True)
    account, third = _raw(store)
    assert account == "other@contoso.com" and third[4:20] != second[4:20]
