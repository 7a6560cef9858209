"""FMAR: order book and clearing, pricing, contracts, settlement and KPIs. Pure: no I/O."""

# FMAR market clearing (issue 4).
from core.market.clearing import clear
from core.market.greedy import greedy_clear
from core.market.models import (
    Bid,
    ClearingMode,
    GroupKind,
    Line,
    MarketConfig,
    OrderBook,
    PricingRule,
    Request,
    Side,
    request_to_bid,
)
from core.market.results import BidResult, BidStatus, ClearingResult, canonical_json, offer_outcome

__all__ = [
    "Bid",
    "BidResult",
    "BidStatus",
    "ClearingMode",
    "ClearingResult",
    "GroupKind",
    "Line",
    "MarketConfig",
    "OrderBook",
    "PricingRule",
    "Request",
    "Side",
    "canonical_json",
    "clear",
    "greedy_clear",
    "offer_outcome",
    "request_to_bid",
]
