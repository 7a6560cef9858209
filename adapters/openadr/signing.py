"""Optional XML signatures (XMLDSig, as 2.0b profiles them) with replay protection.

Signing reuses openleadr's (signxml) signer through :func:`messages.encode`.
Verification is ours: openleadr keeps seen nonces in a module-level set, which
is neither durable nor shared between hub replicas. Here verification returns
the (nonce, timestamp) and the caller records the nonce in the store, where a
second use fails atomically.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from lxml import etree
from openleadr.utils import certificate_fingerprint, extract_pem_cert, parse_datetime
from signxml import XMLVerifier
from signxml.exceptions import InvalidInput, InvalidSignature

DSIG_NS = "http://www.w3.org/2000/09/xmldsig#"
DSP_NS = "http://openadr.org/oadr-2.0b/2012/07/xmldsig-properties"
MAX_AGE = timedelta(minutes=5)
MAX_SKEW = timedelta(seconds=30)


class SignatureRejected(ValueError):
    """Missing, invalid, foreign or stale signature."""


@dataclass(frozen=True)
class ReplayToken:
    nonce: str
    timestamp: datetime
    fingerprint: str


def has_signature(root: etree._Element) -> bool:
    return root.find(f"{{{DSIG_NS}}}Signature") is not None


def verify(root: etree._Element, *, expected_fingerprint: str | None, now: datetime | None = None,
           max_age: timedelta = MAX_AGE) -> ReplayToken:
    """Check the signature over oadrSignedObject and the ReplayProtect properties.

    ``expected_fingerprint`` is the VEN's registered (or TLS) fingerprint; a message
    signed with any other certificate is refused.
    """
    if not has_signature(root):
        raise SignatureRejected("the message is not signed")
    try:
        cert = extract_pem_cert(root)
    except Exception as exc:
        raise SignatureRejected("no X509Certificate in the signature") from exc
    fingerprint = str(certificate_fingerprint(cert))
    if expected_fingerprint is not None and fingerprint != expected_fingerprint:
        raise SignatureRejected("the signing certificate is not the one registered for this VEN")
    try:
        XMLVerifier().verify(root, x509_cert=cert, expect_references=2)
    except (InvalidSignature, InvalidInput) as exc:
        raise SignatureRejected(f"invalid signature: {exc}") from exc
    stamp = root.findtext(f".//{{{DSP_NS}}}timestamp")
    nonce = root.findtext(f".//{{{DSP_NS}}}nonce")
    if not stamp or not nonce:
        raise SignatureRejected("the signature lacks ReplayProtect (timestamp and nonce)")
    try:
        timestamp = parse_datetime(stamp)
    except Exception as exc:
        raise SignatureRejected("malformed ReplayProtect timestamp") from exc
    timestamp = timestamp.replace(tzinfo=UTC) if timestamp.tzinfo is None else timestamp
    now = now or datetime.now(UTC)
    if timestamp < now - max_age or timestamp > now + MAX_SKEW:
        raise SignatureRejected("the ReplayProtect timestamp is outside the accepted window")
    return ReplayToken(nonce=nonce.strip(), timestamp=timestamp, fingerprint=fingerprint)
