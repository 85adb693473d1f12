"""Browser sessions kept in the store, so that several app processes share them, a restart
keeps them and signing out ends them everywhere.

The cookie carries a random token; the store keeps only HMAC-SHA256(session_secret, token),
so neither a copy of the database nor a leaked row opens a session, and changing
session_secret ends every session. Each session has its own CSRF token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete

from license_analyzer.rules.writes import table_of
from license_analyzer.store.db import Store, utcnow
from license_analyzer.store.models import WebSession

# a sign-in begun but not finished: Entra's codes live about 10 minutes
PENDING = timedelta(minutes=15)


@dataclass
class Session:
    token: str  # the cookie's value (never stored)
    key: str  # what the store keys it by
    expires_at: datetime
    csrf: str
    flow: dict[str, Any] | None = None
    next_path: str | None = None
    object_id: str | None = None
    upn: str | None = None
    name: str | None = None
    roles: list[str] = field(default_factory=list)

    @property
    def signed_in(self) -> bool:
        return self.object_id is not None


class SessionStore:
    def __init__(self, store: Store, secret: str, lifetime: timedelta) -> None:
        self.store = store
        self._secret = secret.encode("utf-8")
        self.lifetime = lifetime

    def _key(self, token: str) -> str:
        return hmac.new(self._secret, token.encode("ascii", "replace"), hashlib.sha256).hexdigest()

    def begin(self, flow: dict[str, Any], next_path: str) -> Session:
        """A session waiting for Entra to send the browser back."""
        return self._create(expires_at=utcnow() + PENDING, flow=flow, next_path=next_path)

    def signed_in(self, pending: Session, object_id: str, upn: str, name: str | None,
                  roles: list[str]) -> Session:
        """The person is who Entra says: a new token (the pending one dies with its flow, so a
        token planted before sign-in is worth nothing after it)."""
        self.end(pending)
        return self._create(expires_at=utcnow() + self.lifetime, object_id=object_id, upn=upn,
                            name=name, roles=roles)

    def _create(self, *, expires_at: datetime, **values: Any) -> Session:
        token = secrets.token_urlsafe(32)
        session = Session(token=token, key=self._key(token), expires_at=expires_at,
                          csrf=secrets.token_urlsafe(32), **values)
        now = utcnow()
        with self.store.session() as db:
            # sessions that ran out are swept whenever one begins
            db.execute(delete(table_of(WebSession)).where(
                table_of(WebSession).c.expires_at <= now))
            db.add(WebSession(id=session.key, created_at=now, expires_at=expires_at,
                              flow=session.flow, next_path=session.next_path,
                              object_id=session.object_id, upn=session.upn, name=session.name,
                              roles=session.roles, csrf=session.csrf))
        return session

    def load(self, token: str | None) -> Session | None:
        if not token or len(token) > 200:
            return None
        key = self._key(token)
        with self.store.session() as db:
            row = db.get(WebSession, key)
            if row is None:
                return None
            if row.expires_at <= utcnow():
                db.delete(row)
                return None
            return Session(token=token, key=key, expires_at=row.expires_at, csrf=row.csrf,
                           flow=row.flow, next_path=row.next_path, object_id=row.object_id,
                           upn=row.upn, name=row.name, roles=list(row.roles or []))

    def end(self, session: Session) -> None:
        with self.store.session() as db:
            db.execute(delete(table_of(WebSession)).where(
                table_of(WebSession).c.id == session.key))
