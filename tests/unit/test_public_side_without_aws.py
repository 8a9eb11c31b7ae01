"""The citizen's and the public's side (issue 16) on the fakes: tracking links, the timeline, the
callbacks' content, the public record, units' records and rankings. No AWS."""
from __future__ import annotations

import hashlib
import itertools
import json
from datetime import timedelta

import pytest

from chalicelib.channels.signing import H_KEY_ID, H_NONCE, H_SIGNATURE, H_TIMESTAMP, sign
from chalicelib.domain.errors import ConflictError, NotFoundError, ValidationError
from chalicelib.domain.records import Channel
from chalicelib.services import dispatch, evaluation, intake, notify, public_record, staff, tracking
from chalicelib.services.notify import HttpResult
from chalicelib.domain.timefmt import iso
from chalicelib.storage import keys
from tests.fakes import fake_platform, run_analytics
from tests.unit.test_services_without_aws import (  # noqa: F401 - fixtures and helpers of the service tests
    ANSWER, CITY_MANAGEMENT_BAOAN, CLEAR, GOOD, KEY_ID, SECRET, SECRET_REF, T0, handler_of, hotline, no_aws, rt,
    to_dispatch_stage,
)

PHONE, ID_NUMBER = "13912345678", "440305199001011234"
_nonces = itertools.count(1)


@pytest.fixture
def p(rt):
    platform = fake_platform(T0, region=rt, secrets={SECRET_REF: SECRET})
    platform.store.add_channel(Channel("hotline", "12345热线", {KEY_ID: SECRET_REF}, "https://partner.example/cb",
                                       KEY_ID, True))
    return platform


def take_in(p, payload: dict) -> intake.IntakeResult:
    """The hotline's signed POST, signed at the platform's now (the clock moves in these tests)."""
    path = "/channels/hotline/appeals"
    body = json.dumps(payload, ensure_ascii=False).encode()
    ts, nonce = str(int(p.now().timestamp())), f"n-{next(_nonces)}"
    headers = {"Content-Type": "application/json", H_KEY_ID: KEY_ID, H_TIMESTAMP: ts, H_NONCE: nonce,
               H_SIGNATURE: sign(SECRET, "POST", path, ts, nonce, body)}
    return intake.take_in(p, intake.ChannelRequest("hotline", "POST", path, headers, body))


def token_of(result) -> str:
    url = result.body["tracking_url"]
    assert url.startswith("http://127.0.0.1:8000/track/")
    return url.rsplit("/", 1)[1]


def handle(p, rt, appeal_id: str, answer: str = ANSWER, how: str = "direct") -> None:
    who = handler_of(rt, CITY_MANAGEMENT_BAOAN)
    for action, body in (("sign", {}), ("contact", {"note": f"已电话联系 {PHONE}", "how": how}),
                         ("reply", {"answer": answer})):
        p.clock.advance(minutes=5)
        staff.perform(p, appeal_id, action, who, body)


def kinds(view: dict) -> list[str]:
    return [e["kind"] for e in view["timeline"]]


def test_the_tracking_link_is_a_256_bit_token_stored_only_as_its_hash(p):
    result = take_in(p, hotline(*CLEAR))
    token, appeal_id = token_of(result), result.body["appeal_id"]
    stored = str(p.store.snapshot())
    link = p.store.get_tracking(hashlib.sha256(token.encode()).hexdigest())
    assert (len(token), appeal_id in token, result.body["ticket_id"] in token, token in stored,
            link.appeal_id, tracking.resolve(p, token)) == (43, False, False, False, appeal_id, appeal_id)


def test_the_timeline_grows_with_each_step_and_holds_each_step_to_its_deadline(p, rt):
    result = take_in(p, hotline(*CLEAR))
    token, appeal_id = token_of(result), result.body["appeal_id"]
    assert kinds(public_record.citizen_view(p, token)) == ["accepted"]
    to_dispatch_stage(p, appeal_id)
    assert dispatch.process(p, appeal_id) == "dispatched"
    view = public_record.citizen_view(p, token)
    assert (kinds(view), view["timeline"][1]["unit"]["id"], view["status"]) == (
        ["accepted", "dispatched", "deadlines_set"], CITY_MANAGEMENT_BAOAN, "dispatched")
    handle(p, rt, appeal_id)
    view = public_record.citizen_view(p, token)
    signed, contacted, replied = view["timeline"][3:6]
    clock = p.store.load_appeal(appeal_id).handling_clock
    assert (kinds(view)[3:], signed["due_at"], signed["on_time"], contacted["due_at"], contacted["on_time"],
            replied["answer"], replied["due_at"], view["can_rate"]) == (
        ["signed", "contacted", "replied"], iso(clock.deadline("sign").due_at), True,
        iso(clock.deadline("contact").due_at), True, ANSWER, iso(clock.deadline("reply").due_at), True)


def test_rating_on_the_page_closes_the_appeal_once_and_a_second_rating_is_409(p, rt):
    result = take_in(p, hotline(*CLEAR))
    token, appeal_id = token_of(result), result.body["appeal_id"]
    to_dispatch_stage(p, appeal_id)
    dispatch.process(p, appeal_id)
    handle(p, rt, appeal_id)
    answer = evaluation.rate_on_page(p, token, {k: str(v) for k, v in GOOD.items()})
    view = public_record.citizen_view(p, token)
    with pytest.raises(ConflictError):
        evaluation.rate_on_page(p, token, {k: str(v) for k, v in GOOD.items()})
    assert (answer["status"], view["status"], kinds(view)[-2:], view["can_rate"], view["appeal"]["rating"]["satisfied"]
            ) == ("closed", "closed", ["rated", "closed"], False, True)


def test_a_rating_form_with_a_bad_score_names_the_field_and_writes_nothing(p, rt):
    result = take_in(p, hotline(*CLEAR))
    token = token_of(result)
    before = p.store.snapshot()
    with pytest.raises(ValidationError) as exc:
        evaluation.rate_on_page(p, token, {**{k: "5" for k in GOOD}, "speed": "9"})
    assert (exc.value.field, p.store.snapshot() == before) == ("speed", True)


def test_no_personal_data_of_anyone_reaches_the_citizens_view(p, rt):
    payload = hotline(f"我叫王小明，电话{PHONE}，身份证{ID_NUMBER}，{CLEAR[0]}", CLEAR[1])
    result = take_in(p, payload)
    token, appeal_id = token_of(result), result.body["appeal_id"]
    to_dispatch_stage(p, appeal_id)
    dispatch.process(p, appeal_id)
    handle(p, rt, appeal_id, answer=f"已联系王小明（{PHONE}），{ANSWER}")
    text = json.dumps(public_record.citizen_view(p, token), ensure_ascii=False)
    party = [payload["ldrxm"], payload["lxdh"], payload["zjhm"]]
    assert [v for v in (PHONE, ID_NUMBER, "王小明", "h1", "已电话联系", *party) if v in text] == []


def test_a_replied_callback_carries_the_answer_and_every_callback_the_tracking_link(p, rt):
    result = take_in(p, hotline(*CLEAR))
    appeal_id = result.body["appeal_id"]
    to_dispatch_stage(p, appeal_id)
    dispatch.process(p, appeal_id)
    handle(p, rt, appeal_id)
    sent = []
    for h in [h for h in p.publisher.published if h.topic == "status"]:
        notify.deliver_status(p, h.message, post=lambda url, body, headers: sent.append(json.loads(body)) or
                              HttpResult(204))
    assert [(b["status"], b["tracking_url"], b.get("answer")) for b in sent] == [
        ("accepted", result.body["tracking_url"], None), ("dispatched", result.body["tracking_url"], None),
        ("replied", result.body["tracking_url"], ANSWER)]


def test_a_renewed_link_revokes_the_old_one(p, rt):
    result = take_in(p, hotline(*CLEAR))
    old, appeal_id = token_of(result), result.body["appeal_id"]
    a = p.store.load_appeal(appeal_id)
    uow = p.store.unit_of_work(p.now())
    uow.add(*tracking.renew(p, a, handler_of(rt, CITY_MANAGEMENT_BAOAN), p.now()))
    uow.track(a)
    uow.commit()
    new = tracking.tracking_url(p, appeal_id, p.store.load_appeal(appeal_id).tracking_salt).rsplit("/", 1)[1]
    with pytest.raises(NotFoundError):
        public_record.citizen_view(p, old)
    assert (new != old, public_record.citizen_view(p, new)["appeal"]["appeal_id"]) == (True, appeal_id)


def test_an_old_link_keeps_working_when_the_appeal_is_archived_away(p, rt):
    result = take_in(p, hotline(*CLEAR))
    token, appeal_id = token_of(result), result.body["appeal_id"]
    before = public_record.citizen_view(p, token)
    for key in [k for k in p.store.items if k[0] == keys.appeal_pk(appeal_id)]:
        del p.store.items[key]
    assert public_record.citizen_view(p, token) == before


def closed(p, rt, text=CLEAR, anonymous=False) -> str:
    payload = hotline(*text)
    if anonymous:
        payload["sfnm"] = True
    result = take_in(p, payload)
    appeal_id = result.body["appeal_id"]
    to_dispatch_stage(p, appeal_id)
    dispatch.process(p, appeal_id)
    handle(p, rt, appeal_id, how="relay" if anonymous else "direct")
    evaluation.rate_on_page(p, token_of(result), {k: str(v) for k, v in GOOD.items()})
    return appeal_id


def test_the_public_record_lists_closed_appeals_by_unit_and_district_but_never_a_private_one(p, rt):
    shown = closed(p, rt)
    kept = closed(p, rt, anonymous=True)
    assert p.store.load_appeal(kept).anonymous is True
    everything = public_record.public_list(p, {})
    by_unit = public_record.public_list(p, {"unit": CITY_MANAGEMENT_BAOAN})
    district = p.store.load_appeal(shown).district_code
    by_district = public_record.public_list(p, {"district": district})
    other = public_record.public_list(p, {"district": "440399"})
    row = everything["rows"][0]
    assert ([r["appeal_id"] for r in everything["rows"]], [r["appeal_id"] for r in by_unit["rows"]],
            [r["appeal_id"] for r in by_district["rows"]], other["rows"], row["answer"], row["rating"]["satisfied"]
            ) == ([shown], [shown], [shown], [], ANSWER, True)


def test_rankings_count_private_appeals_and_rank_only_units_with_enough_cases(p, rt):
    closed(p, rt)
    closed(p, rt, anonymous=True)
    run_analytics(p)
    public_record.refresh(p)
    top = public_record.rankings(p)
    unit = public_record.unit_page(p, CITY_MANAGEMENT_BAOAN)
    record = unit["periods"]["30d"]["record"]
    assert (top["totals"]["30d"]["volume"], top["periods"]["30d"]["metrics"]["satisfaction"]["unranked_count"],
            record["volume"], record["satisfaction"], record["overdue_rate"], unit["periods"]["30d"]["ranks"],
            [r["appeal_id"] for r in unit["recent"]].__len__()) == (
        2, 1, 2, 1.0, 0.0,
        {"volume": None, "overdue_rate": None, "return_rate": None, "satisfaction": None, "composite": None}, 1)


def test_the_public_list_refuses_an_unknown_filter_and_a_bad_date_naming_the_field(p):
    with pytest.raises(ValidationError) as unknown:
        public_record.public_list(p, {"phone": "1"})
    with pytest.raises(ValidationError) as bad:
        public_record.public_list(p, {"from": "2026-13-01"})
    assert (unknown.value.field, bad.value.field) == ("phone", "from")


def test_the_public_list_pages_with_a_cursor(p, rt):
    ids = []
    for i in range(public_record.PAGE + 3):
        ids.append(closed(p, rt))
        p.clock.advance(minutes=1)
    first = public_record.public_list(p, {})
    second = public_record.public_list(p, {"before": first["next"]})
    assert ([r["appeal_id"] for r in first["rows"]] + [r["appeal_id"] for r in second["rows"]], second["next"]) == (
        list(reversed(ids)), None)


def test_a_dispatcher_renews_the_link_through_the_staff_action_and_sees_the_new_one(p, rt):
    from chalicelib.domain.access import Principal, Role

    result = take_in(p, hotline(*CLEAR))
    old, appeal_id = token_of(result), result.body["appeal_id"]
    dispatcher = Principal("d1", "dispatcher", Role.DISPATCHER, "shenzhen", None, "440300")
    staff.perform(p, appeal_id, "tracking_renew", dispatcher, {})
    new = staff.staff_view(p, p.store.load_appeal(appeal_id), dispatcher)["tracking_url"].rsplit("/", 1)[1]
    with pytest.raises(NotFoundError):
        public_record.citizen_view(p, old)
    assert (new != old, public_record.citizen_view(p, new)["appeal"]["appeal_id"],
            "tracking_url" in staff.staff_view(p, p.store.load_appeal(appeal_id), handler_of(rt, CITY_MANAGEMENT_BAOAN))
            ) == (True, appeal_id, False)


def test_an_extension_and_a_redo_show_on_the_page_and_the_redo_is_a_new_event_for_the_partner(p, rt):
    from chalicelib.domain.access import Principal, Role

    result = take_in(p, hotline(*CLEAR))
    token, appeal_id = token_of(result), result.body["appeal_id"]
    to_dispatch_stage(p, appeal_id)
    dispatch.process(p, appeal_id)
    who = handler_of(rt, CITY_MANAGEMENT_BAOAN)
    manager = Principal("d1", "dispatcher", Role.DISPATCHER, "shenzhen", None, "440300")
    staff.perform(p, appeal_id, "sign", who, {})
    new_due = (p.now() + timedelta(days=7)).isoformat()
    staff.perform(p, appeal_id, "extension_request", who, {"reason": f"需协调{PHONE}所在小区物业，施工需时", "new_due_at": new_due})
    staff.perform(p, appeal_id, "extension_decide", manager, {"approve": True, "reason": "同意"})
    staff.perform(p, appeal_id, "contact", who, {"note": "已联系"})
    staff.perform(p, appeal_id, "reply", who, {"answer": ANSWER})
    evaluation.rate_on_page(p, token, {"speed": "1", "effect": "2", "service": "3", "reply_quality": "2"})
    view = public_record.citizen_view(p, token)
    extended = next(e for e in view["timeline"] if e["kind"] == "extension_approved")
    redo_notices = [h.message for h in p.publisher.published if h.topic == "status"]
    assert (extended["label"], extended["reason"], extended["due_at"][:10], view["status"], kinds(view)[-3:],
            view["can_rate"]) == ("答复时限已延期", "需协调＊＊所在小区物业，施工需时", new_due[:10], "redo",
                                  ["rated", "sent_back_for_redo", "deadlines_set"], False)
    staff.perform(p, appeal_id, "sign", who, {})
    staff.perform(p, appeal_id, "contact", who, {"note": "再次联系"})
    staff.perform(p, appeal_id, "reply", who, {"answer": "已重新更换加固井盖底座，经复查不再松动"})
    view = public_record.citizen_view(p, token)
    notices = [(m["status"], m["event_id"]) for m in (h.message for h in p.publisher.published if h.topic == "status")]
    assert (kinds(view)[-3:], view["can_rate"], [s for s, _ in notices], len({e for _, e in notices})) == (
        ["signed", "contacted", "replied"], True, ["accepted", "dispatched", "replied", "redo", "dispatched", "replied"], 6)
    assert [m["status"] for m in redo_notices] == ["accepted", "dispatched", "replied", "redo"]


def test_intake_takes_an_appeal_in_before_any_region_pack_is_live_and_its_view_names_no_codes():
    bare = fake_platform(T0, region=None, secrets={SECRET_REF: SECRET})
    bare.store.add_channel(Channel("hotline", "12345热线", {KEY_ID: SECRET_REF}, None, None, True))
    result = take_in(bare, hotline(f"电话{PHONE}，{CLEAR[0]}", CLEAR[1]))
    view = public_record.citizen_view(bare, token_of(result))
    assert (result.status_code, kinds(view), PHONE in json.dumps(view, ensure_ascii=False)) == (201, ["accepted"], False)
