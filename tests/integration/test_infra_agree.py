"""The deploy template and the local bootstrap both come from infra/spec.py, and agree with it."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.render import merge_template
from infra.spec import SPEC

ROOT = Path(__file__).resolve().parents[2]


def local_facts(aws) -> dict:
    s = aws.session
    ddb = s.client("dynamodb")
    t = ddb.describe_table(TableName=aws.resources.table_name)["Table"]
    ttl = ddb.describe_time_to_live(TableName=aws.resources.table_name)["TimeToLiveDescription"]
    pitr = ddb.describe_continuous_backups(TableName=aws.resources.table_name)["ContinuousBackupsDescription"]
    sqs = s.client("sqs")
    queues = {}
    for name, url in aws.resources.queue_urls.items():
        a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        queues[name] = (int(a["VisibilityTimeout"]), json.loads(a["RedrivePolicy"])["maxReceiveCount"])
    events = s.client("events")
    rules = {n: events.describe_rule(Name=r)["ScheduleExpression"] for n, r in aws.resources.rule_names.items()}
    return {
        "keys": [k["AttributeName"] for k in t["KeySchema"]],
        "indexes": sorted((g["IndexName"], tuple(k["AttributeName"] for k in g["KeySchema"]),
                           g["Projection"]["ProjectionType"], tuple(g["Projection"].get("NonKeyAttributes", ())))
                          for g in t["GlobalSecondaryIndexes"]),
        "billing": t["BillingModeSummary"]["BillingMode"],
        "ttl": ttl["AttributeName"],
        "pitr": pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED",
        "queues": queues,
        "rules": rules,
    }


def template_facts(template: dict) -> dict:
    r = template["Resources"]
    t = r[SPEC.table.logical_id]["Properties"]
    queues = {q.name: (r[q.logical_id]["Properties"]["VisibilityTimeout"],
                       r[q.logical_id]["Properties"]["RedrivePolicy"]["maxReceiveCount"]) for q in SPEC.queues}
    rules = {}
    for fn in SPEC.functions:
        sched = r[fn.logical_id]["Properties"]["Events"].get("Schedule")
        if sched:
            rules[fn.trigger_schedule] = sched["Properties"]["Schedule"]
    return {
        "keys": [k["AttributeName"] for k in t["KeySchema"]],
        "indexes": sorted((g["IndexName"], tuple(k["AttributeName"] for k in g["KeySchema"]),
                           g["Projection"]["ProjectionType"], tuple(g["Projection"].get("NonKeyAttributes", ())))
                          for g in t["GlobalSecondaryIndexes"]),
        "billing": t["BillingMode"],
        "ttl": t["TimeToLiveSpecification"]["AttributeName"],
        "pitr": t["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        "queues": queues,
        "rules": rules,
    }


def spec_facts() -> dict:
    return {
        "keys": [SPEC.table.pk, SPEC.table.sk],
        "indexes": sorted((ix.name, (ix.pk, ix.sk), ix.projection["ProjectionType"],
                           tuple(ix.projection.get("NonKeyAttributes", ()))) for ix in SPEC.table.indexes),
        "billing": SPEC.table.billing_mode,
        "ttl": SPEC.table.ttl_attribute,
        "pitr": SPEC.table.point_in_time_recovery,
        "queues": {q.name: (q.visibility_timeout_s, q.max_receive_count) for q in SPEC.queues},
        "rules": {s.name: s.expression for s in SPEC.schedules},
    }


def test_local_bootstrap_and_deploy_template_agree_with_the_spec(aws):
    expected = spec_facts()
    assert local_facts(aws) == expected
    assert template_facts(merge_template("dev", "shenzhen")) == expected


@pytest.mark.parametrize("stage", ["dev", "shenzhen"])
def test_template_rules(stage):
    template = merge_template(stage, "shenzhen")
    text = json.dumps(template)
    assert "arn:aws:" not in text  # partition comes from ${AWS::Partition}
    r = template["Resources"]
    for q in SPEC.queues:
        assert q.max_receive_count >= 5
        assert q.visibility_timeout_s >= 6 * max(f.timeout_s for f in SPEC.functions if f.trigger_queue == q.name)
        assert q.dlq_logical_id + "DepthAlarm" in r and q.logical_id + "AgeAlarm" in r
    for fn in SPEC.functions:
        props = r[fn.logical_id]["Properties"]
        assert (ROOT / fn.handler.split(".")[0]).with_suffix(".py").exists(), fn.handler
        if fn.trigger_queue:
            assert props["Events"]["Queue"]["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        if fn.trigger_schedule:
            expression = SPEC.schedule(fn.trigger_schedule).expression   # the sweeps each minute, visits 15
            assert props["Events"]["Schedule"]["Properties"]["Schedule"] == expression
        # Least privilege: a function may send only to the queues the spec names (plus its own, for backoff).
        sends = [s for s in props["Policies"][0]["Statement"] if "sqs:SendMessage" in s["Action"]]
        allowed = {SPEC.queue(n).logical_id for n in fn.sends_to + ((fn.trigger_queue,) if fn.trigger_queue else ())}
        assert all(res["Fn::GetAtt"][0] in allowed for s in sends for res in s["Resource"])


def test_every_queue_has_a_consumer_and_a_dlq():
    consumers = {f.trigger_queue for f in SPEC.functions if f.trigger_queue}
    assert consumers == {q.name for q in SPEC.queues}
