"""Outbound UFTP delivery: persisted queue, exponential backoff, claim-before-send.

A row is claimed with a conditional UPDATE (a lease), so replicas and concurrent
flushes never send the same message twice at once; a crashed sender's lease simply
runs out and the row is retried. Only 2xx and unambiguous 4xx are final, as the
specification's transport appendix requires (404, 408 and 429 are temporary).
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from gateway.db.uftp import UftpOutbox

LEASE = timedelta(seconds=60)
TEMPORARY_4XX = frozenset({404, 408, 425, 429})


@dataclass(frozen=True)
class DeliveryPolicy:
    retry_base_seconds: float = 2.0
    max_attempts: int = 12
    timeout_seconds: float = 10.0

    def backoff(self, attempts: int) -> timedelta:
        return timedelta(seconds=self.retry_base_seconds * (2 ** max(attempts - 1, 0)))


def _now() -> datetime:
    return datetime.now(UTC)


def enqueue(session: Session, *, message_id: str, message_type: str, recipient_domain: str,
            recipient_role: str, endpoint: str, body: bytes) -> UftpOutbox:
    row = UftpOutbox(
        message_id=message_id, message_type=message_type, recipient_domain=recipient_domain,
        recipient_role=recipient_role, endpoint=endpoint, body=body.decode("utf-8"),
        state="sending", attempts=0, next_attempt_at=_now() + LEASE,
    )
    session.add(row)
    session.flush()
    return row


def _claim(session: Session, row_id: int, now: datetime) -> bool:
    result = session.execute(
        update(UftpOutbox)
        .where(UftpOutbox.id == row_id, UftpOutbox.state.in_(("pending", "sending")),
               UftpOutbox.next_attempt_at <= now)
        .values(state="sending", next_attempt_at=now + LEASE)
    )
    session.commit()
    return bool(getattr(result, "rowcount", 0) == 1)


def classify(status: int) -> str:
    """'delivered', 'failed' (final) or 'retry' for an HTTP status code."""
    if 200 <= status < 300:
        return "delivered"
    if 400 <= status < 500 and status not in TEMPORARY_4XX:
        return "failed"
    return "retry"


def deliver_one(factory: sessionmaker[Any], row_id: int, client: httpx.Client, policy: DeliveryPolicy,
                now: datetime | None = None, owned: bool = False,
                lock: AbstractContextManager[Any] | None = None) -> str | None:
    """Try one queued message; returns its new state, or None if someone else holds it.

    ``owned`` rows were just enqueued (leased) by the caller; others are claimed first.
    ``lock`` serialises this process's writes (SQLite); the HTTP call runs outside it.
    """
    moment = now or _now()
    guard = lock or nullcontext()
    with factory() as session:
        with guard:
            if not owned and not _claim(session, row_id, moment):
                return None
            row = session.get(UftpOutbox, row_id)
            assert row is not None
            endpoint, body = row.endpoint, row.body
            session.commit()
        try:
            response = client.post(
                endpoint, content=body.encode("utf-8"),
                headers={"Content-Type": "text/xml; charset=utf-8"}, timeout=policy.timeout_seconds,
            )
            outcome, error = classify(response.status_code), f"HTTP {response.status_code}: {response.text[:300]}"
        except httpx.HTTPError as exc:
            outcome, error = "retry", f"{type(exc).__name__}: {exc}"
        with guard:
            row = session.get(UftpOutbox, row_id)
            assert row is not None
            row.attempts += 1
            if outcome == "delivered":
                row.state, row.delivered_at, row.last_error = "delivered", _now(), None
            elif outcome == "failed" or row.attempts >= policy.max_attempts:
                row.state, row.last_error = "failed", error
            else:
                row.state, row.last_error = "pending", error
                row.next_attempt_at = _now() + policy.backoff(row.attempts)
            session.commit()
            return row.state


def due_ids(factory: sessionmaker[Any], now: datetime | None = None, limit: int = 200) -> list[int]:
    """Rows whose first attempt failed (backoff over) or whose owner's lease ran out."""
    moment = now or _now()
    with factory() as session:
        rows = session.scalars(
            select(UftpOutbox.id)
            .where(or_(UftpOutbox.state == "pending", UftpOutbox.state == "sending"),
                   UftpOutbox.next_attempt_at <= moment)
            .order_by(UftpOutbox.next_attempt_at)
            .limit(limit)
        )
        return list(rows)


def deliver(factory: sessionmaker[Any], row_ids: Iterable[int], policy: DeliveryPolicy,
            client: httpx.Client | None = None, owned: bool = False,
            lock: AbstractContextManager[Any] | None = None) -> dict[int, str | None]:
    """Deliver rows: ``owned=True`` for rows this caller just enqueued, else they are claimed first."""
    own_client = client is None
    http = client or httpx.Client()
    try:
        return {row_id: deliver_one(factory, row_id, http, policy, owned=owned, lock=lock) for row_id in row_ids}
    finally:
        if own_client:
            http.close()


def flush(
    factory: sessionmaker[Any], policy: DeliveryPolicy, client: httpx.Client | None = None,
    lock: AbstractContextManager[Any] | None = None,
) -> dict[int, str | None]:
    """Deliver everything that is due now (the periodic retry loop and ``flexhub uftp flush``)."""
    return deliver(factory, due_ids(factory), policy, client, lock=lock)
