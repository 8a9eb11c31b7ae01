"""The whole life of an appeal over HTTP, for every channel the platform takes in (Open311 through its
own form API): intake → a second report of the same event joins it (dedup) → dispatch (by hand
when it waits in the dispatcher's queue) → sign → contact → reply → the citizen's rating → closed.

After each step: the exact status (staff API), the status callbacks the channel's partner received
(the demo receiver, `GET /callbacks?appeal_id=`: the duplicate's channel hears of the master's
handling too) and, for Open311, the public view of the request. One stack serves every channel.
"""
from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from chalicelib.channels.registry import channel_codes
from chalicelib.channels.signing import signed_headers
from infra.samples import sample_payload

ROOT = Path(__file__).resolve().parents[2]
CHANNELS = [*channel_codes(), "open311"]      # what GET /channels lists (checked below)
UNIT = "U440306002-JD"                        # 西乡街道办事处: the demo unit users' unit (infra/identity.py)
WAIT_S = 20

# One event per channel, each a different matter for 西乡街道办事处 (so no two channels' events
# join): how the first citizen puts it, how the second one does, where, and the catalog leaf. All
# but one are clear enough to be dispatched automatically; MANUAL is too vague for the model, so
# it waits in the dispatcher's queue (the duplicate joins it there) and is dispatched by hand.
MANUAL = ("流塘社区的事情拖了很久了，到底谁来负责，请给个说法。", "流塘社区这件事拖了很久了，到底由谁负责，请给个说法。",
          "宝安区西乡街道流塘社区", "14.05.001")
MANUAL_AT = CHANNELS.index("hotline")         # a channel that passes the text on as it is
EVENTS = [
    ("臣田社区臣田市场门口每天有流动摊贩占道经营，把人行道都堵住了，请城管来管一管。",
     "臣田市场门口人行道被流动摊贩占满了，天天乱摆卖，行人只能走到马路上。", "宝安区西乡街道臣田社区臣田市场", "01.03.001"),
    ("共乐社区共乐路十八号楼顶有人在天台违章搭建铁皮房，已经搭了两层，请查处。",
     "共乐路18号楼顶天台又在加建铁皮房，违建越搭越高，请尽快拆除。", "宝安区西乡街道共乐社区共乐路18号", "01.07.002"),
    ("流塘路边的夜宵大排档把桌椅摆到马路上占道经营，每晚到凌晨，油烟噪音扰民。",
     "流塘路夜宵大排档天天晚上占道摆桌，吵到凌晨两三点，油烟也很大。", "宝安区西乡街道流塘社区流塘路", "01.03.003"),
    ("坪洲社区公园里的健身器材坏了好久，单杠断了一根，扭腰器也转不动，没人修。",
     "坪洲社区公园的健身器材损坏很久了，单杠断裂，老人孩子用着很危险。", "宝安区西乡街道坪洲社区坪洲公园", "15.04.002"),
    ("西乡步行街一家水果店把货架摆到店门外的人行道上出店经营，占了大半条路。",
     "西乡步行街那家水果店天天出店经营，货架堆满门口人行道，走路都要绕开。", "宝安区西乡街道西乡步行街", "01.03.002"),
    ("西乡社区西乡大道旁的小区门口电线杆和墙上贴满了小广告，乱张贴乱涂写，很难看。",
     "西乡大道小区门口的墙上和电线杆上全是乱贴的小广告，撕了又贴，请清理。", "宝安区西乡街道西乡社区西乡大道", "01.04.002"),
    ("臣田社区有人在路边公共停车位上私自安装地锁，占为己有，别人不能停车。",
     "臣田社区路边的公共车位被人私装了地锁地桩，大家都停不了，请拆除。", "宝安区西乡街道臣田社区臣田路", "01.08.004"),
    ("流塘社区的城中村出租屋被隔成十几个小隔间群租，住了几十个人，消防隐患很大。",
     "流塘社区那栋出租屋搞隔断房群租，一层住了十几户，楼道堆满东西，怕出事。", "宝安区西乡街道流塘社区流塘新村", "02.04.005"),
    ("共乐社区广场每晚有人跳广场舞，音响开得很大声，一直到十点多，噪声扰民。",
     "共乐社区广场的广场舞音响太吵了，每天晚上闹到十点以后，小孩没法睡觉。", "宝安区西乡街道共乐社区广场", "04.03.002"),
    ("坪洲社区的空地上经常有人露天焚烧垃圾和树枝，烟很大，呛得人没法开窗。",
     "坪洲社区空地又有人在露天焚烧垃圾，浓烟飘进家里，气味刺鼻。", "宝安区西乡街道坪洲社区坪洲新村", "09.01.003"),
    ("西乡社区西乡大道的盲道被共享单车和摊位占了，还有几块盲道砖损坏，盲人没法走。",
     "西乡大道的盲道上停满了车还摆了摊，盲道砖也坏了好几块，请整治。", "宝安区西乡街道西乡社区西乡大道", "12.05.001"),
    ("臣田社区一栋楼的楼道里有人从窗户飞线给电动自行车充电，电线就挂在楼道里。",
     "臣田社区那栋楼有住户从窗户飞线给电动自行车充电，电线挂在楼道里，太危险了。", "宝安区西乡街道臣田社区臣田村", "16.02.003"),
    ("流塘社区一户人家在楼下空地违规养了几十只鸡鸭，臭味很大，还招苍蝇。",
     "流塘社区楼下有人养了一大群鸡鸭，违规畜禽养殖，又臭又吵，请处理。", "宝安区西乡街道流塘社区流塘村", "14.02.001"),
    ("共乐社区一栋住宅楼的外墙瓷砖大片脱落，前几天掉下来差点砸到人。",
     "共乐社区那栋楼外墙瓷砖又掉了，楼下是人行道，随时可能砸到行人。", "宝安区西乡街道共乐社区共乐新村", "02.02.003"),
    ("坪洲社区有一群流浪狗经常在小区门口追人，晚上还一直叫，孩子很害怕。",
     "坪洲社区小区门口的流浪狗越来越多，追着路人叫，已经有人被吓到摔倒。", "宝安区西乡街道坪洲社区坪洲花园", "04.04.003"),
    ("西乡社区一个小区的化粪池满溢了，粪水流到路上，臭气熏天，物业不管。",
     "西乡社区小区化粪池又冒出来了，污水满地都是，请尽快清掏。", "宝安区西乡街道西乡社区西乡新村", "10.02.004"),
]
EVENTS.insert(MANUAL_AT, MANUAL)
DISPATCHED_NOTE = "已派单办理中 (dispatched to the responsible unit)"     # Open311 status_notes
ANSWER = "经现场核查，已责令当事人整改并安排人员每日巡查，问题已处理完毕。"
REPLIED_NOTE = ANSWER           # once answered, status_notes carries the public answer
LIFE_KINDS = {"accepted", "dedup_checked", "queued_for_dispatcher", "joined_master", "duplicate_joined",
              "dispatched", "signed", "contacted", "replied", "rated", "closed"}


class Platform:
    """The running stack as a partner, a citizen's channel and staff use it: HTTP only."""

    def __init__(self, stack: dict):
        self.stack, self.url, self._tokens = stack, stack["url"], {}

    def token(self, user: str) -> str:
        if user not in self._tokens:
            out = subprocess.run([sys.executable, str(ROOT / "infra" / "identity.py"), user, "--state",
                                  str(self.stack["identity"])], capture_output=True, text=True, check=True, timeout=60)
            self._tokens[user] = out.stdout.strip()
        return self._tokens[user]

    def signed(self, channel: str, path: str, payload: dict) -> requests.Response:
        key_id, secret = self.stack["creds"][channel]
        body = json.dumps(payload, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json", **signed_headers(key_id, secret, "POST", path, body)}
        return requests.post(self.url + path, data=body, headers=headers, timeout=10)

    def report(self, channel: str, seq: int, text: str, address: str, code: str) -> str:
        """One citizen's report through `channel`; returns the appeal id (201, accepted)."""
        rng = random.Random(seq)
        if channel == "open311":
            form = {"api_key": self.stack["open311_api_key"], "service_code": code[:5], "description": text,
                    "address_string": address, "first_name": "小明", "last_name": "王",
                    "phone": f"138{seq % 10**8:08d}"}
            resp = requests.post(f"{self.url}/open311/v2/requests.json", data=form, timeout=10,
                                 headers={"Idempotency-Key": f"life-{seq}"})
            assert resp.status_code == 201, resp.text
            [created] = resp.json()
            return created["service_request_id"]
        resp = self.signed(channel, f"/channels/{channel}/appeals", sample_payload(channel, rng, text, address, "投诉",
                                                                                    seq))
        assert resp.status_code == 201, resp.text
        body = resp.json()
        assert (body["status"], body["channel"]) == ("accepted", channel)
        return body["appeal_id"]

    def view(self, appeal_id: str) -> dict:
        resp = requests.get(f"{self.url}/staff/appeals/{appeal_id}", timeout=10,
                            headers={"Authorization": f"Bearer {self.token('dispatcher1')}"})
        assert resp.status_code == 200, resp.text
        return resp.json()

    def act(self, user: str, appeal_id: str, action: str, **body) -> dict:
        resp = requests.post(f"{self.url}/staff/appeals/{appeal_id}/actions/{action}", json=body, timeout=10,
                             headers={"Authorization": f"Bearer {self.token(user)}"})
        assert resp.status_code == 200, (action, resp.text)
        return resp.json()

    def rate(self, channel: str, ticket_id: str) -> dict:
        resp = self.signed(channel, f"/channels/{channel}/appeals/{ticket_id}/rating",
                           {"speed": 5, "effect": 5, "service": 4, "reply_quality": 5, "comment": "处理及时，满意。"})
        assert resp.status_code == 200, resp.text
        return resp.json()

    def callbacks(self, appeal_id: str) -> list[dict]:
        resp = requests.get(self.stack["receiver_url"], params={"appeal_id": appeal_id}, timeout=10)
        return [c["body"] for c in resp.json()["callbacks"]]

    def heard(self, appeal_id: str, statuses: list[str]) -> list[dict]:
        """Wait until the partner has heard `statuses` about the appeal, in this order, as its
        first callbacks (the pipeline may already have gone on: a later one can be there too);
        return those callbacks."""
        deadline = time.monotonic() + WAIT_S
        while len(got := self.callbacks(appeal_id)) < len(statuses):
            assert time.monotonic() < deadline, (appeal_id, [c["status"] for c in got], statuses)
            time.sleep(0.1)
        assert [c["status"] for c in got[:len(statuses)]] == statuses, appeal_id
        return got[:len(statuses)]

    def first_callback(self, appeal_id: str) -> dict:
        deadline = time.monotonic() + WAIT_S
        while not (got := self.callbacks(appeal_id)):
            assert time.monotonic() < deadline, appeal_id
            time.sleep(0.1)
        return got[0]

    def settled(self, appeal_id: str, not_in: set[str]) -> dict:
        """The staff view once the pipeline has moved the appeal out of `not_in`."""
        deadline = time.monotonic() + WAIT_S
        while (view := self.view(appeal_id))["status"] in not_in:
            assert time.monotonic() < deadline, (appeal_id, view["status"])
            time.sleep(0.1)
        return view

    def tracking(self, url: str) -> dict:
        """The citizen's tracking page as a partner reads it (JSON)."""
        resp = requests.get(url, headers={"Accept": "application/json"}, timeout=10)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def public(self, request_id: str) -> dict:
        resp = requests.get(f"{self.url}/open311/v2/requests/{request_id}.json", timeout=10)
        assert resp.status_code == 200, resp.text
        [view] = resp.json()
        return view


@pytest.fixture(scope="module")
def platform(demo_stack):
    return Platform(demo_stack)


def life_kinds(view: dict) -> list[str]:
    return [e["kind"] for e in view["case_file"] if e["kind"] in LIFE_KINDS]


def public_status(platform: Platform, request_id: str) -> tuple[str, str]:
    view = platform.public(request_id)
    return view["status"], view["status_notes"]


def test_the_platform_lists_the_channels_whose_life_is_tested(platform):
    listed = requests.get(platform.url + "/channels", timeout=10).json()["channels"]
    assert sorted(c["code"] for c in listed) == sorted(CHANNELS)
    assert len(CHANNELS) <= len(EVENTS), "add an event to EVENTS for the new channel"


@pytest.mark.parametrize("channel", CHANNELS)
def test_the_whole_life_of_an_appeal(platform, channel):
    i = CHANNELS.index(channel)
    first, second, address, code = EVENTS[i]
    by_hand = i == MANUAL_AT
    seq = 880000 + 10 * i
    is_open311 = channel == "open311"

    # Intake: accepted, and the partner hears it; dedup finds nothing earlier, and the appeal is
    # dispatched automatically or waits in the dispatcher's queue.
    master = platform.report(channel, seq, first, address, code)
    [accepted] = platform.heard(master, ["accepted"])
    assert (accepted["channel"], accepted["appeal_id"], accepted["seq"]) == (channel, master, 1)
    ticket = accepted["ticket_id"]
    view = platform.settled(master, {"received"})
    if by_hand:
        assert (view["status"], view["unit_id"]) == ("pending_dispatch", None)
    else:
        assert (view["status"], view["unit_id"]) == ("dispatched", UNIT), view["dispatch_info"]
        platform.heard(master, ["accepted", "dispatched"])
    if is_open311:
        assert public_status(platform, master) == ("open", DISPATCHED_NOTE)

    # A second citizen reports the same event: it joins the master, and hears where it stands.
    dup = platform.report(channel, seq + 1, second, address, code)
    dup_link = platform.first_callback(dup)["tracking_url"]
    dup_view = platform.settled(dup, {"received"})
    assert (dup_view["status"], dup_view["master_id"]) == ("joined", master), [
        e["data"] for e in dup_view["case_file"] if e["kind"] == "dedup_checked"]
    assert platform.view(master)["duplicates"] == [dup]
    platform.heard(dup, ["accepted"] if by_hand else ["accepted", "dispatched"])
    if is_open311:
        assert public_status(platform, dup) == ("open", DISPATCHED_NOTE)

    if by_hand:   # the dispatcher sends it to the unit; both citizens' partners hear it
        assert platform.act("dispatcher1", master, "dispatch", unit_id=UNIT, catalog_code=code,
                            reason="流塘社区人居环境，属西乡街道办事处职责")["status"] == "dispatched"
        assert platform.view(master)["unit_id"] == UNIT
        platform.heard(master, ["accepted", "dispatched"])
        platform.heard(dup, ["accepted", "dispatched"])

    # Handling by the unit: sign, contact, reply; each step's status, and who hears what.
    assert platform.act("xixiang_handler", master, "sign")["status"] == "signed"
    assert platform.act("xixiang_handler", master, "contact", note="已电话联系市民，约定现场查看", how="direct")[
        "status"] == "contacted"
    assert platform.view(master)["status"] == "contacted"
    assert platform.act("xixiang_handler", master, "reply", answer=ANSWER)["status"] == "replied"
    master_replied = platform.heard(master, ["accepted", "dispatched", "replied"])
    dup_replied = platform.heard(dup, ["accepted", "dispatched", "replied"])
    # Every callback carries the citizen's own tracking link; "replied" carries the answer too.
    for calls, link in ((master_replied, accepted["tracking_url"]), (dup_replied, dup_link)):
        assert [(c["tracking_url"], c.get("answer")) for c in calls] == [(link, None), (link, None), (link, ANSWER)]
    page = platform.tracking(dup_link)
    assert ([e["kind"] for e in page["timeline"]], page["status"],
            page["handled_with_others"]["timeline"][-1]["answer"]) == (["accepted", "joined_master"], "replied", ANSWER)
    if is_open311:   # the joined request shows the handling of its event, as its partner hears it
        for request in (master, dup):
            assert public_status(platform, request) == ("open", REPLIED_NOTE), request

    # The citizen's rating closes it; both partners hear "closed".
    assert platform.rate(channel, ticket) == {"appeal_id": master, "rated": True, "unsatisfied": False,
                                              "status": "closed"}
    final = platform.view(master)
    assert final["status"] == "closed" and final["rating"]["effect"] == 5
    master_calls = platform.heard(master, ["accepted", "dispatched", "replied", "closed"])
    dup_calls = platform.heard(dup, ["accepted", "dispatched", "replied", "closed"])
    for calls, appeal_id in ((master_calls, master), (dup_calls, dup)):
        assert {(c["channel"], c["appeal_id"]) for c in calls} == {(channel, appeal_id)}
        assert [c["seq"] for c in calls] == sorted({c["seq"] for c in calls})   # numbered, in order
    assert {c["ticket_id"] for c in dup_calls} != {ticket}
    assert platform.view(dup)["status"] == "joined"

    # The case file holds the whole life, in order.
    queued = ["queued_for_dispatcher", "duplicate_joined", "dispatched"] if by_hand else \
        ["dispatched", "duplicate_joined"]
    assert life_kinds(final) == ["accepted", "dedup_checked", *queued, "signed", "contacted", "replied", "rated",
                                 "closed"]
    assert life_kinds(platform.view(dup)) == ["accepted", "joined_master"]
    if is_open311:
        assert public_status(platform, master) == ("closed", ANSWER)
