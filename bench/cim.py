"""Benchmark: parse + validate + map a ReserveBid of 100 time series x 96 points.

Hub path: safe lxml parse, XSD validation (libxml2 through lxml, schema compiled
once), layout-driven decode with structural checks, position/point-count rules and
mapping of every series to a flex-offer.
Baseline, same document, same run: plain ``xmlschema`` decoding to dicts
(``XMLSchema.to_dict``, which validates while decoding), schema compiled once.

Prints progress lines, then ONE final JSON line with documents/s for both and the ratio.

    .venv/bin/python bench/cim.py            # full size
    .venv/bin/python bench/cim.py --quick    # smoke test
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.cim.ack import Verdict
from adapters.cim.codec import dumps_offers, map_document
from adapters.cim.header import Header, Party, read_header
from adapters.cim.rules import check_series
from adapters.cim.safe_xml import parse_xml
from adapters.cim.tree import Coded, decode
from adapters.cim.xsd import XsdCatalog
from core.flexoffer.model import FlexOffer, Profile, Schedule

XSD_DIR = Path(__file__).resolve().parents[1] / ".." / "shared" / "schemas" / "cim"


def make_document(series: int, points: int, *, mrid: str = "BENCH-RESERVEBID",
                  receiver: str = "10X1001A1001A38Y") -> bytes:
    """A Nordic-style ReserveBid (7.4) of ``series`` x ``points``; 100 x 96 is ~1.5 MB.

    Also the large document of the CIM body-limit test, which names its own mRID.
    """
    start = datetime(2024, 3, 1, tzinfo=UTC)
    offers = []
    for i in range(series):
        quantities = [-(1000.0 + 25.0 * ((i + t) % 40)) for t in range(points)]
        offers.append(
            FlexOffer(
                id=f"BID-{i:04d}",
                offered_by="46X-BSP-NORTH--1",
                zone="10YNO-1--------2",
                location_id=f"NOKG{i:05d}",
                earliest_start=start,
                latest_start=start,
                interval_seconds=900,
                profile=Profile(
                    energy_lower=quantities,
                    energy_upper=[0.0] * points,
                    tariff_lower=[0.05 + 0.001 * (t % 10) for t in range(points)],
                ),
                default_schedule=Schedule(start=start, energy=[0.0] * points),
            )
        )
    header = Header(
        mrid=mrid,
        revision=1,
        doc_type="A37",
        sender=Party("46X-BSP-NORTH--1", "A46"),
        receiver=Party(receiver, "A04"),
        created=datetime(2024, 2, 29, 12, tzinfo=UTC),
        start=start,
        end=start + timedelta(minutes=15 * points),
        process_type="A47",
        domain=Coded("10Y1001A1001A91G"),
    )
    return dumps_offers(offers, header, "7.4")


def hub_path(data: bytes, catalog: XsdCatalog) -> int:
    root = parse_xml(data)
    errors = catalog.validate(root)
    doc = decode(root)
    if errors or doc.problems:
        raise RuntimeError(f"benchmark document invalid: {errors or doc.problems}")
    verdict = Verdict()
    check_series(doc, read_header(doc.kind.namespace, doc.fields), verdict)
    message = map_document(doc, verdict)
    if verdict.rejected_series:
        raise RuntimeError(f"rules rejected series: {verdict.rejected_series}")
    return len(message.offers)


def rate(run: object, seconds: float, minimum: int) -> tuple[float, int]:
    count, began = 0, time.perf_counter()
    while count < minimum or time.perf_counter() - began < seconds:
        run()  # type: ignore[operator]
        count += 1
    return count / (time.perf_counter() - began), count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small document, short runs (smoke test)")
    parser.add_argument("--series", type=int, default=100)
    parser.add_argument("--points", type=int, default=96)
    parser.add_argument("--seconds", type=float, default=8.0, help="minimum time per measured path")
    parser.add_argument("--xsd-dir", default=str(XSD_DIR))
    args = parser.parse_args()
    if args.quick:
        args.series, args.points, args.seconds = 5, 96, 0.5
    import xmlschema

    catalog = XsdCatalog(args.xsd_dir, "lxml")
    data = make_document(args.series, args.points)
    namespace = "urn:iec62325.351:tc57wg16:451-7:reservebiddocument:7:4"
    schema_path = catalog.schema_path(namespace)
    assert schema_path is not None
    baseline_schema = xmlschema.XMLSchema(schema_path)
    mapped = hub_path(data, catalog)  # warm-up, compiles the XSD once
    decoded = baseline_schema.to_dict(data.decode())
    assert isinstance(decoded, dict)
    assert mapped == args.series and len(decoded["Bid_TimeSeries"]) == args.series
    print(f"document: {len(data)} bytes, {args.series} series x {args.points} points", file=sys.stderr)
    hub_rate, hub_n = rate(lambda: hub_path(data, catalog), args.seconds, 3)
    print(f"hub: {hub_rate:.2f} docs/s ({hub_n} runs)", file=sys.stderr)
    base_rate, base_n = rate(lambda: baseline_schema.to_dict(data.decode()), args.seconds, 2)
    print(f"xmlschema to_dict: {base_rate:.2f} docs/s ({base_n} runs)", file=sys.stderr)
    print(
        json.dumps(
            {
                "benchmark": "cim_reservebid_parse_validate_map",
                "series": args.series,
                "points": args.points,
                "bytes": len(data),
                "hub_docs_per_s": round(hub_rate, 3),
                "xmlschema_docs_per_s": round(base_rate, 3),
                "ratio": round(hub_rate / base_rate, 2),
                "target_ratio": 5.0,
                "quick": args.quick,
            }
        )
    )


if __name__ == "__main__":
    main()
