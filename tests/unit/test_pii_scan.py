"""The one personal-data scanner (tests/pii_scan.py): each form of a leak is found, masked hints
and other people's numbers are not, and a hit never carries the value it found."""
from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from tests.conftest import channel_fixture
from tests.pii_scan import PiiScanner, sent_by_channel

NAME, ID_NUMBER, PHONE = "欧阳志强", "44030519851231002X", "13987654321"


@pytest.fixture
def scanner():
    s = PiiScanner()
    s.add(NAME, ID_NUMBER, PHONE)
    return s


LEAKS = {
    "phone whole": (f"call {PHONE} now", ("phone", "whole")),
    "phone spaced": ("电话：139 8765 4321", ("phone", "whole")),
    "phone dashed +86": ("+86-139-8765-4321", ("phone", "whole")),
    "phone full-width": ("１３９８７６５４３２１", ("phone", "whole")),
    "phone middle shown": ("1398765****", ("phone", "first-seven")),
    "phone last eight": ("***87654321", ("phone", "last-eight")),
    "id whole lower x": ("44030519851231002x", ("id_number", "whole")),
    "id hidden part": ("生日19851231002", ("id_number", "hidden-part")),
    "name whole": (f"市民{NAME}来电", ("name", "whole")),
    "name spaced": ("欧 阳 志 强", ("name", "whole")),
    "given name": ("志强先生", ("name", "given-name")),
    "json escaped name": (json.dumps({"n": NAME}), ("name", "whole")),
    "url encoded phone": (f"/x?tel={quote('139 8765 4321')}", ("phone", "whole")),
    "html entity name": ("&#27431;&#38451;&#24535;&#24378;", ("name", "whole")),
}


@pytest.mark.parametrize("case", sorted(LEAKS))
def test_each_form_of_a_leak_is_found(scanner, case):
    text, (kind, form) = LEAKS[case]
    assert {(h.kind, h.form) for h in scanner.scan("blob", text)} >= {(kind, form)}


CLEAN = {
    "masked hints": "欧**  440305********002X  139****4321",
    "other numbers": "13912345678 440306198805061234 20261207-EY6GJ4AC13",
    "digits touching": "order 913987654321000",
    "surname only": "欧阳先生您好",
    "empty": "",
}


@pytest.mark.parametrize("case", sorted(CLEAN))
def test_masked_hints_and_other_data_are_not_hits(scanner, case):
    assert scanner.scan("blob", CLEAN[case]) == []


def test_a_hit_names_where_and_what_never_the_value(scanner):
    hits = scanner.scan("GET /public 200", f"x {PHONE} {NAME} {ID_NUMBER}")
    assert sorted((h.where, h.kind, h.form) for h in hits) == [
        ("GET /public 200", "id_number", "hidden-part"), ("GET /public 200", "id_number", "whole"),
        ("GET /public 200", "name", "given-name"), ("GET /public 200", "name", "whole"),
        ("GET /public 200", "phone", "whole")]      # (a phone's windows are bounded: the whole is one hit)
    for h in hits:
        assert PHONE not in str(h) and NAME not in str(h) and ID_NUMBER not in str(h)


def test_the_data_a_channel_request_carries_is_its_party_and_the_numbers_in_its_text():
    payload = dict(channel_fixture("hotline"), sqnr="我的电话13912345678，身份证440306198805061234，门口垃圾没人清运。")
    s = sent_by_channel("hotline", json.dumps(payload, ensure_ascii=False))
    assert (s.names, s.id_numbers, s.phones) == ({payload["ldrxm"]}, {payload["zjhm"], "440306198805061234"},
                                                 {payload["lxdh"], "13912345678"})
    assert sent_by_channel("hotline", b"not json") == PiiScanner()
