"""What the hub does as AGR and as DSO once a message has been accepted.

AGR: FlexRequest -> FlexOffer (sized from the portfolio's flexibility, priced from the
contract price), FlexOrder -> schedule for the portfolio, FlexSettlement -> statuses.
DSO: FlexRequest out, collect FlexOffers, clear them (one-sided, cheapest first) and
send FlexOrders, then FlexSettlement.

Portfolio sizing and clearing are deliberately small here: they are the seams where
FMAN aggregation/disaggregation and FMAR one-sided clearing plug in (docs/uftp.md
lists what is a placeholder today).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from shapeshifter_uftp.uftp import (
    AcceptedDisputed,
    FlexOffer,
    FlexOfferOption,
    FlexOfferOptionISP,
    FlexOfferRevocation,
    FlexOrder,
    FlexOrderISP,
    FlexOrderSettlementStatus,
    FlexRequest,
    FlexSettlement,
    PayloadMessage,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from adapters.usef import build, codec
from adapters.usef.rules import isp_start, to_date, zone
from gateway.db.uftp import UftpMessage
from gateway.services import uftp
from gateway.services.uftp_config import UftpSettings

FLEX_ORDER_ISP_MISMATCH = "FlexOrder ISPs differ from the FlexOffer option"
FLEX_ORDER_OPTION_UNKNOWN = "Unknown OptionReference"
OFFER_ALREADY_ORDERED = "FlexOffer already has an accepted FlexOrder"


def _stored(session: Session, message_id: str | None, direction: str, counterparty: str,
            message_type: str) -> UftpMessage | None:
    if message_id is None:
        return None
    return session.scalars(select(UftpMessage).where(
        UftpMessage.message_id == message_id, UftpMessage.direction == direction,
        UftpMessage.counterparty == counterparty, UftpMessage.message_type == message_type)).first()


def _load(row: UftpMessage) -> Any:
    return codec.read_payload(row.xml.encode("utf-8")).message


class RoleHandlers:
    """Role-specific validation, response content and follow-up messages."""

    def validate(self, session: Session, cfg: UftpSettings, message: PayloadMessage, sender: str) -> list[str]:
        if isinstance(message, FlexOrder) and message.flex_offer_message_id:
            row = _stored(session, message.flex_offer_message_id, "out", sender, "FlexOffer")
            if row is None:
                return []
            offer: FlexOffer = _load(row)
            option = next((o for o in offer.offer_options if o.option_reference == message.option_reference), None)
            if option is None and message.option_reference is not None:
                return [FLEX_ORDER_OPTION_UNKNOWN]
            option = option or offer.offer_options[0]
            offered = [(i.start, i.duration or 1, i.power) for i in option.isps]
            ordered = [(i.start, i.duration or 1, i.power) for i in message.isps]
            return [] if sorted(offered) == sorted(ordered) else [FLEX_ORDER_ISP_MISMATCH]
        if isinstance(message, FlexOfferRevocation):
            ordered = session.scalars(select(UftpMessage).where(
                UftpMessage.message_type == "FlexOrder", UftpMessage.direction == "out",
                UftpMessage.reference_id == message.flex_offer_message_id,
                UftpMessage.status.in_(("sent", "accepted")))).first()
            return [OFFER_ALREADY_ORDERED] if ordered is not None else []
        return []

    def response_fields(self, session: Session, message: PayloadMessage, rejection: str | None) -> dict[str, Any]:
        if isinstance(message, FlexSettlement):
            disposition = AcceptedDisputed.DISPUTED if rejection else AcceptedDisputed.ACCEPTED
            return {"flex_order_settlement_statuses": [
                FlexOrderSettlementStatus(order_reference=s.order_reference, disposition=disposition,
                                          dispute_reason=rejection)
                for s in message.flex_order_settlements
            ]}
        return {}

    def follow_up(
        self, cfg: UftpSettings, message: PayloadMessage, sender: str
    ) -> list[Callable[[Session], list[int]]]:
        if isinstance(message, FlexRequest) and cfg.auto_offer and "AGR" in cfg.roles:
            return [lambda session: [offer_for_request(session, cfg, message, sender)]]
        return []


# ---------------------------------------------------------------- AGR role

def portfolio_flexibility_w(cfg: UftpSettings, period: date, isp: int) -> int:
    """Power (W) the portfolio can shift in one ISP. Placeholder: the configured capacity.

    FMAN aggregation (``core.flexoffer``) is the intended source; see docs/uftp.md.
    """
    return cfg.portfolio_capacity_w


def offer_for_request(session: Session, cfg: UftpSettings, request: FlexRequest, dso_domain: str) -> int:
    """Build and queue a FlexOffer answering the Requested ISPs of ``request``."""
    period = to_date(request.period)
    isps: list[FlexOfferOptionISP] = []
    for isp in request.isps:
        if str(isp.disposition) != "Requested":
            continue
        capacity = portfolio_flexibility_w(cfg, period, isp.start)
        # Negative MaxPower asks for less consumption: offer as deep as allowed within capacity.
        power = max(isp.min_power, -capacity) if isp.max_power <= 0 else min(isp.max_power, capacity)
        isps.append(FlexOfferOptionISP(power=power, start=isp.start, duration=isp.duration or 1))
    if not isps:
        isps = [FlexOfferOptionISP(power=0, start=request.isps[0].start, duration=1)]
    hours = cfg.isp_duration_minutes / 60
    energy_mwh = sum(abs(i.power) * hours * (i.duration or 1) for i in isps) / 1_000_000
    price = Decimal(str(round(energy_mwh * cfg.offer_price_eur_per_mwh, 4)))
    tz = zone(str(request.time_zone)) or zone(cfg.time_zone)
    assert tz is not None
    delivery_starts = isp_start(period, tz, timedelta(minutes=cfg.isp_duration_minutes), min(i.start for i in isps))
    request_expiry = uftp.to_datetime(request.expiration_date_time)
    expiry = min(request_expiry + timedelta(hours=1), delivery_starts)
    offer = FlexOffer(
        offer_options=[FlexOfferOption(isps=isps, option_reference="option-1", price=price,
                                       min_activation_factor=Decimal("1.00"))],
        expiration_date_time=expiry.isoformat().replace("+00:00", "Z"),
        flex_request_message_id=request.message_id, unsolicited=False, currency="EUR",
        period=request.period, congestion_point=request.congestion_point,
        isp_duration=request.isp_duration, time_zone=request.time_zone,
    )
    return uftp.send(session, cfg, offer, recipient_domain=dso_domain, recipient_role="DSO",
                     conversation_id=str(request.conversation_id))


# ---------------------------------------------------------------- DSO role

def accepted_offers(session: Session, request_message_id: str) -> list[tuple[UftpMessage, FlexOffer]]:
    rows = session.scalars(select(UftpMessage).where(
        UftpMessage.message_type == "FlexOffer", UftpMessage.direction == "in",
        UftpMessage.reference_id == request_message_id, UftpMessage.status == "accepted",
        UftpMessage.revoked.is_(False))).all()
    return [(row, _load(row)) for row in rows]


def clear_one_sided(need_w: dict[int, int], offers: list[tuple[Any, FlexOffer]]) -> list[tuple[Any, FlexOffer]]:
    """Cheapest-first one-sided clearing: take offers while they still cover unmet need.

    Placeholder for FMAR's one-sided mode (``core.market``), with the same contract:
    fixed demand per ISP, supply offers with a price, only offers that help are chosen.
    """
    def unit_price(item: tuple[Any, FlexOffer]) -> float:
        option = item[1].offer_options[0]
        volume = sum(abs(i.power) * (i.duration or 1) for i in option.isps) or 1
        return float(option.price) / volume

    remaining = dict(need_w)
    chosen: list[tuple[Any, FlexOffer]] = []
    for item in sorted(offers, key=unit_price):
        option = item[1].offer_options[0]
        helps = any(remaining.get(i.start, 0) != 0 and (i.power < 0) == (remaining[i.start] < 0) for i in option.isps)
        if not helps:
            continue
        chosen.append(item)
        for i in option.isps:
            if i.start in remaining:
                left = remaining[i.start] - i.power
                remaining[i.start] = 0 if (left < 0) != (remaining[i.start] < 0) or left == 0 else left
    return chosen


def clear_and_order(session: Session, cfg: UftpSettings, request_message_id: str) -> list[int]:
    """Clear the offers collected for one of our FlexRequests and queue a FlexOrder per winner."""
    request_row = session.scalars(select(UftpMessage).where(
        UftpMessage.message_id == request_message_id, UftpMessage.direction == "out",
        UftpMessage.message_type == "FlexRequest")).first()
    if request_row is None:
        raise LookupError(f"no FlexRequest {request_message_id} was sent by this hub")
    request: FlexRequest = _load(request_row)
    need = {i.start: i.max_power if i.max_power <= 0 else i.min_power
            for i in request.isps if str(i.disposition) == "Requested"}
    outbox: list[int] = []
    for number, (row, offer) in enumerate(clear_one_sided(need, accepted_offers(session, request_message_id)), 1):
        option = offer.offer_options[0]
        order = FlexOrder(
            isps=[FlexOrderISP(power=i.power, start=i.start, duration=i.duration or 1) for i in option.isps],
            flex_offer_message_id=offer.message_id, unsolicited=False, price=option.price,
            currency=offer.currency, order_reference=f"{request_message_id[:8]}-{number}",
            option_reference=option.option_reference, activation_factor=Decimal("1.00"),
            period=offer.period, congestion_point=offer.congestion_point,
            isp_duration=offer.isp_duration, time_zone=offer.time_zone,
        )
        outbox.append(uftp.send(session, cfg, order, recipient_domain=row.counterparty, recipient_role="AGR",
                                conversation_id=str(offer.conversation_id)))
    return outbox


def settle(session: Session, cfg: UftpSettings, agr_domain: str, first: date, last: date,
           actual_w: dict[str, dict[int, int]] | None = None) -> int:
    """Queue a FlexSettlement for our accepted FlexOrders to ``agr_domain`` in [first, last]."""
    rows = session.scalars(select(UftpMessage).where(
        UftpMessage.message_type == "FlexOrder", UftpMessage.direction == "out",
        UftpMessage.counterparty == agr_domain, UftpMessage.status.in_(("sent", "accepted")))).all()
    orders: list[FlexOrder] = [o for o in (_load(r) for r in rows) if first <= to_date(o.period) <= last]
    if not orders:
        raise LookupError(f"no FlexOrders to {agr_domain} between {first} and {last}")
    settlement = build.flex_settlement(orders, period_start=first.isoformat(), period_end=last.isoformat(),
                                       actual=actual_w)
    return uftp.send(session, cfg, settlement, recipient_domain=agr_domain, recipient_role="AGR")
