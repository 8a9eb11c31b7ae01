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
