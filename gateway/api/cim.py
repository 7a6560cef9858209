"""``POST /api/v1/cim``: any supported ESMP document in, its Acknowledgement_MarketDocument out.

Every inbound document, accepted or not, is stored (bytes as received, plus the
acknowledgement) and committed *before* the acknowledgement is returned. The same
:func:`receive_document` serves the HTTP route and the inbox watcher, so both
channels apply identical rules.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from adapters.cim.codec import dumps_series
from adapters.cim.errors import MappingError
from adapters.cim.flows import AllocationRef, allocation_series, market_order
from adapters.cim.header import Header, Party
from adapters.cim.inbound import InboundResult, acknowledge, receive
from adapters.cim.rules import HubIdentity
from adapters.cim.tree import Coded
from adapters.cim.xsd import XsdCatalog
from gateway.api.deps import Principal, get_db, require_scope
from gateway.api.problems import ProblemError
from gateway.config import Settings
from gateway.db.cim import CimDocument, CimParty, DbHistory, DbParties, hub_party, upsert_party
from gateway.db.market import Market
from gateway.services import cim_to_uftp
from gateway.services.cim_to_uftp import FlexRequestPlan
from gateway.services.uftp_config import UftpNotConfigured

router = APIRouter(tags=["cim"])
DbSession = Annotated[Session, Depends(get_db)]
Reader = Annotated[Principal, Depends(require_scope("read"))]
Writer = Annotated[Principal, Depends(require_scope("write"))]
Admin = Annotated[Principal, Depends(require_scope("admin"))]
XML = "application/xml"
UNCONFIGURED_HUB = "UNCONFIGURED"


def hub_identity(session: Session) -> HubIdentity:
    """The hub's own CIM identity from the party registry (``flexhub cim party add --hub``).

    Without one, every document is answered A53 (receiving party incorrect): the hub
    cannot know whether it was meant for it.
    """
    row = hub_party(session)
    if row is None:
        return HubIdentity(UNCONFIGURED_HUB, "A04", frozenset())
    roles = sorted(row.role_set())
    return HubIdentity(row.mrid, roles[0] if roles else "A04", frozenset(roles), row.coding_scheme)


def xsd_catalog(settings: Settings) -> XsdCatalog | None:
    return XsdCatalog(settings.cim.xsd_dir, "lxml") if settings.cim.xsd_dir else None


def _reasons_json(result: InboundResult) -> str:
    verdict = result.verdict
    return json.dumps(
        {
            "document": [{"code": r.code, "text": r.text} for r in verdict.reasons],
            "series": {m: [{"code": r.code, "text": r.text} for r in rs] for m, rs in verdict.rejected_series.items()},
            "duplicate": result.duplicate,
        }
    )


def receive_document(
    session: Session,
    settings: Settings,
    data: bytes,
    channel: str,
    party: str | None = None,
    market_id: str | None = None,
    flex_requests: FlexRequestPlan | None = None,
) -> InboundResult:
    """Judge, persist and commit one inbound document; return the result with its acknowledgement.

    With ``market_id``, the bids of an accepted ReserveBid then enter that FMAR market
    (the document is already stored, so a crash in between loses nothing: the sender
    resends, the replay is recognised and acknowledged without bidding twice). Bids
    the market refuses are rejected series in the acknowledgement.

    With ``flex_requests``, the DSO needs the document carries become UFTP FlexRequests
    (:mod:`gateway.services.cim_to_uftp`), queued in the same commit as the final
    acknowledgement; the caller delivers them after it returns.
    """
    hub = hub_identity(session)
    fallback = (party or "UNKNOWN")[:16]
    result = receive(
        data,
        hub,
        DbParties(session),
        DbHistory(session),
        xsd=xsd_catalog(settings),
        fallback_receiver=fallback,
        max_bytes=settings.cim.max_body_bytes,
    )
    header = result.header
    row = CimDocument(
        direction="in",
        channel=channel,
        party=party,
        kind=result.kind,
        version=result.document_kind.version if result.document_kind else None,
        sender=header.sender.mrid[:64] if header else None,
        receiver=header.receiver.mrid[:64] if header else None,
        mrid=header.mrid[:64] if header else None,
        revision=header.revision if header else None,
        digest=result.digest,
        status=result.status,
        reasons=_reasons_json(result),
        ack_mrid=result.ack_mrid,
        content=data,
        ack=result.ack_xml,
    )
    session.add(row)
    session.commit()
    to_market = bool(market_id and result.message is not None and result.message.offers)
    to_uftp = flex_requests is not None and result.message is not None and result.status != "A02"
    if (to_market or to_uftp) and not result.duplicate:
        if to_market and market_id:
            _enter_market(session, party or "unknown", market_id, result)
        if to_uftp and flex_requests is not None:
            _request_flexibility(session, flex_requests, result)
        acknowledge(result, hub, fallback)
        row.status = result.status
        row.reasons = _reasons_json(result)
        row.ack_mrid = result.ack_mrid
        row.ack = result.ack_xml
        session.commit()
    return result


def _request_flexibility(session: Session, plan: FlexRequestPlan, result: InboundResult) -> None:
    """Queue FlexRequests for the accepted needs; unmappable series are rejected in the acknowledgement."""
    from zoneinfo import ZoneInfo

    assert result.message is not None
    requested = cim_to_uftp.requested_from(result.message, ZoneInfo(plan.cfg.time_zone), result.verdict)
    if not requested or result.verdict.status == "A02":
        return
    try:
        cim_to_uftp.send_flex_requests(session, plan, requested)
    except (ValueError, LookupError, UftpNotConfigured) as exc:
        # Nothing half-sent: the document is refused as a whole, so the DSO can resend it.
        session.rollback()
        plan.outbox_ids.clear()
        plan.message_ids.clear()
        result.verdict.reject("999", f"UFTP FlexRequest not sent: {exc}"[:500])


def _enter_market(session: Session, party: str, market_id: str, result: InboundResult) -> None:
    """Submit every accepted bid to FMAR through its service; refusals become series reasons."""
    from core.market.models import Request as MarketRequest
    from core.market.models import request_to_bid
    from gateway.services import market as market_service

    assert result.message is not None
    mtu = market_service.config_of(market_service.load_market(session, market_id)).mtu_seconds
    for offer in result.message.offers:
        mrid = str(offer.id)
        try:
            order = market_order(offer, bidder=party)
            bid = request_to_bid(order, mtu) if isinstance(order, MarketRequest) else order
            market_service.submit_bid(session, party, market_id, bid, None)
        except MappingError as exc:
            result.verdict.reject_series(mrid, exc.code, str(exc))
        except ProblemError as exc:
            code = "A57" if exc.status == 409 and "Gate" in exc.title else "A59"
            result.verdict.reject_series(mrid, code, f"market {market_id}: {exc.detail or exc.title}")


@router.post(
    "/cim",
    response_class=Response,
    responses={200: {"content": {XML: {}}, "description": "Acknowledgement_MarketDocument"}},
)
async def post_cim(
    request: Request,
    session: DbSession,
    principal: Writer,
    background: BackgroundTasks,
    market: str | None = None,
    uftp_flex_request: bool = False,
    congestion_point: str | None = None,
    agr: Annotated[list[str] | None, Query()] = None,
) -> Response:
    """Take any supported ESMP document; answer with its acknowledgement (A01, B70 or A02).

    ``?market=ID`` also enters the bids of a ReserveBid into that FMAR market.
    ``?uftp_flex_request=true`` (hub in the UFTP DSO role) turns the document's needs
    (ReserveBid B75 series, or the series of a schedule of required flexibility) into
    FlexRequests at ``congestion_point`` (default: the single configured one) to the AGR
    participants ``agr`` (repeatable; default: all registered); their message IDs are in
    ``X-UFTP-FlexRequest``.
    """
    data = await request.body()
    if not data:
        raise ProblemError(400, "Empty body", "POST an ESMP XML document")
    if market is not None and session.get(Market, market) is None:
        raise ProblemError(404, "Market not found", f"no market {market!r}")
    plan = cim_to_uftp.prepare(session, request.app.state, congestion_point, agr) if uftp_flex_request else None
    result = receive_document(session, request.app.state.settings, data, "http", principal.party, market, plan)
    headers = {"X-CIM-Status": result.status}
    if plan is not None:
        headers["X-UFTP-FlexRequest"] = ",".join(plan.message_ids)
        background.add_task(cim_to_uftp.deliver, request.app.state, plan)
    return Response(result.ack_xml, media_type=XML, headers=headers)


def _summary(row: CimDocument) -> dict[str, Any]:
    return {
        "id": row.id,
        "direction": row.direction,
        "channel": row.channel,
        "kind": row.kind,
        "version": row.version,
        "sender": row.sender,
        "receiver": row.receiver,
        "mRID": row.mrid,
        "revisionNumber": row.revision,
        "status": row.status,
        "ackMRID": row.ack_mrid,
        "reasons": json.loads(row.reasons) if row.reasons else None,
        "createdAt": row.created_at.isoformat(),
    }


@router.get("/cim/documents")
def list_documents(
    session: DbSession,
    principal: Reader,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Recent documents; admins see all, others those they posted."""
    query = select(CimDocument).order_by(CimDocument.id.desc()).limit(max(1, min(limit, 500)))
    if not principal.has("admin"):
        query = query.where(CimDocument.party == principal.party)
    return [_summary(r) for r in session.execute(query).scalars()]


def _own(session: Session, principal: Principal, doc_id: int) -> CimDocument:
    row = session.get(CimDocument, doc_id)
    if row is None or (not principal.has("admin") and row.party != principal.party):
        raise ProblemError(404, "Not found", f"no CIM document {doc_id}")
    return row


@router.get("/cim/documents/{doc_id}", response_class=Response)
def get_document(doc_id: int, session: DbSession, principal: Reader) -> Response:
    return Response(_own(session, principal, doc_id).content, media_type=XML)


@router.get("/cim/documents/{doc_id}/ack", response_class=Response)
def get_ack(doc_id: int, session: DbSession, principal: Reader) -> Response:
    row = _own(session, principal, doc_id)
    if row.ack is None:
        raise ProblemError(404, "Not found", f"document {doc_id} has no acknowledgement")
    return Response(row.ack, media_type=XML)


@router.get("/cim/parties")
def list_parties(session: DbSession, principal: Reader) -> list[dict[str, Any]]:
    rows = session.execute(select(CimParty).order_by(CimParty.mrid)).scalars()
    return [{"mRID": r.mrid, "roles": sorted(r.role_set()), "name": r.name, "hub": r.is_hub} for r in rows]


@router.put("/cim/parties/{mrid}")
def put_party(
    mrid: str,
    body: dict[str, Any],
    session: DbSession,
    principal: Admin,
) -> dict[str, Any]:
    """Register a market participant (``{"roles": ["A46"], "hub": false}``)."""
    roles = body.get("roles")
    if not isinstance(roles, list) or not roles or not all(isinstance(r, str) and r for r in roles):
        raise ProblemError(422, "Invalid party", "roles must be a non-empty list of role codes such as A46")
    if len(mrid) > 16:
        raise ProblemError(422, "Invalid party", "a CIM party mRID has at most 16 characters")
    row = upsert_party(session, mrid, roles, body.get("name"), bool(body.get("hub", False)))
    session.commit()
    return {"mRID": row.mrid, "roles": sorted(row.role_set()), "name": row.name, "hub": row.is_hub}


def _allocation_document(
    session: Session, principal: Principal, market_id: str, receiver: str | None, version: str | None
) -> tuple[str, str, bytes]:
    """(receiver mRID, document mRID, XML) of the market's outcome for one party's CIM bids."""
    from core.market.models import Bid
    from gateway.db.market import MarketBid
    from gateway.services import market as market_service

    outcome = {r.bid_id: r for r in market_service.stored_result(session, market_id).bids}
    config = market_service.config_of(market_service.load_market(session, market_id))
    query = select(MarketBid).where(MarketBid.market_id == market_id)
    if not principal.has("admin"):
        query = query.where(MarketBid.party == principal.party)
    refs: dict[str, list[AllocationRef]] = {}
    senders: dict[str, Party] = {}
    for bid_row in session.execute(query).scalars():
        bid = Bid.model_validate_json(bid_row.document)
        cim = bid.offer.extra.get("cim")
        if not isinstance(cim, dict) or "sender" not in cim or bid.id not in outcome:
            continue
        sender = cim["sender"]
        senders[sender["mRID"]] = Party(sender["mRID"], sender.get("role"), sender.get("codingScheme", "A01"))
        refs.setdefault(sender["mRID"], []).append(AllocationRef(bid.offer, outcome[bid.id]))
    if receiver is None and len(refs) == 1:
        receiver = next(iter(refs))
    if receiver is None or receiver not in refs:
        raise ProblemError(404, "No CIM bids", f"no CIM bids for receiver {receiver!r} in market {market_id!r}")
    hub = hub_identity(session)
    role = "A34" if "A34" in hub.roles else hub.role
    first = refs[receiver][0].offer.extra["cim"]["series"]
    domain = first.get("acquiring_Domain.mRID") or {"value": config.zones[0], "codingScheme": "A01"}
    header = Header(
        mrid=f"RAR-{market_id}-{receiver}"[:60],
        revision=1,
        doc_type="A38",
        sender=Party(hub.mrid, role, hub.scheme),
        receiver=senders[receiver],
        created=datetime.now(UTC),
        start=config.start,
        end=config.end,
        domain=Coded(domain["value"], domain["codingScheme"]) if isinstance(domain, dict) else Coded(str(domain)),
    )
    try:
        xml = dumps_series(
            "ReserveAllocationResult_MarketDocument",
            header,
            [allocation_series(r) for r in refs[receiver]],
            version,
        )
    except (MappingError, KeyError) as exc:
        raise ProblemError(422, "Cannot write allocation result", str(exc)) from exc
    session.add(
        CimDocument(
            direction="out",
            channel="http",
            party=principal.party,
            kind="ReserveAllocationResult_MarketDocument",
            sender=hub.mrid,
            receiver=receiver,
            mrid=header.mrid,
            revision=1,
            status="A01",
            content=xml,
        )
    )
    session.commit()
    return receiver, header.mrid, xml


@router.get("/cim/markets/{market_id}/allocation", response_class=Response)
def get_allocation(
    market_id: str,
    session: DbSession,
    principal: Reader,
    receiver: str | None = None,
    version: str | None = None,
) -> Response:
    """The market's results for CIM bids as a ReserveAllocationResult_MarketDocument.

    One document per bidding party (``receiver``: its CIM mRID; optional when the
    caller's bids come from one party). Operators (admin) may ask for any receiver.
    Every document served is recorded as an outbound document.
    """
    _receiver, _mrid, xml = _allocation_document(session, principal, market_id, receiver, version)
    return Response(xml, media_type=XML)


@router.post("/cim/markets/{market_id}/allocation/delivery")
def deliver_allocation(
    market_id: str,
    request: Request,
    session: DbSession,
    principal: Admin,
    receiver: str | None = None,
    version: str | None = None,
    to: str | None = None,
) -> dict[str, Any]:
    """Send the allocation result by HTTP POST or into the outbox (``to``, default ``cim.outbox_dir``).

    Admin only: the target is an arbitrary URL or path.
    """
    from adapters.cim.outbound import deliver
    from gateway.db.cim import CimOutbound

    target = to or request.app.state.settings.cim.outbox_dir
    if not target:
        raise ProblemError(422, "No target", "give ?to= (URL or directory) or configure cim.outbox_dir")
    receiver, mrid, xml = _allocation_document(session, principal, market_id, receiver, version)
    outbound = CimOutbound(target=target, mrid=mrid, kind="ReserveAllocationResult_MarketDocument", content=xml)
    session.add(outbound)
    session.commit()  # recorded before it leaves: a failed delivery can be retried from the store
    result = deliver(target, mrid, xml)
    outbound.attempts = 1
    outbound.delivered = result.ok
    outbound.last_error = None if result.ok else result.detail
    outbound.delivered_at = datetime.now(UTC) if result.ok else None
    session.commit()
    ack = result.acknowledgement
    return {
        "receiver": receiver,
        "mRID": mrid,
        "target": target,
        "delivered": result.ok,
        "detail": result.detail,
        "acknowledgement": None if ack is None else {"status": ack.status, "rejectedSeries": ack.rejected_series},
    }


@router.get("/cim/documents/{doc_id}/schedules")
def get_schedules(doc_id: int, session: DbSession, principal: Reader) -> list[dict[str, Any]]:
    """The accepted time series of a stored document as core schedules (kWh per slot, + = consumption).

    Activations and redispatch orders come out as per-resource activation schedules for
    FMAN and device dispatch; schedules, prognoses and metering as plain series.
    """
    from adapters.cim.codec import map_document
    from adapters.cim.flows import activation_orders
    from adapters.cim.safe_xml import parse_xml
    from adapters.cim.tree import decode

    row = _own(session, principal, doc_id)
    if row.direction != "in" or row.status == "A02":
        raise ProblemError(409, "Not accepted", f"document {doc_id} was not accepted; it has no schedules")
    rejected = set(json.loads(row.reasons or "{}").get("series", {}))
    message = map_document(decode(parse_xml(row.content)))
    out: list[dict[str, Any]] = []
    for container, series in message.series.items():
        for item, order in zip(series, activation_orders(series), strict=True):
            if item.mrid in rejected:
                continue
            out.append(
                {
                    "container": container,
                    "mRID": item.mrid,
                    "resource": order.resource,
                    "provider": order.provider,
                    "status": order.status,
                    "start": item.start.isoformat(),
                    "intervalSeconds": item.interval_seconds,
                    "energyKwh": item.energy,
                }
            )
    return out
