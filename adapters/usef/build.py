"""Builders for well-formed UFTP messages: the hub's role logic, the conformance suite and tests.

They build shapeshifter-uftp model objects for a given Period in the market time zone
so that callers only state what a message is about (ISPs, a reference, a date).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from shapeshifter_uftp.uftp import (
    AvailableRequested,
    ContractSettlement,
    ContractSettlementISP,
    ContractSettlementPeriod,
    DPrognosis,
    DPrognosisISP,
    FlexOffer,
    FlexOfferOption,
    FlexOfferOptionISP,
    FlexOfferRevocation,
    FlexOrder,
    FlexOrderISP,
    FlexOrderSettlement,
    FlexOrderSettlementISP,
    FlexRequest,
    FlexRequestISP,
    FlexSettlement,
    TestMessage,
)

from adapters.usef.rules import isp_start, isps_per_period, period_bounds

DEFAULT_TZ = "Europe/Amsterdam"
DEFAULT_CONGESTION_POINT = "ean.871685900012636543"


def tomorrow(tz: str = DEFAULT_TZ, now: datetime | None = None) -> date:
    moment = (now or datetime.now(UTC)).astimezone(ZoneInfo(tz))
    return moment.date() + timedelta(days=1)


def end_of(period: date, tz: str = DEFAULT_TZ) -> datetime:
    return period_bounds(period, ZoneInfo(tz))[1]


def first_isp_start(period: date, isp: int, tz: str = DEFAULT_TZ, minutes: int = 15) -> datetime:
    """When ISP ``isp`` begins: an offer for it should not outlive that moment."""
    return isp_start(period, ZoneInfo(tz), timedelta(minutes=minutes), isp)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def flex_request(
    period: date,
    *,
    requested: dict[int, tuple[int, int]] | None = None,
    congestion_point: str = DEFAULT_CONGESTION_POINT,
    tz: str = DEFAULT_TZ,
    isp_duration: str = "PT15M",
    expiration: datetime | None = None,
    revision: int = 1,
) -> FlexRequest:
    """A FlexRequest covering the whole Period: ``requested`` ISPs (min, max W), the rest Available."""
    wanted = requested if requested is not None else {33: (-200_000, -50_000), 34: (-200_000, -50_000)}
    count = isps_per_period(period, ZoneInfo(tz), timedelta(minutes=15))
    isps = []
    for number in range(1, count + 1):
        if number in wanted:
            low, high = wanted[number]
            isps.append(FlexRequestISP(disposition=AvailableRequested.REQUESTED, min_power=low, max_power=high,
                                       start=number, duration=1))
        else:
            isps.append(FlexRequestISP(disposition=AvailableRequested.AVAILABLE, min_power=-500_000,
                                       max_power=500_000, start=number, duration=1))
    return FlexRequest(
        isps=isps,
        revision=revision,
        expiration_date_time=iso(expiration or end_of(period, tz) - timedelta(hours=1)),
        period=period.isoformat(),
        congestion_point=congestion_point,
        isp_duration=isp_duration,
        time_zone=tz,
    )


def flex_offer(
    period: date,
    *,
    flex_request_message_id: str | None,
    isps: list[tuple[int, int]],
    price: str = "12.50",
    congestion_point: str = DEFAULT_CONGESTION_POINT,
    tz: str = DEFAULT_TZ,
    expiration: datetime | None = None,
    option_reference: str = "option-1",
) -> FlexOffer:
    """One FlexOffer option over ``isps`` given as (ISP number, power W)."""
    option = FlexOfferOption(
        isps=[FlexOfferOptionISP(power=power, start=start, duration=1) for start, power in isps],
        option_reference=option_reference,
        price=Decimal(price),
        min_activation_factor=Decimal("1.00"),
    )
    return FlexOffer(
        offer_options=[option],
        expiration_date_time=iso(expiration or first_isp_start(period, min(s for s, _ in isps), tz)),
        flex_request_message_id=flex_request_message_id,
        unsolicited=flex_request_message_id is None,
        currency="EUR",
        period=period.isoformat(),
        congestion_point=congestion_point,
        isp_duration="PT15M",
        time_zone=tz,
    )


def flex_order_for(offer: FlexOffer, *, order_reference: str = "order-1") -> FlexOrder:
    """The order a DSO places for an offer's first option: ISPs copied unchanged, as required."""
    option = offer.offer_options[0]
    return FlexOrder(
        isps=[FlexOrderISP(power=i.power, start=i.start, duration=i.duration) for i in option.isps],
        flex_offer_message_id=offer.message_id,
        price=option.price,
        currency=offer.currency,
        order_reference=order_reference,
        option_reference=option.option_reference,
        activation_factor=Decimal("1.00"),
        period=offer.period,
        congestion_point=offer.congestion_point,
        isp_duration=offer.isp_duration,
        time_zone=offer.time_zone,
    )


def flex_offer_revocation(offer_message_id: str) -> FlexOfferRevocation:
    return FlexOfferRevocation(flex_offer_message_id=offer_message_id)


def d_prognosis(period: date, powers: list[int], *, congestion_point: str = DEFAULT_CONGESTION_POINT,
                tz: str = DEFAULT_TZ, revision: int = 1) -> DPrognosis:
    return DPrognosis(
        isps=[DPrognosisISP(power=p, start=n, duration=1) for n, p in enumerate(powers, start=1)],
        revision=revision,
        period=period.isoformat(),
        congestion_point=congestion_point,
        isp_duration="PT15M",
        time_zone=tz,
    )


def flex_settlement(orders: list[FlexOrder], *, period_start: str | None = None, period_end: str | None = None,
                    actual: dict[str, dict[int, int]] | None = None) -> FlexSettlement:
    """Settle FlexOrders: baseline 0, delivered = metered ``actual[order_reference][isp]`` (default: as ordered).

    The XSD requires a ContractSettlement too; without a bilateral contract it reports zero
    reserved power for the ISPs of the first order.
    """
    measured = actual or {}
    settlements = []
    for order in orders:
        real_by_isp = measured.get(str(order.order_reference), {})
        isps = []
        for isp in order.isps:
            real = real_by_isp.get(isp.start, isp.power)
            same_direction = (real < 0) == (isp.power < 0)
            isps.append(FlexOrderSettlementISP(
                start=isp.start, duration=isp.duration or 1, baseline_power=0, ordered_flex_power=isp.power,
                actual_power=real, delivered_flex_power=real,
                power_deficiency=max(0, abs(isp.power) - abs(real)) if same_direction else abs(isp.power),
            ))
        settlements.append(FlexOrderSettlement(
            isps=isps, order_reference=order.order_reference, period=order.period,
            congestion_point=order.congestion_point, price=order.price, penalty=Decimal("0.00"),
            net_settlement=order.price,
        ))
    first = orders[0]
    contract = ContractSettlement(periods=[ContractSettlementPeriod(
        period=first.period,
        isps=[ContractSettlementISP(start=i.start, duration=i.duration or 1, reserved_power=0) for i in first.isps],
    )])
    periods = sorted(str(o.period) for o in orders)
    return FlexSettlement(
        flex_order_settlements=settlements, contract_settlements=[contract],
        period_start=period_start or periods[0], period_end=period_end or periods[-1], currency="EUR",
    )


def test_message() -> TestMessage:
    return TestMessage()
