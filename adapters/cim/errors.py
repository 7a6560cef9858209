"""The one error type codecs raise: it carries the acknowledgement reason code to answer with."""

from __future__ import annotations


class MappingError(ValueError):
    """A document that is well-formed but cannot be expressed in the native model."""

    def __init__(self, message: str, code: str = "999") -> None:
        super().__init__(message)
        self.code = code
