"""Demo history (演示数据): a few weeks of appeals for the demo region, put through the real
pipeline with a clock set in the past, so that rates, rankings, hotspots and reports are not
empty on a fresh `make run`.

Every appeal is taken in through its channel's signed intake (the demo region's credentials),
de-duplicated and dispatched by the stages' own code, and handled by simulated units through the
staff use cases: signed and contacted mostly in time, answered in one to three working days
(some late), a few returned, most rated from the citizen's tracking page (a few unhappy ones
redone). Most of the volume goes to a few busy units, two of them exemplary and one struggling,
so that a fresh screen ranks units and shows a red and a black list. Its analytics hand-offs go to
the analytics queue like any other, and the stack's analytics stage counts them. The citizens'
channels are not called back (a seeded appeal's status notices are closed as delivered: nobody is
waiting for them). The last day carries one spike (several different reports of one kind of
problem in one street within hours), which the hotspot detector raises as an alert.

It is marked: the snapshot `demo` says so, the screen and reports show "演示数据", and every
seeded answer, note and return reason says (演示数据). It runs once per stack (the snapshot
says it ran).
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

from chalicelib.channels.signing import H_KEY_ID, H_NONCE, H_SIGNATURE, H_TIMESTAMP, sign
from chalicelib.domain.access import Principal, Role
from chalicelib.domain.calendar import SHANGHAI, to_local
from chalicelib.domain.lifecycle import Status
from chalicelib.domain.records import Snapshot
from chalicelib.services import dedup, dispatch, evaluation, intake, staff, tracking
from chalicelib.services.clock import FixedClock
from infra.samples import sample_payload

DEMO_SNAPSHOT = "demo"
CHANNELS = ("hotline", "wechat", "app", "web")


@dataclass
class Behaviour:
    """How the simulated units and citizens behave (shares of appeals)."""

    returned: float = 0.04
    sign_late: float = 0.05
    reply_late: float = 0.08
    rated: float = 0.75
    unhappy: float = 0.12


class SeedPublisher:
    """Sends what the stack's own consumers must see (the analytics hand-offs) and closes the
    rest as the pipeline would: stage hand-offs are run here directly, status notices have no one
    waiting for them."""

    def __init__(self, store, send: Callable[[str, dict], None]) -> None:
        self.store, self._send = store, send

    def send(self, queue: str, message: dict) -> None:
        if queue == "analytics":
            self._send(queue, message)

    def publish(self, handoffs: list) -> int:
        notices = [h for h in handoffs if h.topic == "status"]
        for h in handoffs:
            if h.queue == "analytics":
                self._send(h.queue, h.message)
        for i in range(0, len(notices), 50):
            uow = self.store.unit_of_work(datetime.now(timezone.utc))
            for h in notices[i:i + 50]:
                uow.close(h.appeal_id, h.topic, h.key)
            uow.commit()
        return len(handoffs)


def already_seeded(p, region: str) -> bool:
    snap = p.store.get_snapshot(region, DEMO_SNAPSHOT)
    return bool(snap and snap.body.get("demo"))


def seed(p, region: str, creds: dict[str, tuple[str, str]], examples: list[dict], days: int = 35,
         per_day: int = 20, seed_value: int = 17, log: Callable[[str], None] = print,
         behaviour: Behaviour | None = None) -> dict[str, Any]:
    """Seed `days` days of history ending yesterday (about `per_day` appeals a working day,
    fewer at weekends) through platform `p` (its clock is replaced). Returns what it made."""
    rng = random.Random(seed_value)
    b = behaviour or Behaviour()
    rt = p.region(region)
    clock = FixedClock(p.now())
    sim = p.with_clock(clock)
    today = to_local(p.now()).date()
    made: dict[str, Any] = {"appeals": 0, "dispatched": 0, "closed": 0, "returned": 0, "redone": 0, "spike": 0,
                            "today": today}
    channels = [c for c in CHANNELS if c in creds]
    seq = 0
    start = today - timedelta(days=days)
    # A city's volume is not spread evenly: most appeals go to a few busy units (so they have
    # enough cases to be ranked), and one of them struggles (so the black list has someone on it).
    busy = busy_units(rt, examples, BUSY_UNITS)
    behaviours = {u: kind for (u, _), kind in zip(busy, BUSY_BEHAVIOURS)}
    turns = {u: _Turns(texts, rng) for u, texts in busy}
    spike = _spike(examples)
    for offset in range(days):
        day = start + timedelta(days=offset)
        n = per_day if rt.calendar.is_working_day(day) else max(2, per_day // 3)
        todo = [turns[rng.choice(busy)[0]].next() if busy and rng.random() < BUSY_SHARE else rng.choice(examples)
                for _ in range(n)]
        planned = [(_moment(rng, day), ex) for ex in todo]
        if offset == days - 1:      # the spike: one kind of problem in one street, within three hours
            ten = datetime.combine(day, time(10), tzinfo=SHANGHAI)
            planned += [(ten + timedelta(minutes=rng.randrange(180)), ex) for ex in spike]
            made["spike"] = len(spike)
        for at, ex in sorted(planned, key=lambda x: x[0]):
            seq += 1
            appeal_id = _take_in(sim, clock, creds, rng.choice(channels), ex, at, seq, rng)
            if appeal_id is None:
                continue
            made["appeals"] += 1
            _handle(sim, clock, rt, appeal_id, at, rng, b, made, behaviours)
        log(f"[demo history] {day.isoformat()}: {n} appeals")
    made.pop("today")
    p.store.put_snapshot(Snapshot(region, DEMO_SNAPSHOT, {"demo": True, "days": days, **made,
                                                         "seeded_at": p.now().isoformat()}, p.now()), p.now())
    return made


BUSY_UNITS = 5
BUSY_SHARE = 0.85
SPIKE_SIZE = 6
# The busy units' ways of working: two exemplary (the red list's), two ordinary, one struggling
# (the black list's).
EXEMPLARY = Behaviour(returned=0.0, sign_late=0.01, reply_late=0.02, rated=0.8, unhappy=0.03)
STRUGGLING = Behaviour(returned=0.1, sign_late=0.35, reply_late=0.45, rated=0.8, unhappy=0.45)
BUSY_BEHAVIOURS = (EXEMPLARY, EXEMPLARY, Behaviour(), Behaviour(), STRUGGLING)


class _Turns:
    """A unit's examples in a shuffled round: a text comes again only once all the others have."""

    def __init__(self, items: list[dict], rng: random.Random) -> None:
        self.items, self.rng, self.left = items, rng, []

    def next(self) -> dict:
        if not self.left:
            self.left = self.rng.sample(self.items, len(self.items))
        return self.left.pop()


def busy_units(rt, examples: list[dict], n: int) -> list[tuple[str, list[dict]]]:
    """The `n` units that automatic dispatch gives the most different examples to, each with
    those examples (one per text: the same text again within weeks would be joined)."""
    by_unit: dict[str, dict[str, dict]] = {}
    for e in examples:
        choice = dispatch.decide(rt, e["address"], e["text"]).choice
        if choice is not None and not choice.fallback:
            by_unit.setdefault(choice.unit.unit_id, {}).setdefault(e["text"], e)
    top = sorted(by_unit, key=lambda u: (-len(by_unit[u]), u))[:n]
    return [(u, list(by_unit[u].values())) for u in top]


def _spike(examples: list[dict]) -> list[dict]:
    """SPIKE_SIZE different reports of one category group in one street within hours: the
    group's reports from elsewhere, each at another place of the street (different texts and
    places: the same problem again would be joined as one event, and a spike is many events)."""
    cells: dict[tuple[str, str], int] = {}
    for e in examples:
        cells[(e["code"][:5], e["street"])] = cells.get((e["code"][:5], e["street"]), 0) + 1
    group, street = max(sorted(cells), key=lambda k: cells[k])
    places = sorted({e["address"] for e in examples if e["street"] == street})
    texts = sorted({e["text"]: e for e in examples if e["code"][:5] == group and e["street"] != street}.values(),
                   key=lambda e: e["id"])
    return [{**e, "street": street, "address": places[i % len(places)]} for i, e in enumerate(texts[:SPIKE_SIZE])]


def _moment(rng: random.Random, day: date) -> datetime:
    hour = rng.choices(range(7, 23), weights=[2, 6, 9, 9, 8, 6, 7, 8, 8, 7, 6, 5, 4, 3, 2, 1])[0]
    return datetime.combine(day, time(hour, rng.randrange(60), rng.randrange(60)), tzinfo=SHANGHAI)


def _take_in(p, clock: FixedClock, creds, channel: str, ex: dict, at: datetime, seq: int,
             rng: random.Random) -> str | None:
    clock.at = at
    payload = sample_payload(channel, rng, ex["text"], ex["address"], ex.get("appeal_type", "投诉"), seq)
    key_id, secret = creds[channel]
    path = f"/channels/{channel}/appeals"
    body = json.dumps(payload, ensure_ascii=False).encode()
    ts, nonce = str(int(at.timestamp())), f"demo-{seq}-{rng.getrandbits(48):x}"
    headers = {"Content-Type": "application/json", H_KEY_ID: key_id, H_TIMESTAMP: ts, H_NONCE: nonce,
               H_SIGNATURE: sign(secret, "POST", path, ts, nonce, body)}
    result = intake.take_in(p, intake.ChannelRequest(channel, "POST", path, headers, body))
    return result.body.get("appeal_id") if result.status_code == 201 else None


def _handle(p, clock: FixedClock, rt, appeal_id: str, at: datetime, rng: random.Random, b: Behaviour,
            made: dict, behaviours: dict[str, Behaviour]) -> None:
    clock.at = at + timedelta(seconds=20)
    dedup.process(p, appeal_id)
    appeal = p.store.load_appeal(appeal_id)
    if appeal.status == Status.JOINED:
        return
    clock.at = at + timedelta(seconds=40)
    dispatch.process(p, appeal_id)
    appeal = p.store.load_appeal(appeal_id)
    if appeal.status != Status.DISPATCHED:
        return
    made["dispatched"] += 1
    unit = appeal.assignment.unit_id
    b = behaviours.get(unit, b)
    who = Principal("demo-handler", "demo", Role.UNIT_HANDLER, rt.region, unit, rt.unit_jurisdictions.get(unit, ""))
    if rng.random() < b.returned:
        clock.at = at + timedelta(minutes=rng.randrange(10, 60))
        staff.perform(p, appeal_id, "return", who, {"reason": "经核实不属于本单位职责范围（演示数据）"})
        made["returned"] += 1
        return
    sign_at = at + timedelta(minutes=rng.randrange(2, 12) + (240 if rng.random() < b.sign_late else 0))
    _step(p, clock, appeal_id, "sign", who, {}, sign_at)
    how = "relay" if appeal.anonymous else "direct"
    _step(p, clock, appeal_id, "contact", who, {"note": "已联系市民（演示数据）", "how": how},
          sign_at + timedelta(minutes=rng.randrange(2, 15)))
    due = p.store.load_appeal(appeal_id).handling_clock.deadline("reply")
    late = rng.random() < b.reply_late
    reply_at = (due.due_at + timedelta(hours=rng.randrange(2, 30))) if late and due else \
        sign_at + timedelta(hours=rng.randrange(3, 40))
    if due and not late and reply_at > due.due_at:
        reply_at = due.due_at - timedelta(hours=1)
    if to_local(reply_at).date() >= made["today"]:
        return          # still being handled today: open work on the screen
    _step(p, clock, appeal_id, "reply", who, {"answer": "已到现场核实处理，问题已解决（演示数据）"}, reply_at)
    if rng.random() >= b.rated:
        return
    clock.at = reply_at + timedelta(hours=rng.randrange(1, 20))
    a = p.store.load_appeal(appeal_id)
    token = tracking.tracking_url(p, appeal_id, a.tracking_salt).rsplit("/", 1)[1]
    unhappy = rng.random() < b.unhappy
    scores = {"speed": 2, "effect": 1, "service": 3, "reply_quality": 2} if unhappy else \
        {"speed": rng.choice((4, 5)), "effect": rng.choice((4, 5, 5)), "service": 5, "reply_quality": rng.choice((4, 5))}
    evaluation.rate_on_page(p, token, {k: str(v) for k, v in scores.items()})
    made["closed" if not unhappy else "redone"] += 1


def _step(p, clock: FixedClock, appeal_id: str, action: str, who: Principal, body: dict, at: datetime) -> None:
    clock.at = at
    staff.perform(p, appeal_id, action, who, body)


def examples_of(region_dir: Path) -> list[dict]:
    path = region_dir / "examples" / "history-train.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


class LiveUnits:
    """The demo's units and citizens for the live feed (make run): each fed appeal that the
    pipeline dispatches is signed, contacted and answered minutes later, and most are rated from
    the citizen's page, through the same use cases as staff and citizens, on the real clock; so
    the screen's rates and backlog stay those of a working city rather than of nobody at work."""

    def __init__(self, p, rng: random.Random | None = None, behaviour: Behaviour | None = None) -> None:
        self.p, self.rng, self.b = p, rng or random.Random(), behaviour or Behaviour()
        self.plans: dict[str, list[tuple[datetime, str]]] = {}
        self.waiting: dict[str, datetime] = {}

    def note(self, appeal_id: str) -> None:
        """A fed appeal: it is planned once the pipeline has dispatched it."""
        self.waiting[appeal_id] = self.p.now()

    def tick(self) -> int:
        """Take every step that is due; returns how many were taken."""
        now, done = self.p.now(), 0
        for appeal_id, since in list(self.waiting.items()):
            appeal = self.p.store.load_appeal(appeal_id)
            if appeal.status == Status.DISPATCHED:
                self.plans[appeal_id] = self._plan(now)
                del self.waiting[appeal_id]
            elif now - since > timedelta(minutes=5):      # joined, queued for a dispatcher, ...: not ours
                del self.waiting[appeal_id]
        for appeal_id, plan in list(self.plans.items()):
            while plan and plan[0][0] <= now:
                _, step = plan.pop(0)
                try:
                    self._take(appeal_id, step)
                    done += 1
                except Exception:  # noqa: BLE001 - someone else changed it (a person in the workbench)
                    plan.clear()
            if not plan:
                del self.plans[appeal_id]
        return done

    def _plan(self, now: datetime) -> list[tuple[datetime, str]]:
        rng, b = self.rng, self.b
        sign = now + timedelta(minutes=rng.uniform(1, 8) + (30 if rng.random() < b.sign_late else 0))
        steps = [(sign, "sign"), (sign + timedelta(minutes=rng.uniform(1, 10)), "contact")]
        reply = sign + timedelta(minutes=rng.uniform(10, 90))
        steps.append((reply, "reply"))
        if rng.random() < b.rated:
            steps.append((reply + timedelta(minutes=rng.uniform(2, 30)), "rate-bad" if rng.random() < b.unhappy
                          else "rate"))
        return steps

    def _take(self, appeal_id: str, step: str) -> None:
        p = self.p
        appeal = p.store.load_appeal(appeal_id)
        rt = p.region(appeal.region)
        unit = appeal.assignment.unit_id
        who = Principal("demo-handler", "demo", Role.UNIT_HANDLER, rt.region, unit, rt.unit_jurisdictions.get(unit, ""))
        if step == "sign":
            staff.perform(p, appeal_id, "sign", who, {})
        elif step == "contact":
            staff.perform(p, appeal_id, "contact", who, {"note": "已联系市民（演示数据）",
                                                         "how": "relay" if appeal.anonymous else "direct"})
        elif step == "reply":
            staff.perform(p, appeal_id, "reply", who, {"answer": "已到现场核实处理，问题已解决（演示数据）"})
        else:
            token = tracking.tracking_url(p, appeal_id, appeal.tracking_salt).rsplit("/", 1)[1]
            scores = {"speed": 2, "effect": 1, "service": 3, "reply_quality": 2} if step == "rate-bad" else \
                {"speed": 5, "effect": 5, "service": 5, "reply_quality": 4}
            evaluation.rate_on_page(p, token, {k: str(v) for k, v in scores.items()})
