"""Request dependencies shared by all routers: the DB session and the calling party.

Routers depend on these names only; how keys are checked lives in gateway.security.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from gateway.api.problems import ProblemError


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: one party, with the scopes of its API key."""

    party: str
    scopes: frozenset[str]

    def has(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes


def get_db(request: Request) -> Iterator[Session]:
    factory = request.app.state.sessionmaker
    with factory() as session:
        yield session


async def get_principal(request: Request) -> Principal:
    """Resolved by gateway.security (API key header X-API-Key or Authorization: Bearer).

    Async so that a recently verified key costs no thread hop; only a cache miss
    queries the store, in the thread pool.
    """
    from fastapi.concurrency import run_in_threadpool

    from gateway.security import authenticate, cached_principal

    principal = cached_principal(request)
    if principal is not None:
        return principal
    return await run_in_threadpool(authenticate, request)


def require_scope(scope: str) -> Any:
    """Dependency factory: the caller must hold ``scope`` (admin implies all)."""

    async def _check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if not principal.has(scope):
            raise ProblemError(403, "Forbidden", f"this API key lacks the '{scope}' scope")
        return principal

    return _check
