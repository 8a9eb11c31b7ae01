"""The API described (issue 22, item 1): GET /openapi.json is a valid OpenAPI 3.1 document with an
operation for every route of the app, linked from GET /, and it does not drift from the models:
each partner's body schema is its payload model's, the samples the channels send are valid by it
and a sample missing a required field is not, and each staff action's body is its registry entry."""
from __future__ import annotations

import copy
import json

import pytest
from chalice import Chalice
from chalice.test import Client
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_spec

from tests.conftest import PARTNER_CHANNELS, channel_fixture


@pytest.fixture(scope="module")
def served():
    """The document as the app serves it (GET needs no stack: it is generated from code)."""
    import app

    with Client(app.app) as client:
        resp = client.http.get("/openapi.json")
        index = client.http.get("/")
    assert resp.status_code == 200, resp.body[:300]
    assert resp.headers["Content-Type"].startswith("application/json")
    return json.loads(resp.body), json.loads(index.body)


def _validator(doc: dict, name: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"#/components/schemas/{name}", "components": doc["components"]})


def test_the_document_is_valid_openapi_3_1_and_linked_from_the_index(served):
    import schemathesis

    doc, index = served
    assert doc["openapi"] == "3.1.0"
    validate_spec(doc)                                   # the OpenAPI 3.1 meta-schema and every $ref
    assert index["links"]["openapi"] == "/openapi.json"
    loaded = list(schemathesis.openapi.from_dict(copy.deepcopy(doc)).get_all_operations())
    bad = [r.err() for r in loaded if not hasattr(r, "ok")]
    assert bad == [] and len(loaded) == sum(1 for item in doc["paths"].values() for m in item if m != "parameters")


def test_every_route_of_the_app_has_an_operation_and_every_operation_a_route(served):
    import app
    from chalicelib.api.openapi import routes_described, routes_served, undescribed

    doc, _ = served
    assert undescribed(app.app, doc) == set()
    assert routes_described(doc) - routes_served(app.app) == set()   # no operation for a route that is gone
    ids = [o["operationId"] for item in doc["paths"].values() for o in item.values()]
    assert len(ids) == len(set(ids)) and all(ids)


def test_a_new_route_without_an_operation_is_found(served):
    """The check above fails for an app with one route more (and not for its 405 refusals)."""
    import app
    from chalicelib.api.errors import refuse_other_methods
    from chalicelib.api.openapi import undescribed

    doc, _ = served
    probe = Chalice(app_name="probe")
    for path, entries in app.app.routes.items():
        probe.routes[path].update(entries)
    probe.route("/staff/appeals/{appeal_id}/history", methods=["GET"])(lambda appeal_id: {})
    probe.route("/staff/me", methods=["OPTIONS"])(lambda: {})
    refuse_other_methods(probe)
    assert undescribed(probe, doc) == {("/staff/appeals/{appeal_id}/history", "GET"), ("/staff/me", "OPTIONS")}


@pytest.mark.parametrize("channel", PARTNER_CHANNELS)
def test_a_channels_body_is_its_payload_model(served, channel):
    """The document's schema of the body is the model's, regenerated here; the channel's own sample
    is valid by it, and the sample without a required field (the model refuses it) is not."""
    from pydantic import ValidationError
    from pydantic.json_schema import models_json_schema

    from chalicelib.api.openapi import REF, _PartnerSchema
    from chalicelib.channels.registry import payload_model

    doc, _ = served
    model = payload_model(channel)
    body = doc["paths"][f"/channels/{channel}/appeals"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": f"#/components/schemas/{model.__name__}"}
    _, defs = models_json_schema([(model, "validation")], by_alias=True, ref_template=REF,
                                 schema_generator=_PartnerSchema)
    for name, schema in defs["$defs"].items():
        assert doc["components"]["schemas"][name] == schema, name
    component = doc["components"]["schemas"][model.__name__]
    aliases = {f.alias or n for n, f in model.model_fields.items()}
    assert set(component["properties"]) == aliases
    assert set(component.get("required", [])) == {f.alias or n for n, f in model.model_fields.items()
                                                    if f.is_required()}
    assert component.get("additionalProperties") is False        # extra fields are refused (extra="forbid")

    sample = channel_fixture(channel)
    model.model_validate(sample)
    errors = sorted(e.message for e in _validator(doc, model.__name__).iter_errors(sample))
    assert errors == []
    for name in component.get("required", []):
        broken = {k: v for k, v in sample.items() if k != name}
        with pytest.raises(ValidationError):
            model.model_validate(broken)
        assert not _validator(doc, model.__name__).is_valid(broken), name


def test_a_described_check_is_what_the_validator_takes(served):
    """The patterns the document adds for checked fields accept what the checks accept."""
    from chalicelib.channels import fields

    doc, _ = served
    hotline = doc["components"]["schemas"]["HotlineOrder"]["properties"]
    id_schema = hotline["zjhm"]["anyOf"][0]                                   # 证件号码, optional
    v = Draft202012Validator(id_schema)
    good = "11010519491231002" + fields.id_check_digit("11010519491231002")
    assert v.is_valid(good) and not v.is_valid("1101051949123100") and not v.is_valid("01010519491231002X")
    assert fields._check_id_number(id_schema["examples"][0])                 # the example passes the check digit
    urgency = hotline["jjcd"]
    assert set(urgency["enum"]) == set(fields.URGENCY_LABELS) and urgency["default"] == "普通"
    deputy = doc["components"]["schemas"]["DeputyProposal"]["properties"]["urgency"]
    assert set(deputy["enum"]) == set(fields.URGENCY_ENGLISH) and "default" not in deputy


def test_staff_actions_and_the_rating_are_their_registries(served):
    from chalicelib.domain.appeal import RATING_DIMENSIONS
    from chalicelib.services import staff

    doc, _ = served
    schemas = doc["components"]["schemas"]
    act = doc["paths"]["/staff/appeals/{appeal_id}/actions/{action}"]["post"]
    assert next(p for p in act["parameters"] if p["name"] == "action")["schema"]["enum"] == sorted(staff.REGISTRY)
    for name, action in staff.REGISTRY.items():
        schema = schemas[f"Action_{name}"]
        assert set(schema["properties"]) == set(action.fields)
        assert set(schema["required"]) == {f for f, (_, required) in action.fields.items() if required}
        assert schema["x-permission"] == action.permission
    assert set(schemas["Rating"]["required"]) == set(RATING_DIMENSIONS)


def test_every_refusal_is_documented_in_the_error_shape(served):
    doc, _ = served
    shapes = {"#/components/schemas/Error", "#/components/schemas/Open311Error"}
    for path, item in doc["paths"].items():
        for method, o in item.items():
            for status, resp in o["responses"].items():
                if not status.startswith("4"):
                    continue
                content = resp["content"]
                assert set(content) <= {"application/json", "text/html", "text/xml"}, (path, method, status)
                if "application/json" in content:
                    assert content["application/json"]["schema"]["$ref"] in shapes, (path, method, status)
                    if path.startswith("/open311/"):
                        assert content["application/json"]["schema"]["$ref"].endswith("Open311Error")
