"""REST for the flex-offer market (FMAR) under ``/api/v1/markets``.

Routes translate HTTP to ``gateway.services.market`` and back; the rules live
there. Every refusal is an RFC 7807 problem document naming the reason.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.flexoffer import FlexOffer
from core.market.models import MarketConfig
from gateway.api.deps import Principal, get_db, require_scope
from gateway.api.problems import ProblemError
from gateway.bus import EventBus
from gateway.db.market import Market
from gateway.services import flexoffers
from gateway.services import market as svc

router = APIRouter(prefix="/markets", tags=["markets"])

Reader = Annotated[Principal, Depends(require_scope("read"))]
Writer = Annotated[Principal, Depends(require_scope("write"))]
Db = Annotated[Session, Depends(get_db)]
MarketId = Annotated[str, Path(min_length=1, max_length=128)]
BidId = Annotated[str, Path(min_length=1, max_length=128)]


class ZoneRegistration(BaseModel):
    zone: str = Field(min_length=1, max_length=100)
    description: str | None = None


def _bus(request: Request) -> EventBus | None:
    return getattr(request.app.state, "bus", None)


def _admin(principal: Principal) -> bool:
    return "admin" in principal.scopes


@router.post("/zones", status_code=201, summary="Register a DSO congestion zone (F2.FMAR7)")
def register_zone(body: ZoneRegistration, principal: Writer, db: Db) -> dict[str, Any]:
    row = svc.register_zone(db, principal.party, body.zone, body.description)
    return {"zone": row.zone, "dso": row.party, "description": row.description}


@router.get("/zones/{zone}/summary", summary="Summary of completed bids in a congestion zone (F2.FMAR7)")
def zone_summary(zone: Annotated[str, Path(min_length=1, max_length=100)], principal: Reader,
                 db: Db) -> dict[str, Any]:
    return svc.zone_summary(db, principal.party, _admin(principal), zone)


@router.post("", status_code=201, summary="Create a market")
def create_market(config: MarketConfig, principal: Writer, db: Db) -> dict[str, Any]:
    return svc.market_view(svc.create_market(db, principal.party, config))


@router.get("", summary="List markets")
def list_markets(principal: Reader, db: Db, status: str | None = None) -> list[dict[str, Any]]:
    query = select(Market).order_by(Market.created_at, Market.id)
    if status is not None:
        query = query.where(Market.status == status)
    return [svc.market_view(m) for m in db.scalars(query)]


@router.get("/{market_id}", summary="Read a market")
def get_market(market_id: MarketId, principal: Reader, db: Db) -> dict[str, Any]:
    return svc.market_view(svc.load_market(db, market_id))


@router.patch("/{market_id}", summary="Configure an open market")
def configure_market(market_id: MarketId, principal: Writer, db: Db,
                     changes: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    return svc.market_view(svc.configure_market(db, principal.party, _admin(principal), market_id, changes))


@router.post("/{market_id}/bids", status_code=201, summary="Submit a bid, a bid on a stored offer, or a request")
def submit_bid(market_id: MarketId, principal: Writer, db: Db,
               body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    config = svc.config_of(svc.load_market(db, market_id))

    def lookup(offer_id: str) -> FlexOffer:
        return flexoffers.get_offer(db, principal.party, offer_id)

    audit = svc.auditor(db, market_id, principal.party)
    bid, offer_ref = svc.parse_bid(body, principal.party, lookup, config.mtu_seconds, audit)
    return svc.bid_view(svc.submit_bid(db, principal.party, market_id, bid, offer_ref))


@router.get("/{market_id}/bids", summary="Bids: all for the operator, own bids for everyone else")
def list_bids(market_id: MarketId, principal: Reader, db: Db) -> list[dict[str, Any]]:
    return svc.list_bids(db, principal.party, _admin(principal), market_id)


@router.delete("/{market_id}/bids/{bid_id}", summary="Cancel a bid before gate closure")
def cancel_bid(market_id: MarketId, bid_id: BidId, principal: Writer, db: Db) -> dict[str, Any]:
    return svc.bid_view(svc.cancel_bid(db, principal.party, _admin(principal), market_id, bid_id))


@router.post("/{market_id}/clear", summary="Close the gate now and clear (operator)")
def clear_market(market_id: MarketId, request: Request, principal: Writer, db: Db) -> Response:
    row = svc.load_market(db, market_id)
    if not svc._is_operator(row, principal.party, _admin(principal)):
        raise ProblemError(403, "Forbidden", "only the market's operator may clear it")
    svc.clear_market(db, _bus(request), market_id, principal.party)
    found = svc.result_for(db, _bus(request), principal.party, True, market_id)
    return Response(json.dumps(found, sort_keys=True, separators=(",", ":")), media_type="application/json")


@router.get("/{market_id}/results", summary="Clearing result (prices, own bids; all bids for the operator)")
def results(market_id: MarketId, request: Request, principal: Reader, db: Db) -> Response:
    data = svc.result_for(db, _bus(request), principal.party, _admin(principal), market_id)
    return Response(json.dumps(data, sort_keys=True, separators=(",", ":")), media_type="application/json")


@router.get("/{market_id}/audit", summary="Audit trail; ?verify=true re-clears the stored inputs")
def audit(market_id: MarketId, principal: Reader, db: Db,
          verify: Annotated[bool, Query(description="re-clear stored inputs and compare bytes")] = False,
          ) -> dict[str, Any]:
    return svc.audit_trail(db, principal.party, _admin(principal), market_id, verify)
