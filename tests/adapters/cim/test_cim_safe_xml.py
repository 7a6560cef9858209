"""Hostile XML never gets expanded or fetched: DOCTYPE, XXE and entity bombs are refused."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from adapters.cim.inbound import receive
from adapters.cim.rules import NoHistory
from adapters.cim.safe_xml import XmlRejected, parse_xml
from adapters.cim.tree import decode

NS = "urn:iec62325.351:tc57wg16:451-1:acknowledgementdocument:8:1"

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
]>
<Acknowledgement_MarketDocument xmlns="%s"><mRID>&lol5;</mRID></Acknowledgement_MarketDocument>""" % NS.encode()


def xxe_file(path: str) -> bytes:
    return (
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY xxe SYSTEM "file://' + path.encode() + b'">]>'
        b'<Acknowledgement_MarketDocument xmlns="' + NS.encode() + b'"><mRID>&xxe;</mRID>'
        b"</Acknowledgement_MarketDocument>"
    )


def test_billion_laughs_is_refused() -> None:
    with pytest.raises(XmlRejected, match="DOCTYPE"):
        parse_xml(BILLION_LAUGHS)


def test_external_file_entity_is_refused_and_not_read(tmp_path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    with pytest.raises(XmlRejected) as info:
        parse_xml(xxe_file(str(secret)))
    assert "TOP-SECRET" not in str(info.value)


def test_doctype_after_long_comment_is_still_refused() -> None:
    padding = b"<!--" + b"x" * 10000 + b"-->"
    data = b'<?xml version="1.0"?>' + padding + b'<!DOCTYPE d [<!ENTITY a "b">]><r xmlns="' + NS.encode() + b'"/>'
    with pytest.raises(XmlRejected, match="DOCTYPE"):
        parse_xml(data)


class _Recorder(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:
        type(self).hits.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b'<!ENTITY x "fetched">')

    def log_message(self, *args: object) -> None:
        pass


def test_external_dtd_and_entities_are_never_fetched() -> None:
    server = HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/evil.dtd".encode()
        docs = [
            b'<?xml version="1.0"?><!DOCTYPE d SYSTEM "' + url + b'"><d>&x;</d>',
            b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY % p SYSTEM "' + url + b'"> %p;]><d/>',
            b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY e SYSTEM "' + url + b'">]><d>&e;</d>',
        ]
        for doc in docs:
            with pytest.raises(XmlRejected):
                parse_xml(doc)
    finally:
        server.shutdown()
        server.server_close()
    assert _Recorder.hits == []


def test_oversized_and_malformed_documents_are_refused() -> None:
    with pytest.raises(XmlRejected, match="exceeds"):
        parse_xml(b"<a>" + b"x" * 2000 + b"</a>", max_bytes=1000)
    with pytest.raises(XmlRejected, match="malformed"):
        parse_xml(b"<a><b></a>")


def test_hostile_documents_get_a_rejecting_acknowledgement(hub_identity, parties, xsd) -> None:
    for data in (BILLION_LAUGHS, xxe_file("/etc/passwd")):
        result = receive(data, hub_identity, parties, NoHistory(), xsd)
        assert result.status == "A02"
        assert result.message is None
        ack = parse_xml(result.ack_xml)
        assert xsd.validate(ack) == []
        fields = decode(ack).fields
        assert next(r["code"] for r in fields["Reason"]) == "A02"
        assert "root:" not in result.ack_xml.decode()
