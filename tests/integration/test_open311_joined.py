"""An Open311 request joined to an earlier one of the same problem (并案) shows the handling of its
event, as its partner hears it in status callbacks: the master's status, notes and update time."""
from __future__ import annotations

import json

from tests.integration.test_open311 import api, base_url, good_form, post  # noqa: F401 - fixtures

STAGE_ARN = "arn:aws:sqs:us-east-1:123456789012:jiesu-test-{}"


def run_stage(aws, stage: str, *appeal_ids: str) -> None:
    """Hand the stage its pending messages, one appeal at a time in the order given, as Lambda's
    SQS event source would."""
    from functions.dedup.handler import lambda_handler as dedup
    from functions.dispatch.handler import lambda_handler as dispatch
    from infra.runner import sqs_event

    pending = {}
    while batch := aws.receive(stage):
        pending.update({json.loads(m["Body"])["appeal_id"]: m for m in batch})
    handler = {"dedup": dedup, "dispatch": dispatch}[stage]
    for appeal_id in appeal_ids:
        event = sqs_event([pending[appeal_id]], STAGE_ARN.format(stage), "us-east-1")
        assert handler(event, None) == {"batchItemFailures": []}


def test_a_joined_request_shows_its_masters_progress(aws, api):
    from chalicelib.storage import repository

    first = post(api, headers={"Idempotency-Key": "first"}, **good_form(api))
    second = post(api, headers={"Idempotency-Key": "second"},
                  **good_form(api, first_name="丽", last_name="李", phone="13900001111", media_url=None,
                              description="路边的垃圾堆了三天都没人来清运，味道很大。"))
    master, dup = (r.json()[0]["service_request_id"] for r in (first, second))
    run_stage(aws, "dedup", master, dup)
    assert (repository.load_appeal(dup).status.value, repository.load_appeal(dup).master_id) == ("joined", master)
    run_stage(aws, "dispatch", master)
    assert repository.load_appeal(master).status.value == "dispatched"

    master_view, dup_view = (api.geo.get_service_request(r) for r in (master, dup))
    assert (dup_view["status"], dup_view["status_notes"]) == (
        "open", "已派单办理中 (dispatched to the responsible unit)")
    assert (dup_view["status"], dup_view["status_notes"], dup_view["updated_datetime"]) == (
        master_view["status"], master_view["status_notes"], master_view["updated_datetime"])
    # Its own fields stay its own.
    assert dup_view["description"] == "路边的垃圾堆了三天都没人来清运，味道很大。" and dup_view["media_url"] is None
    listed = {r["service_request_id"]: r for r in api.geo.get_service_requests(status="open")}
    assert set(listed) == {master, dup} and listed[dup] == dup_view
    assert api.geo.get_service_requests(status="closed") == []
