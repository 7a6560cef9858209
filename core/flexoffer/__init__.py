"""Native flex-offer model and the FMAN algorithms. Pure: no I/O, no asyncio."""

from core.flexoffer.checks import check_schedule, validate_offer
from core.flexoffer.lifecycle import (
    ALLOWED_TRANSITIONS,
    DeadlinePassed,
    IllegalTransition,
    InfeasibleAssignment,
    LifecycleError,
    assign,
    can_transition,
    transition,
)
from core.flexoffer.model import (
    DEFAULT_INTERVAL_SECONDS,
    ENERGY_TOLERANCE_KWH,
    EnergyBounds,
    FlexOffer,
    LinearConstraint,
    OfferState,
    Profile,
    Schedule,
)

__all__ = [
    "ALLOWED_TRANSITIONS",
    "DEFAULT_INTERVAL_SECONDS",
    "ENERGY_TOLERANCE_KWH",
    "DeadlinePassed",
    "EnergyBounds",
    "FlexOffer",
    "IllegalTransition",
    "InfeasibleAssignment",
    "LifecycleError",
    "LinearConstraint",
    "OfferState",
    "Profile",
    "Schedule",
    "assign",
    "can_transition",
    "check_schedule",
    "transition",
    "validate_offer",
]
