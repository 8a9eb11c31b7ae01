"""The stored layout of issue 21 (cost per appeal) on moto: what the indexes project, how the big
attributes are stored, and that items and tables of the layout before it still read.

- GSIs project the keys, `kind` and the small entries' fields (storage.keys.INDEX_ATTRIBUTES),
  never an appeal's or a public view's body: lists read the index, then the items (one BatchGetItem);
- an appeal's body, a public view and a case event's data are packed (compact UTF-8 JSON, zlib);
- items written before (ASCII-escaped JSON text) read the same and are packed on their next change;
- a table whose indexes still project everything lists the same;
- due entries and delivered hand-offs go by TTL.
"""
from __future__ import annotations

import json
import zlib
from datetime import datetime, timedelta, timezone

from chalicelib.storage import keys, repository
from tests.integration.staff_fixtures import idp, staff_env  # noqa: F401
from tests.integration.test_dispatch_stage import act, client, load  # noqa: F401
from tests.integration.test_handling_api import dispatched_to_xixiang


def dispatched(aws, client, staff_env) -> str:
    """An appeal taken in and dispatched (by the model, or else by a dispatcher) to a unit."""
    appeal_id = dispatched_to_xixiang(aws, client, staff_env)
    assert load(appeal_id).status.value == "dispatched"
    return appeal_id


def raw(aws, pk: str, sk: str) -> dict:
    return aws.session.client("dynamodb").get_item(TableName=aws.resources.table_name,
                                                   Key={"PK": {"S": pk}, "SK": {"S": sk}},
                                                   ConsistentRead=True)["Item"]


def index_entries(aws, index: str, pk: str) -> list[dict]:
    return aws.session.client("dynamodb").query(
        TableName=aws.resources.table_name, IndexName=index, KeyConditionExpression="#p = :p",
        ExpressionAttributeNames={"#p": f"{index}PK"}, ExpressionAttributeValues={":p": {"S": pk}})["Items"]


def test_an_inbox_lists_the_appeal_read_whole_while_its_index_entry_holds_keys_only(aws, client, staff_env):
    from chalicelib.storage.store import DynamoStore

    appeal_id = dispatched(aws, client, staff_env)
    unit = load(appeal_id).assignment.unit_id
    entries = index_entries(aws, "GSI1", keys.unit_queue(unit))
    assert [(e["appeal_id"]["S"], e["kind"]["S"]) for e in entries] == [(appeal_id, "appeal")]
    assert sorted(entries[0]) == ["GSI1PK", "GSI1SK", "PK", "SK", "appeal_id", "kind", "region"]
    listed = DynamoStore().unit_inbox(unit, None, 10)
    assert [a.to_dict() for a in listed] == [load(appeal_id).to_dict()]
    assert [a.appeal_id for a in DynamoStore().unit_inbox(unit, "dispatched", 10)] == [appeal_id]
    assert DynamoStore().unit_inbox(unit, "signed", 10) == []


def test_the_big_attributes_are_packed_utf8_json(aws, client, staff_env):
    appeal_id = dispatched(aws, client, staff_env)
    item = raw(aws, keys.appeal_pk(appeal_id), keys.APPEAL_SK)
    text = zlib.decompress(item["body"]["B"]).decode()
    assert "井盖" in text and "\\u" not in text and ", " not in text
    view = raw(aws, keys.view_pk(appeal_id), keys.VIEW_SK)
    assert json.loads(zlib.decompress(view["timeline"]["B"]))[0]["kind"] == "accepted"
    assert json.loads(zlib.decompress(view["body"]["B"]))["status"] == "dispatched"


def _as_before_issue_21(value: bytes) -> dict:
    """What PynamoDB's JSONAttribute stored: ASCII-escaped JSON text with blanks."""
    return {"S": json.dumps(json.loads(zlib.decompress(value)))}


def test_items_stored_before_issue_21_read_the_same_and_are_packed_on_their_next_change(aws, client, staff_env):
    from chalicelib.storage.public_store import get_view

    appeal_id = dispatched(aws, client, staff_env)
    before, case_file, view = load(appeal_id).to_dict(), repository.load_case_file(appeal_id), get_view(appeal_id)
    ddb, table = aws.session.client("dynamodb"), aws.resources.table_name
    rewritten = 0
    for item in ddb.query(TableName=table, KeyConditionExpression="PK = :p",
                          ExpressionAttributeValues={":p": {"S": keys.appeal_pk(appeal_id)}})["Items"] + \
            [raw(aws, keys.view_pk(appeal_id), keys.VIEW_SK)]:
        old = {k: (_as_before_issue_21(v["B"]) if k in ("body", "timeline", "data") and "B" in v else v)
               for k, v in item.items()}
        if old != item:
            ddb.put_item(TableName=table, Item=old)
            rewritten += 1
    assert rewritten >= 4   # the appeal, its view, its case events
    assert raw(aws, keys.appeal_pk(appeal_id), keys.APPEAL_SK)["body"]["S"].startswith('{"')
    assert load(appeal_id).to_dict() == before
    assert repository.load_case_file(appeal_id) == case_file
    assert get_view(appeal_id) == view
    assert act(client, staff_env, "xixiang_handler", appeal_id, "sign", {}).status_code == 200
    assert "B" in raw(aws, keys.appeal_pk(appeal_id), keys.APPEAL_SK)["body"]
    assert load(appeal_id).status.value == "signed"


def old_table(aws) -> None:
    """The stack's table with its indexes as created before issue 21: every GSI projects
    everything (rebuilt in place, what is stored kept)."""
    import dataclasses

    from infra.reindex import reproject
    from infra.spec import SPEC

    old = dataclasses.replace(SPEC.table,
                              indexes=tuple(dataclasses.replace(ix, include=()) for ix in SPEC.table.indexes))
    done = reproject(aws.session.client("dynamodb"), aws.resources.table_name, dataclasses.replace(SPEC, table=old),
                     dry_run=False, poll_s=0)
    assert done["rebuilt"] == ["GSI1", "GSI2", "GSI3"]
    assert {p["ProjectionType"] for p in projections(aws).values()} == {"ALL"}


def projections(aws) -> dict:
    desc = aws.session.client("dynamodb").describe_table(TableName=aws.resources.table_name)["Table"]
    return {ix["IndexName"]: ix["Projection"] for ix in desc["GlobalSecondaryIndexes"]}


def test_a_table_whose_indexes_still_project_everything_lists_the_same(aws, client, staff_env):
    from chalicelib.storage.store import DynamoStore

    old_table(aws)
    appeal_id = dispatched(aws, client, staff_env)
    unit = load(appeal_id).assignment.unit_id
    assert "body" in index_entries(aws, "GSI1", keys.unit_queue(unit))[0]
    assert [a.to_dict() for a in DynamoStore().unit_inbox(unit, None, 10)] == [load(appeal_id).to_dict()]


def test_an_appeal_that_left_the_list_between_the_two_reads_is_not_shown(aws, client, staff_env):
    from chalicelib.storage.models import AppealItem
    from chalicelib.storage.store import DynamoStore

    appeal_id = dispatched(aws, client, staff_env)
    unit = load(appeal_id).assignment.unit_id
    store = DynamoStore()

    def entry(queue: str) -> AppealItem:
        return AppealItem(keys.appeal_pk(appeal_id), keys.APPEAL_SK, appeal_id=appeal_id,
                          GSI1PK=queue, GSI1SK=f"dispatched#x#{appeal_id}")

    assert [a.appeal_id for a in store._appeals_of([entry(keys.unit_queue(unit))], "GSI1PK")] == [appeal_id]
    assert store._appeals_of([entry(keys.dispatcher_queue("city"))], "GSI1PK") == []


def test_due_entries_and_delivered_hand_offs_go_by_ttl(aws, client, staff_env):
    from chalicelib.storage.records import DUE_KEEP
    from chalicelib.storage.repository import OUTBOX_DONE_KEEP

    appeal_id = dispatched(aws, client, staff_env)
    dues = [i for i in aws.table_items() if i["kind"]["S"] == "due" and i["appeal_id"]["S"] == appeal_id]
    assert len(dues) >= 6
    for d in dues:
        at = datetime.fromisoformat(d["at"]["S"])
        assert int(d["expires_at"]["N"]) == int((at + DUE_KEEP).timestamp())
    key = next(i["SK"]["S"] for i in aws.table_items()
               if i["PK"]["S"] == keys.appeal_pk(appeal_id) and i["SK"]["S"].startswith("OUT#status#"))
    now = datetime(2026, 12, 1, tzinfo=timezone.utc)
    assert repository.mark_outbox_done(appeal_id, "status", key.split("#", 2)[2], now)
    row = raw(aws, keys.appeal_pk(appeal_id), key)
    assert int(row["expires_at"]["N"]) == int((now + OUTBOX_DONE_KEEP).timestamp())
    assert "GSI1PK" not in row
    assert OUTBOX_DONE_KEEP > timedelta(days=14)   # longer than any queue keeps a message


def test_reproject_counts_in_a_dry_run_then_rebuilds_an_old_tables_indexes_and_lists_still_read(
        aws, client, staff_env, capsys):
    from chalicelib.storage.store import DynamoStore
    from infra import admin
    from infra.reindex import plan
    from infra.spec import SPEC

    old_table(aws)
    appeal_id = dispatched(aws, client, staff_env)
    unit = load(appeal_id).assignment.unit_id
    items = aws.table_items()
    held = {n: sum(1 for i in items if f"{n}PK" in i and f"{n}SK" in i) for n in ("GSI1", "GSI2", "GSI3")}
    assert admin.main(["--json", "reproject", "--dry-run"]) == 0
    dry = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [(s["index"], s["entries"], s["to"]) for s in dry["indexes"]] == [
        (ix.name, held[ix.name], ix.projection) for ix in SPEC.table.indexes]
    assert (dry["count"], dry["entries"], dry["rebuilt"]) == (3, sum(held.values()), [])
    assert {p["ProjectionType"] for p in projections(aws).values()} == {"ALL"}     # a dry run changes nothing
    assert admin.main(["--json", "reproject"]) == 0
    done = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert done["rebuilt"] == ["GSI1", "GSI2", "GSI3"]
    assert projections(aws) == {ix.name: ix.projection for ix in SPEC.table.indexes}
    assert plan(aws.session.client("dynamodb"), aws.resources.table_name) == []
    assert "body" not in index_entries(aws, "GSI1", keys.unit_queue(unit))[0]
    assert [a.to_dict() for a in DynamoStore().unit_inbox(unit, None, 10)] == [load(appeal_id).to_dict()]
