"""The shared hardened parser refuses every DTD trick, whatever the encoding."""

from __future__ import annotations

import pytest

from adapters.common.safe_xml import XmlRejected, parse_xml
from adapters.iec61850.scl import SclRejected, load_scl_model

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<lolz>&lol2;</lolz>"""
XXE = b"""<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>"""
UTF16_DTD = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE r [<!ENTITY x "y">]><r>&x;</r>'.encode("utf-16")


@pytest.mark.parametrize("payload", [BILLION_LAUGHS, XXE, UTF16_DTD, b"<!doctype r><r/>"])
def test_dtd_payloads_are_refused(payload: bytes) -> None:
    with pytest.raises(XmlRejected, match="DOCTYPE and ENTITY"):
        parse_xml(payload)


def test_malformed_and_oversized_are_refused_with_reason() -> None:
    with pytest.raises(XmlRejected, match="malformed"):
        parse_xml(b"<r><unclosed></r>")
    with pytest.raises(XmlRejected) as info:
        parse_xml(b"<r>" + b"x" * 100 + b"</r>", max_bytes=50)
    assert info.value.too_large


def test_plain_documents_parse_without_comments() -> None:
    root = parse_xml("<r a='1'><!-- note --><c>text</c></r>")
    assert root.get("a") == "1"
    assert [child.tag for child in root] == ["c"]


def test_scl_files_share_the_refusal() -> None:
    with pytest.raises(SclRejected, match="DOCTYPE"):
        load_scl_model(XXE)
