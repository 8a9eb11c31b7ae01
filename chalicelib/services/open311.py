"""Open311 GeoReport v2 as a channel (spec: http://wiki.open311.org/GeoReport_v2).

What a city's Open311 endpoint offers, on top of our intake:

* ``GET services.{json,xml}``: the region catalog's level-2 groups (``LL.MM``) as services.
* ``POST requests.{json,xml}``: a form-encoded service request, authenticated by ``api_key``,
  stored through intake (one transaction: appeal, ticket index, party, outbox).
* ``GET requests.{json,xml}`` and ``GET requests/<id>.{json,xml}``: the city's public requests,
  whatever channel brought them in (services/open311_read.py, from the precomputed public views).

API keys: ``<key_id>.<secret>``, where ``key_id`` is one of the open311 channel registration's key
ids (``regions/<city>/channels.json``) and ``secret`` is that key's Secrets Manager value, compared
with ``hmac.compare_digest``. Key ids therefore must not contain a dot. Every wrong key gets the
same 403, whether the key id or the secret was wrong.

Idempotency: Open311 has no client ticket id, so the intake ticket id (unique per channel) is
``<key_id>:k:<Idempotency-Key>`` when the client sends an ``Idempotency-Key`` header, else
``<key_id>:f:<fingerprint>`` where the fingerprint is a keyed hash (HMAC, the platform's PII hash
key) of the normalised form without ``api_key``. So a retry of an identical form returns the same
service_request_id (201 again, nothing new written), even without a header; the flip side is
that an identical form sent again later by the same client is the same request too: clients that
mean a new report with the same text send a fresh ``Idempotency-Key``. The same key with a different
form is a 409.

The use cases return plain rows (lists of the spec's fields) and raise typed domain errors whose
messages start with the offending parameter's name and never echo submitted values;
``chalicelib/api/open311_render.py`` turns both into the spec's JSON or XML.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Mapping
from urllib.parse import parse_qsl

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic import ValidationError as PydanticValidationError

from chalicelib.channels import fields as f
from chalicelib.domain.appeal import AppealType, NewAppeal, Urgency
from chalicelib.domain.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
    ValidationError,
)
from chalicelib.services import intake

OPEN311 = "open311"
FORM = "application/x-www-form-urlencoded"

SERVICE_NOTICE = "已受理，请凭 service_request_id 或 tracking_url 查询办理进度 (accepted; follow it at tracking_url)"


# ------------------------------------------------------------------------------ services (catalog)

@dataclass(frozen=True)
class Service:
    code: str          # LL.MM
    name: str          # level 2
    group: str         # level 1
    description: str   # the group's items
    keywords: str      # comma separated

    def as_dict(self) -> dict[str, Any]:
        return {"service_code": self.code, "service_name": self.name, "description": self.description,
                "metadata": False, "type": "realtime", "keywords": self.keywords, "group": self.group}


_SERVICES: dict[tuple[str, str], tuple["Service", ...]] = {}


def services(p) -> tuple[Service, ...]:
    """The live catalog's level-2 groups (GeoReport services), once per region pack version: from
    the pack an admin loaded, as every other consumer reads it, never from files of the checkout
    (a deployed bundle has none)."""
    model = p.region(p.settings.region_code)
    key = (model.region, model.version)
    if key not in _SERVICES:
        groups: dict[str, dict[str, Any]] = {}
        for it in model.catalog.values():
            g = groups.setdefault(it.code[:5], {"name": it.level2, "group": it.level1, "items": [], "kw": []})
            g["items"].append(it.item)
            g["kw"].extend(k for k in it.keywords if k not in g["kw"])
        _SERVICES[key] = tuple(Service(code, g["name"], g["group"], "、".join(g["items"]), ",".join(g["kw"]))
                               for code, g in sorted(groups.items()))
    return _SERVICES[key]


def service_by_code(p, code: str) -> Service | None:
    return next((s for s in services(p) if s.code == code), None)


def service_list(p, params: Mapping[str, str]) -> list[dict[str, Any]]:
    check_jurisdiction(p, params)
    return [s.as_dict() for s in services(p)]


def service_definition(p, code: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
    """Every service has metadata=false, so there is no definition to return (spec: 404)."""
    check_jurisdiction(p, params)
    if service_by_code(p, code) is None:
        raise NotFoundError("service_code: no such service", field="service_code")
    raise NotFoundError("service_code: this service has no attributes (metadata is false)", field="service_code")


def check_jurisdiction(p, params: Mapping[str, str]) -> None:
    jid = (params.get("jurisdiction_id") or "").strip()
    if jid and jid != p.settings.region_code:
        raise NotFoundError("jurisdiction_id: this endpoint serves one jurisdiction only", field="jurisdiction_id")


# ------------------------------------------------------------------------------ POST requests

_KNOWN_FIELDS = ("api_key", "jurisdiction_id", "service_code", "lat", "long", "address_string", "description",
                 "email", "first_name", "last_name", "phone", "device_id", "account_id", "media_url")
_IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_CJK = re.compile(r"[\u3400-\u9fff]")

Name = Annotated[str, StringConstraints(max_length=50), f.OneLine]
Identifier = Annotated[str, StringConstraints(max_length=128), f.OneLine]
_FREE_TEXT = ("description", "address_string")  # may keep line breaks and tabs; other fields may not


def _loose_phone(value: str) -> str:
    """Common spellings of a mainland number: a mobile (+86 138-1234-5678) becomes its 11 digits,
    a fixed line in international form (+86 755 8345 1234) gets its trunk 0 back; the field type
    (a mobile or a 座机 with area code) then checks and normalises it."""
    phone = re.sub(r"\s", "", value)
    for prefix in ("+86", "0086"):
        if phone.startswith(prefix):
            phone = phone[len(prefix):].lstrip("-")
            if phone[:1] in ("(", "（"):
                phone = phone[1:].replace(")", "", 1).replace("）", "", 1)
            if phone[:1] and phone[:1] in "23456789":
                phone = "0" + phone
    digits = re.sub(r"[\-()]", "", phone)
    return digits if len(digits) == 11 and digits.startswith("1") else phone


def _check_email(value: str) -> str:
    if len(value) > 254 or not _EMAIL.fullmatch(value):
        raise ValueError("not an email address")
    return value.lower()


class RequestForm(BaseModel):
    """The POST form's fields, validated with the channels' shared field types."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    service_code: Annotated[str, StringConstraints(max_length=16)]
    lat: f.FormLatitude | None = None
    long: f.FormLongitude | None = None
    address_string: f.Address = ""
    description: f.Content
    email: Annotated[str, Field(max_length=254)] | None = None
    first_name: Name | None = None
    last_name: Name | None = None
    phone: f.ContactPhone | None = None
    device_id: Identifier | None = None
    account_id: Identifier | None = None
    media_url: f.HttpsUrl | None = None

    def person_name(self) -> str:
        first, last = self.first_name or "", self.last_name or ""
        if _CJK.search(first + last):
            return f"{last}{first}"  # 姓 then 名
        return " ".join(p for p in (first, last) if p)


def create_request(p, body: bytes, content_type: str, headers: Mapping[str, str], now: datetime) -> list[dict[str, Any]]:
    """Authenticate, validate, map and store one service request; a retry gets the same answer
    (the spec's one-row list: service_request_id, service_notice, account_id)."""
    if len(body) > p.settings.body_limit_bytes:
        raise PayloadTooLargeError(f"body: exceeds {p.settings.body_limit_bytes} bytes", field="body")
    if content_type.split(";")[0].strip().lower() != FORM:
        raise UnsupportedMediaTypeError(f"Content-Type: send the request as {FORM}", field="Content-Type")
    form = _parse_form(body)
    check_jurisdiction(p, form)
    key_id = authenticate(p, form.get("api_key", ""))
    data = _validate(form)
    service = service_by_code(p, data.service_code)
    if service is None:
        raise ValidationError("service_code: no such service; see services.json", field="service_code")
    fingerprint = form_fingerprint(p, data)
    ticket_id = _ticket_id(key_id, {k.lower(): v for k, v in headers.items()}.get("idempotency-key"), fingerprint)
    cmd = to_appeal(data, service, ticket_id, key_id, now)
    try:
        stored = intake.store(p, cmd, fingerprint, None, now)
    except ConflictError as exc:
        if exc.field != "ticket_id":
            raise
        raise ConflictError("Idempotency-Key: already used for a different request", field="Idempotency-Key",
                            code="idempotency_conflict") from None
    return [{"service_request_id": stored.body["appeal_id"], "service_notice": SERVICE_NOTICE, "account_id": None,
             "tracking_url": stored.body["tracking_url"]}]


def _parse_form(body: bytes) -> dict[str, str]:
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False,
                          encoding="utf-8", errors="strict", max_num_fields=100)
    except UnicodeDecodeError:
        raise ValidationError("body: the form is not valid UTF-8", field="body") from None
    except ValueError:
        raise ValidationError("body: too many form fields", field="body") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in _KNOWN_FIELDS:
            if name in form:
                raise ValidationError(f"{name}: given more than once", field=name)
            form[name] = value
    return form


def authenticate(p, api_key: str) -> str:
    """`<key_id>.<secret>` against the open311 registration; returns the key id. Never echoes it."""
    if not api_key.strip():
        raise ValidationError("api_key: required", field="api_key")
    key_id, dot, secret = api_key.strip().partition(".")
    channel = p.store.get_channel(OPEN311)
    refs = dict(channel.key_ids) if channel is not None and channel.enabled else {}
    ref = refs.get(key_id) if dot else None
    expected = p.secrets(ref) if ref else ""
    # Compare in every case, so the answer's timing does not tell which half was wrong.
    same = hmac.compare_digest(secret.encode(), expected.encode())
    if not (ref and expected and same):
        raise ForbiddenError("api_key: not valid for this endpoint", field="api_key", code="bad_api_key")
    return key_id


def _validate(form: Mapping[str, str]) -> RequestForm:
    given = {k: v for k, v in form.items() if k not in ("api_key", "jurisdiction_id") and v.strip()}
    for name, value in given.items():  # before any clean-up (the phone's strips whitespace)
        if f.has_control_characters(value, free_text=name in _FREE_TEXT):
            raise ValidationError(f"{name}: must not contain control characters", field=name)
    if "phone" in given:
        given["phone"] = _loose_phone(given["phone"])
    try:
        data = RequestForm.model_validate(given)
    except PydanticValidationError as exc:
        err = exc.errors(include_url=False, include_input=False)[0]
        name = ".".join(str(p) for p in err["loc"]) or "body"
        message = "required" if err["type"] == "missing" else err["msg"]
        raise ValidationError(f"{name}: {message}", field=name) from None
    if data.email is not None:
        try:
            _check_email(data.email)
        except ValueError:
            raise ValidationError("email: not an email address", field="email") from None
    if data.lat is None and data.long is None and not data.address_string:
        raise ValidationError("address_string: a location is required: lat and long, or address_string",
                              field="address_string")
    if (data.lat is None) != (data.long is None):
        missing = "lat" if data.lat is None else "long"
        raise ValidationError(f"{missing}: lat and long come together", field=missing)
    return data


def form_fingerprint(p, data: RequestForm) -> str:
    """Keyed hash of the normalised form (no api_key): equal forms match, contents stay unrecoverable."""
    normal = data.model_dump()
    normal["email"] = normal["email"].lower() if normal["email"] else None
    digest = hashlib.sha256(json.dumps(normal, ensure_ascii=False, sort_keys=True).encode()).hexdigest()
    return p.sealer.keyed_hash("open311-form", digest)


def _ticket_id(key_id: str, idempotency_key: str | None, fingerprint: str) -> str:
    if idempotency_key is None or idempotency_key.strip() == "":
        return f"{key_id}:f:{fingerprint}"
    if not _IDEMPOTENCY_KEY.fullmatch(idempotency_key.strip()):
        raise ValidationError("Idempotency-Key: 1 to 64 characters of A-Z a-z 0-9 _ . : -", field="Idempotency-Key")
    return f"{key_id}:k:{idempotency_key.strip()}"


def to_appeal(data: RequestForm, service: Service, ticket_id: str, key_id: str, now: datetime) -> NewAppeal:
    """Open311 form → intake command. Personal fields go to Party only; email, device_id and
    account_id have no place in Party and are not stored (they count only in the fingerprint)."""
    return NewAppeal(
        channel=OPEN311,
        ticket_id=ticket_id,
        appeal_type=AppealType.COMPLAINT,
        urgency=Urgency.NORMAL,
        content=data.description,
        reported_at=now,
        title=service.name,
        location=f.location(data.address_string, data.lat, data.long, lat_field="lat", lng_field="long"),
        party=f.party(data.person_name(), None, data.phone),
        attachments=(data.media_url,) if data.media_url else (),
        channel_meta=f.meta(service_code=service.code, service_name=service.name, api_key_id=key_id),
    )
