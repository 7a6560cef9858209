"""FMAN over REST: contracts, monthly bills, portfolio KPIs, and planning.

Routes translate HTTP to ``gateway.services.fman`` and back. A party sees its own
contract, bill and KPIs; an admin may name any party (or, for KPIs, all of them)
and is the only one who may write contracts.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from core.flexoffer.model import as_utc
from core.flexoffer.planning import Horizon, MinimiseCost, Objective, PlanningError
from core.market.baseline import default_schedule_baseline
from core.market.contracts import FlexContract
from core.market.kpi import KpiReport, compute_kpis
from core.market.settlement import Bill
from gateway.api.deps import Principal, get_db, require_scope
from gateway.api.problems import ProblemError
from gateway.bus import EventBus
from gateway.services import fman as svc

router = APIRouter(tags=["fman"])

Reader = Annotated[Principal, Depends(require_scope("read"))]
Writer = Annotated[Principal, Depends(require_scope("write"))]
Admin = Annotated[Principal, Depends(require_scope("admin"))]
Db = Annotated[Session, Depends(get_db)]
PartyPath = Annotated[str, Path(min_length=1, max_length=128)]
PartyQuery = Annotated[str | None, Query(min_length=1, max_length=128, description="Another party (admin only)")]
PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}
MAX_PLAN_SECONDS = 60.0


def _party(principal: Principal, requested: str | None) -> str:
    if requested is None or requested == principal.party:
        return principal.party
    if not principal.has("admin"):
        raise ProblemError(403, "Forbidden", "only an admin may read another party's data")
    return requested


# ------------------------------------------------------------------ contracts


@router.get("/contract", summary="The caller's flexibility contract (admin: any party's, or all)")
def get_contract(principal: Reader, db: Db, party: PartyQuery = None) -> dict[str, Any]:
    if party == "*" and principal.has("admin"):
        contracts = svc.get_contracts(db, None)
    else:
        contracts = svc.get_contracts(db, _party(principal, party))
    return {"contracts": [c.model_dump(mode="json") for c in contracts]}


@router.put(
    "/contract/{party}",
    summary="Create or replace a party's flexibility contract (admin)",
    responses={201: {"description": "Created"}, 422: PROBLEM},
)
def put_contract(party: PartyPath, contract: FlexContract, principal: Admin, db: Db, response: Response
                 ) -> dict[str, Any]:
    stored, created = svc.put_contract(db, party, contract)
    response.status_code = 201 if created else 200
    return stored.model_dump(mode="json")


@router.delete("/contract/{party}", status_code=204, summary="End a party's contract (admin)",
               responses={404: PROBLEM})
def delete_contract(party: PartyPath, principal: Admin, db: Db) -> Response:
    svc.delete_contract(db, party)
    return Response(status_code=204)


# ------------------------------------------------------------------ bill


def _bill_json(bill: Bill) -> dict[str, Any]:
    return {
        "party": bill.party,
        "month": bill.month,
        "contract_id": bill.contract_id,
        "currency": "EUR",
        "fixed_reward_eur": bill.fixed_reward_eur,
        "fixed_reward_basis": bill.fixed_reward_basis,
        "factual": dataclasses.asdict(bill.factual),
        "predicted": dataclasses.asdict(bill.predicted),
        "total_eur": bill.total_eur,
        "lines": [{**dataclasses.asdict(line), "total_eur": line.total_eur} for line in bill.lines],
    }


@router.get("/bill", summary="The caller's bill for a month, factual and predicted",
            responses={404: PROBLEM, 422: PROBLEM})
def get_bill(
    principal: Reader,
    db: Db,
    month: Annotated[str, Query(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM")],
    party: PartyQuery = None,
) -> dict[str, Any]:
    return _bill_json(svc.bill_for(db, _party(principal, party), month))


# ------------------------------------------------------------------ KPIs


def _kpi_json(report: KpiReport) -> dict[str, Any]:
    body = dataclasses.asdict(report)
    body["start"] = report.start.isoformat()
    body["hours"] = [h.isoformat() for h in report.hours]
    return body


@router.get("/kpi", summary="Portfolio KPIs: adaptation, adaptability, savings, projections",
            responses={422: PROBLEM})
def get_kpi(
    principal: Reader,
    db: Db,
    start: Annotated[datetime | None, Query(alias="from", description="default: span of the stored offers")] = None,
    end: Annotated[datetime | None, Query(alias="to", description="default: span of the stored offers")] = None,
    slot_seconds: Annotated[int, Query(ge=60, le=3600)] = 900,
    party: PartyQuery = None,
) -> dict[str, Any]:
    parties = None if (party == "*" and principal.has("admin")) else [_party(principal, party)]
    if start is None or end is None:
        default_start, default_end = svc.default_kpi_window(db, parties)
        start, end = start or default_start, end or default_end
    report, priced = svc.kpis(db, parties, as_utc(start), as_utc(end), slot_seconds)
    return {**_kpi_json(report), "priced_slots": priced}


# ------------------------------------------------------------------ planning


def _finite(value: float) -> float | None:
    """JSON has no NaN or infinity: an unknown objective or gap is null."""
    return value if math.isfinite(value) else None


class HorizonBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: datetime
    slots: int = Field(gt=0, le=2976)
    slot_seconds: int = Field(default=900, gt=0, le=3600)


class PlanRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    objective: Objective
    horizon: HorizonBody
    offer_ids: list[str] | None = Field(default=None, max_length=100_000)
    assign: bool = False
    aggregate: bool = Field(default=False, description="Aggregate first, plan the aggregates, disaggregate")
    time_limit: float = Field(default=30.0, gt=0, le=MAX_PLAN_SECONDS)


@router.post("/fman/plan", summary="Plan the caller's offered/accepted flex-offers (MILP, HiGHS)",
             responses={404: PROBLEM, 422: PROBLEM})
def post_plan(body: PlanRequest, principal: Writer, db: Db, request: Request) -> dict[str, Any]:
    try:
        horizon = Horizon(body.horizon.start, body.horizon.slots, body.horizon.slot_seconds)
    except PlanningError as exc:
        raise ProblemError(422, "Bad horizon", str(exc)) from exc
    bus: EventBus | None = getattr(request.app.state, "bus", None)
    try:
        result, offers, failures = svc.plan_stored(
            db, bus, principal.party, body.objective, horizon, body.offer_ids, body.assign, body.time_limit,
            aggregated=body.aggregate,
        )
    except PlanningError as exc:
        raise ProblemError(422, "Bad planning request", str(exc)) from exc
    if not result.schedules and offers and not result.unplanned:
        raise ProblemError(422, "No feasible plan", f"HiGHS status: {result.status}", solver_status=result.status)
    baseline = [0.0] * horizon.slots
    for offer in offers:
        for moment, energy in default_schedule_baseline(offer).items():
            index = int((moment - horizon.start).total_seconds() // horizon.slot_seconds)
            if 0 <= index < horizon.slots:
                baseline[index] += energy
    prices = body.objective.prices if isinstance(body.objective, MinimiseCost) else None
    report = compute_kpis(horizon.start, horizon.slot_seconds, baseline, result.slot_energy or [0.0] * horizon.slots,
                          prices_eur_kwh=prices, participants=1)
    return {
        "status": result.status,
        "objective_value": _finite(result.objective_value),
        "gap": _finite(result.gap),
        "schedules": {k: s.model_dump(mode="json", exclude_none=True) for k, s in result.schedules.items()},
        "unplanned": result.unplanned,
        "assigned": sorted(set(result.schedules) - set(failures)) if body.assign else [],
        "assignment_failures": failures,
        "slot_energy": result.slot_energy,
        "kpi": _kpi_json(report),
    }
