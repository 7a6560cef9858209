"""The hardened parser refuses DTDs and entities before any library sees the document."""

from __future__ import annotations

import pytest

from adapters.usef.safexml import MAX_DOCUMENT_BYTES, UnsafeXmlError, parse_xml

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<TestMessage Version="&lol2;"/>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<TestMessage Version="&xxe;"/>"""


@pytest.mark.parametrize("document", [BILLION_LAUGHS, EXTERNAL_ENTITY, b"<!DOCTYPE TestMessage><TestMessage/>"])
def test_doctype_and_entities_are_refused(document: bytes) -> None:
    with pytest.raises(UnsafeXmlError, match=r"DOCTYPE|entit"):
        parse_xml(document)


def test_utf16_doctype_is_refused_too() -> None:
    with pytest.raises(UnsafeXmlError):
        utf16 = EXTERNAL_ENTITY.replace(b'version="1.0"', b'version="1.0" encoding="UTF-16"').decode()
        parse_xml(utf16.encode("utf-16"))


def test_malformed_and_oversized_documents_are_refused() -> None:
    with pytest.raises(UnsafeXmlError, match="malformed"):
        parse_xml(b"<TestMessage>")
    with pytest.raises(UnsafeXmlError, match="exceeds"):
        parse_xml(b"<a>" + b" " * MAX_DOCUMENT_BYTES + b"</a>")


def test_plain_document_parses() -> None:
    assert parse_xml(b'<TestMessage Version="3.1.0"/>').get("Version") == "3.1.0"
