"""`flexhub fman ...`: plan a file of flex-offers offline with the FMAN planner.

Offline means no hub and no store: the same ``core.flexoffer.plan`` the REST API
runs, on offers read with the FlexOffer codec, so an operator can try objectives
and price curves before planning the live portfolio.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from adapters.flexoffer.codec import CodecError, loads
from core.flexoffer import FlexOffer, check_schedule
from core.flexoffer.greedy import greedy_plan
from core.flexoffer.model import as_utc
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

app = typer.Typer(no_args_is_help=True, help="FMAN: plan flex-offers against an objective (HiGHS MILP).")


class ObjectiveKind(StrEnum):
    COST = "cost"
    TARGET = "target"
    PEAK = "peak"
    COMMITMENTS = "commitments"


def _series(path: Path | None, label: str) -> list[float | None] | None:
    """A JSON array, or one number per line (blank or ``-`` for none); errors name the file."""
    if path is None:
        return None
    try:
        text = path.read_text()
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {label} file {path}: {exc}") from exc
    try:
        if text.lstrip().startswith("["):
            values = orjson.loads(text)
            return [None if v is None else float(v) for v in values]
        lines = text.rstrip().splitlines()
        return [None if line.strip() in ("", "-") else float(line.split(",")[-1]) for line in lines]
    except (ValueError, TypeError, orjson.JSONDecodeError) as exc:
        raise typer.BadParameter(f"{label} file {path} is not a list of numbers: {exc}") from exc


def _numbers(values: list[float | None] | None, label: str) -> list[float] | None:
    if values is None:
        return None
    if any(v is None for v in values):
        raise typer.BadParameter(f"the {label} series must not have gaps")
    return [float(v) for v in values if v is not None]


def _horizon(offers: list[FlexOffer], start: datetime | None, slots: int | None, slot_seconds: int,
             series_length: int | None) -> Horizon:
    """By default: from the earliest window start (on the slot grid) over the series' length."""
    if start is None:
        first = min(o.earliest_start for o in offers)
        epoch_seconds = int(first.timestamp())
        start = first - timedelta(seconds=epoch_seconds % slot_seconds)
    start = as_utc(start)
    if slots is None:
        if series_length is None:
            ends = [o.effective_latest_start() + timedelta(seconds=o.interval_seconds * sum(o.profile.min_durations()))
                    for o in offers]
            slots = math.ceil((max(ends) - start).total_seconds() / slot_seconds)
        else:
            slots = series_length
    return Horizon(start, slots, slot_seconds)


@app.command("plan")
def plan_command(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="FlexOffer JSON (either dialect)")],
    objective: Annotated[ObjectiveKind, typer.Option(help="What to optimise")] = ObjectiveKind.COST,
    prices: Annotated[Path | None, typer.Option(help="EUR/kWh per slot (cost)")] = None,
    target: Annotated[Path | None, typer.Option(help="kWh per slot to follow (target)")] = None,
    forecast: Annotated[Path | None, typer.Option(help="Uncontrolled net load, kWh per slot")] = None,
    commitments: Annotated[Path | None, typer.Option(help="Committed kWh per slot, '-' for none")] = None,
    limit: Annotated[float | None, typer.Option(help="Zone limit, kWh per slot (peak; cost: hard cap)")] = None,
    start: Annotated[datetime | None, typer.Option(help="Horizon start (default: earliest offer start)")] = None,
    slots: Annotated[int | None, typer.Option(help="Horizon length in slots (default: the series length)")] = None,
    slot_seconds: Annotated[int, typer.Option(help="Slot length")] = 900,
    time_limit: Annotated[float, typer.Option(help="HiGHS time limit, seconds")] = 60.0,
    greedy: Annotated[bool, typer.Option(help="Also run the direct-trading greedy baseline (cost only)")] = False,
    out: Annotated[Path | None, typer.Option(help="Write the schedules as JSON here")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print a JSON summary instead of a table")] = False,
) -> None:
    """Plan every offer in FILE; exit 1 when no feasible plan exists, 2 on bad input."""
    try:
        offers = loads(file.read_bytes())
    except (CodecError, ValueError) as exc:
        typer.echo(f"{file}: {exc}", err=True)
        raise typer.Exit(2) from exc
    if not offers:
        typer.echo(f"{file}: no flex-offers", err=True)
        raise typer.Exit(2)
    price_series = _numbers(_series(prices, "prices"), "prices")
    target_series = _numbers(_series(target, "target"), "target")
    forecast_series = _numbers(_series(forecast, "forecast"), "forecast")
    commitment_series = _series(commitments, "commitments")
    lengths = [len(s) for s in (price_series, target_series, commitment_series, forecast_series) if s is not None]
    try:
        horizon = _horizon(offers, start, slots, slot_seconds, lengths[0] if lengths else None)
        goal: MinimiseCost | FollowTarget | PeakShaving | MeetCommitments
        if objective is ObjectiveKind.COST:
            if price_series is None:
                raise typer.BadParameter("--objective cost needs --prices")
            goal = MinimiseCost(prices=price_series, limit=limit)
        elif objective is ObjectiveKind.TARGET:
            goal = FollowTarget(target=target_series or [0.0] * horizon.slots, forecast=forecast_series)
        elif objective is ObjectiveKind.PEAK:
            if limit is None:
                raise typer.BadParameter("--objective peak needs --limit")
            goal = PeakShaving(limit=limit, forecast=forecast_series)
        else:
            if commitment_series is None:
                raise typer.BadParameter("--objective commitments needs --commitments")
            goal = MeetCommitments(commitments=commitment_series, forecast=forecast_series)
        result = plan(offers, goal, horizon, time_limit=time_limit)
        baseline = greedy_plan(offers, goal, horizon) if greedy and isinstance(goal, MinimiseCost) else None
    except (PlanningError, ValueError) as exc:
        typer.echo(f"bad planning request: {exc}", err=True)
        raise typer.Exit(2) from exc

    by_id = {o.id or f"#{i}": o for i, o in enumerate(offers)}
    violations = {k: check_schedule(by_id[k], s) for k, s in result.schedules.items()}
    summary = _summary(result, baseline, horizon, sum(1 for v in violations.values() if v))
    if out is not None:
        out.write_bytes(orjson.dumps(
            {k: s.model_dump(mode="json", exclude_none=True) for k, s in result.schedules.items()},
            option=orjson.OPT_INDENT_2,
        ))
    if json_output:
        typer.echo(orjson.dumps(summary).decode())
    else:
        _print(summary)
    if not result.schedules:
        raise typer.Exit(1)


def _summary(result: PlanResult, baseline: PlanResult | None, horizon: Horizon, infeasible: int) -> dict[str, Any]:
    def finite(x: float) -> float | None:
        return x if math.isfinite(x) else None

    summary: dict[str, Any] = {
        "status": result.status,
        "objective_value": finite(result.objective_value),
        "gap": finite(result.gap),
        "planned": len(result.schedules),
        "unplanned": result.unplanned,
        "infeasible_schedules": infeasible,
        "horizon_start": horizon.start.isoformat(),
        "slots": horizon.slots,
        "solve_seconds": round(result.build_seconds + result.solve_seconds, 3),
    }
    if baseline is not None:
        summary["greedy_objective_value"] = baseline.objective_value
        summary["greedy_unplanned"] = len(baseline.unplanned)
    return summary


def _print(summary: dict[str, Any]) -> None:
    table = Table(title="FMAN plan", show_header=False)
    for key, value in summary.items():
        if key == "unplanned":
            value = len(value)
        table.add_row(key.replace("_", " "), str(value))
    Console().print(table)
