"""No client mistake is a 5xx: every field of every channel payload, replaced by each wrong kind
of value, gets its one right outcome: taken (201) where the partner's model allows that value, else
a 400 that names the field (exactly), and nothing is written."""
from __future__ import annotations

import json

import pytest
from chalice.test import Client

from tests.conftest import PARTNER_CHANNELS, channel_fixture
from tests.integration.helpers import signed_post

CHANNELS = PARTNER_CHANNELS
# Each wrong kind of value, by name (the tables below name them).
WRONG = {"null": None, "int": 12345, "neg_float": -1.5, "true": True, "empty_list": [], "empty_obj": {},
         "list_str": ["x"], "obj": {"a": 1}, "empty_str": "", "long_str": "x" * 6000, "nul": "\u0000"}

# The one right outcome of each (field, wrong value): these are taken (201), as each partner's
# payload model says (an optional field may be null, a yes/no field true, a list of photos empty,
# an optional title or address empty, a numeric id a number); every other one is a 400 naming the
# field, or (NESTED) the field inside it that is wrong.
ACCEPTED = {
    "hotline": {("fsdz", "empty_str"), ("gdbt", "empty_str"), ("ldrxm", "null"), ("lxdh", "null"), ("lybh", "null"),
                ("sfnm", "true"), ("zjhm", "null")},
    "app": {("address", "empty_str"), ("anonymous", "true"), ("appVersion", "null"), ("idCard", "null"),
            ("imageUrls", "empty_list"), ("location", "null"), ("platform", "null"), ("realName", "null"),
            ("title", "empty_str"), ("userId", "null")},
    "wechat": {("isAnonymous", "true"), ("location", "null"), ("phoneInfo", "null"), ("scene", "null")},
    "web": {("address", "empty_str"), ("anonymous", "true"), ("attachments", "empty_list"), ("id_card", "null"),
            ("name", "null")},
    "mailbox": {("eventAddress", "empty_str"), ("isPublic", "true"), ("mailboxCode", "null"), ("writerIdCard", "null")},
    "leader_board": {("address", "empty_str"), ("domainName", "null"), ("fid", "int"), ("fid", "null"),
                     ("mobile", "null"), ("realName", "null"), ("targetLeader", "null"), ("tid", "int")},
    "grid": {("handledOnSite", "true"), ("photos", "empty_list")},
    "police": {("bjrxm", "null"), ("bjrzjhm", "null"), ("sfdz", "empty_str"), ("sfjj", "true")},
    "deputy": {("address", "empty_str"), ("session", "null")},
    "party": {("activity", "null"), ("branchName", "null"), ("photos", "empty_list")},
    "qrcode": {("tel", "null")},
    "mediation": {("address", "empty_str"), ("findings", "empty_str"), ("urgent", "true")},
}
NESTED = {
    ("hotline", "fj", "list_str"): "fj.0", ("app", "location", "empty_obj"): "location.lng",
    ("app", "location", "obj"): "location.lng", ("app", "imageUrls", "list_str"): "imageUrls.0",
    ("wechat", "phoneInfo", "empty_obj"): "phoneInfo.purePhoneNumber",
    ("wechat", "phoneInfo", "obj"): "phoneInfo.purePhoneNumber", ("wechat", "location", "empty_obj"): "location.latitude",
    ("wechat", "location", "obj"): "location.latitude", ("wechat", "pics", "list_str"): "pics.0",
    ("web", "attachments", "list_str"): "attachments.0", ("mailbox", "attachmentUrls", "list_str"): "attachmentUrls.0",
    ("leader_board", "images", "list_str"): "images.0", ("grid", "photos", "list_str"): "photos.0",
    ("deputy", "deputy", "empty_obj"): "deputy.name", ("deputy", "deputy", "obj"): "deputy.name",
    ("deputy", "attachments", "list_str"): "attachments.0", ("party", "photos", "list_str"): "photos.0",
    ("qrcode", "pics", "list_str"): "pics.0", ("mediation", "applicant", "empty_obj"): "applicant.name",
    ("mediation", "applicant", "obj"): "applicant.name", ("mediation", "mediator", "empty_obj"): "mediator.org",
    ("mediation", "mediator", "obj"): "mediator.org", ("mediation", "attachments", "list_str"): "attachments.0",
}
# A point's coordinates are numbers: a number out of the region is not a wrong kind but a bad
# place, whose treatment is tested with the bad times and places (issue 22, item 4).
COORDINATES = {("grid", "lat"), ("grid", "lng"), ("police", "jd"), ("police", "wd")}


def test_the_tables_name_fields_and_values_that_exist():
    for channel in CHANNELS:
        fields = set(channel_fixture(channel))
        assert {f for f, _ in ACCEPTED[channel]} <= fields and {w for _, w in ACCEPTED[channel]} <= set(WRONG)
    assert {(c, f) for c, f, _ in NESTED} <= {(c, f) for c in CHANNELS for f in channel_fixture(c)}


@pytest.mark.parametrize("channel", CHANNELS)
def test_every_wrong_value_of_every_field_is_taken_or_a_400_naming_it_exactly_as_the_tables_say(aws, channel):
    import app

    import random

    from infra.samples import sample_payload

    fields = list(channel_fixture(channel))
    seq = iter(range(10_000, 20_000))
    rng = random.Random(3)
    with Client(app.app) as client:
        def count(kind):
            return [i["kind"]["S"] for i in aws.table_items()].count(kind)

        appeals_before, tickets_before = count("appeal"), count("ticket")
        got, want, same = {}, {}, set()
        for name in fields:
            if (channel, name) in COORDINATES:
                continue
            for wrong, value in WRONG.items():
                # A fresh valid payload (its own ticket id) with one field made wrong.
                payload = sample_payload(channel, rng, "路灯坏了一周，晚上很黑。", "南山区粤海街道科苑路", "投诉", next(seq))
                if name not in payload:
                    payload = dict(payload, **{k: v for k, v in channel_fixture(channel).items() if k == name})
                bad = dict(payload, **{name: value})
                if bad == payload:
                    same.add((name, wrong))     # the sample already has that value: nothing wrong to try
                    continue
                resp = signed_post(client, aws.creds, channel, bad)
                body = json.loads(resp.body)
                got[(name, wrong)] = (resp.status_code, body["error"]["field"] if "error" in body else None)
                want[(name, wrong)] = (201, None) if (name, wrong) in ACCEPTED[channel] else \
                    (400, NESTED.get((channel, name, wrong), name))
        assert {k: v for k, v in got.items() if v != want[k]} == {}
        accepted = sum(1 for v in got.values() if v[0] == 201)
        assert ACCEPTED[channel] - set(got) <= same         # every accepted case was tried (or was no change)
        # Each accepted request wrote one appeal and one ticket; a refused one wrote nothing.
        assert (count("appeal"), count("ticket")) == (appeals_before + accepted, tickets_before + accepted)
