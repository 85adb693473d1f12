"""A delegated profile's sign-in, sealed at rest in the `sign_in` table.

msal's serialized token cache (the account, ID, access and refresh tokens) is encrypted with
AES-256-GCM under a key derived from the profile's token_cache_key by scrypt, with a random salt
per sign-in and a fresh nonce per write; the profile's name is bound as associated data, so a
row copied to another profile does not open either. Only the sealed bytes reach the database,
so the database alone (a backup, a replica, a reader of the table) holds no usable token.
A wrong key fails GCM's tag check: UnreadableSignIn, which the caller turns into one sentence.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from license_analyzer.config import ProfileConfig
from license_analyzer.store.db import Store, utcnow
from license_analyzer.store.models import SignIn

MAGIC = b"LAS1"  # format version of the sealed bytes: MAGIC, salt, nonce, ciphertext
SALT_BYTES, NONCE_BYTES = 16, 12
# scrypt's interactive-login cost (2**14, 8, 1): a guessed key costs ~16 MiB and tens of ms
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1


class UnreadableSignIn(Exception):
    """The sealed sign-in does not open with this key (or is not one of ours)."""


@dataclass(frozen=True)
class Unsealed:
    cache: str  # msal's serialized token cache
    account: str  # who signed in


def _derive(key: str, salt: bytes) -> AESGCM:
    kdf = Scrypt(salt=salt, length=32, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    return AESGCM(kdf.derive(key.encode("utf-8")))


def _aad(profile: str) -> bytes:
    return b"license-analyzer sign-in|" + profile.encode("utf-8")


def seal(cipher: AESGCM, salt: bytes, profile: str, plaintext: str) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return MAGIC + salt + nonce + cipher.encrypt(nonce, plaintext.encode("utf-8"), _aad(profile))


def salt_of(blob: bytes) -> bytes:
    if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + SALT_BYTES + NONCE_BYTES + 16:
        raise UnreadableSignIn("not a sealed sign-in")
    return blob[len(MAGIC):len(MAGIC) + SALT_BYTES]


def unseal(cipher: AESGCM, profile: str, blob: bytes) -> str:
    start = len(MAGIC) + SALT_BYTES
    nonce, sealed = blob[start:start + NONCE_BYTES], blob[start + NONCE_BYTES:]
    try:
        return cipher.decrypt(nonce, sealed, _aad(profile)).decode("utf-8")
    except InvalidTag:
        raise UnreadableSignIn("wrong key") from None


def open_sealed(key: str, profile: str, blob: bytes) -> str:
    """The plaintext of a sealed sign-in, or UnreadableSignIn."""
    return unseal(_derive(key, salt_of(blob)), profile, blob)


class StoredSignIn:
    """One profile's sign-in row: read and unsealed once, sealed again on every save."""

    def __init__(self, store: Store, profile: str, key: str) -> None:
        self.store = store
        self.profile = profile
        self._key = key
        self._salt = b""
        self._cipher: AESGCM | None = None  # derived once per salt: scrypt is slow on purpose

    def _use(self, salt: bytes) -> AESGCM:
        if self._cipher is None or salt != self._salt:
            self._salt, self._cipher = salt, _derive(self._key, salt)
        return self._cipher

    def account(self) -> str | None:
        """Who signed in, readable without the key."""
        with self.store.session() as session:
            row = session.get(SignIn, self.profile)
            return row.account if row is not None else None

    def load(self) -> Unsealed | None:
        with self.store.session() as session:
            row = session.get(SignIn, self.profile)
            if row is None:
                return None
            blob, account = bytes(row.sealed), row.account
        return Unsealed(unseal(self._use(salt_of(blob)), self.profile, blob), account)

    def save(self, cache: str, account: str, *, fresh: bool = False) -> None:
        """Seal and store; `fresh` (a new login) starts a new salt and sign-in time."""
        salt = os.urandom(SALT_BYTES) if fresh or not self._salt else self._salt
        blob = seal(self._use(salt), salt, self.profile, cache)
        now = utcnow()
        with self.store.session() as session:
            row = session.get(SignIn, self.profile)
            if row is None:
                row = SignIn(profile=self.profile, account=account, sealed=blob,
                             signed_in_at=now, updated_at=now)
            elif fresh:
                row.signed_in_at = now
            row.account, row.sealed, row.updated_at = account, blob, now
            session.add(row)


def stored_sign_in(store: Store, profile: ProfileConfig) -> StoredSignIn | None:
    """The sign-in a delegated profile keeps in this store (None for other profiles)."""
    if profile.auth != "delegated" or profile.token_cache_key is None:
        return None
    return StoredSignIn(store, profile.name, profile.token_cache_key.get_secret_value())
