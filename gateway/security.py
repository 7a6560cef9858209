"""API keys: issue, hash, look up. Keys are random UUIDs, so a plain SHA-256 suffices.

A key grants scopes (read, write, admin) to exactly one party. Only the hash is
stored; the clear key is shown once, when it is created.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable

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


def authenticate(conn: HTTPConnection) -> Principal:
    """Resolve the caller, or raise a 401 problem. Browsers' WebSockets cannot set headers,
    so WebSocket callers may pass the key as a query parameter instead."""
    key = presented_key(conn)
    settings = conn.app.state.settings
    if not key:
        if settings.allow_anonymous:
            return Principal(party=ANONYMOUS_PARTY, scopes=frozenset({"read", "write"}))
        raise ProblemError(401, "Unauthorized", "send an API key in X-API-Key or Authorization: Bearer",
                           headers={"WWW-Authenticate": "Bearer"})
    with conn.app.state.sessionmaker() as session:
        principal = lookup_key(session, key)
    if principal is None:
        raise ProblemError(401, "Unauthorized", "unknown or revoked API key", headers={"WWW-Authenticate": "Bearer"})
    return principal
