"""A DSO's need in CIM becomes a UFTP FlexRequest (issue 7 §3), when the hub acts as DSO.

A DSO with a legacy ADMS states its need in ESMP: a ReserveBid whose series have
businessType B75 (*Need*), or a schedule document whose series *are* the required
flexibility (kWh per slot, + = more consumption). The hub, in its UFTP DSO role,
asks the aggregators for that flexibility with a FlexRequest per UFTP period.

Mapping (core units in, UFTP out):

* A slot's energy bounds in kWh become a power range in W over the slot
  (``kWh x 3.6e6 / seconds``); UFTP and the core share the load convention, so an
  up-regulation need (A01, consume less) is a negative range.
* A CIM slot longer than the UFTP ISP (PT30M, PT60M) covers several ISPs with the
  same range; ISPs are numbered in elapsed time from local midnight (DST-safe), and a
  need crossing local midnight yields one FlexRequest per period.
* A divisible need with ``minimum_Quantity`` asks for [quantity, minimum]; without a
  minimum (or indivisible) it asks for the quantity exactly: the need is the need.
* Needs of several series on the same ISP add up. Slots that ask for nothing stay
  *Available*.

The CIM document is stored before anything is sent, and the FlexRequests are stored
in the UFTP outbox in the same transaction as the final acknowledgement; delivery
then runs after the commit, with the outbox's retries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from adapters.cim.errors import MappingError
from adapters.usef.build import flex_request
from adapters.usef.rules import period_bounds
from core.flexoffer import FlexOffer
from gateway.api.problems import ProblemError
from gateway.db.uftp import UftpParticipant
from gateway.services import uftp, uftp_outbox
from gateway.services.uftp_config import UftpNotConfigured, UftpSettings, resolve

NEED = "B75"
WATT_SECONDS_PER_KWH = 3.6e6
UFTP_ISP = timedelta(minutes=15)  # adapters.usef.build.flex_request numbers a period in PT15M ISPs

Requested = dict[date, dict[int, tuple[int, int]]]
"""UFTP period → ISP number → (min W, max W)."""


@dataclass
class FlexRequestPlan:
    """Where the FlexRequests for one CIM document go; checked before the document is received."""

    cfg: UftpSettings
    congestion_point: str
    recipients: list[str]
    outbox_ids: list[int] = field(default_factory=list)
    message_ids: list[str] = field(default_factory=list)


def prepare(session: Session, app_state: Any, congestion_point: str | None, agr: list[str] | None
            ) -> FlexRequestPlan:
    """Check the hub can send FlexRequests at all, so a misconfiguration is a 4xx/503, not a lost need."""
    try:
        cfg = resolve(app_state)
        cfg.keypair()
    except UftpNotConfigured as exc:
        raise ProblemError(503, "UFTP not configured", str(exc)) from exc
    if "DSO" not in cfg.roles:
        raise ProblemError(409, "Not a DSO", "this hub does not act in the UFTP DSO role (uftp.roles)")
    if cfg.isp_duration_minutes != UFTP_ISP.total_seconds() / 60:
        raise ProblemError(409, "Unsupported ISP", "FlexRequests from CIM needs use PT15M ISPs")
    if congestion_point is None:
        configured = cfg.congestion_points or []
        if len(configured) != 1:
            raise ProblemError(422, "Congestion point needed",
                               "give ?congestion_point= (the hub has no single configured congestion point)")
        congestion_point = configured[0]
    known = list(session.scalars(select(UftpParticipant.domain).where(
        UftpParticipant.role == "AGR", UftpParticipant.barred.is_(False)).order_by(UftpParticipant.domain)))
    recipients = list(dict.fromkeys(agr)) if agr else known
    unknown = sorted(set(recipients) - set(known))
    if unknown:
        raise ProblemError(404, "Unknown participant", f"no AGR participant {unknown[0]!r} in the UFTP registry")
    if not recipients:
        raise ProblemError(409, "No aggregator", "no AGR participant is registered to receive FlexRequests")
    return FlexRequestPlan(cfg, congestion_point, recipients)


def _series_field(offer: FlexOffer, name: str) -> str | None:
    cim = offer.extra.get("cim")
    series = cim.get("series") if isinstance(cim, dict) else None
    value = series.get(name) if isinstance(series, dict) else None
    if isinstance(value, dict):
        value = value.get("value")
    return None if value is None else str(value)


def is_need(offer: FlexOffer) -> bool:
    return _series_field(offer, "businessType") == NEED


def _add(requested: Requested, start: datetime, seconds: int, low_kwh: float, high_kwh: float, tz: ZoneInfo,
         source: str) -> None:
    if seconds % UFTP_ISP.total_seconds():
        raise MappingError(f"{source}: a {seconds} s slot is not a whole number of UFTP ISPs", "A59")
    low_w, high_w = (round(v * WATT_SECONDS_PER_KWH / seconds) for v in sorted((low_kwh, high_kwh)))
    if low_w == 0 and high_w == 0:
        return
    for j in range(seconds // int(UFTP_ISP.total_seconds())):
        moment = start + j * UFTP_ISP
        period = moment.astimezone(tz).date()
        number = int((moment - period_bounds(period, tz)[0]) // UFTP_ISP) + 1
        have = requested.setdefault(period, {}).get(number, (0, 0))
        requested[period][number] = (have[0] + low_w, have[1] + high_w)


def need_isps(offer: FlexOffer, tz: ZoneInfo, requested: Requested) -> None:
    """Add one B75 need's ranges (see the module docstring for min/quantity)."""
    profile = offer.profile
    for k, (lower, upper) in enumerate(zip(profile.energy_lower, profile.energy_upper, strict=True)):
        quantity, least = (lower, upper) if abs(lower) >= abs(upper) else (upper, lower)
        if least == 0.0:
            least = quantity
        _add(requested, offer.earliest_start + k * offer.interval, offer.interval_seconds, quantity, least, tz,
             str(offer.id))


def schedule_isps(mrid: str, start: datetime, interval_seconds: int, energy: list[float], tz: ZoneInfo,
                  requested: Requested) -> None:
    """Add one series of required flexibility (kWh per slot): exactly that much per ISP."""
    for k, value in enumerate(energy):
        _add(requested, start + timedelta(seconds=k * interval_seconds), interval_seconds, value, value, tz, mrid)


def requested_from(message: Any, tz: ZoneInfo, verdict: Any) -> Requested:
    """The ISPs a received CIM message asks for; series that cannot be mapped are rejected in ``verdict``."""
    requested: Requested = {}
    needs = [o for o in message.offers if is_need(o)]
    for offer in needs:
        scratch: Requested = {}
        try:
            need_isps(offer, tz, scratch)
        except MappingError as exc:
            verdict.reject_series(str(offer.id), exc.code, str(exc))
            continue
        _merge(requested, scratch)
    if not message.offers:
        for series in message.series.values():
            for item in series:
                scratch = {}
                try:
                    schedule_isps(item.mrid, item.start, item.interval_seconds, item.energy, tz, scratch)
                except MappingError as exc:
                    verdict.reject_series(item.mrid, exc.code, str(exc))
                    continue
                _merge(requested, scratch)
    return requested


def _merge(into: Requested, more: Requested) -> None:
    for period, isps in more.items():
        target = into.setdefault(period, {})
        for number, (low, high) in isps.items():
            have = target.get(number, (0, 0))
            target[number] = (have[0] + low, have[1] + high)


def send_flex_requests(session: Session, plan: FlexRequestPlan, requested: Requested) -> None:
    """Seal, log and queue one FlexRequest per period and aggregator (the caller commits, then delivers)."""
    for period in sorted(requested):
        for agr_domain in plan.recipients:
            message = flex_request(period, requested=requested[period], congestion_point=plan.congestion_point,
                                   tz=plan.cfg.time_zone)
            row_id = uftp.send(session, plan.cfg, message, recipient_domain=agr_domain, recipient_role="AGR")
            plan.outbox_ids.append(row_id)
            plan.message_ids.append(str(message.message_id))


def deliver(app_state: Any, plan: FlexRequestPlan) -> None:
    """First delivery attempt right after the commit; the UFTP outbox loop retries what fails."""
    if not plan.outbox_ids:
        return
    cfg = plan.cfg
    policy = uftp_outbox.DeliveryPolicy(cfg.retry_base_seconds, cfg.max_attempts, cfg.request_timeout_seconds)
    uftp_outbox.deliver(app_state.sessionmaker, plan.outbox_ids, policy, None, True,
                        getattr(app_state, "uftp_write_lock", None))

