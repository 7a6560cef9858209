"""`flexhub translate`: cim ⇄ flexoffer through the native model, clear errors for other pairs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.cim.codec import digest, loads
from adapters.cim.safe_xml import parse_xml
from adapters.flexoffer.codec import loads as fo_loads
from core.flexoffer.model import FlexOffer, Profile
from gateway.cli import app as cli_app
from gateway.cli.translate_cmd import IMPLEMENTED, PAIRS, TranslateError, translate

SAMPLES = Path(__file__).parent / "samples"
runner = CliRunner()


@pytest.mark.parametrize("name", ["mfrr_bid_v7_4.xml", "afrr_bid_v7_2.xml", "fcr_bid_v7_1.xml"])
def test_cim_to_flexoffer_and_back_is_lossless(name: str, tmp_path: Path, xsd) -> None:
    source = SAMPLES / name
    result = runner.invoke(cli_app, ["translate", "--from", "cim", "--to", "flexoffer", str(source)])
    assert result.exit_code == 0, result.output
    offers = fo_loads(result.output)
    assert [o.id for o in offers] == [o.id for o in loads(source.read_bytes()).offers]
    json_file = tmp_path / "offers.json"
    json_file.write_text(result.output)
    version = name.rsplit("_v", 1)[1].removesuffix(".xml").replace("_", ".")
    back = runner.invoke(
        cli_app, ["translate", "--from", "flexoffer", "--to", "cim", "--cim-version", version, str(json_file)]
    )
    assert back.exit_code == 0, back.output
    root = parse_xml(back.output.encode())
    assert xsd.validate(root) == []
    before = {o.id: o for o in loads(source.read_bytes()).offers}
    for offer in loads(back.output.encode()).offers:
        assert offer.profile == before[offer.id].profile
        assert offer.xor_profiles == before[offer.id].xor_profiles
        assert offer.extra["cim"]["series"] == before[offer.id].extra["cim"]["series"]


def test_plain_flexoffer_json_becomes_a_valid_reserve_bid(xsd) -> None:
    offer = FlexOffer(
        id="fo-1",
        offered_by="46X-AGG-SE3----7",
        zone="10YSE-1--------K",
        earliest_start="2024-03-01T10:00:00Z",
        latest_start="2024-03-01T10:00:00Z",
        profile=Profile(energy_lower=[-500.0, -250.0], energy_upper=[0.0, 0.0], tariff_lower=[0.08, 0.09]),
    )
    from adapters.flexoffer.codec import dumps_bytes

    xml = translate("flexoffer", "cim", dumps_bytes([offer]))
    assert xsd.validate(parse_xml(xml)) == []
    (bid,) = loads(xml).offers
    assert bid.profile.energy_lower == [-500.0, -250.0] and bid.profile.tariff_lower == pytest.approx([0.08, 0.09])
    series = bid.extra["cim"]["series"]
    assert series["flowDirection.direction"] == "A01" and series["divisible"] == "A01"


def test_cim_version_conversion_and_identity() -> None:
    data = (SAMPLES / "fcr_bid_v7_1.xml").read_bytes()
    assert digest(parse_xml(translate("cim", "cim", data))) == digest(parse_xml(data))
    assert b"reservebiddocument:7:4" in translate("cim", "cim", data, cim_version="7.4")


def test_unsupported_and_meaningless_pairs_fail_clearly(tmp_path: Path) -> None:
    for (source, target), (status, _why) in PAIRS.items():
        if status != IMPLEMENTED:
            with pytest.raises(TranslateError, match=status):
                translate(source, target, b"")
    schedule = SAMPLES / "schedule_v5_2.xml"
    result = runner.invoke(cli_app, ["translate", "--from", "cim", "--to", "flexoffer", str(schedule)])
    assert result.exit_code == 2 and "carries no offers" in result.output
    result = runner.invoke(cli_app, ["translate", "--from", "openadr", "--to", "flexoffer", str(schedule)])
    assert result.exit_code == 2 and "not meaningful" in result.output
    garbage = tmp_path / "g.json"
    garbage.write_text(json.dumps({"nope": 1}))
    result = runner.invoke(cli_app, ["translate", "--from", "flexoffer", "--to", "cim", str(garbage)])
    assert result.exit_code == 2 and "error:" in result.output
