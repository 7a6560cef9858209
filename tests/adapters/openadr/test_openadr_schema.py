"""Safe parsing and XSD validation of OpenADR documents, and `flexhub openadr validate`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.openadr.messages import decode, encode, response_payload
from adapters.openadr.schema import SchemaInvalid, XmlRejected, check_document, parse_and_validate
from gateway.cli.openadr_cmd import app

POLL = encode("oadrPoll", ven_id="ven-1")

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<oadr:oadrPayload xmlns:oadr="http://openadr.org/oadr-2.0b/2012/07"><oadr:oadrSignedObject>
<oadr:oadrPoll xmlns:ei="http://docs.oasis-open.org/ns/energyinterop/201110" ei:schemaVersion="2.0b">
<ei:venID>&lol9;</ei:venID></oadr:oadrPoll></oadr:oadrSignedObject></oadr:oadrPayload>"""


def xxe(path: Path) -> bytes:
    return (
        f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file://{path}">]>'
        '<oadr:oadrPayload xmlns:oadr="http://openadr.org/oadr-2.0b/2012/07"><oadr:oadrSignedObject>'
        '<oadr:oadrPoll xmlns:ei="http://docs.oasis-open.org/ns/energyinterop/201110" ei:schemaVersion="2.0b">'
        "<ei:venID>&x;</ei:venID></oadr:oadrPoll></oadr:oadrSignedObject></oadr:oadrPayload>"
    ).encode()


def test_openleadr_rendered_poll_is_valid() -> None:
    assert check_document(POLL) is None
    inbound = decode(POLL)
    assert inbound.message_type == "oadrPoll"
    assert inbound.payload["ven_id"] == "ven-1"


def test_billion_laughs_is_refused_before_expansion() -> None:
    with pytest.raises(XmlRejected, match="DOCTYPE"):
        parse_and_validate(BILLION_LAUGHS)


def test_xxe_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    with pytest.raises(XmlRejected) as info:
        parse_and_validate(xxe(secret))
    assert "TOPSECRET" not in str(info.value)


def test_doctype_hidden_behind_whitespace_and_case_is_refused() -> None:
    doc = b'<?xml version="1.0"?>\n<!doctype x [ <!entity a "b"> ]><x/>'
    with pytest.raises(XmlRejected):
        parse_and_validate(doc)


def test_malformed_and_oversize_documents_are_rejected() -> None:
    with pytest.raises(XmlRejected, match="well-formed"):
        parse_and_validate(b"<oadr:oadrPayload")
    with pytest.raises(XmlRejected) as info:
        parse_and_validate(POLL.encode() + b" " * 100, max_bytes=len(POLL))
    assert info.value.too_large


def test_schema_violation_names_the_problem() -> None:
    bad = POLL.replace("<ei:venID>ven-1</ei:venID>", "<ei:vtnID>x</ei:vtnID>")
    with pytest.raises(SchemaInvalid, match="vtnID"):
        parse_and_validate(bad)


def test_encoded_strings_are_escaped_and_round_trip() -> None:
    msg = encode("oadrResponse", **response_payload(452, "bad <id> & more", "r-1", "ven<&>"))
    inbound = decode(msg)
    assert inbound.payload["ven_id"] == "ven<&>"
    assert inbound.payload["response"]["response_description"] == "bad <id> & more"
    assert inbound.payload["response"]["response_code"] == 452


def test_entity_payload_does_not_crash_the_process(tmp_path: Path) -> None:
    """Guards the reason the safe layer exists: run it in a child so a segfault would show."""
    payload = tmp_path / "lol.xml"
    payload.write_bytes(BILLION_LAUGHS)
    code = (
        "import sys; from adapters.openadr.schema import check_document;"
        f"print(check_document(open({str(payload)!r},'rb').read()))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[3])
    assert done.returncode == 0, done.stderr
    assert "DOCTYPE" in done.stdout


def test_cli_validate_reports_each_file(tmp_path: Path) -> None:
    good = tmp_path / "good.xml"
    good.write_text(POLL)
    bad = tmp_path / "bad.xml"
    bad.write_bytes(BILLION_LAUGHS)
    runner = CliRunner()
    ok = runner.invoke(app, ["validate", str(good)])
    assert ok.exit_code == 0
    assert f"{good}: valid" in ok.output
    mixed = runner.invoke(app, ["validate", str(good), str(bad)])
    assert mixed.exit_code == 1
    assert f"{bad}: invalid: DOCTYPE" in mixed.output
