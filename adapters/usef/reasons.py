"""RejectionReason texts, spelled exactly as the Shapeshifter message-validation table does.

Peers match on these strings, so they are constants, never composed ad hoc.
Several reasons in one response are joined with ``"; "`` as the specification allows.
"""

from __future__ import annotations

UNKNOWN_SENDER_DOMAIN = "Unknown SenderDomain"
INVALID_SENDER_ROLE = "Invalid SenderRole"
INVALID_SENDER_COMBINATION = "Invalid Sender combination"
MISMATCH_SENDER_DOMAIN = "Mismatch SenderDomain"
INVALID_SIGNED_MESSAGE = "Invalid SignedMessage"
INVALID_MESSAGE = "Invalid Message"
UNKNOWN_RECIPIENT_DOMAIN = "Unknown RecipientDomain"
BARRED_SENDER = "Barred Sender"
DUPLICATE_IDENTIFIER = "Duplicate Identifier"
ALREADY_SUBMITTED = "Already Submitted"
ISP_DURATION_REJECTED = "ISP duration rejected"
TIMEZONE_REJECTED = "TimeZone rejected"
INVALID_CONGESTION_POINT = "Invalid CongestionPoint"
REFERENCE_PERIOD_MISMATCH = "Reference Period mismatch"
REFERENCE_MESSAGE_EXPIRED = "Reference message expired"
REFERENCE_MESSAGE_REVOKED = "Reference message revoked"
ISPS_OUT_OF_BOUNDS = "ISPs out of bounds"
ISP_CONFLICT = "ISP conflict"
PERIOD_OUT_OF_BOUNDS = "Period out of bounds"
EXPIRATION_OUT_OF_BOUNDS = "ExpirationDateTime out of bounds"

SEPARATOR = "; "


def unknown_reference(attribute: str) -> str:
    """``Unknown <MessageType>MessageID reference``, e.g. ``Unknown FlexRequestMessageID reference``."""
    return f"Unknown {attribute} reference"


def join(reasons: list[str]) -> str | None:
    """One RejectionReason attribute from several causes, without repeats, in order found."""
    unique = list(dict.fromkeys(reasons))
    return SEPARATOR.join(unique) if unique else None
