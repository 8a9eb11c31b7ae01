"""The API described (issue 22): one OpenAPI 3.1 document for every route of the Chalice app,
served at GET /openapi.json and linked from GET /.

What can be generated is generated here, never copied: each partner's request body is its payload
model's JSON Schema (pydantic, by alias: the partner's own field names, chalicelib/channels/
partners; the shared field types of channels/fields.py add the patterns their checks enforce),
Open311's POST form is `services.open311.RequestForm` plus its api_key, a staff action's body
comes from the action registry (`services.staff.REGISTRY`), the rating from `RATING_DIMENSIONS`,
and the enums (channel codes, actions, periods, metrics, report kinds) from the code that checks
them. The paths (chalicelib/api/openapi_paths.py) say per route what the code cannot say itself.

tests/integration/test_openapi.py fails when a route of the app has no operation (`x-route`
names the Chalice route each operation serves) or when the document drifts from the models.

Every refusal (4xx) is the one error shape, `Error`: {"error": {"code", "message", "field"}},
the field always named; Open311 answers its spec's list of {code, description}, the description
led by the parameter's name; an HTML page refuses with an HTML page unless the client accepts JSON.
"""
from __future__ import annotations

import functools
import json

from chalice import Blueprint, Response
from pydantic.json_schema import GenerateJsonSchema, models_json_schema

from chalicelib.api.caching import PUBLIC, cached
from chalicelib.api.errors import route
from chalicelib.api.openapi_paths import REF, SECURITY_SCHEMES, _channel_ops, all_paths, ref
from chalicelib.channels.registry import channel_codes, payload_model
from chalicelib.domain.appeal import RATING_DIMENSIONS
from chalicelib.services import open311, staff

OPENAPI_VERSION = "3.1.0"
PATH = "/openapi.json"
HTTP_METHODS = ("get", "post", "put", "patch", "delete")

bp = Blueprint(__name__)


def _error_schemas() -> dict:
    return {
        "Error": {
            "type": "object", "required": ["error"], "additionalProperties": False,
            "description": "Every refusal: the code, a message that never echoes input, and the field it names "
                           "(a body field by its dotted path, a header, a query or path parameter, or `body`).",
            "properties": {"error": {
                "type": "object", "required": ["code", "message", "field"], "additionalProperties": False,
                "properties": {"code": {"type": "string", "minLength": 1}, "message": {"type": "string"},
                               "field": {"type": "string", "minLength": 1},
                               "details": {"type": "array"}}}}},
        "Open311Error": {
            "type": "array", "minItems": 1, "description": "GeoReport v2 errors; the description begins with "
                                                           "the parameter's name and a colon.",
            "items": {"type": "object", "required": ["code", "description"],
                      "properties": {"code": {"type": "integer"}, "description": {"type": "string",
                                                                                   "pattern": "^[A-Za-z_-]+: "}}}},
    }


class _PartnerSchema(GenerateJsonSchema):
    """pydantic's generator, but a default the partner could not send is left out: a mapped field's
    default is the domain enum's value (普通), while its schema lists the partner's labels (normal)."""

    def default_schema(self, schema):
        out = super().default_schema(schema)
        if "enum" in out and "default" in out and out["default"] not in out["enum"]:
            out.pop("default")
        return out


def _model_schemas() -> tuple[dict, dict]:
    """Every partner payload model and Open311's form model, by alias (the partner's own names):
    (model name -> its $ref, the definitions, each model defined once under its own name)."""
    models = [payload_model(c) for c in channel_codes()] + [open311.RequestForm]
    names, defs = models_json_schema([(m, "validation") for m in models], by_alias=True, ref_template=REF,
                                     schema_generator=_PartnerSchema)
    top = {m.__name__: names[(m, "validation")] for m in models}
    return top, defs.get("$defs", {})


def _open311_form(form_schema_ref: dict) -> dict:
    return {"allOf": [form_schema_ref, {
        "type": "object", "required": ["api_key"],
        "properties": {"api_key": {"type": "string", "description": "<key_id>.<secret> of the open311 channel"},
                       "jurisdiction_id": {"type": "string"}}}]}


def _rating_schema() -> dict:
    scores = {d: {"type": "integer", "minimum": 1, "maximum": 5} for d in RATING_DIMENSIONS}
    return {"type": "object", "required": list(RATING_DIMENSIONS), "additionalProperties": False,
            "properties": {**scores, "comment": {"type": "string", "maxLength": 500}}}


_JSON_TYPES = {str: {"type": "string", "maxLength": 4000}, int: {"type": "integer"}, bool: {"type": "boolean"},
               list: {"type": "array", "maxItems": 20, "items": {"type": "string"}}}


def action_schemas() -> dict:
    """One body schema per staff action, from the registry's field specs (name -> (type, required))."""
    out = {}
    for name, action in sorted(staff.REGISTRY.items()):
        out[f"Action_{name}"] = {
            "type": "object", "additionalProperties": False,
            "required": [f for f, (_, required) in action.fields.items() if required],
            "properties": {f: dict(_JSON_TYPES[t]) for f, (t, _) in action.fields.items()},
            "x-permission": action.permission}
    return out


def _answers() -> dict:
    """What the main JSON answers hold (their top level; the rest as documented in README)."""
    text = {"type": "string"}
    return {
        "IntakeAnswer": {"type": "object", "required": ["appeal_id", "channel", "ticket_id", "status", "received_at",
                                                        "tracking_url"],
                         "properties": {"appeal_id": text, "channel": text, "ticket_id": text, "status": text,
                                        "received_at": {"type": "string", "format": "date-time"},
                                        "tracking_url": text}},
        "RatingResult": {"type": "object", "required": ["appeal_id", "rated", "unsatisfied", "status"],
                         "properties": {"appeal_id": text, "rated": {"const": True},
                                        "unsatisfied": {"type": "boolean"}, "status": text}},
        "StaffMe": {"type": "object", "required": ["subject", "username", "role", "region"],
                    "properties": {"subject": text, "username": text, "role": text, "region": text,
                                   "unit_id": {"type": ["string", "null"]}, "jurisdiction": {"type": ["string", "null"]}}},
        "ChannelList": {"type": "object", "required": ["channels"], "properties": {"channels": {
            "type": "array", "items": {"type": "object", "required": ["code", "endpoint", "auth"],
                                       "properties": {"code": {"enum": channel_codes() + ["open311"]}}}}}},
        "Index": {"type": "object", "required": ["name", "links", "errors"],
                  "properties": {"links": {"type": "object", "required": ["openapi"]}}},
    }


def generate() -> dict:
    """The whole document, generated afresh from the models and the path table."""
    top, defs = _model_schemas()
    schemas = {**defs, **_error_schemas(), **_answers(), **action_schemas(),
               "Rating": _rating_schema(), "Open311Form": _open311_form(ref("RequestForm"))}
    paths = {**_channel_ops(top), **all_paths()}
    for code in channel_codes():   # a channel's body is its model: by reference, defined once
        paths[f"/channels/{code}/appeals"]["post"]["requestBody"]["content"]["application/json"]["schema"] = \
            ref(payload_model(code).__name__)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "Jiesu 接诉即办", "version": "1",
                 "description": "Citizen appeals: channel intake (signed), Open311, staff, admin, the public "
                                "record and the citizen's tracking page. Errors: components/schemas/Error."},
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "servers": [{"url": "/"}],
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": dict(sorted(schemas.items())), "securitySchemes": SECURITY_SCHEMES},
    }


@functools.lru_cache(maxsize=1)
def document_text() -> str:
    return json.dumps(generate(), ensure_ascii=False, sort_keys=True)


def routes_described(doc: dict) -> set[tuple[str, str]]:
    """(Chalice route, METHOD) of every operation of a document."""
    return {(o["x-route"], m.upper()) for item in doc["paths"].values() for m, o in item.items() if m in HTTP_METHODS}


# errors.refuse_other_methods names its 405 views so: they answer the methods a path does not serve.
REFUSAL_VIEW = "method_not_allowed_"


def routes_served(app) -> set[tuple[str, str]]:
    """(Chalice route, METHOD) of every view a Chalice app serves (its 405 refusals left out)."""
    return {(path, method) for path, entries in app.routes.items() for method, entry in entries.items()
            if not entry.view_name.startswith(REFUSAL_VIEW)}


def undescribed(app, doc: dict) -> set[tuple[str, str]]:
    """The routes of `app` no operation of `doc` serves (the document is complete when empty)."""
    return routes_served(app) - routes_described(doc)


@route(bp, PATH, methods=["GET"])
def openapi_json() -> Response:
    return cached(bp.current_request.headers, document_text(), "application/json; charset=utf-8", PUBLIC)
