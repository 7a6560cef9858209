"""AGR role backed by FMAN: offers sized from aggregated member flex-offers, orders disaggregated."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from shapeshifter_uftp.uftp import FlexOffer as UftpFlexOffer
from sqlalchemy import update

from adapters.usef import build as m
from adapters.usef.rules import isp_start
from core.flexoffer import FlexOffer, Profile, Schedule
from gateway.db.flexoffer import StoredFlexOffer
from gateway.services.flexoffers import get_offer, ingest
from gateway.services.uftp_roles import CANNOT_DELIVER
from tests.adapters.usef.conftest import Hub

DAY = m.tomorrow()
CP = m.DEFAULT_CONGESTION_POINT


def _member(offer_id: str, isp: int) -> FlexOffer:
    start = isp_start(DAY, ZoneInfo("Europe/Amsterdam"), timedelta(minutes=15), isp)
    return FlexOffer(id=offer_id, zone=CP, earliest_start=start, latest_start=start, interval_seconds=900,
                     profile=Profile(energy_lower=[0.0, 0.0], energy_upper=[20.0, 20.0]),
                     default_schedule=Schedule(start=start, energy=[10.0, 10.0]))


def _store_members(hub: Hub) -> None:
    with hub.client.app.state.sessionmaker() as session:
        ingest(session, None, "house-1", [_member("ev-1", 33)])
        ingest(session, None, "house-2", [_member("hp-2", 33)])


def test_offer_is_sized_by_aggregated_members_and_order_is_disaggregated(hub: Hub) -> None:
    _store_members(hub)
    request = m.flex_request(DAY, requested={33: (-200_000, -50_000), 34: (-200_000, -50_000), 35: (-1, -1)})
    assert hub.dso.exchange(request).result == "Accepted"
    offer = hub.receiver.wait_for(lambda x: isinstance(x, UftpFlexOffer))
    # 2 members x 10 kWh of headroom per 15 min = 80 kW down at ISPs 33-34; nothing at 35.
    assert [(i.start, i.power) for i in offer.offer_options[0].isps] == [(33, -80_000), (34, -80_000)]

    order = m.flex_order_for(offer)
    assert hub.dso.exchange(order).rejection_reason is None
    with hub.client.app.state.sessionmaker() as session:
        wait_assigned(hub, session)
        schedules = [get_offer(session, p, i).schedule for p, i in (("house-1", "ev-1"), ("house-2", "hp-2"))]
    assert all(s is not None for s in schedules)
    totals = [sum(s.energy[k] for s in schedules if s) for k in range(2)]
    assert totals == [0.0, 0.0]  # baseline 20 kWh per ISP minus the ordered 20 kWh


def wait_assigned(hub: Hub, session: object) -> None:
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with hub.client.app.state.sessionmaker() as fresh:
            states = {o.state for o in fresh.query(StoredFlexOffer)}
        if states == {"assigned"}:
            return
        time.sleep(0.05)
    raise AssertionError(f"members not assigned: {states}")


def test_order_the_portfolio_can_no_longer_deliver_is_rejected(hub: Hub) -> None:
    _store_members(hub)
    request = m.flex_request(DAY, requested={33: (-200_000, -50_000)})
    hub.dso.exchange(request)
    offer = hub.receiver.wait_for(lambda x: isinstance(x, UftpFlexOffer))
    with hub.client.app.state.sessionmaker() as session:  # one member withdraws before the order
        session.execute(update(StoredFlexOffer).where(StoredFlexOffer.id == "hp-2").values(state="canceled"))
        session.commit()
    assert hub.dso.exchange(m.flex_order_for(offer)).rejection_reason == CANNOT_DELIVER


def test_d_prognosis_carries_the_members_baseline(hub: Hub) -> None:
    from shapeshifter_uftp.uftp import DPrognosis

    headers = {"X-API-Key": hub.admin_key}
    body = {"dso_domain": "dso.example.com", "period": DAY.isoformat(), "congestion_point": CP}
    assert hub.client.post("/api/v1/uftp/agr/d-prognoses", headers=headers, json=body).status_code == 404
    _store_members(hub)
    assert hub.client.post("/api/v1/uftp/agr/d-prognoses", headers=headers, json=body).status_code == 202
    prognosis = hub.receiver.wait_for(lambda x: isinstance(x, DPrognosis))
    powers = {i.start: i.power for i in prognosis.isps}
    assert len(powers) == len(m.flex_request(DAY).isps)  # every ISP of the Period, DST-aware
    assert (powers[32], powers[33], powers[34], powers[35]) == (0, 80_000, 80_000, 0)  # 2 x 10 kWh / 15 min


def test_revoking_our_offer_and_not_an_ordered_one(hub: Hub) -> None:
    from shapeshifter_uftp.uftp import FlexOfferRevocation

    headers = {"X-API-Key": hub.admin_key}
    hub.dso.exchange(m.flex_request(DAY))
    offer = hub.receiver.wait_for(lambda x: isinstance(x, UftpFlexOffer))
    revoked = hub.client.post(f"/api/v1/uftp/agr/flex-offers/{offer.message_id}/revocation", headers=headers)
    assert revoked.status_code == 202, revoked.text
    revocation = hub.receiver.wait_for(lambda x: isinstance(x, FlexOfferRevocation))
    assert revocation.flex_offer_message_id == offer.message_id
    late_order = m.flex_order_for(offer)
    assert hub.dso.exchange(late_order).rejection_reason == "Reference message revoked"

    hub.dso.exchange(m.flex_request(DAY))
    second = hub.receiver.wait_for(lambda x: isinstance(x, UftpFlexOffer) and x.message_id != offer.message_id)
    assert hub.dso.exchange(m.flex_order_for(second)).rejection_reason is None
    refused = hub.client.post(f"/api/v1/uftp/agr/flex-offers/{second.message_id}/revocation", headers=headers)
    assert refused.status_code == 409
