"""FMAR business rules between the REST routes and the store: markets, bids, gates, results.

Every write commits before anything is published (persist first, then act).
Clearing claims the market with a conditional UPDATE (open -> clearing), so only
one worker or replica ever clears a given market, and its inputs are stored
beside the result so anyone can re-clear them and compare the bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from core.flexoffer import FlexOffer, OfferState
from core.market.clearing import clear
from core.market.models import Bid, MarketConfig, OrderBook, Request, request_to_bid
from core.market.orderbook import bid_problems
from core.market.results import BidResult, BidStatus, ClearingResult, canonical_json, offer_outcome
from gateway.api.problems import ProblemError
from gateway.bus import Event, EventBus
from gateway.db.market import CongestionZone, Market, MarketAudit, MarketBid, MarketResult
from gateway.services.clock import utc_now

log = logging.getLogger("flexhub.market")

OPEN, CLEARING, CLEARED, FAILED = "open", "clearing", "cleared", "failed"
CANCELED = "canceled"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _audit(session: Session, market_id: str, party: str, action: str, **detail: Any) -> None:
    session.add(MarketAudit(market_id=market_id, at=utc_now(), party=party, action=action,
                            detail=json.dumps(detail, sort_keys=True, default=str)))


def load_market(session: Session, market_id: str) -> Market:
    row = session.get(Market, market_id)
    if row is None:
        raise ProblemError(404, "Market not found", f"no market {market_id!r}")
    return row


def config_of(row: Market) -> MarketConfig:
    return MarketConfig.model_validate_json(row.config)


def _is_operator(row: Market, party: str, admin: bool) -> bool:
    return admin or row.owner == party


def market_view(row: Market) -> dict[str, Any]:
    return {"id": row.id, "owner": row.owner, "status": row.status,
            "config": json.loads(row.config), "created_at": row.created_at.isoformat()}


def create_market(session: Session, party: str, config: MarketConfig) -> Market:
    now = utc_now()
    row = Market(id=config.id, owner=party, status=OPEN, gate_closure=config.gate_closure, next_sequence=0,
                 config=config.model_dump_json(), created_at=now, updated_at=now)
    session.add(row)
    try:
        session.flush()
    except IntegrityError as exc:
        session.rollback()
        raise ProblemError(409, "Market exists", f"a market {config.id!r} already exists") from exc
    _audit(session, config.id, party, "create", config=json.loads(row.config))
    session.commit()
    return row


def configure_market(session: Session, party: str, admin: bool, market_id: str, changes: dict[str, Any]) -> Market:
    """Change an open market's settings; the result is validated as a whole before it is stored."""
    row = load_market(session, market_id)
    if not _is_operator(row, party, admin):
        raise ProblemError(403, "Forbidden", "only the market's operator may configure it")
    if row.status != OPEN:
        raise ProblemError(409, "Market closed", f"market {market_id!r} is {row.status}; it can no longer change")
    if "id" in changes and changes["id"] != market_id:
        raise ProblemError(422, "Id mismatch", "a market's id cannot change")
    merged = {**json.loads(row.config), **changes}
    try:
        config = MarketConfig.model_validate(merged)
    except ValidationError as exc:
        raise ProblemError(422, "Invalid market configuration", str(exc.errors(include_url=False))) from exc
    row.config = config.model_dump_json()
    row.gate_closure = config.gate_closure
    row.updated_at = utc_now()
    _audit(session, market_id, party, "configure", changes=changes)
    session.commit()
    return row


def parse_bid(body: dict[str, Any], party: str, offer_lookup: Callable[[str], FlexOffer] | None,
              mtu_seconds: int, audit: Callable[..., None] | None = None) -> tuple[Bid, str | None]:
    """A bid from its JSON: a priced flex-offer, a reference to a stored offer, or a DSO/BRP request."""
    body = dict(body)
    if body.setdefault("bidder", party) != party:
        raise ProblemError(403, "Forbidden", f"this key acts for {party!r}, not {body['bidder']!r}")
    try:
        if "quantities_kwh" in body:
            return request_to_bid(Request.model_validate(body), mtu_seconds), None
        offer_ref = body.pop("offer_id", None)
        if offer_ref is not None:
            if offer_lookup is None:  # pragma: no cover - the REST layer always passes one
                raise ProblemError(422, "Unknown offer", "stored offers cannot be referenced here")
            body["offer"] = offer_lookup(str(offer_ref)).model_dump(mode="json")
        return Bid.model_validate(body), offer_ref
    except ValidationError as exc:
        errors = json.loads(exc.json(include_url=False, include_context=False))
        detail = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors[:5])
        if audit is not None:
            audit("bid_rejected", bid_id=str(body.get("id")), reasons=[detail])
        raise ProblemError(422, "Invalid bid", detail or "the bid does not match the bid schema",
                           errors=errors) from exc


def auditor(session: Session, market_id: str, party: str) -> Callable[..., None]:
    """An audit writer bound to one market and caller, committing each entry at once."""

    def write(action: str, **detail: Any) -> None:
        _audit(session, market_id, party, action, **detail)
        session.commit()

    return write


def submit_bid(session: Session, party: str, market_id: str, bid: Bid, offer_ref: str | None) -> MarketBid:
    row = load_market(session, market_id)
    config = config_of(row)
    now = utc_now()
    if row.status != OPEN:
        raise ProblemError(409, "Gate closed", f"market {market_id!r} is {row.status}; no more bids")
    problems = bid_problems(config, bid, now)
    if problems:
        status = 409 if problems[0].startswith("gate closed") else 422
        _audit(session, market_id, party, "bid_rejected", bid_id=bid.id, reasons=problems)
        session.commit()
        raise ProblemError(status, "Bid rejected", "; ".join(problems), reasons=problems, bid_id=bid.id)
    sequence = row.next_sequence
    claimed = session.execute(
        update(Market).where(Market.id == market_id, Market.status == OPEN, Market.next_sequence == sequence)
        .values(next_sequence=sequence + 1)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        raise ProblemError(409, "Concurrent change", "the market changed meanwhile; retry the bid")
    stored = bid.model_copy(update={"sequence": sequence, "submitted_at": now, "bidder": party})
    if stored.offer.state is OfferState.INITIAL:
        stored = stored.model_copy(update={"offer": stored.offer.model_copy(update={"state": OfferState.OFFERED})})
    bid_row = MarketBid(market_id=market_id, bid_id=bid.id, party=party, side=bid.side.value,
                        zone=stored.bid_zone or config.zones[0], status=OPEN, sequence=sequence,
                        offer_ref=offer_ref, submitted_at=now, document=stored.model_dump_json())
    session.add(bid_row)
    try:
        session.flush()
    except IntegrityError as exc:
        session.rollback()
        raise ProblemError(409, "Duplicate bid", f"bid {bid.id!r} already exists in market {market_id!r}") from exc
    _audit(session, market_id, party, "bid", bid_id=bid.id, sequence=sequence, side=bid.side.value)
    session.commit()
    return bid_row


def cancel_bid(session: Session, party: str, admin: bool, market_id: str, bid_id: str) -> MarketBid:
    row = load_market(session, market_id)
    bid_row = _bid_row(session, market_id, bid_id)
    if bid_row.party != party and not admin:
        raise ProblemError(404, "Bid not found", f"no bid {bid_id!r} of this party in market {market_id!r}")
    config = config_of(row)
    now = utc_now()
    if row.status != OPEN or (config.gate_closure is not None and now >= config.gate_closure):
        raise ProblemError(409, "Gate closed", "bids can only be canceled before gate closure")
    if bid_row.status != OPEN:
        raise ProblemError(409, "Bid not open", f"bid {bid_id!r} is {bid_row.status}")
    bid_row.status = CANCELED
    _audit(session, market_id, party, "cancel", bid_id=bid_id)
    session.commit()
    return bid_row


def _bid_row(session: Session, market_id: str, bid_id: str) -> MarketBid:
    found = session.scalars(
        select(MarketBid).where(MarketBid.market_id == market_id, MarketBid.bid_id == bid_id)
    ).first()
    if found is None:
        raise ProblemError(404, "Bid not found", f"no bid {bid_id!r} in market {market_id!r}")
    return found


def list_bids(session: Session, party: str, admin: bool, market_id: str) -> list[dict[str, Any]]:
    row = load_market(session, market_id)
    query = select(MarketBid).where(MarketBid.market_id == market_id).order_by(MarketBid.sequence)
    if not _is_operator(row, party, admin):
        query = query.where(MarketBid.party == party)
    return [bid_view(b) for b in session.scalars(query)]


def bid_view(b: MarketBid) -> dict[str, Any]:
    return {"bid_id": b.bid_id, "party": b.party, "side": b.side, "zone": b.zone, "status": b.status,
            "sequence": b.sequence, "offer_id": b.offer_ref, "submitted_at": b.submitted_at.isoformat(),
            "outcome": json.loads(b.outcome) if b.outcome else None}


def stored_book(session: Session, row: Market) -> OrderBook:
    bids = session.scalars(
        select(MarketBid.document).where(MarketBid.market_id == row.id, MarketBid.status == OPEN)
        .order_by(MarketBid.sequence)
    )
    return OrderBook(market=config_of(row), bids=[Bid.model_validate_json(doc) for doc in bids])


def book_json(book: OrderBook) -> str:
    return json.dumps(book.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))


def clear_market(session: Session, bus: EventBus | None, market_id: str, party: str = "scheduler") -> ClearingResult:
    """Clear one market exactly once, store inputs and result, then tell every bidder."""
    row = load_market(session, market_id)
    if row.status in (CLEARED, FAILED):
        return stored_result(session, market_id)
    claimed = session.execute(
        update(Market).where(Market.id == market_id, Market.status == OPEN).values(status=CLEARING)
    )
    session.commit()
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise ProblemError(409, "Clearing in progress", f"market {market_id!r} is being cleared")
    session.refresh(row)
    book = stored_book(session, row)
    try:
        result = clear(book)
    except Exception as exc:  # a market must never hang in "clearing"
        log.exception("clearing market %s failed", market_id)
        row.status = OPEN
        _audit(session, market_id, party, "clear_failed", error=str(exc))
        session.commit()
        raise ProblemError(500, "Clearing failed", str(exc)) from exc
    inputs, outputs = book_json(book), canonical_json(result)
    session.add(MarketResult(market_id=market_id, cleared_at=utc_now(), input_sha256=_sha(inputs),
                             result_sha256=_sha(outputs), input_document=inputs, result_document=outputs))
    outcomes = {b.bid_id: b for b in result.bids}
    bid_rows = list(session.scalars(
        select(MarketBid).where(MarketBid.market_id == market_id, MarketBid.status == OPEN)
    ))
    now = utc_now()
    for bid_row in bid_rows:
        outcome = outcomes.get(bid_row.bid_id)
        if outcome is None:  # pragma: no cover - every open bid is in the book
            continue
        bid_row.status = outcome.status.value
        bid_row.outcome = outcome.model_dump_json()
        if bid_row.offer_ref is None:
            bid = Bid.model_validate_json(bid_row.document)
            with contextlib.suppress(ValueError):
                bid = bid.model_copy(update={"offer": offer_outcome(bid.offer, outcome, now)})
            bid_row.document = bid.model_dump_json()
    row.status = CLEARED if result.optimal or result.status == "Time limit reached" else FAILED
    row.updated_at = now
    _audit(session, market_id, party, "clear", status=result.status, welfare_eur=result.welfare_eur,
           input_sha256=_sha(inputs), result_sha256=_sha(outputs))
    session.commit()
    for bid_row in bid_rows:  # act only after the commit
        outcome = outcomes.get(bid_row.bid_id)
        if outcome is None:
            continue
        if bid_row.offer_ref is not None:
            _flow_back_to_offer(session, bus, bid_row, outcome)
        elif bus is not None:
            bus.publish(Event(bid_row.party, "market", bid_row.bid_id,
                              {"market": market_id, "status": outcome.status.value,
                               "schedule": outcome.schedule.model_dump(mode="json") if outcome.schedule else None}))
    return result


def _flow_back_to_offer(session: Session, bus: EventBus | None, bid_row: MarketBid, outcome: BidResult) -> None:
    """Answer a bid on a stored flex-offer through the FlexOffer interface: accept+assign or reject.

    The offer's own deadlines and state machine apply; when they refuse (the
    bidder canceled the offer meanwhile, say), the market result stands and the
    refusal is audited.
    """
    from gateway.services import flexoffers as offers

    offer_id = bid_row.offer_ref
    assert offer_id is not None
    try:
        current = offers.get_offer(session, bid_row.party, offer_id)
        if current.state is OfferState.INITIAL:
            offers.change_state(session, bus, bid_row.party, offer_id, OfferState.OFFERED.value)
        if outcome.status in (BidStatus.ACCEPTED, BidStatus.PARTIAL) and outcome.schedule is not None:
            offers.change_state(session, bus, bid_row.party, offer_id, OfferState.ACCEPTED.value)
            offers.assign_schedule(session, bus, bid_row.party, offer_id, outcome.schedule)
        else:
            offers.change_state(session, bus, bid_row.party, offer_id, OfferState.REJECTED.value)
    except ProblemError as exc:
        session.rollback()
        _audit(session, bid_row.market_id, bid_row.party, "offer_flowback_refused", bid_id=bid_row.bid_id,
               offer_id=offer_id, reason=exc.detail or exc.title)
        session.commit()


def stored_result(session: Session, market_id: str) -> ClearingResult:
    found = session.get(MarketResult, market_id)
    if found is None:
        raise ProblemError(409, "Not cleared yet", f"market {market_id!r} has no result yet")
    return ClearingResult.model_validate_json(found.result_document)


def result_for(session: Session, bus: EventBus | None, party: str, admin: bool, market_id: str) -> dict[str, Any]:
    """The result as the caller may see it: operators everything, bidders prices and their own bids.

    A market whose gate has passed but which no scheduler has cleared yet is cleared
    here, so results never depend on a background task having run.
    """
    row = load_market(session, market_id)
    if row.status == OPEN and row.gate_closure is not None and utc_now() >= row.gate_closure:
        clear_market(session, bus, market_id, party)
    found = session.get(MarketResult, market_id)
    if found is None:
        raise ProblemError(409, "Not cleared yet", f"market {market_id!r} has not been cleared")
    data: dict[str, Any] = json.loads(found.result_document)
    if not _is_operator(row, party, admin):
        data["bids"] = [b for b in data["bids"] if b["bidder"] == party]
    return data


def audit_trail(session: Session, party: str, admin: bool, market_id: str, verify: bool) -> dict[str, Any]:
    row = load_market(session, market_id)
    if not _is_operator(row, party, admin):
        raise ProblemError(403, "Forbidden", "only the market's operator may read its audit trail")
    entries = session.scalars(
        select(MarketAudit).where(MarketAudit.market_id == market_id).order_by(MarketAudit.id)
    )
    out: dict[str, Any] = {
        "market_id": market_id,
        "status": row.status,
        "entries": [{"at": e.at.isoformat(), "party": e.party, "action": e.action, "detail": json.loads(e.detail)}
                    for e in entries],
    }
    found = session.get(MarketResult, market_id)
    if found is not None:
        out.update(input_sha256=found.input_sha256, result_sha256=found.result_sha256)
        if verify:
            again = canonical_json(clear(OrderBook.model_validate_json(found.input_document)))
            out["reclear_sha256"] = _sha(again)
            out["reclear_identical"] = again == found.result_document
    return out


def register_zone(session: Session, party: str, zone: str, description: str | None) -> CongestionZone:
    existing = session.get(CongestionZone, zone)
    if existing is not None:
        if existing.party != party:
            raise ProblemError(409, "Zone taken", f"zone {zone!r} is registered by another DSO")
        existing.description = description
        session.commit()
        return existing
    row = CongestionZone(zone=zone, party=party, description=description, created_at=utc_now())
    session.add(row)
    session.commit()
    return row


def zone_summary(session: Session, party: str, admin: bool, zone: str) -> dict[str, Any]:
    """F2.FMAR7: what was traded in a DSO's congestion zone, over every cleared market."""
    registered = session.get(CongestionZone, zone)
    if registered is None:
        raise ProblemError(404, "Zone not registered", f"no congestion zone {zone!r}")
    if registered.party != party and not admin:
        raise ProblemError(403, "Forbidden", "only the DSO that registered the zone may read its summary")
    done = [s.value for s in (BidStatus.ACCEPTED, BidStatus.PARTIAL, BidStatus.REJECTED)]
    rows = session.scalars(
        select(MarketBid).where(MarketBid.zone == zone, MarketBid.status.in_(done))
        .order_by(MarketBid.market_id, MarketBid.sequence)
    )
    counts = {s: 0 for s in done}
    volume = {"sell": 0.0, "buy": 0.0}
    amount = {"sell": 0.0, "buy": 0.0}
    markets: dict[str, dict[str, Any]] = {}
    bids: list[dict[str, Any]] = []
    for b in rows:
        counts[b.status] += 1
        outcome = BidResult.model_validate_json(b.outcome) if b.outcome else None
        cleared = outcome.cleared_kwh if outcome else 0.0
        paid = outcome.amount_eur if outcome else 0.0
        volume[b.side] += cleared
        amount[b.side] += paid
        per = markets.setdefault(b.market_id, {"bids": 0, "cleared_kwh": {"sell": 0.0, "buy": 0.0}})
        per["bids"] += 1
        per["cleared_kwh"][b.side] += cleared
        bids.append({"market_id": b.market_id, "bid_id": b.bid_id, "party": b.party, "side": b.side,
                     "status": b.status, "cleared_kwh": cleared, "amount_eur": paid,
                     "average_price": outcome.average_price if outcome else None})
    return {"zone": zone, "dso": registered.party, "completed_bids": sum(counts.values()), "by_status": counts,
            "cleared_kwh": volume, "amount_eur": amount, "markets": markets, "bids": bids}


def due_markets(session: Session, now: datetime) -> list[str]:
    return list(session.scalars(
        select(Market.id).where(Market.status == OPEN, Market.gate_closure.is_not(None), Market.gate_closure <= now)
        .order_by(Market.gate_closure, Market.id)
    ))


def close_due_gates(factory: sessionmaker[Any], bus: EventBus | None, now: datetime | None = None) -> list[str]:
    """Clear every open market whose gate has closed; returns the ids cleared by this call."""
    now = now or utc_now()
    with factory() as session:
        due = due_markets(session, now)
    cleared: list[str] = []
    for market_id in due:
        with factory() as session:
            try:
                clear_market(session, bus, market_id, "scheduler")
                cleared.append(market_id)
            except ProblemError as exc:  # claimed elsewhere, or failed and audited: keep going
                log.warning("gate closure of %s: %s", market_id, exc.detail)
    return cleared


async def gate_closure_loop(factory: sessionmaker[Any], bus: EventBus | None, interval_s: float = 5.0) -> None:
    """Close gates on schedule (UTC) until cancelled; clearing runs in a worker thread."""
    while True:
        try:
            await asyncio.to_thread(close_due_gates, factory, bus, None)
        except Exception:  # the scheduler must survive one bad market or a busy store
            log.exception("gate-closure pass failed")
        await asyncio.sleep(interval_s)


def start_gate_scheduler(app: Any, interval_s: float = 5.0) -> asyncio.Task[None]:
    """Start the gate-closure task for ``app`` (call from the app lifespan; cancel it on shutdown)."""
    return asyncio.create_task(
        gate_closure_loop(app.state.sessionmaker, getattr(app.state, "bus", None), interval_s),
        name="fmar-gate-closure",
    )
