"""Native flex-offer model and the FMAN algorithms. Pure: no I/O, no asyncio."""

from core.flexoffer.aggregation import Aggregate, AggregationParams, Aggregator, Alignment, aggregate
from core.flexoffer.batch import FlexOfferBatch
from core.flexoffer.checks import check_schedule, validate_offer
from core.flexoffer.disaggregation import DisaggregationError, MemberSchedules, disaggregate, disaggregate_arrays
from core.flexoffer.flexibility import Flexibility, FlexibilityLoss, aggregation_loss, flexibility
from core.flexoffer.greedy import greedy_plan
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
from core.flexoffer.planning import (
    FollowTarget,
    Horizon,
    MeetCommitments,
    MinimiseCost,
    PeakShaving,
    PlanningError,
    PlanResult,
    plan,
)

__all__ = [
    "ALLOWED_TRANSITIONS",
    "DEFAULT_INTERVAL_SECONDS",
    "ENERGY_TOLERANCE_KWH",
    "Aggregate",
    "AggregationParams",
    "Aggregator",
    "Alignment",
    "DeadlinePassed",
    "DisaggregationError",
    "EnergyBounds",
    "FlexOffer",
    "FlexOfferBatch",
    "Flexibility",
    "FlexibilityLoss",
    "FollowTarget",
    "Horizon",
    "IllegalTransition",
    "InfeasibleAssignment",
    "LifecycleError",
    "LinearConstraint",
    "MeetCommitments",
    "MemberSchedules",
    "MinimiseCost",
    "OfferState",
    "PeakShaving",
    "PlanResult",
    "PlanningError",
    "Profile",
    "Schedule",
    "aggregate",
    "aggregation_loss",
    "assign",
    "can_transition",
    "check_schedule",
    "disaggregate",
    "disaggregate_arrays",
    "flexibility",
    "greedy_plan",
    "plan",
    "transition",
    "validate_offer",
]
