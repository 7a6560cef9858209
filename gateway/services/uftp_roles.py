"""What the hub does as AGR and as DSO once a message has been accepted.

AGR: FlexRequest -> FlexOffer sized from the FMAN-aggregated member offers
(``uftp_portfolio``) and priced at the configured EUR/MWh; FlexOrder -> disaggregated
member schedules; D-Prognosis from the members' baselines; FlexSettlement -> statuses.
DSO: FlexRequest out, collect FlexOffers, clear them with FMAR's one-sided pool
(``core.market.clear``), send FlexOrders, then FlexSettlement.
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
from adapters.usef.rules import isp_start, isps_per_period, period_bounds, to_date, zone
from core.market import BidStatus, ClearingMode, MarketConfig, OrderBook, PricingRule, Side, clear
from core.market import Request as MarketRequest
from core.market.builders import quantity_bid
from gateway.db.uftp import UftpMessage
from gateway.services import uftp, uftp_portfolio
from gateway.services.uftp_config import UftpSettings

FLEX_ORDER_ISP_MISMATCH = "FlexOrder ISPs differ from the FlexOffer option"
FLEX_ORDER_OPTION_UNKNOWN = "Unknown OptionReference"
OFFER_ALREADY_ORDERED = "FlexOffer already has an accepted FlexOrder"
CANNOT_DELIVER = "Insufficient flexibility to deliver the FlexOrder"


def _ordered_w(order: FlexOrder) -> dict[int, int]:
    factor = float(order.activation_factor or 1)
    return {n: int(i.power * factor) for i in order.isps for n in range(i.start, i.start + (i.duration or 1))}


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

    def __init__(self, bus: Any = None) -> None:
        self.bus = bus

    def validate(self, session: Session, cfg: UftpSettings, message: PayloadMessage, sender: str) -> list[str]:
        """Role-specific reasons beyond the table (the spec allows 'other reasonable causes')."""
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
            if sorted(offered) != sorted(ordered):
                return [FLEX_ORDER_ISP_MISMATCH]
            portfolio = portfolio_for(session, cfg, message)
            if portfolio:
                try:
                    portfolio.dispatch(_ordered_w(message))
                except uftp_portfolio.CannotDeliver:
                    return [CANNOT_DELIVER]
            return []
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
        if isinstance(message, FlexOrder) and "AGR" in cfg.roles:
            return [lambda session: dispatch_order(session, cfg, message, self.bus)]
        return []


# ---------------------------------------------------------------- AGR role

def portfolio_for(session: Session, cfg: UftpSettings, message: Any) -> uftp_portfolio.Portfolio:
    tz = zone(str(message.time_zone)) or zone(cfg.time_zone)
    assert tz is not None
    start, end = period_bounds(to_date(message.period), tz)
    return uftp_portfolio.load(session, str(message.congestion_point), start, end,
                               timedelta(minutes=cfg.isp_duration_minutes))


def capacity_w(cfg: UftpSettings, portfolio: uftp_portfolio.Portfolio, isp: int, downward: bool) -> int:
    """Power (W) the portfolio can shift in one ISP, from FMAN aggregates of member offers.

    With no member offers stored at the congestion point the hub falls back to the
    configured nominal ``portfolio_capacity_w`` (an aggregator whose members are not
    modelled in the hub); docs/uftp.md lists this.
    """
    if not portfolio:
        return cfg.portfolio_capacity_w
    down, up = portfolio.room_w()
    return (down if downward else up).get(isp, 0)


def offer_for_request(session: Session, cfg: UftpSettings, request: FlexRequest, dso_domain: str) -> int:
    """Build and queue a FlexOffer answering the Requested ISPs of ``request``."""
    period = to_date(request.period)
    portfolio = portfolio_for(session, cfg, request)
    isps: list[FlexOfferOptionISP] = []
    for isp in request.isps:
        if str(isp.disposition) != "Requested":
            continue
        downward = isp.max_power <= 0
        for number in range(isp.start, isp.start + (isp.duration or 1)):
            capacity = capacity_w(cfg, portfolio, number, downward)
            # Negative power asks for less consumption: offer as deep as allowed within capacity.
            power = max(isp.min_power, -capacity) if downward else min(isp.max_power, capacity)
            if power != 0:
                isps.append(FlexOfferOptionISP(power=power, start=number, duration=1))
    if not isps:
        raise uftp_portfolio.CannotDeliver("no flexibility at the requested ISPs; no FlexOffer sent")
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


def dispatch_order(session: Session, cfg: UftpSettings, order: FlexOrder, bus: Any = None) -> list[int]:
    """Disaggregate an accepted FlexOrder and assign each member its schedule.

    Assignment goes through the gateway's flex-offer service, which publishes a
    ``schedule`` event per member on the bus — that is how members' devices hear of it.
    """
    from gateway.services.flexoffers import assign_schedule

    portfolio = portfolio_for(session, cfg, order)
    if not portfolio:
        return []  # nominal capacity only: nothing modelled to dispatch (docs/uftp.md)
    for offer_id, schedule in portfolio.dispatch(_ordered_w(order)).items():
        assign_schedule(session, bus, portfolio.parties[offer_id], offer_id, schedule)
    return []


def d_prognosis(session: Session, cfg: UftpSettings, dso_domain: str, period: date, congestion_point: str) -> int:
    """Queue a D-Prognosis for the whole Period from the members' baselines (W per ISP)."""
    tz = zone(cfg.time_zone)
    assert tz is not None
    start, end = period_bounds(period, tz)
    isp = timedelta(minutes=cfg.isp_duration_minutes)
    portfolio = uftp_portfolio.load(session, congestion_point, start, end, isp)
    if not portfolio:
        raise LookupError(f"no member flex-offers at {congestion_point} on {period}")
    baseline = portfolio.baseline_w()
    powers = [baseline.get(n, 0) for n in range(1, isps_per_period(period, tz, isp) + 1)]
    message = build.d_prognosis(period, powers, congestion_point=congestion_point, tz=cfg.time_zone)
    return uftp.send(session, cfg, message, recipient_domain=dso_domain, recipient_role="DSO")


def revoke_offer(session: Session, cfg: UftpSettings, offer_message_id: str) -> int:
    """Queue a FlexOfferRevocation for one of our FlexOffers (refused if it was ordered)."""
    row = _stored_out(session, offer_message_id, "FlexOffer")
    if row is None:
        raise LookupError(f"no FlexOffer {offer_message_id} was sent by this hub")
    ordered = session.scalars(select(UftpMessage).where(
        UftpMessage.message_type == "FlexOrder", UftpMessage.direction == "in",
        UftpMessage.reference_id == offer_message_id, UftpMessage.status == "accepted")).first()
    if ordered is not None:
        raise ValueError("a FlexOffer with an accepted FlexOrder cannot be revoked")
    row.revoked = True
    return uftp.send(session, cfg, build.flex_offer_revocation(offer_message_id), recipient_domain=row.counterparty,
                     recipient_role="DSO", conversation_id=row.conversation_id)


def _stored_out(session: Session, message_id: str, message_type: str) -> UftpMessage | None:
    return session.scalars(select(UftpMessage).where(
        UftpMessage.message_id == message_id, UftpMessage.direction == "out",
        UftpMessage.message_type == message_type)).first()


# ---------------------------------------------------------------- DSO role

def accepted_offers(session: Session, request_message_id: str) -> list[tuple[UftpMessage, FlexOffer]]:
    rows = session.scalars(select(UftpMessage).where(
        UftpMessage.message_type == "FlexOffer", UftpMessage.direction == "in",
        UftpMessage.reference_id == request_message_id, UftpMessage.status == "accepted",
        UftpMessage.revoked.is_(False))).all()
    return [(row, _load(row)) for row in rows]


def _kwh(power_w: int, minutes: int) -> float:
    return abs(power_w) * minutes / 60 / 1000


def clear_one_sided(request: FlexRequest, offers: list[tuple[Any, FlexOffer]], cfg: UftpSettings) -> list[int]:
    """Indices of the offers FMAR's one-sided pool accepts against the request's need.

    The DSO's Requested ISPs become one FMAR Request (up to the larger |MinPower|/|MaxPower|,
    at the configured limit price); each FlexOffer's first option becomes a block sell bid
    (UFTP offers are all-or-nothing at MinActivationFactor 1) priced per kWh of its total.
    Offers pointing the other way than the need at any ISP are left out.
    """
    tz = zone(str(request.time_zone)) or zone(cfg.time_zone)
    assert tz is not None
    period = to_date(request.period)
    minutes = cfg.isp_duration_minutes
    isp = timedelta(minutes=minutes)
    count = isps_per_period(period, tz, isp)
    start = period_bounds(period, tz)[0]
    need: dict[int, int] = {}
    for item in request.isps:
        if str(item.disposition) == "Requested":
            for number in range(item.start, item.start + (item.duration or 1)):
                need[number] = item.min_power if abs(item.min_power) >= abs(item.max_power) else item.max_power
    if not need:
        return []
    market = MarketConfig(id=f"uftp-{request.message_id}", mode=ClearingMode.ONE_SIDED,
                          pricing=PricingRule.PAY_AS_BID, mtu_seconds=minutes * 60, start=start, mtu_count=count,
                          zones=["cp"], price_cap=max(cfg.dso_limit_price_eur_per_mwh / 1000, 10.0))
    demand = [_kwh(need.get(n, 0), minutes) for n in range(1, count + 1)]
    book_request = MarketRequest(id="dso-need", bidder=str(request.sender_domain), zone="cp", start=start,
                                 quantities_kwh=demand, limit_price=cfg.dso_limit_price_eur_per_mwh / 1000)
    bids = []
    for index, (_, offer) in enumerate(offers):
        option = offer.offer_options[0]
        spans = [(n, i.power) for i in option.isps for n in range(i.start, i.start + (i.duration or 1))]
        if any(n not in need or (power < 0) != (need[n] < 0) for n, power in spans) or not spans:
            continue
        first, last = min(n for n, _ in spans), max(n for n, _ in spans)
        by_isp = dict(spans)
        quantities = [_kwh(by_isp.get(n, 0), minutes) for n in range(first, last + 1)]
        total = sum(quantities)
        if total <= 0:
            continue
        bids.append(quantity_bid(f"offer-{index}", Side.SELL, start + (first - 1) * isp, quantities,
                                 float(option.price) / total, zone="cp", bidder=str(offer.sender_domain),
                                 block=option.min_activation_factor is None or option.min_activation_factor >= 1,
                                 mtu_seconds=minutes * 60))
    if not bids:
        return []
    result = clear(OrderBook(market=market, bids=bids, requests=[book_request]))
    return [int(b.bid_id.split("-")[1]) for b in result.bids
            if b.bid_id.startswith("offer-") and b.status is BidStatus.ACCEPTED]


def clear_and_order(session: Session, cfg: UftpSettings, request_message_id: str) -> list[int]:
    """Clear the offers collected for one of our FlexRequests and queue a FlexOrder per winner."""
    request_row = session.scalars(select(UftpMessage).where(
        UftpMessage.message_id == request_message_id, UftpMessage.direction == "out",
        UftpMessage.message_type == "FlexRequest")).first()
    if request_row is None:
        raise LookupError(f"no FlexRequest {request_message_id} was sent by this hub")
    request: FlexRequest = _load(request_row)
    offers = accepted_offers(session, request_message_id)
    winners = [offers[i] for i in clear_one_sided(request, offers, cfg)]
    outbox: list[int] = []
    for number, (row, offer) in enumerate(winners, 1):
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
