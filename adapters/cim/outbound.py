"""Outbound delivery of documents the hub writes: HTTP POST to a peer, or a file in the outbox.

A target is either an ``http(s)://`` URL or a directory path. Files are written
atomically (temp name, fsync, rename), so an ADMS polling the outbox never reads a
partial document. HTTP answers are expected to be Acknowledgement documents; they
are parsed with the safe parser and summarised so the caller can record the result.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import httpx

from adapters.cim.ack import AckSummary, read_ack
from adapters.cim.safe_xml import XmlRejected, parse_xml
from adapters.cim.tree import decode

CONTENT_TYPE = "application/xml"


@dataclass(frozen=True)
class Delivery:
    target: str
    ok: bool
    detail: str
    acknowledgement: AckSummary | None = None


def _is_url(target: str) -> bool:
    return target.startswith(("http://", "https://"))


def write_outbox(directory: Path, name: str, data: bytes) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:120] or "document"
    path = directory / f"{safe}.xml"
    tmp = directory / f".{safe}.xml.tmp"
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path


def deliver(
    target: str, name: str, data: bytes, timeout: float = 30.0, headers: dict[str, str] | None = None
) -> Delivery:
    """Send ``data`` to ``target``; never raises for delivery failures (``ok`` says)."""
    if not _is_url(target):
        path = write_outbox(Path(target), name, data)
        return Delivery(target, True, f"written to {path}")
    try:
        response = httpx.post(
            target, content=data, headers={"Content-Type": CONTENT_TYPE, **(headers or {})}, timeout=timeout
        )
    except httpx.HTTPError as exc:
        return Delivery(target, False, f"{type(exc).__name__}: {exc}")
    summary: AckSummary | None = None
    try:
        doc = decode(parse_xml(response.content))
        if doc.kind.root == "Acknowledgement_MarketDocument":
            summary = read_ack(doc.fields)
    except (XmlRejected, KeyError):
        summary = None
    ok = response.status_code < 300 and (summary is None or summary.status != "A02")
    return Delivery(target, ok, f"HTTP {response.status_code}", summary)
