"""Shared field types and helpers for partner payloads: ID number, phone, https URL, time, type/urgency maps."""
from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from enum import Enum
from typing import Annotated, Any, TypeVar
from urllib.parse import urlsplit

from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, Strict, StringConstraints,
                      ValidationInfo)
from pydantic_core import PydanticCustomError

from chalicelib.domain.appeal import AppealType, Location, Party, Urgency
from chalicelib.domain.errors import ValidationError

E = TypeVar("E", bound=Enum)

MAX_CONTENT = 5000
MAX_TITLE = 200
MAX_ADDRESS = 300
MAX_ATTACHMENTS = 20
MAX_URL = 2048


class PartnerObject(BaseModel):
    """Base of nested objects inside a partner payload (位置、联系人等子对象); same strictness as the payload."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)


# ---------------------------------------------------------------- JSON Schema of checks


@dataclass(frozen=True)
class Described:
    """JSON Schema keywords (a pattern, enum, examples) for what a validator function checks, so
    the generated API document (chalicelib/api/openapi.py) says what the field takes; validation
    itself stays with the validator and its own error message. `whole` replaces the generated
    schema instead of adding to it. (Kept as JSON text: type metadata must be hashable.)"""

    keywords: str
    whole: bool = False

    def __get_pydantic_json_schema__(self, core_schema, handler):
        if self.whole:
            return json.loads(self.keywords)
        schema = handler(core_schema)
        schema.update(json.loads(self.keywords))
        return schema


def described(whole: bool = False, **keywords: Any) -> Described:
    return Described(json.dumps(keywords, ensure_ascii=False), whole)


# ---------------------------------------------------------------- control characters

# Control characters (C0, DEL, C1): free text may keep line breaks and tabs, nothing else may.
_CONTROL_IN_FREE_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def has_control_characters(value: str, *, free_text: bool) -> bool:
    """The one rule for text from partners: no NUL or other control character; free text
    (content, findings, comments) may keep line breaks (LF, CR) and tabs."""
    return bool((_CONTROL_IN_FREE_TEXT if free_text else _CONTROL).search(value))


def _printable(value: str) -> str:
    if has_control_characters(value, free_text=True):
        raise ValueError("must not contain control characters (line breaks and tabs are fine)")
    return value


def _one_line(value: str) -> str:
    if has_control_characters(value, free_text=False):
        raise ValueError("must not contain control characters or line breaks")
    return value


Printable = AfterValidator(_printable)
"""Free text: no control characters but line breaks and tabs."""
OneLine = AfterValidator(_one_line)
"""Names, labels, codes, URLs: no control characters at all."""
PRINTABLE_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
ONE_LINE_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*$"
FreeTextSchema = described(pattern=PRINTABLE_PATTERN)
OneLineSchema = described(pattern=ONE_LINE_PATTERN)

# ---------------------------------------------------------------- ID number (GB 11643-1999 公民身份号码)

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_SHAPE = re.compile(r"[1-9]\d{16}[\dX]")


def id_check_digit(body17: str) -> str:
    """The GB 11643 check character (校验码) for the first 17 digits of an ID number."""
    if len(body17) != 17 or not body17.isdigit():
        raise ValueError("need exactly 17 digits")
    return _ID_CHECK[sum(int(d) * w for d, w in zip(body17, _ID_WEIGHTS)) % 11]


def _check_id_number(value: str) -> str:
    value = value.upper()
    if not _ID_SHAPE.fullmatch(value):
        raise PydanticCustomError(
            "id_number_format", "ID number (身份证号) must be 17 digits followed by a digit or X")
    try:
        date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        raise PydanticCustomError(
            "id_number_birth_date", "ID number (身份证号) holds no valid birth date") from None
    if id_check_digit(value[:17]) != value[17]:
        raise PydanticCustomError(
            "id_number_check_digit", "ID number (身份证号) check digit does not match GB 11643")
    return value


IdNumber = Annotated[str, StringConstraints(max_length=18), AfterValidator(_check_id_number),
                     described(pattern=r"^[1-9][0-9]{16}[0-9Xx]$", examples=["44030519900101123X"])]
"""18-digit resident ID number, check digit verified; personal data (goes only into Party)."""

# ---------------------------------------------------------------- phone and name

_MOBILE = re.compile(r"1[3-9]\d{9}")


def _check_phone(value: str) -> str:
    if not _MOBILE.fullmatch(value):
        raise PydanticCustomError("phone_format", "phone (手机号) must be 11 digits starting with 1")
    return value


Phone = Annotated[str, StringConstraints(max_length=11), AfterValidator(_check_phone),
                  described(pattern=r"^1[3-9][0-9]{9}$", examples=["13800138000"])]
"""Mainland mobile number, 11 digits; personal data (goes only into Party)."""

# A fixed line: area code (010 and 02x have three digits, the rest four), a 7-8 digit number and
# an optional extension, written with or without hyphens or brackets, e.g. (0755)8345-1234 转801.
_LANDLINE = re.compile(r"(0(?:1\d|2\d|[3-9]\d{2}))-?(\d{3,4})-?(\d{4})(?:(?:-|转|ext\.?|x)(\d{1,6}))?",
                       re.IGNORECASE)


def _check_contact_phone(value: str) -> str:
    if _MOBILE.fullmatch(value):
        return value
    m = _LANDLINE.fullmatch(re.sub(r"[\s()（）]", "", value))
    if m is None:
        raise PydanticCustomError("phone_format", "phone (电话) must be a mobile (11 digits starting with 1) or a "
                                  "fixed line with its area code, e.g. 0755-83451234")
    area, head, tail, ext = m.groups()
    return f"{area}-{head}{tail}" + (f"-{ext}" if ext else "")


ContactPhone = Annotated[str, StringConstraints(max_length=32), OneLine, AfterValidator(_check_contact_phone),
                         described(pattern=r"^(1[3-9][0-9]{9}|0(1[0-9]|2[0-9]|[3-9][0-9]{2})-?[0-9]{3,4}-?[0-9]{4})$",
                                   examples=["13800138000", "0755-83451234"])]
"""The number a caller rang from: a mobile or a fixed line (座机), normalised to 0755-83451234[-ext]
so the same line spelled differently is one party for de-duplication; personal data."""

PersonName = Annotated[str, StringConstraints(min_length=1, max_length=50), OneLine, OneLineSchema]
"""A person's name (姓名); personal data (goes only into Party)."""

# ---------------------------------------------------------------- texts and codes

Content = Annotated[str, StringConstraints(min_length=1, max_length=MAX_CONTENT), Printable, FreeTextSchema]
Title = Annotated[str, StringConstraints(max_length=MAX_TITLE), Printable, FreeTextSchema]
RequiredTitle = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TITLE), Printable, FreeTextSchema]
Address = Annotated[str, StringConstraints(max_length=MAX_ADDRESS), Printable, FreeTextSchema]
RequiredAddress = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ADDRESS), Printable, FreeTextSchema]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=64), OneLine, OneLineSchema]
"""Short non-personal label or code kept in channel_meta (工号、编码、名称)."""


def formatted(pattern: str, example: str) -> Any:
    """A string in the partner's own format: ticket ids (工单编号), grid codes, operator ids."""

    def check(value: str) -> str:
        if not re.fullmatch(pattern, value):
            raise PydanticCustomError(
                "format", "does not match the partner's format, e.g. {example}", {"example": example})
        return value

    return Annotated[str, StringConstraints(min_length=1, max_length=64), AfterValidator(check),
                     described(pattern=f"^({pattern})$", examples=[example])]


# ---------------------------------------------------------------- attachments

def _check_https_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme.lower() != "https":
        raise PydanticCustomError("url_scheme", "attachment URL must use https")
    if not parts.hostname or parts.username or parts.password or any(c.isspace() for c in value):
        raise PydanticCustomError("url_format", "attachment URL must be a plain https URL with a host")
    return value


HttpsUrl = Annotated[str, StringConstraints(max_length=MAX_URL), OneLine, AfterValidator(_check_https_url),
                     described(pattern=r"^https://[A-Za-z0-9.-]+(/[A-Za-z0-9._~/%-]*)?$",
                               examples=["https://files.example.cn/a/photo.jpg"])]
Attachments = Annotated[list[HttpsUrl], Field(max_length=MAX_ATTACHMENTS)]

# ---------------------------------------------------------------- timestamps


# What a partner's time may say (README: "Bad times and bad places"). A time is an instant: any
# real offset is taken (UTC+14 to UTC-12 exist; +23:59 does not) and kept as sent (it compares as
# the instant it names). Received times come from the platform's clock, so a partner's
# time only describes the appeal; deadlines and counters never run from it. Still, a time later
# than its receipt by more than the signing window, or before the platform took its first appeal,
# is a partner's clock or mapping bug: refused, naming the field, never stored.
CHINA_TIME = timezone(timedelta(hours=8))
MAX_OFFSET = timedelta(hours=14)
PLATFORM_START = datetime(2026, 1, 1, tzinfo=CHINA_TIME)
RECEIVED_AT = "received_at"   # validation context: when the request was received (a datetime) ...
FUTURE_SKEW_S = "future_skew_s"  # ... and how far ahead of it a partner's clock may be (the signing window)


def _parse_timestamp(value: Any, info: ValidationInfo) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and len(value) <= 40:
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise PydanticCustomError(
                "timestamp_format", "timestamp must be ISO-8601, e.g. 2026-04-02T09:10:00+08:00") from None
    else:
        raise PydanticCustomError(
            "timestamp_type", "timestamp must be an ISO-8601 string with a timezone offset")
    offset = parsed.utcoffset() if parsed.tzinfo is not None else None
    if offset is None:
        raise PydanticCustomError(
            "timestamp_naive", "timestamp needs a timezone offset, e.g. +08:00")
    if abs(offset) > MAX_OFFSET:
        raise PydanticCustomError("timestamp_offset", "timestamp offset must lie between -14:00 and +14:00")
    context = info.context or {}
    received = context.get(RECEIVED_AT)
    if parsed < PLATFORM_START:
        raise PydanticCustomError(
            "timestamp_before_platform", "timestamp is before the platform took its first appeal ({start})",
            {"start": PLATFORM_START.isoformat()})
    if received is not None and parsed > received + timedelta(seconds=context.get(FUTURE_SKEW_S, 0)):
        raise PydanticCustomError(
            "timestamp_in_future", "timestamp is later than the time the request was received ({received})",
            {"received": received.astimezone(CHINA_TIME).isoformat(timespec="seconds")})
    return parsed


Timestamp = Annotated[datetime, BeforeValidator(_parse_timestamp)]
"""ISO-8601 time with an offset (-14:00..+14:00), the offset kept as sent; refused before the
platform started or, given the receipt time in the validation context, after it (beyond skew)."""

# ---------------------------------------------------------------- appeal type and urgency maps

APPEAL_TYPE_LABELS: dict[Any, AppealType] = {t.value: t for t in AppealType}
"""咨询/求助/投诉/举报/建议 as written in Chinese."""

APPEAL_TYPE_ENGLISH: dict[Any, AppealType] = {
    "consultation": AppealType.CONSULTATION,
    "help": AppealType.HELP,
    "complaint": AppealType.COMPLAINT,
    "report": AppealType.REPORT,
    "suggestion": AppealType.SUGGESTION,
}

URGENCY_LABELS: dict[Any, Urgency] = {u.value: u for u in Urgency}
"""急件/即办件/普通 as written in Chinese."""

URGENCY_ENGLISH: dict[Any, Urgency] = {
    "urgent": Urgency.URGENT,
    "immediate": Urgency.IMMEDIATE,
    "normal": Urgency.NORMAL,
}


def mapped(table: Mapping[Any, E], what: str) -> Any:
    """A field type that maps a partner's label or code (case-insensitive text) onto a domain enum."""
    folded = {k.casefold() if isinstance(k, str) else k: v for k, v in table.items()}
    enum_type = type(next(iter(table.values())))
    expected = "/".join(str(k) for k in table)

    def convert(value: Any) -> E:
        if isinstance(value, enum_type):
            return value
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise PydanticCustomError(
                "code_type", "{what} must be one of {expected}", {"what": what, "expected": expected})
        key = value.strip().casefold() if isinstance(value, str) else value
        if key not in folded:
            raise PydanticCustomError(
                "code_unknown", "unknown {what}; expected one of {expected}",
                {"what": what, "expected": expected})
        return folded[key]

    # The document lists the labels the partner sends (matched regardless of case), not the enum's values.
    return Annotated[enum_type, BeforeValidator(convert), described(whole=True, enum=list(table))]


# ---------------------------------------------------------------- coordinates

_LATITUDE = Field(ge=-90, le=90, allow_inf_nan=False)
_LONGITUDE = Field(ge=-180, le=180, allow_inf_nan=False)
# JSON numbers only: true, "22.5" and null are refused, not coerced (true would be 1.0).
Latitude = Annotated[float, Strict(), _LATITUDE]
Longitude = Annotated[float, Strict(), _LONGITUDE]
# Form fields (Open311) are text by nature: the text of a number is parsed, in the same range.
FormLatitude = Annotated[float, _LATITUDE]
FormLongitude = Annotated[float, _LONGITUDE]

# ---------------------------------------------------------------- flags

Flag = Annotated[bool, Strict()]
"""A yes/no field: JSON true or false only ("yes", "no", 0, 1 and "true" are refused)."""

_A = 6378245.0
_EE = 0.00669342162296594323


def _out_of_china(lat: float, lng: float) -> bool:
    return not (72.004 <= lng <= 137.8347 and 0.8293 <= lat <= 55.8271)


def wgs84_to_gcj02(lat: float, lng: float) -> tuple[float, float]:
    """WGS-84 → GCJ-02 (国测局坐标, what Chinese map SDKs and WeChat return)."""
    if _out_of_china(lat, lng):
        return lat, lng
    x, y = lng - 105.0, lat - 35.0
    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
            + (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
            + (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
            + (160.0 * math.sin(y / 12.0 * math.pi) + 320 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0)
    dlng = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
            + (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
            + (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
            + (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0)
    rad = lat / 180.0 * math.pi
    magic = 1 - _EE * math.sin(rad) ** 2
    sqrt_magic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrt_magic) * math.pi)
    dlng = (dlng * 180.0) / (_A / sqrt_magic * math.cos(rad) * math.pi)
    return lat + dlat, lng + dlng


def gcj02_to_wgs84(lat: float, lng: float) -> tuple[float, float]:
    """GCJ-02 → WGS-84 by fixed-point iteration (error well under a metre)."""
    wlat, wlng = lat, lng
    for _ in range(10):
        glat, glng = wgs84_to_gcj02(wlat, wlng)
        dlat, dlng = glat - lat, glng - lng
        wlat, wlng = wlat - dlat, wlng - dlng
        if abs(dlat) < 1e-9 and abs(dlng) < 1e-9:
            break
    return round(wlat, 7), round(wlng, 7)


# ---------------------------------------------------------------- mapping helpers used by to_appeal()


def party(name: str | None = None, id_number: str | None = None, phone: str | None = None) -> Party:
    """The only place a payload's personal data goes (当事人)."""
    return Party(name=name or "", id_number=id_number or "", phone=phone or "")


def location(address: str | None, lat: float | None = None, lng: float | None = None,
             grid_code: str | None = None, *, lat_field: str = "lat", lng_field: str = "lng") -> Location:
    """A Location; a half-given point is reported under the partner's own coordinate field names."""
    if (lat is None) != (lng is None):
        missing = lat_field if lat is None else lng_field
        raise ValidationError(f"{missing}: latitude and longitude come together", field=missing)
    return Location(address=address or "", lat=lat, lng=lng, grid_code=grid_code)


def meta(**facts: Any) -> dict[str, Any]:
    """Non-personal channel facts for the case file; empty values are left out."""
    return {k: v for k, v in facts.items() if v is not None and v != ""}
