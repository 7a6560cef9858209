"""`flexhub flexoffer validate|convert` against the real CLI app and real sample files."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from adapters.flexoffer.codec import loads
from gateway.cli import app

SAMPLES = Path(__file__).parent / "samples"
GOOD = sorted(SAMPLES.glob("*.json"))
BAD = SAMPLES / "bad"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_good_files_are_valid(runner: CliRunner) -> None:
    result = runner.invoke(app, ["flexoffer", "validate", *map(str, GOOD)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 6  # the envelope holds two offers
    assert all(line.endswith(": valid") for line in lines)
    assert f"{SAMPLES / 'fman_ev_assigned.json'}: #0 (id 4188a132-a937-4639-96cf-d8529fa78b86): valid" in lines


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("malformed.json", "invalid: $: malformed JSON"),
        ("lower_gt_upper.json", "invalid: slice 1: lower 3 > upper 2"),
        ("window_reversed.json", "invalid: time window ends before it starts"),
        ("total_infeasible.json", "invalid: no feasible schedule: total-energy lower bound 10 kWh is above"),
        ("default_schedule_misfit.json", "invalid: defaultSchedule: slice 1: energy 2.5 kWh outside [0, 2]"),
        ("schedule_outside.json", "is after startBeforeTime"),
        ("wrong_types.json", "invalid: $[0].startAfterTime: not an ISO 8601 timestamp"),
    ],
)
def test_each_bad_file_is_invalid_with_its_reason(runner: CliRunner, name: str, reason: str) -> None:
    good = SAMPLES / "inea_heat_pump.json"
    result = runner.invoke(app, ["flexoffer", "validate", str(good), str(BAD / name)])
    assert result.exit_code == 1
    lines = result.stdout.strip().splitlines()
    assert lines[0] == f"{good}: #0 (id 90215): valid"
    assert any(line.startswith(f"{BAD / name}:") and reason in line for line in lines[1:]), result.stdout


def test_schedule_outside_window_and_bounds_lists_both(runner: CliRunner) -> None:
    result = runner.invoke(app, ["flexoffer", "validate", str(BAD / "schedule_outside.json")])
    assert result.exit_code == 1
    assert "flexOfferSchedule: start 2020-02-27T23:00:00+00:00 is after startBeforeTime" in result.stdout
    assert "flexOfferSchedule: slice 1: energy -1 kWh outside [0, 2]" in result.stdout


def test_each_offer_of_a_file_gets_its_own_line(runner: CliRunner) -> None:
    result = runner.invoke(app, ["flexoffer", "validate", str(BAD / "wrong_types.json")])
    assert result.exit_code == 1
    lines = result.stdout.strip().splitlines()
    assert [line.split(": ")[1] for line in lines] == ["#0", "#1", "#2"]
    assert "unknown state 'Pending'" in lines[2]


def test_json_output(runner: CliRunner) -> None:
    files = [str(SAMPLES / "fman_envelope_initial.json"), str(BAD / "malformed.json"), str(BAD / "lower_gt_upper.json")]
    result = runner.invoke(app, ["flexoffer", "validate", "--json", *files])
    assert result.exit_code == 1
    report = orjson.loads(result.stdout)
    assert report["valid"] is False
    envelope, malformed, bounds = report["files"]
    assert envelope["valid"] is True and [o["valid"] for o in envelope["offers"]] == [True, True]
    assert envelope["offers"][1]["path"] == "$.flexOffer[1]"
    assert malformed["valid"] is False and malformed["error"].startswith("$: malformed JSON")
    assert bounds["offers"][0]["id"] == "bad-bounds"
    assert bounds["offers"][0]["problems"] == ["slice 1: lower 3 > upper 2"]


def test_json_output_all_valid_exits_zero(runner: CliRunner) -> None:
    result = runner.invoke(app, ["flexoffer", "validate", "--json", *map(str, GOOD)])
    assert result.exit_code == 0
    assert orjson.loads(result.stdout)["valid"] is True


def test_strict_turns_unknown_fields_into_invalid(runner: CliRunner) -> None:
    sample = str(SAMPLES / "inea_pv_curtailment_list.json")
    lenient = runner.invoke(app, ["flexoffer", "validate", sample])
    assert lenient.exit_code == 0
    assert "warning: $[0]: unknown field(s) meterSerial" in lenient.stderr
    strict = runner.invoke(app, ["flexoffer", "validate", "--strict", sample])
    assert strict.exit_code == 1
    assert f"{sample}: #0: invalid: $[0]: unknown field(s) meterSerial" in strict.stdout


def test_missing_and_empty_files(runner: CliRunner, tmp_path: Path) -> None:
    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    result = runner.invoke(app, ["flexoffer", "validate", str(tmp_path / "nope.json"), str(empty)])
    assert result.exit_code == 1
    assert "nope.json: invalid: cannot read file" in result.stdout
    assert f"{empty}: invalid: contains no flex-offers" in result.stdout


@pytest.mark.parametrize("target", ["aau", "inea"])
@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.name)
def test_convert_keeps_the_offers(runner: CliRunner, path: Path, target: str) -> None:
    result = runner.invoke(app, ["flexoffer", "convert", "--to", target, str(path)])
    assert result.exit_code == 0, result.output
    assert loads(result.stdout) == loads(path.read_bytes())
    body = orjson.loads(result.stdout)
    original = orjson.loads(path.read_bytes())
    assert type(body) is type(original)
    assert ("flexOffer" in body) == (isinstance(original, dict) and "flexOffer" in original)
    first = (
        body["flexOffer"][0]
        if isinstance(body, dict) and "flexOffer" in body
        else body
        if isinstance(body, dict)
        else body[0]
    )
    bound_keys = set(first["flexOfferProfileConstraints"][0]["energyConstraintList"][0])
    assert bound_keys == ({"lowerBound", "upperBound"} if target == "inea" else {"lower", "upper"})


def test_convert_inea_to_aau_flips_signs(runner: CliRunner) -> None:
    result = runner.invoke(
        app, ["flexoffer", "convert", "--to", "aau", "--compact", str(SAMPLES / "inea_heat_pump.json")]
    )
    assert result.exit_code == 0
    body = orjson.loads(result.stdout)
    assert body["flexOfferProfileConstraints"][0]["energyConstraintList"] == [{"lower": 0.4, "upper": 1.2}]
    assert len(result.stdout.strip().splitlines()) == 1


def test_convert_errors(runner: CliRunner) -> None:
    bad_dialect = runner.invoke(app, ["flexoffer", "convert", "--to", "xml", str(GOOD[0])])
    assert bad_dialect.exit_code == 2 and "--to must be one of aau, inea" in bad_dialect.stderr
    malformed = runner.invoke(app, ["flexoffer", "convert", "--to", "aau", str(BAD / "malformed.json")])
    assert malformed.exit_code == 1 and "malformed JSON" in malformed.stderr
