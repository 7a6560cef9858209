"""FlexOffer JSON wire format (AAU/FMAN and INEA/FMAR dialects) <-> the native model."""

from adapters.flexoffer.codec import CodecError, dumps, loads, loads_with_warnings

__all__ = ["CodecError", "dumps", "loads", "loads_with_warnings"]
