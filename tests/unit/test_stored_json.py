"""How JSON attributes are stored (issue 21): compact UTF-8 text, or packed (zlib) for the big
ones, and what PynamoDB's JSONAttribute stored before reads the same."""
from __future__ import annotations

import json
import os
import zlib
from pathlib import Path

import pytest

os.environ.setdefault("JIESU_TABLE", "jiesu-test")

VALUE = {"content": "西乡大道井盖丢失", "steps": [{"at": "2026-11-26T01:30:00+00:00", "n": 1}], "none": None}


def test_compact_json_is_utf8_without_blanks_and_reads_the_escaped_form():
    from chalicelib.storage.models import CompactJSONAttribute

    attr = CompactJSONAttribute()
    text = attr.serialize(VALUE)
    assert text == json.dumps(VALUE, ensure_ascii=False, separators=(",", ":"))
    assert len(text.encode()) < len(json.dumps(VALUE).encode())
    assert attr.deserialize(json.dumps(VALUE)) == VALUE == attr.deserialize(text)
    assert attr.serialize(None) is None


def test_packed_json_is_zlib_over_compact_json_and_reads_either_stored_form():
    from chalicelib.storage.models import PackedJSONAttribute

    attr = PackedJSONAttribute()
    packed = attr.serialize(VALUE)
    assert zlib.decompress(packed).decode() == json.dumps(VALUE, ensure_ascii=False, separators=(",", ":"))
    assert attr.deserialize(attr.get_value({"B": packed})) == VALUE
    assert attr.deserialize(attr.get_value({"S": json.dumps(VALUE)})) == VALUE      # stored before issue 21
    assert attr.serialize(None) is None


def test_packed_json_refuses_a_value_of_another_type():
    from pynamodb.exceptions import AttributeDeserializationError

    from chalicelib.storage.models import PackedJSONAttribute

    attr = PackedJSONAttribute()
    attr.attr_name = "body"
    with pytest.raises(AttributeDeserializationError):
        attr.get_value({"N": "1"})


def test_a_stored_appeal_body_is_at_most_half_its_old_size_packed():
    from chalicelib.storage.models import PackedJSONAttribute

    stored = json.loads((Path(__file__).parents[1] / "data" / "stored_appeals.json").read_text(encoding="utf-8"))
    stored = stored["items"]
    for item in stored:
        old = item["body"]["S"].encode()
        assert len(PackedJSONAttribute().serialize(json.loads(old))) * 2 <= len(old)
