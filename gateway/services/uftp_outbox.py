"""Outbound UFTP delivery: persisted queue, exponential backoff, claim-before-send.

A row is claimed with a conditional UPDATE (a lease), so replicas and concurrent
flushes never send the same message twice at once; a crashed sender's lease simply
runs out and the row is retried. Only 2xx and unambiguous 4xx are final, as the
specification's transport appendix requires (404, 408 and 429 are temporary).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import urllib3
from sqlalchemy import bindparam, insert, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from gateway.db.uftp import UftpOutbox

LEASE = timedelta(seconds=60)
PREPARED = "uftp_outbox_prepared"
"""``Session.info`` key: rows enqueued in this session, so their creator can send without re-reading them."""
_TABLE = UftpOutbox.__table__
_INSERT = insert(_TABLE)
_READ = select(_TABLE.c.endpoint, _TABLE.c.body, _TABLE.c.attempts).where(_TABLE.c.id == bindparam("row_id"))
_SETTLE = update(_TABLE).where(_TABLE.c.id == bindparam("row_id"))
TEMPORARY_4XX = frozenset({404, 408, 425, 429})


class Sender:
    """POSTs SignedMessages over a pooled, thread-safe urllib3 connection pool.

    urllib3 rather than httpx here: this is the per-message hot path, and its pool
    costs a fraction of the CPU per request. Returns the status code; raises
    ``TransportError`` on connection problems (a retryable failure).
    """

    def __init__(self, max_connections: int = 32) -> None:
        self._pool = urllib3.PoolManager(num_pools=16, maxsize=max_connections, block=False, retries=False)

    def post(self, url: str, body: bytes, timeout: float) -> tuple[int, str]:
        try:
            response = self._pool.request("POST", url, body=body, timeout=timeout,
                                          headers={"Content-Type": "text/xml; charset=utf-8"})
        except urllib3.exceptions.HTTPError as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        return response.status, response.data[:300].decode("utf-8", errors="replace")

    def close(self) -> None:
        self._pool.clear()


class TransportError(Exception):
    """The peer could not be reached (connection refused, reset, timeout)."""


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
            recipient_role: str, endpoint: str, body: bytes) -> int:
    """Queue a sealed message, leased to the caller for its immediate first attempt; returns the row id."""
    now = _now()
    result = session.connection().execute(_INSERT, {
        "message_id": message_id, "message_type": message_type, "recipient_domain": recipient_domain,
        "recipient_role": recipient_role, "endpoint": endpoint, "body": body.decode("utf-8"),
        "state": "sending", "attempts": 0, "next_attempt_at": now + LEASE, "created_at": now,
    })
    row_id = int(result.inserted_primary_key[0])
    session.info.setdefault(PREPARED, {})[row_id] = (endpoint, body)
    return row_id


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


def attempt_values(attempts: int, outcome: str, error: str, policy: DeliveryPolicy) -> dict[str, Any]:
    """The row's new columns after attempt number ``attempts`` ended in ``outcome`` (see :func:`classify`)."""
    values: dict[str, Any] = {"attempts": attempts}
    if outcome == "delivered":
        values.update(state="delivered", delivered_at=_now(), last_error=None)
    elif outcome == "failed" or attempts >= policy.max_attempts:
        values.update(state="failed", last_error=error)
    else:
        values.update(state="pending", last_error=error, next_attempt_at=_now() + policy.backoff(attempts))
    return values


Settler = Callable[[int, dict[str, Any]], None]
"""Records a delivery attempt's outcome for a row (``settle`` in a transaction of the caller's choosing)."""


def _settle_statement(*columns: str) -> Any:
    return _SETTLE.values(**{name: bindparam(name) for name in columns})


# The three shapes an attempt's outcome takes, built once: a fresh UPDATE per message cost a compile each.
_SETTLE_BY_COLUMNS = {frozenset(columns): _settle_statement(*columns) for columns in (
    ("attempts", "state", "delivered_at", "last_error"),
    ("attempts", "state", "last_error"),
    ("attempts", "state", "last_error", "next_attempt_at"),
)}


def settle(session: Session, row_id: int, values: dict[str, Any]) -> None:
    """Write one attempt's outcome (state, attempts, error, next try) to the row (the caller commits)."""
    statement = _SETTLE_BY_COLUMNS.get(frozenset(values))
    if statement is None:
        statement = _settle_statement(*values)
    session.connection().execute(statement, {"row_id": row_id, **values})


def deliver_one(factory: sessionmaker[Any], row_id: int, client: Sender, policy: DeliveryPolicy,
                now: datetime | None = None, owned: bool = False,
                lock: AbstractContextManager[Any] | None = None,
                prepared: tuple[str, bytes] | None = None, settler: Settler | None = None) -> str | None:
    """Try one queued message; returns its new state, or None if someone else holds it.

    ``owned`` rows were just enqueued (leased) by the caller; others are claimed first.
    ``lock`` serialises this process's writes (SQLite); the HTTP call runs outside it.
    ``settler`` records the outcome elsewhere (the hub's group writer); by default it is
    committed here. Until it is recorded the row stays leased, so a crash in between
    only means the message is sent again after the lease (delivery is at-least-once).
    """
    moment = now or _now()
    guard = lock or nullcontext()
    with factory() as session:
        if not owned:
            with guard:
                if not _claim(session, row_id, moment):
                    return None
        if owned and prepared is not None:
            endpoint, payload, attempts = prepared[0], prepared[1], 0
        else:
            found = session.execute(_READ, {"row_id": row_id}).first()  # a plain read: no write lock needed
            assert found is not None
            endpoint, payload, attempts = found[0], found[1].encode("utf-8"), found[2]
            session.rollback()  # end the read transaction before the (slow) HTTP call
        try:
            status, text = client.post(endpoint, payload, policy.timeout_seconds)
            outcome, error = classify(status), f"HTTP {status}: {text}"
        except TransportError as exc:
            outcome, error = "retry", str(exc)
        values = attempt_values(attempts + 1, outcome, error, policy)
        if settler is not None:
            settler(row_id, values)
            return str(values["state"])
        with guard:
            settle(session, row_id, values)
            session.commit()
        return str(values["state"])


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
            client: Sender | None = None, owned: bool = False,
            lock: AbstractContextManager[Any] | None = None,
            prepared: dict[int, tuple[str, bytes]] | None = None,
            settler: Settler | None = None) -> dict[int, str | None]:
    """Deliver rows: ``owned=True`` for rows this caller just enqueued, else they are claimed first."""
    own_client = client is None
    http = client or Sender()
    known = prepared or {}
    try:
        return {row_id: deliver_one(factory, row_id, http, policy, owned=owned, lock=lock,
                                    prepared=known.get(row_id), settler=settler) for row_id in row_ids}
    finally:
        if own_client:
            http.close()


def flush(
    factory: sessionmaker[Any], policy: DeliveryPolicy, client: Sender | None = None,
    lock: AbstractContextManager[Any] | None = None,
) -> dict[int, str | None]:
    """Deliver everything that is due now (the periodic retry loop and ``flexhub uftp flush``)."""
    return deliver(factory, due_ids(factory), policy, client, lock=lock)
