"""Partner payloads (F-IN-1, F-IN-4): every channel's own format maps to one NewAppeal, bad input names the field."""
from __future__ import annotations

import copy
import json
import random
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from chalicelib.channels import fields
from chalicelib.channels.base import parse_payload
from chalicelib.channels.registry import channel_codes, payload_model
from infra.samples import sample_payload, synthetic_id_number
from chalicelib.domain.appeal import AppealType, NewAppeal, Urgency
from chalicelib.domain.errors import ValidationError
from tests.conftest import PARTNER_CHANNELS

FIXTURES = Path(__file__).resolve().parents[1] / "events" / "channels"
CODES = PARTNER_CHANNELS

# ------------------------------------------------------------------ an independent GB 11643 helper

_W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def gb11643(body17: str) -> str:
    """Check character for 17 digits, written apart from chalicelib to cross-check it."""
    return "10X98765432"[sum(int(c) * w for c, w in zip(body17, _W)) % 11]


def make_id(rng: random.Random) -> str:
    body = f"440304{rng.randint(1950, 2005)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randrange(1000):03d}"
    return body + gb11643(body)


def wrong_check_digit(id_number: str) -> str:
    return id_number[:17] + next(c for c in "0123456789X" if c != id_number[17])


def load(code: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{code}.json").read_text(encoding="utf-8"))


def parse(code: str, body: Any) -> NewAppeal:
    return parse_payload(payload_model(code), body)


# ------------------------------------------------------------------ what each fixture must become

EXPECTED = {
    "hotline": dict(ticket="SZ20260402000123", type=AppealType.COMPLAINT, urgency=Urgency.IMMEDIATE,
                    address="宝安区西乡街道流塘社区流塘新村二巷", point=False, grid=None, party=True,
                    attachments=0, title="流塘新村二巷垃圾三天未清运"),
    "app": dict(ticket="ISZ20260401K7Q2M9", type=AppealType.CONSULTATION, urgency=Urgency.NORMAL,
                address="福田区园岭街道园岭新村", point=True, grid=None, party=True, attachments=1,
                title="老旧小区加装电梯一户不同意怎么办"),
    "wechat": dict(ticket="WX202604051905000017", type=AppealType.COMPLAINT, urgency=Urgency.NORMAL,
                   address="广东省深圳市宝安区西乡大道坪洲地铁站C口", point=True, grid=None, party=True,
                   attachments=2, title=""),
    "web": dict(ticket="WEB20260404000031", type=AppealType.REPORT, urgency=Urgency.NORMAL,
                address="光明区新湖街道楼村社区某幼儿园", point=False, grid=None, party=True, attachments=1,
                title="幼儿园新增特色课程费未公示"),
    "mailbox": dict(ticket="XX202604150012", type=AppealType.SUGGESTION, urgency=Urgency.NORMAL,
                    address="福田区福田街道岗厦社区某健身房", point=False, grid=None, party=True, attachments=0,
                    title="岗厦某健身房停业跑路，恳请协调退费"),
    "leader_board": dict(ticket="17624562", type=AppealType.SUGGESTION, urgency=Urgency.NORMAL,
                         address="南山区西丽街道某小区", point=False, grid=None, party=True, attachments=0,
                         title="南山区某小区旁高架夜间噪声扰民"),
    "grid": dict(ticket="GE20260404000015", type=AppealType.REPORT, urgency=Urgency.IMMEDIATE,
                 address="宝安区西乡街道坪洲社区西乡大道地铁C口处", point=True, grid="440306005003012",
                 party=False, attachments=1, title=""),
    "police": dict(ticket="J440300202604020123", type=AppealType.HELP, urgency=Urgency.NORMAL,
                   address="宝安区新桥街道上星社区某大排档", point=True, grid=None, party=True, attachments=0,
                   title=""),
    "deputy": dict(ticket="RD2026-0123", type=AppealType.SUGGESTION, urgency=Urgency.NORMAL,
                   address="罗湖区莲塘街道鹏兴社区鹏兴花园", point=False, grid=None, party=True, attachments=1,
                   title="关于将鹏兴花园纳入老旧小区改造计划的建议"),
    "party": dict(ticket="DY20260423000007", type=AppealType.COMPLAINT, urgency=Urgency.NORMAL,
                  address="福田区华强北街道华强北路", point=False, grid=None, party=False, attachments=0, title=""),
    "qrcode": dict(ticket="3f9c0a7e5b1d4c2a8e6f0b9d7c5a3e1f", type=AppealType.COMPLAINT, urgency=Urgency.NORMAL,
                   address="龙华区民治街道民治地铁站B口", point=False, grid=None, party=True, attachments=1,
                   title=""),
    "mediation": dict(ticket="TJ440304-2026-000123", type=AppealType.COMPLAINT, urgency=Urgency.NORMAL,
                      address="福田区园岭街道园岭新村", point=False, grid=None, party=True, attachments=1,
                      title="物业纠纷调解未果转办"),
}

# Each channel's own field names: ticket id, event time, content, appeal type, attachments, and the
# personal fields (dotted path for nested objects; None where the channel has no such field).
FIELDS = {
    "hotline": dict(ticket="gdbh", time="ldsj", content="sqnr", type="sqlx", attachments="fj",
                    id="zjhm", phone="lxdh"),
    "app": dict(ticket="appealNo", time="submitTime", content="content", type="category",
                attachments="imageUrls", id="idCard", phone="mobile"),
    "wechat": dict(ticket="serialNo", time="createTime", content="content", type="typeName",
                   attachments="pics", id=None, phone="phoneInfo.purePhoneNumber"),
    "web": dict(ticket="submission_no", time="submitted_at", content="body", type="kind",
                attachments="attachments", id="id_card", phone="mobile"),
    "mailbox": dict(ticket="letterNo", time="writeTime", content="content", type="letterType",
                    attachments="attachmentUrls", id="writerIdCard", phone="writerPhone"),
    "leader_board": dict(ticket="tid", time="createdAt", content="content", type="typeName",
                         attachments="images", id=None, phone="mobile"),
    "grid": dict(ticket="eventNo", time="reportTime", content="description", type="eventType",
                 attachments="photos", id=None, phone=None),
    "police": dict(ticket="jjdbh", time="bjsj", content="bjnr", type="jqlb", attachments=None,
                   id="bjrzjhm", phone="bjdh"),
    "deputy": dict(ticket="proposalNo", time="submittedAt", content="content", type="type",
                   attachments="attachments", id=None, phone="deputy.mobile"),
    "party": dict(ticket="reportNo", time="discoveredAt", content="content", type="category",
                  attachments="photos", id=None, phone=None),
    "qrcode": dict(ticket="id", time="ts", content="msg", type="t", attachments="pics", id=None, phone="tel"),
    "mediation": dict(ticket="caseNo", time="registeredAt", content="summary", type="requestKind",
                      attachments="attachments", id="applicant.idNumber", phone="applicant.mobile"),
}


def set_path(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    body = copy.deepcopy(body)
    *parents, leaf = path.split(".")
    node = body
    for key in parents:
        node = node[key]
    node[leaf] = value
    return body


def drop_path(body: dict[str, Any], path: str) -> dict[str, Any]:
    body = copy.deepcopy(body)
    *parents, leaf = path.split(".")
    node = body
    for key in parents:
        node = node[key]
    del node[leaf]
    return body


def assert_rejected(code: str, body: Any, field: str) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        parse(code, body)
    assert info.value.field == field, info.value.message
    return info.value


def personal_values(appeal: NewAppeal) -> list[str]:
    return [v for v in (appeal.party.name, appeal.party.id_number, appeal.party.phone) if v]


def assert_no_personal_data_outside_party(appeal: NewAppeal, body: dict[str, Any]) -> None:
    meta_text = json.dumps(appeal.channel_meta, ensure_ascii=False, default=str)
    for value in personal_values(appeal):
        assert value not in meta_text
        assert value not in appeal.title
        assert value not in appeal.location.address
        assert value not in appeal.ticket_id
    for key in ("openid", "userId", "user_id", "name", "mobile", "phone", "id_card", "idCard", "deputy_name"):
        assert key not in appeal.channel_meta
    if "openid" in body:
        assert body["openid"] not in meta_text


# ------------------------------------------------------------------ registry and fixtures


def test_every_channel_is_registered_with_a_fixture() -> None:
    assert sorted(channel_codes()) == sorted(CODES)
    for code in CODES:
        model = payload_model(code)
        assert model.channel_code == code and model.channel_name
        assert (FIXTURES / f"{code}.json").is_file()


@pytest.mark.parametrize("code", CODES)
def test_fixture_maps_to_the_expected_appeal(code: str) -> None:
    body = load(code)
    want = EXPECTED[code]
    appeal = parse(code, body)
    assert appeal.channel == code
    assert appeal.ticket_id == want["ticket"]
    assert appeal.appeal_type is want["type"]
    assert appeal.urgency is want["urgency"]
    assert appeal.location.address == want["address"]
    assert (appeal.location.lat is not None) == want["point"]
    assert appeal.location.grid_code == want["grid"]
    assert (not appeal.party.is_empty()) == want["party"]
    assert len(appeal.attachments) == want["attachments"]
    assert all(url.startswith("https://") for url in appeal.attachments)
    assert appeal.title == want["title"]
    assert appeal.reported_at.utcoffset() == timedelta(hours=8)
    assert appeal.content
    assert_no_personal_data_outside_party(appeal, body)


def test_fixture_id_numbers_have_valid_check_digits() -> None:
    for code in CODES:
        appeal = parse(code, load(code))
        if appeal.party.id_number:
            assert gb11643(appeal.party.id_number[:17]) == appeal.party.id_number[17]


def test_timezone_offset_is_kept_as_sent() -> None:
    body = set_path(load("hotline"), "ldsj", "2026-04-02T01:20:00Z")
    assert parse("hotline", body).reported_at.utcoffset() == timedelta(0)
    body = set_path(load("app"), "submitTime", "2026-04-01T10:10:00-05:00")
    assert parse("app", body).reported_at.utcoffset() == timedelta(hours=-5)


def test_app_and_wechat_points_are_converted_from_gcj02_to_wgs84() -> None:
    body = load("app")
    appeal = parse("app", body)
    lat, lng = fields.wgs84_to_gcj02(appeal.location.lat, appeal.location.lng)
    assert abs(lat - body["location"]["lat"]) < 1e-6 and abs(lng - body["location"]["lng"]) < 1e-6
    # the shift in Shenzhen is several hundred metres, so storing GCJ-02 unconverted would misplace it
    assert abs(appeal.location.lng - body["location"]["lng"]) > 0.003
    wgs = set_path(body, "location.coordType", "wgs84")
    assert parse("app", wgs).location.lat == body["location"]["lat"]


def test_openid_and_app_user_id_are_not_kept() -> None:
    for code, key in (("wechat", "openid"), ("app", "userId")):
        body = load(code)
        appeal = parse(code, body)
        assert body[key] not in json.dumps(appeal.channel_meta, ensure_ascii=False)


def test_channel_specific_codes_are_mapped() -> None:
    cases = [
        ("web", "kind", "zx", AppealType.CONSULTATION),
        ("app", "category", "Suggestion", AppealType.SUGGESTION),
        ("police", "jqlb", "03", AppealType.REPORT),
        ("deputy", "type", "criticism", AppealType.COMPLAINT),
        ("leader_board", "typeName", "求助", AppealType.HELP),
        ("mailbox", "letterType", "举报", AppealType.REPORT),
    ]
    for code, key, value, want in cases:
        assert parse(code, set_path(load(code), key, value)).appeal_type is want
    assert parse("grid", set_path(load("grid"), "eventLevel", 3)).urgency is Urgency.URGENT
    assert parse("police", set_path(load("police"), "sfjj", True)).urgency is Urgency.URGENT
    assert parse("deputy", set_path(load("deputy"), "urgency", "immediate")).urgency is Urgency.IMMEDIATE


def test_urgency_defaults_to_normal() -> None:
    for code, key in (("hotline", "jjcd"), ("party", "urgency"), ("deputy", "urgency"), ("grid", "eventLevel")):
        assert parse(code, drop_path(load(code), key)).urgency is Urgency.NORMAL


def test_lowercase_x_check_character_is_normalised() -> None:
    rng = random.Random(3)
    while not (id_number := make_id(rng)).endswith("X"):
        pass
    body = set_path(load("hotline"), "zjhm", id_number.lower())
    assert parse("hotline", body).party.id_number == id_number


def test_known_gb11643_example() -> None:
    assert fields.id_check_digit("11010519491231002") == "X"
    assert gb11643("11010519491231002") == "X"


# ------------------------------------------------------------------ samples


@pytest.mark.parametrize("code", CODES)
def test_samples_parse_for_fifty_seeds(code: str) -> None:
    texts = ["来电人称二巷路口垃圾桶三天没人清运，苍蝇成群。", "我们楼想加装电梯，有一户不同意，怎么推进？",
             "夜间工地施工噪音很大，影响休息！"]
    addresses = ["宝安区西乡街道流塘社区", "福田区园岭新村", "南山区粤海街道科技园", ""]
    expressible = {
        "deputy": {AppealType.SUGGESTION, AppealType.COMPLAINT},
        "leader_board": set(AppealType) - {AppealType.REPORT},
        "mediation": {AppealType.HELP, AppealType.COMPLAINT, AppealType.REPORT},
    }
    tickets = set()
    for seed in range(50):
        rng = random.Random(seed)
        kind = list(AppealType)[seed % 5]
        text, address = texts[seed % 3], addresses[seed % 4]
        body = sample_payload(code, rng, text, address, kind.value, seq=seed)
        appeal = parse(code, json.loads(json.dumps(body, ensure_ascii=False)))
        tickets.add(appeal.ticket_id)
        assert appeal.content == text.strip()
        if kind in expressible.get(code, set(AppealType)):
            assert appeal.appeal_type is kind
        if address:
            assert address in appeal.location.address
        if code in ("grid", "party"):
            assert appeal.party.is_empty()
        if appeal.party.id_number:
            assert gb11643(appeal.party.id_number[:17]) == appeal.party.id_number[17]
        assert appeal.reported_at.tzinfo is not None
        assert_no_personal_data_outside_party(appeal, body)
    assert len(tickets) == 50


def test_samples_have_party_data_where_the_channel_carries_it() -> None:
    for code in ("hotline", "app", "web", "mailbox", "police", "deputy", "wechat"):
        found = [not parse(code, sample_payload(code, random.Random(s), "井盖破损。", "福田区", "投诉", s)).party.is_empty()
                 for s in range(20)]
        assert any(found), code


def test_sample_ticket_ids_differ_by_seq_with_the_same_rng_seed() -> None:
    for code in CODES:
        ids = {parse(code, sample_payload(code, random.Random(1), "路灯不亮。", "南山区", "求助", seq)).ticket_id
               for seq in (0, 1, 2, 999_999, 1_000_000, 1_780_000_000, 10**11)}
        assert len(ids) == 7, code


def test_synthetic_id_numbers_are_valid() -> None:
    rng = random.Random(11)
    for _ in range(200):
        id_number = synthetic_id_number(rng)
        assert len(id_number) == 18 and gb11643(id_number[:17]) == id_number[17]


def test_unknown_sample_channel_is_refused() -> None:
    with pytest.raises(ValueError):
        sample_payload("fax", random.Random(0), "x", "", "咨询", 0)


# ------------------------------------------------------------------ bad input names the partner's field


@pytest.mark.parametrize("code", CODES)
def test_missing_ticket_id(code: str) -> None:
    key = FIELDS[code]["ticket"]
    assert_rejected(code, drop_path(load(code), key), key)


@pytest.mark.parametrize("code", CODES)
def test_malformed_ticket_id(code: str) -> None:
    key = FIELDS[code]["ticket"]
    bad = 0 if code == "leader_board" else "??"
    assert_rejected(code, set_path(load(code), key, bad), key)


@pytest.mark.parametrize("code", CODES)
def test_naive_timestamp(code: str) -> None:
    key = FIELDS[code]["time"]
    err = assert_rejected(code, set_path(load(code), key, "2026-04-02T09:20:00"), key)
    assert "timezone" in err.message


@pytest.mark.parametrize("code", CODES)
def test_epoch_or_garbled_timestamp(code: str) -> None:
    key = FIELDS[code]["time"]
    assert_rejected(code, set_path(load(code), key, 1775092800), key)
    assert_rejected(code, set_path(load(code), key, "2026年4月2日"), key)


@pytest.mark.parametrize("code", [c for c in CODES if FIELDS[c]["id"]])
def test_wrong_id_check_digit(code: str) -> None:
    key = FIELDS[code]["id"]
    body = load(code)
    id_number = body.get(key) or make_id(random.Random(5))
    err = assert_rejected(code, set_path(body, key, wrong_check_digit(id_number)), key)
    assert "check digit" in err.message
    assert id_number[:17] not in err.message  # errors never echo personal data


@pytest.mark.parametrize("code", [c for c in CODES if FIELDS[c]["id"]])
def test_id_number_with_impossible_birth_date(code: str) -> None:
    key = FIELDS[code]["id"]
    body17 = "44030419991332123"[:17]
    assert_rejected(code, set_path(load(code), key, body17 + gb11643(body17)), key)


# Channels whose number is the line the caller rang from, which may be a fixed line (座机).
FIXED_LINE_CHANNELS = {"hotline", "police"}


@pytest.mark.parametrize("code,phone", [
    (c, p) for c in CODES if FIELDS[c]["phone"]
    for p in ["1380013800", "23800138000", "0755-8888888", "138001380001"]
    if not (p.startswith("0") and c in FIXED_LINE_CHANNELS)])   # valid there: see the fixed-line test
def test_bad_phone(code: str, phone: str) -> None:
    key = FIELDS[code]["phone"]
    assert_rejected(code, set_path(load(code), key, phone), key)


@pytest.mark.parametrize("code", [c for c in CODES if FIELDS[c]["attachments"]])
def test_http_attachment(code: str) -> None:
    key = FIELDS[code]["attachments"]
    body = set_path(load(code), key, ["https://files.example.com/ok.jpg", "http://files.example.com/a.jpg"])
    err = assert_rejected(code, body, f"{key}.1")
    assert "https" in err.message


@pytest.mark.parametrize("code", [c for c in CODES if FIELDS[c]["attachments"]])
@pytest.mark.parametrize("url", ["https://", "https://user:pw@files.example.com/a.jpg", "ftp://x/a.jpg",
                                 "javascript:alert(1)"])
def test_malformed_attachment_url(code: str, url: str) -> None:
    key = FIELDS[code]["attachments"]
    assert_rejected(code, set_path(load(code), key, [url]), f"{key}.0")


def test_too_many_attachments() -> None:
    urls = [f"https://files.example.com/{i}.jpg" for i in range(21)]
    assert_rejected("hotline", set_path(load("hotline"), "fj", urls), "fj")


@pytest.mark.parametrize("code", CODES)
def test_unknown_appeal_type(code: str) -> None:
    key = FIELDS[code]["type"]
    err = assert_rejected(code, set_path(load(code), key, "感谢"), key)
    assert "unknown" in err.message


@pytest.mark.parametrize("code", CODES)
def test_extra_unknown_field(code: str) -> None:
    assert_rejected(code, set_path(load(code), "remark", "备注"), "remark")


@pytest.mark.parametrize("code", CODES)
def test_oversized_content(code: str) -> None:
    key = FIELDS[code]["content"]
    assert_rejected(code, set_path(load(code), key, "长" * 5001), key)


@pytest.mark.parametrize("code", CODES)
def test_blank_content(code: str) -> None:
    key = FIELDS[code]["content"]
    assert_rejected(code, set_path(load(code), key, "   "), key)


@pytest.mark.parametrize("code", CODES)
def test_wrong_json_type(code: str) -> None:
    key = FIELDS[code]["content"]
    assert_rejected(code, set_path(load(code), key, 12345), key)
    assert_rejected(code, set_path(load(code), key, ["诉求"]), key)


def test_wrong_json_type_for_ids_and_lists() -> None:
    assert_rejected("leader_board", set_path(load("leader_board"), "tid", "17624562"), "tid")
    assert_rejected("grid", set_path(load("grid"), "eventLevel", "2"), "eventLevel")
    assert_rejected("wechat", set_path(load("wechat"), "pics", "https://files.example.com/a.jpg"), "pics")
    assert_rejected("app", set_path(load("app"), "location", [114.1, 22.5]), "location")


@pytest.mark.parametrize("body", [[], "text", None, 42])
def test_body_must_be_an_object(body: Any) -> None:
    assert_rejected("hotline", body, "body")


def test_half_given_point_names_the_missing_coordinate() -> None:
    assert_rejected("police", drop_path(load("police"), "wd"), "wd")
    assert_rejected("grid", drop_path(load("grid"), "lat"), "lat")
    assert_rejected("grid", set_path(load("grid"), "lat", 95.0), "lat")


def test_police_transfer_cannot_precede_the_call() -> None:
    body = set_path(load("police"), "transferredAt", "2026-04-02T22:00:00+08:00")
    assert_rejected("police", body, "transferredAt")


def test_channel_specific_required_fields() -> None:
    assert_rejected("grid", drop_path(load("grid"), "gridCode"), "gridCode")
    assert_rejected("mailbox", drop_path(load("mailbox"), "title"), "title")
    assert_rejected("mailbox", drop_path(load("mailbox"), "writerName"), "writerName")
    assert_rejected("deputy", drop_path(load("deputy"), "deputy.name"), "deputy.name")
    assert_rejected("qrcode", drop_path(load("qrcode"), "qr"), "qr")
    assert_rejected("wechat", set_path(load("wechat"), "openid", "short"), "openid")


def test_grid_and_party_reports_carry_no_citizen() -> None:
    assert_rejected("grid", set_path(load("grid"), "phone", "13800138000"), "phone")
    assert_rejected("party", set_path(load("party"), "name", "张三"), "name")


def test_mediation_transfer_keeps_the_respondent_anonymous_and_the_findings_for_the_unit() -> None:
    appeal = parse("mediation", load("mediation"))
    assert appeal.party.name == "陈秀英" and appeal.party.phone == "13760214485"
    assert appeal.channel_meta["respondent_kind"] == "organisation"
    assert appeal.channel_meta["mediator"] == "园岭街道人民调解委员会"
    assert "调解未果" in appeal.channel_meta["mediation_findings"]
    # The other side is recorded as a kind only: a name field is refused, not silently stored.
    assert_rejected("mediation", set_path(load("mediation"), "respondentName", "王某某"), "respondentName")
    body = set_path(load("mediation"), "transferredAt", "2026-04-01T09:00:00+08:00")
    assert_rejected("mediation", body, "transferredAt")
    assert_rejected("mediation", set_path(load("mediation"), "disputeType", "war"), "disputeType")


@pytest.mark.parametrize("code", sorted(FIXED_LINE_CHANNELS))
def test_callers_on_a_fixed_line_are_taken_in_with_one_spelling_per_line(code: str) -> None:
    path = FIELDS[code]["phone"]
    spellings = {"0755-83451234": "0755-83451234", "075583451234": "0755-83451234",
                 "(0755) 8345 1234": "0755-83451234", "010-12345678": "010-12345678",
                 "0755-83451234转801": "0755-83451234-801", "0371-6123456": "0371-6123456"}
    for written, stored in spellings.items():
        assert parse(code, set_path(load(code), path, written)).party.phone == stored
    for wrong in ("0755-123", "83451234", "075583451234567890", "0755-83451234-", "1381234567"):
        assert_rejected(code, set_path(load(code), path, wrong), path)


def test_app_and_web_still_want_the_verified_mobile() -> None:
    assert_rejected("app", set_path(load("app"), "mobile", "0755-83451234"), "mobile")
    assert_rejected("web", set_path(load("web"), "mobile", "0755-83451234"), "mobile")


# ------------------------------------------------------------------ strict JSON types (issue 14: 8, 13)

def _flag_fields() -> list[tuple[str, str]]:
    """(channel, partner field name) of every yes/no field of every payload model."""
    return [(code, info.alias or name) for code in CODES
            for name, info in payload_model(code).model_fields.items() if info.annotation is bool]


def test_every_channel_with_a_yes_no_field_is_covered() -> None:
    assert {c for c, _ in _flag_fields()} >= {"hotline", "app", "wechat", "web", "mailbox", "grid", "police",
                                               "mediation"}


@pytest.mark.parametrize("code,name", _flag_fields())
@pytest.mark.parametrize("value", ["yes", "no", "true", "false", 0, 1, "1", 0.0, None])
def test_yes_no_fields_take_only_json_true_or_false(code: str, name: str, value: Any) -> None:
    assert_rejected(code, set_path(load(code), name, value), name)


@pytest.mark.parametrize("code,name", _flag_fields())
def test_yes_no_fields_take_json_true_and_false(code: str, name: str) -> None:
    parse(code, set_path(load(code), name, True))
    parse(code, set_path(load(code), name, False))


COORDINATES = [("app", "location.lat"), ("app", "location.lng"), ("wechat", "location.latitude"),
               ("wechat", "location.longitude"), ("grid", "lat"), ("grid", "lng"), ("police", "wd"), ("police", "jd")]


@pytest.mark.parametrize("code,path", COORDINATES)
@pytest.mark.parametrize("value", [True, False, "22.5", None, [22.5], {"v": 22.5}])
def test_coordinates_must_be_json_numbers(code: str, path: str, value: Any) -> None:
    assert_rejected(code, set_path(load(code), path, value), path)


def test_coordinates_take_integers_and_decimals() -> None:
    appeal = parse("grid", set_path(set_path(load("grid"), "lat", 22), "lng", 113.866281))
    assert appeal.location.lat == 22.0


def test_wechat_scene_is_a_json_integer() -> None:
    for value in ("1001", 1001.0, True):
        assert_rejected("wechat", set_path(load("wechat"), "scene", value), "scene")


def _string_leaves(node: Any, path: tuple = ()) -> list[tuple[tuple, str]]:
    if isinstance(node, dict):
        return [leaf for k, v in node.items() for leaf in _string_leaves(v, (*path, k))]
    if isinstance(node, list):
        return [leaf for i, v in enumerate(node) for leaf in _string_leaves(v, (*path, i))]
    return [(path, node)] if isinstance(node, str) and node else []


def _with(body: Any, path: tuple, value: Any) -> Any:
    body = copy.deepcopy(body)
    node = body
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return body


@pytest.mark.parametrize("code", CODES)
@pytest.mark.parametrize("control", ["\x00", "\x07", "\x1b", "\x1f", "\x7f", "\x85"])
def test_control_characters_are_refused_in_every_text_field(code: str, control: str) -> None:
    body = load(code)
    leaves = _string_leaves(body)
    assert leaves
    for path, value in leaves:
        bad = value[:1] + control + value[1:]  # inside: whitespace-like controls are not stripped away
        assert_rejected(code, _with(body, path, bad), ".".join(str(p) for p in path))


def test_free_text_keeps_line_breaks_and_tabs_but_names_and_labels_do_not() -> None:
    appeal = parse("qrcode", set_path(load("qrcode"), "msg", "第一行\r\n第二行\t完"))
    assert appeal.content == "第一行\r\n第二行\t完"
    assert parse("hotline", set_path(load("hotline"), "sqnr", "一\n二")).content == "一\n二"
    assert_rejected("hotline", set_path(load("hotline"), "ldrxm", "刘\n建国"), "ldrxm")
    assert_rejected("party", set_path(load("party"), "branchName", "华强北\t党委"), "branchName")
    assert_rejected("mediation", set_path(load("mediation"), "applicant.name", "张\r三"), "applicant.name")
