"""``POST /api/v1/cim``: any supported ESMP document in, its Acknowledgement_MarketDocument out.

Every inbound document, accepted or not, is stored (bytes as received, plus the
acknowledgement) and committed *before* the acknowledgement is returned. The same
:func:`receive_document` serves the HTTP route and the inbox watcher, so both
channels apply identical rules.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from adapters.cim.inbound import InboundResult, receive
from adapters.cim.rules import HubIdentity
from adapters.cim.xsd import XsdCatalog
from gateway.api.deps import Principal, get_db, require_scope
from gateway.api.problems import ProblemError
from gateway.config import Settings
from gateway.db.cim import CimDocument, CimParty, DbHistory, DbParties, hub_party, upsert_party

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


def receive_document(
    session: Session, settings: Settings, data: bytes, channel: str, party: str | None = None
) -> InboundResult:
    """Judge, persist and commit one inbound document; return the result with its acknowledgement."""
    result = receive(
        data,
        hub_identity(session),
        DbParties(session),
        DbHistory(session),
        xsd=xsd_catalog(settings),
        fallback_receiver=(party or "UNKNOWN")[:16],
        max_bytes=settings.max_body_bytes,
    )
    header = result.header
    reasons: dict[str, Any] = {
        "document": [{"code": r.code, "text": r.text} for r in result.verdict.reasons],
        "series": {
            m: [{"code": r.code, "text": r.text} for r in rs] for m, rs in result.verdict.rejected_series.items()
        },
        "duplicate": result.duplicate,
    }
    session.add(
        CimDocument(
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
            reasons=json.dumps(reasons),
            ack_mrid=result.ack_mrid,
            content=data,
            ack=result.ack_xml,
        )
    )
    session.commit()
    return result


@router.post(
    "/cim",
    response_class=Response,
    responses={200: {"content": {XML: {}}, "description": "Acknowledgement_MarketDocument"}},
)
async def post_cim(
    request: Request,
    session: DbSession,
    principal: Writer,
) -> Response:
    """Take any supported ESMP document; answer with its acknowledgement (A01, B70 or A02)."""
    data = await request.body()
    if not data:
        raise ProblemError(400, "Empty body", "POST an ESMP XML document")
    result = receive_document(session, request.app.state.settings, data, "http", principal.party)
    return Response(result.ack_xml, media_type=XML, headers={"X-CIM-Status": result.status})


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
