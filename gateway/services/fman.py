"""FMAN services: contracts, bills, KPIs and planning over the stored flex-offers.

The arithmetic lives in ``core.market`` and ``core.flexoffer``; this module only
reads what they need from the store (offers, measurements, contracts, prices)
and writes back what must survive a restart (contracts, assignments, prices).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from core.flexoffer import FlexOffer, OfferState, Schedule
from core.flexoffer.aggregation import AggregationParams, aggregate
from core.flexoffer.disaggregation import DisaggregationError, disaggregate
from core.flexoffer.model import as_utc
from core.flexoffer.planning import Horizon, MinimiseCost, PlanResult, plan
from core.market.baseline import WEEK, Series, default_schedule_baseline, schedule_series
from core.market.contracts import BaselineKind, FlexContract
from core.market.kpi import KpiReport, compute_kpis
from core.market.settlement import Bill, make_bill, month_bounds
from gateway.api.problems import ProblemError
from gateway.bus import EventBus
from gateway.db.flexoffer import FlexOfferMeasurement, StoredFlexOffer
from gateway.db.fman import StoredContract, StoredPriceSeries
from gateway.services import flexoffers as offers_svc
from gateway.services.clock import utc_now

MAX_OFFERS = 200_000
# Dates this far from the ends of the calendar leave room for the padding below.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def _in_calendar(start: datetime, end: datetime) -> None:
    if start < EARLIEST or end > LATEST:
        raise ProblemError(422, "Dates out of range", f"dates must lie between {EARLIEST.date()} and {LATEST.date()}")
PLANNABLE_STATES = (OfferState.OFFERED.value, OfferState.ACCEPTED.value)


# ------------------------------------------------------------------ contracts


def get_contracts(session: Session, party: str | None) -> list[FlexContract]:
    """The party's contract (a list of at most one); ``None`` lists every party's."""
    query = select(StoredContract.document).order_by(StoredContract.party)
    if party is not None:
        query = query.where(StoredContract.party == party)
    return [FlexContract.model_validate_json(doc) for doc in session.scalars(query)]


def put_contract(session: Session, party: str, contract: FlexContract) -> tuple[FlexContract, bool]:
    """Create or replace the party's contract; returns it and whether it is new."""
    if contract.party != party:
        raise ProblemError(422, "Party mismatch", f"the body names party {contract.party!r}, the path {party!r}")
    now = utc_now()
    row = session.get(StoredContract, party)
    created = row is None
    if row is None:
        row = StoredContract(party=party, created_at=now)
        session.add(row)
    row.contract_id = contract.contract_id
    row.document = contract.model_dump_json()
    row.updated_at = now
    session.commit()
    return contract, created


def delete_contract(session: Session, party: str) -> None:
    if session.execute(delete(StoredContract).where(StoredContract.party == party)).rowcount == 0:  # type: ignore[attr-defined]
        raise ProblemError(404, "Contract not found", f"party {party!r} has no contract")
    session.commit()


# ------------------------------------------------------------------ reading offers and readings


def load_offers(session: Session, parties: Sequence[str] | None, start: datetime, end: datetime) -> list[FlexOffer]:
    """Offers (of ``parties``, or all) whose window overlaps [start, end)."""
    query = select(StoredFlexOffer.document).where(
        StoredFlexOffer.window_end > start, StoredFlexOffer.window_start < end
    )
    if parties is not None:
        query = query.where(StoredFlexOffer.party.in_(list(parties)))
    query = query.order_by(StoredFlexOffer.created_at, StoredFlexOffer.id).limit(MAX_OFFERS + 1)
    offers = [FlexOffer.model_validate_json(doc) for doc in session.scalars(query)]
    if len(offers) > MAX_OFFERS:
        raise ProblemError(422, "Too many offers", f"more than {MAX_OFFERS} offers in the window; narrow it")
    return offers


def load_readings(
    session: Session, offer_ids: Iterable[str], start: datetime, end: datetime
) -> dict[str, Series]:
    """Metered kWh per offer and interval start in [start, end); repeated readings add up."""
    ids = list(offer_ids)
    readings: dict[str, Series] = defaultdict(dict)
    for first in range(0, len(ids), 500):
        columns = (FlexOfferMeasurement.offer_id, FlexOfferMeasurement.start, FlexOfferMeasurement.energy_kwh)
        query = select(*columns).where(
            FlexOfferMeasurement.offer_id.in_(ids[first : first + 500]),
            FlexOfferMeasurement.start >= start,
            FlexOfferMeasurement.start < end,
        )
        for offer_id, moment, energy in session.execute(query):
            series = readings[offer_id]
            series[moment] = series.get(moment, 0.0) + energy
    return dict(readings)


def _location_histories(
    session: Session, party: str, offers: Sequence[FlexOffer], start: datetime, weeks: int
) -> dict[str, Series]:
    """Metered history of each offer's location (all the party's offers there), ``weeks`` before ``start``."""
    query = (
        select(StoredFlexOffer.location_id, FlexOfferMeasurement.start, FlexOfferMeasurement.energy_kwh)
        .join(StoredFlexOffer, StoredFlexOffer.id == FlexOfferMeasurement.offer_id)
        .where(FlexOfferMeasurement.party == party, FlexOfferMeasurement.start >= start - weeks * WEEK)
    )
    by_location: dict[str | None, Series] = defaultdict(dict)
    for location, moment, energy in session.execute(query):
        series = by_location[location]
        series[moment] = series.get(moment, 0.0) + energy
    return {o.id or "": by_location.get(None if o.location_id is None else str(o.location_id)[:200], {})
            for o in offers}


# ------------------------------------------------------------------ bills


def bill_for(session: Session, party: str, month: str) -> Bill:
    try:
        start, end = month_bounds(month)
    except ValueError as exc:
        raise ProblemError(422, "Bad month", str(exc)) from exc
    _in_calendar(start, end)
    contracts = get_contracts(session, party)
    # Without a contract the party still gets its factual and predicted quantities; every
    # reward is zero (an empty contract), and contract_id is null to say so.
    contract = contracts[0] if contracts else FlexContract(party=party)
    # Offers run at most a day or so; look a little before the month for ones still running into it.
    offers = load_offers(session, [party], start - timedelta(days=2), end)
    ids = [o.id for o in offers if o.id is not None]
    readings = load_readings(session, ids, start - timedelta(days=2), end + timedelta(days=2))
    history = None
    if contract.baseline is BaselineKind.CHARACTERISTIC_CURVE:
        history = _location_histories(session, party, offers, start, contract.baseline_weeks)
    return make_bill(contract, month, offers, readings, utc_now(), history)


# ------------------------------------------------------------------ KPIs


def _bin(series: Series, start: datetime, slot_seconds: int, out: np.ndarray) -> None:
    for moment, energy in series.items():
        index = int((moment - start).total_seconds() // slot_seconds)
        if 0 <= index < out.size:
            out[index] += energy


def _prices(session: Session, parties: Sequence[str] | None, start: datetime, slots: int, slot_seconds: int
            ) -> np.ndarray:
    """Per-slot EUR/kWh from stored plan prices (newest wins); NaN where none is known."""
    prices = np.full(slots, np.nan)
    end = start + timedelta(seconds=slots * slot_seconds)
    query = select(StoredPriceSeries).where(StoredPriceSeries.start < end, StoredPriceSeries.end > start)
    if parties is not None:
        query = query.where(StoredPriceSeries.party.in_(list(parties)))
    for row in session.scalars(query.order_by(StoredPriceSeries.created_at, StoredPriceSeries.id)):
        values = json.loads(row.prices)
        for k, value in enumerate(values):
            moment = row.start + timedelta(seconds=k * row.slot_seconds)
            index = int((moment - start).total_seconds() // slot_seconds)
            if 0 <= index < slots:
                prices[index] = value
    return prices


def default_kpi_window(
    session: Session, parties: Sequence[str] | None, max_days: int = 62
) -> tuple[datetime, datetime]:
    """The span of the parties' stored offers (at most ``max_days``, ending with the latest), else the last day.

    ``GET /kpi`` without ``from``/``to`` should describe the portfolio a caller actually has.
    """
    query = select(func.min(StoredFlexOffer.window_start), func.max(StoredFlexOffer.window_end))
    if parties is not None:
        query = query.where(StoredFlexOffer.party.in_(list(parties)))
    first, last = session.execute(query).one()
    if first is None or last is None:
        now = utc_now().replace(minute=0, second=0, microsecond=0)
        return now - timedelta(days=1), now
    first, last = as_utc(first), as_utc(last)
    first = first.replace(minute=0, second=0, microsecond=0)
    return max(first, last - timedelta(days=max_days)), last


def kpis(
    session: Session, parties: Sequence[str] | None, start: datetime, end: datetime, slot_seconds: int
) -> tuple[KpiReport, int]:
    """KPIs of the stored portfolio: default schedules (baseline) against assignments.

    Returns the report and how many slots had a known price (savings count only those).
    """
    if end <= start:
        raise ProblemError(422, "Empty time range", "'to' must be after 'from'")
    _in_calendar(start, end)
    if slot_seconds <= 0 or 3600 % slot_seconds:
        raise ProblemError(422, "Bad slot length", "slot_seconds must divide 3600")
    slots = int(np.ceil((end - start).total_seconds() / slot_seconds))
    if slots > 24 * 3600 // slot_seconds * 62:
        raise ProblemError(422, "Time range too long", "KPIs cover at most 62 days at a time")
    rows = session.execute(
        select(StoredFlexOffer.party, StoredFlexOffer.document).where(
            StoredFlexOffer.window_end > start, StoredFlexOffer.window_start < end,
            *( [StoredFlexOffer.party.in_(list(parties))] if parties is not None else [] ),
        ).limit(MAX_OFFERS)
    ).all()
    baseline = np.zeros(slots)
    optimised = np.zeros(slots)
    participants: set[str] = set()
    for party, document in rows:
        offer = FlexOffer.model_validate_json(document)
        if offer.state in (OfferState.REJECTED, OfferState.INVALID, OfferState.CANCELED):
            continue
        participants.add(party)
        base = default_schedule_baseline(offer)
        _bin(base, start, slot_seconds, baseline)
        _bin(schedule_series(offer, offer.schedule) if offer.schedule is not None else base, start, slot_seconds,
             optimised)
    prices = _prices(session, parties, start, slots, slot_seconds)
    known = ~np.isnan(prices)
    rewards = 0.0
    for party in sorted(participants):
        if not get_contracts(session, party):
            continue
        month = datetime(start.year, start.month, 1, tzinfo=start.tzinfo)
        while month < end:
            rewards += bill_for(session, party, f"{month.year:04d}-{month.month:02d}").total_eur
            month = datetime(month.year + (month.month == 12), month.month % 12 + 1, 1, tzinfo=start.tzinfo)
    report = compute_kpis(
        start, slot_seconds, baseline.tolist(), optimised.tolist(),
        prices_eur_kwh=np.where(known, prices, 0.0).tolist(),
        rewards_eur=rewards, participants=len(participants),
    )
    return report, int(known.sum())


# ------------------------------------------------------------------ planning


def plan_stored(
    session: Session,
    bus: EventBus | None,
    party: str,
    objective: Any,
    horizon: Horizon,
    offer_ids: Sequence[str] | None,
    assign: bool,
    time_limit: float,
    aggregated: bool = False,
) -> tuple[PlanResult, list[FlexOffer], dict[str, str]]:
    """Plan the party's plannable offers in the horizon; optionally assign the schedules.

    With ``aggregated`` the offers are first aggregated (``inner`` totals, so every
    feasible aggregate schedule can be split), the aggregates are planned, and the
    result carries the members' schedules from disaggregation. Assignment goes through
    the flex-offer service one offer at a time, so each one is checked, committed and
    published exactly like a REST assignment.
    """
    offers = [
        o for o in load_offers(session, [party], horizon.start, horizon.end)
        if o.state.value in PLANNABLE_STATES and (offer_ids is None or o.id in offer_ids)
    ]
    if offer_ids is not None:
        missing = sorted(set(offer_ids) - {o.id for o in offers})
        if missing:
            raise ProblemError(404, "Flex-offer not found", f"no plannable offers {missing[:10]} in the horizon")
    if aggregated:
        result = _plan_aggregated(offers, objective, horizon, time_limit)
    else:
        result = plan(offers, objective, horizon, time_limit=time_limit)
    if isinstance(objective, MinimiseCost):
        now = utc_now()
        session.add(StoredPriceSeries(party=party, start=horizon.start, end=horizon.end,
                                      slot_seconds=horizon.slot_seconds, prices=json.dumps(objective.prices),
                                      created_at=now))
        session.commit()
    failures: dict[str, str] = {}
    if assign:
        for offer_id, schedule in result.schedules.items():
            try:
                offers_svc.assign_schedule(session, bus, party, offer_id, schedule)
            except ProblemError as exc:
                session.rollback()
                failures[offer_id] = exc.detail or exc.title
    return result, offers, failures


def _plan_aggregated(offers: list[FlexOffer], objective: Any, horizon: Horizon, time_limit: float) -> PlanResult:
    aggregates = aggregate(offers, AggregationParams(totals="inner"))
    result = plan(aggregates, objective, horizon, time_limit=time_limit)
    member_schedules: dict[str, Schedule] = {}
    unplanned: dict[str, str] = {}
    for agg in aggregates:
        schedule = result.schedules.get(agg.offer.id or "")
        if schedule is None:
            reason = result.unplanned.get(agg.offer.id or "", "aggregate not planned")
            unplanned.update(dict.fromkeys(agg.members, reason))
            continue
        try:
            member_schedules.update(disaggregate(agg, schedule))
        except DisaggregationError as exc:
            unplanned.update({m: f"disaggregation failed: {exc}" for m in agg.members})
    result.schedules = member_schedules
    result.unplanned = unplanned
    return result
