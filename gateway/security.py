"""API keys: issue, hash, look up. Keys are random UUIDs, so a plain SHA-256 suffices.

A key grants scopes (read, write, admin) to exactly one party. Only the hash is
stored; the clear key is shown once, when it is created.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.requests import HTTPConnection

from gateway.api.deps import Principal
from gateway.api.problems import ProblemError
from gateway.db.flexoffer import ApiKey, Party

SCOPES = frozenset({"read", "write", "admin"})
ANONYMOUS_PARTY = "public"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.strip().lower().encode()).hexdigest()


def issue_key(session: Session, party: str, scopes: Iterable[str], label: str | None = None) -> str:
    """Create a key for ``party`` (creating the party if new) and return it in clear, once.

    The caller commits; the key is usable as soon as the transaction is.
    """
    wanted = sorted(set(scopes))
    unknown = set(wanted) - SCOPES
    if not wanted or unknown:
        raise ValueError(f"scopes must be a non-empty subset of {sorted(SCOPES)}; got {wanted}")
    if not party or len(party) > 128:
        raise ValueError("party must be 1-128 characters")
    if session.get(Party, party) is None:
        session.add(Party(id=party))
        session.flush()
    key = str(uuid.uuid4())
    session.add(ApiKey(key_hash=hash_key(key), party=party, scopes=",".join(wanted), label=label))
    session.flush()
    return key


def lookup_key(session: Session, key: str) -> Principal | None:
    row = session.execute(
        select(ApiKey.party, ApiKey.scopes).where(ApiKey.key_hash == hash_key(key), ApiKey.revoked_at.is_(None))
    ).first()
    if row is None:
        return None
    return Principal(party=row.party, scopes=frozenset(s for s in row.scopes.split(",") if s))


def presented_key(conn: HTTPConnection) -> str | None:
    """The key from ``X-API-Key``, ``Authorization: Bearer`` or (WebSocket only) ``?api_key=``."""
    key = conn.headers.get("x-api-key")
    if key:
        return key.strip()
    auth = conn.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    if conn.scope.get("type") == "websocket":
        return conn.query_params.get("api_key")
    return None


@dataclass
class KeyCache:
    """Recently verified keys (by hash), so a busy client costs no key query per request.

    Lives on ``app.state`` (one per process, nothing global); entries expire after
    ``ttl`` seconds, which bounds how long a revoked key keeps working.
    """

    ttl: float = 30.0
    max_entries: int = 10_000
    _entries: dict[str, tuple[Principal, float]] = field(default_factory=dict)

    def get(self, key_hash: str) -> Principal | None:
        entry = self._entries.get(key_hash)
        if entry is None:
            return None
        if entry[1] < time.monotonic():
            self._entries.pop(key_hash, None)
            return None
        return entry[0]

    def put(self, key_hash: str, principal: Principal) -> None:
        if self.ttl <= 0:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key_hash] = (principal, time.monotonic() + self.ttl)


def _anonymous_or_401(conn: HTTPConnection) -> Principal:
    if conn.app.state.settings.allow_anonymous:
        return Principal(party=ANONYMOUS_PARTY, scopes=frozenset({"read", "write"}))
    raise ProblemError(401, "Unauthorized", "send an API key in X-API-Key or Authorization: Bearer",
                       headers={"WWW-Authenticate": "Bearer"})


def _cache(conn: HTTPConnection) -> KeyCache | None:
    return getattr(conn.app.state, "key_cache", None)


def cached_principal(conn: HTTPConnection) -> Principal | None:
    """The caller if its key was verified recently; None means: ask ``authenticate``."""
    key = presented_key(conn)
    cache = _cache(conn)
    if not key or cache is None:
        return None
    return cache.get(hash_key(key))


def authenticate(conn: HTTPConnection) -> Principal:
    """Resolve the caller, or raise a 401 problem. Browsers' WebSockets cannot set headers,
    so WebSocket callers may pass the key as a query parameter instead."""
    key = presented_key(conn)
    if not key:
        return _anonymous_or_401(conn)
    key_hash = hash_key(key)
    cache = _cache(conn)
    principal = cache.get(key_hash) if cache is not None else None
    if principal is not None:
        return principal
    with conn.app.state.sessionmaker() as session:
        principal = lookup_key(session, key)
    if principal is None:
        raise ProblemError(401, "Unauthorized", "unknown or revoked API key", headers={"WWW-Authenticate": "Bearer"})
    if cache is not None:
        cache.put(key_hash, principal)
    return principal
