"""The one error type the FlexOffer JSON codec raises."""

from __future__ import annotations


class CodecError(ValueError):
    """A flex-offer document the codec cannot read or write.

    ``path`` is a JSONPath-like pointer (``$[2].flexOfferProfileConstraints[5].minDuration``)
    so that a person can find the offending value in a large envelope.
    """

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason
