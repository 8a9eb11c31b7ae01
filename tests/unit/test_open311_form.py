"""Open311 POST form validation: phone spellings a partner may send."""
from __future__ import annotations

import pytest

from chalicelib.domain.errors import ValidationError
from chalicelib.services.open311 import _validate

FORM = {"service_code": "01.01", "description": "路灯不亮", "address_string": "福田区莲花街道"}


@pytest.mark.parametrize("given, kept", [
    ("13812345678", "13812345678"),
    ("+86 138-1234-5678", "13812345678"),
    ("0086 13812345678", "13812345678"),
    ("0755-83451234", "0755-83451234"),
    ("075583451234", "0755-83451234"),
    ("(0755)8345-1234 转801", "0755-83451234-801"),
    ("+86 755 8345 1234", "0755-83451234"),
    ("+86 (755) 83451234", "0755-83451234"),
    ("010-12345678", "010-12345678"),
])
def test_mobiles_and_fixed_lines_are_taken_in_one_spelling(given, kept):
    assert _validate({**FORM, "phone": given}).phone == kept


@pytest.mark.parametrize("bad", ["12345", "+86 12345", "0755-123", "phone me"])
def test_other_numbers_are_refused_naming_phone(bad):
    with pytest.raises(ValidationError) as err:
        _validate({**FORM, "phone": bad})
    assert err.value.field == "phone" and bad not in str(err.value)


@pytest.mark.parametrize("name, value", [
    ("first_name", "小\x00明"), ("last_name", "王\x1b"), ("first_name", "小\n明"), ("phone", "138\x1f12345678"),
    ("email", "wang\x00@example.cn"), ("device_id", "dev\x7f1"), ("account_id", "acct\x851"),
    ("service_code", "01.01\x00"), ("description", "路灯\x00不亮"), ("address_string", "福田区\x0c莲花街道"),
])
def test_control_characters_are_refused_naming_the_field(name, value):
    with pytest.raises(ValidationError) as err:
        _validate({**FORM, name: value})
    assert err.value.field == name and str(err.value).startswith(f"{name}:")


def test_free_text_keeps_line_breaks_and_tabs():
    data = _validate({**FORM, "description": "路灯不亮\r\n已经一周\t了", "address_string": "福田区\n莲花街道"})
    assert data.description == "路灯不亮\r\n已经一周\t了" and data.address_string == "福田区\n莲花街道"


def test_form_coordinates_are_the_text_of_numbers():
    data = _validate({**FORM, "lat": "22.5431", "long": "114.0579"})
    assert (data.lat, data.long) == (22.5431, 114.0579)
    for bad in ("true", "north", "nan", "inf"):
        with pytest.raises(ValidationError) as err:
            _validate({**FORM, "lat": bad, "long": "114.0579"})
        assert err.value.field == "lat"
