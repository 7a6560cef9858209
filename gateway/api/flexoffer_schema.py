"""OpenAPI descriptions of the FlexOffer JSON wire format (AAU dialect shown).

The routes read the raw body with the codec (both dialects, lenient input), so these
schemas document and drive generated tests; they do not validate.
"""

from __future__ import annotations

from typing import Any

_TIME = {"type": "string", "format": "date-time"}
_NUMBER = {"type": "number"}

_SLICE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "minDuration": {"type": "integer", "minimum": 1},
        "maxDuration": {"type": "integer", "minimum": 1},
        "energyConstraintList": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "properties": {"lower": _NUMBER, "upper": _NUMBER},
                "required": ["lower", "upper"],
            },
        },
        "tariffConstraint": {"type": "object", "properties": {"minTariff": _NUMBER, "maxTariff": _NUMBER}},
    },
    "required": ["energyConstraintList"],
}

SCHEDULE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A default schedule or an assignment: start and energy per slice (kWh).",
    "properties": {
        "startTime": _TIME,
        "energyAmounts": {"type": "array", "items": _NUMBER, "minItems": 1},
        "durations": {"type": "array", "items": {"type": "integer", "minimum": 1}},
        "prices": {"type": "array", "items": _NUMBER},
        "profileIndex": {"type": "integer", "minimum": 0},
        "scheduleId": {"type": "string"},
        "updateId": {"type": "integer"},
    },
    "required": ["startTime", "energyAmounts"],
}

OFFER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "One flex-offer. AAU dialect (lower/upper, positive = consumption) shown; the INEA "
    "dialect (lowerBound/upperBound, positive = production) is accepted too.",
    "properties": {
        "id": {"type": ["string", "null"]},
        "state": {"type": "string", "enum": ["Initial", "Offered"]},
        "offeredById": {"type": "string"},
        "locationId": {"type": "string"},
        "creationTime": _TIME,
        "acceptBeforeTime": _TIME,
        "assignmentBeforeTime": _TIME,
        "startAfterTime": _TIME,
        "startBeforeTime": _TIME,
        "numSecondsPerInterval": {"type": "integer", "enum": [900, 1800, 3600]},
        "flexOfferProfileConstraints": {"type": "array", "minItems": 1, "items": _SLICE},
        "totalEnergyConstraint": {"type": "object", "properties": {"lower": _NUMBER, "upper": _NUMBER}},
        "defaultSchedule": SCHEDULE_SCHEMA,
    },
    "required": ["startAfterTime", "flexOfferProfileConstraints"],
}

SUBMISSION_SCHEMA: dict[str, Any] = {
    "oneOf": [
        OFFER_SCHEMA,
        {"type": "array", "items": OFFER_SCHEMA, "minItems": 1},
        {"type": "object", "properties": {"flexOffer": {"type": "array", "items": OFFER_SCHEMA}},
         "required": ["flexOffer"]},
    ]
}


def json_body(schema: dict[str, Any], description: str) -> dict[str, Any]:
    """``openapi_extra`` for a route that reads its JSON body itself."""
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"application/json": {"schema": schema}},
        }
    }
