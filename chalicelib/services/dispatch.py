"""Dispatch (派单, F-DS): automatic first, manual second; loops, returns, arbitration, key work."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from chalicelib.domain.access import Principal, require_assignable
from chalicelib.domain.appeal import Appeal, Status
from chalicelib.domain.assignment import dispatch_loop
from chalicelib.domain.errors import ConflictError, ValidationError
from chalicelib.domain.units import UnitChoice, choose_unit
from chalicelib.domain.records import AssistEntry, Correction, KeyMarker
from chalicelib.observability import logger, metrics
from chalicelib.policy.runtime import RegionRuntime
from chalicelib.services import deadlines, work

SYSTEM_ACTOR = "system:dispatch"


def loop_for(model: RegionRuntime, unit_level: str, district_code: str | None) -> str:
    """市区大循环+各区小循环: district-level work and below runs in the district's loop."""
    return dispatch_loop(unit_level, district_code, model.city_code)


def process(p, appeal_id: str) -> str:
    """The dispatch stage: classify, resolve the place, pick the unit, or queue for a dispatcher.
    When the appeal changed meanwhile (a report joined it), it is decided again on the new
    version at once, not left to the queue's visibility timeout."""
    return work.on_fresh_copy(lambda: _process_once(p, appeal_id))


def _process_once(p, appeal_id: str) -> str:
    appeal = p.store.load_appeal(appeal_id)
    pending = p.store.get_outbox(appeal_id, "dispatch", "1")
    if pending is None or pending.done_at or appeal.status not in (Status.RECEIVED, Status.PENDING_DISPATCH):
        return "already_done"
    now = p.now()
    model = p.region(appeal.region)
    uow = p.store.unit_of_work(now)
    loc = appeal.location
    d = decide(model, loc.address, appeal.content, appeal.title, loc.lat, loc.lng, loc.grid_code)
    appeal.locate(d.where.district_code, d.where.street_code)
    if d.choice is not None:
        appeal.dispatch_to(d.choice.unit.unit_id, d.item.code, model.version,
                           loop_for(model, d.item.unit_level, d.where.district_code), now, SYSTEM_ACTOR, "auto",
                           {**d.info, "unit_reason": d.choice.reason, "fallback_unit": d.choice.fallback})
        uow.add(*deadlines.start_clock(p, appeal, now))
        metrics.add_metric(name="AutoDispatched", unit="Count", value=1)
        outcome = "dispatched"
    else:
        appeal.queue_for_dispatcher(d.where.district_code or model.city_code, now, SYSTEM_ACTOR, d.reason, d.info)
        metrics.add_metric(name="ManualDispatchQueued", unit="Count", value=1)
        outcome = "queued"
    uow.add(*_key_rule(appeal, model, now))
    uow.track(appeal)
    uow.close(appeal_id, "dispatch", "1")
    work.commit(p, uow)
    logger.info("dispatch decided", extra={"appeal_id": appeal_id, "outcome": outcome})
    return outcome


@dataclass(frozen=True)
class Decision:
    """What automatic dispatch makes of an appeal's place and text: the unit (`choice`) when
    both are clear enough, else the reason it goes to a dispatcher."""

    where: Any
    info: dict
    item: Any = None
    choice: UnitChoice | None = None
    reason: str = ""


def decide(model: RegionRuntime, address: str | None, text: str, title: str = "", lat=None, lng=None,
           grid_code=None) -> Decision:
    """Resolve the place, classify the title and text and pick the unit, or say why a dispatcher
    must."""
    where = model.gazetteer.resolve(address, text=text, lat=lat, lng=lng, grid_code=grid_code)
    result = model.classifier.classify(f"{title or ''} {text}".strip())
    info = {"confidence": round(result.confidence, 4), "suggestions": [asdict(s) for s in result.suggestions[:3]],
            "location": {"method": where.method, "street_code": where.street_code,
                         "district_code": where.district_code, "reason": where.reason}}
    if where.resolved and result.confidence >= model.auto_threshold and result.code in model.catalog:
        item = model.catalog[result.code]
        return Decision(where, info, item, choose_unit(item, where, model.units))
    if not where.resolved:
        reason = "location not resolved: " + (where.reason or "no match")
    elif result.out_of_catalog:
        reason = "out of catalogue (兜底): " + result.suggestions[0].why
    else:
        reason = f"confidence {result.confidence:.2f} below {model.auto_threshold:.2f}"
    return Decision(where, info, reason=reason)


def _key_rule(appeal: Appeal, model: RegionRuntime, now: datetime) -> list:
    """重点办 by rule: urgent work, or an event many people report (region policy thresholds)."""
    rules = model.policy.get("key", {})
    reasons = appeal.key_reasons(int(rules.get("min_reports", 5)), bool(rules.get("urgent", True)))
    if not reasons or appeal.key:
        return []
    appeal.flag_key("rule: " + "; ".join(reasons), now, SYSTEM_ACTOR)
    return key_markers(appeal, now)


def key_markers(appeal: Appeal, now: datetime) -> list[KeyMarker]:
    """A key appeal shows in the leaders' key queue of its loop (the unit's side) and, when the
    place it is about lies in another district, in that district's too (the place's side)."""
    loop = appeal.assignment.loop or appeal.district_code or "city"
    markers = [KeyMarker(appeal.appeal_id, loop, appeal.key_reason, now)]
    if appeal.district_code and appeal.district_code != loop:
        markers.append(KeyMarker(appeal.appeal_id, appeal.district_code, appeal.key_reason, now,
                                 area=appeal.district_code))
    return markers


def assist_marker(appeal: Appeal, unit_id: str, now: datetime) -> AssistEntry:
    return AssistEntry(appeal.appeal_id, unit_id, appeal.assignment.unit_id, now)


# --- staff actions ---------------------------------------------------------------------------

def _model_and_unit(p, appeal: Appeal, unit_id: str) -> tuple[RegionRuntime, object]:
    model = p.region(appeal.region)
    unit = model.units.by_id(unit_id)
    if unit is None:
        raise ValidationError("no such unit in this region", field="unit_id")
    return model, unit


def _code(model: RegionRuntime, code: str | None, appeal: Appeal) -> str:
    code = code or appeal.assignment.catalog_code or appeal.assignment.model_guess()
    if not code or code not in model.catalog:
        raise ValidationError("a catalog code of this region is required", field="catalog_code")
    return code


def manual_dispatch(p, appeal: Appeal, who: Principal, now: datetime, unit_id: str, catalog_code: str | None = None,
                    reason: str = "") -> list:
    """A dispatcher dispatches by hand; a code other than the model's guess teaches the model."""
    if appeal.status != Status.PENDING_DISPATCH:
        raise ConflictError(f"only queued appeals are dispatched by hand (it is {appeal.status.value})",
                            field="status", code="invalid_state")
    if appeal.disputed:
        raise ConflictError("a disputed appeal is decided by arbitration", field="status", code="needs_arbitration")
    model, unit = _model_and_unit(p, appeal, unit_id)
    code = _code(model, catalog_code, appeal)
    guess = appeal.assignment.model_guess()
    appeal.dispatch_to(unit.unit_id, code, model.version, loop_for(model, unit.level, appeal.district_code), now,
                       who.actor, "manual", {"reason": reason, "model_guess": guess})
    extra: list = deadlines.start_clock(p, appeal, now)
    if code != guess:
        extra.append(Correction(appeal.region, appeal.appeal_id, f"{appeal.title} {appeal.content}".strip(), code,
                                now))
    return extra


def return_appeal(p, appeal: Appeal, who: Principal, now: datetime, reason: str) -> list:
    model = p.region(appeal.region)
    hours = float(model.policy.get("dispatch", {}).get("return_within_hours", 24))
    appeal.return_by_unit(who.unit_id, reason, now, who.actor, timedelta(hours=hours))
    return []


def arbitrate(p, appeal: Appeal, who: Principal, now: datetime, unit_id: str, reason: str,
              catalog_code: str | None = None) -> list:
    model, unit = _model_and_unit(p, appeal, unit_id)
    appeal.arbitrate(unit.unit_id, _code(model, catalog_code, appeal), model.version,
                     loop_for(model, unit.level, appeal.district_code), now, who.actor, reason)
    return deadlines.start_clock(p, appeal, now)


def escalate(p, appeal: Appeal, who: Principal, now: datetime, reason: str) -> list:
    """吹哨/提级办理: the unit cannot solve it at its level; the level above takes it."""
    appeal.require_lead(who.unit_id)
    if not reason.strip():
        raise ValidationError("a reason is required", field="reason")
    model, unit = _model_and_unit(p, appeal, appeal.assignment.unit_id)
    # A street or community unit's work goes up to its district's loop; a district's to the city's.
    upper = appeal.district_code if unit.level in ("street", "community") and appeal.district_code \
        else model.city_code
    appeal.escalate(upper, now, who.actor, reason)
    return []


def assign_down(p, appeal: Appeal, who: Principal, now: datetime, unit_id: str, instruction: str) -> list:
    """The level above assigns downward to a unit inside its jurisdiction."""
    model, unit = _model_and_unit(p, appeal, unit_id)
    require_assignable(who, unit, model.city_code)
    if not instruction.strip():
        raise ValidationError("an instruction is required", field="instruction")
    code = _code(model, None, appeal)
    appeal.dispatch_to(unit.unit_id, code, model.version, loop_for(model, unit.level, appeal.district_code), now,
                       who.actor, "assigned", {"instruction": instruction})
    return deadlines.start_clock(p, appeal, now)


def joint(p, appeal: Appeal, who: Principal, now: datetime, assisting_unit_ids: list[str]) -> list:
    model = p.region(appeal.region)
    known = {u.unit_id for u in model.units.units}
    unknown = [u for u in assisting_unit_ids if u not in known]
    if unknown:
        raise ValidationError("names a unit that is not in this region", field="assisting_unit_ids")
    lead = appeal.assignment.unit_id if who.role.value == "dispatcher" else who.unit_id
    appeal.set_joint(lead, assisting_unit_ids, now, who.actor)
    return [assist_marker(appeal, u, now) for u in appeal.assignment.assisting_unit_ids]


def flag_key(p, appeal: Appeal, who: Principal, now: datetime, reason: str) -> list:
    appeal.flag_key(reason, now, who.actor)
    return key_markers(appeal, now)


def leader_name_unit(p, appeal: Appeal, who: Principal, now: datetime, unit_id: str, instruction: str) -> list:
    """A leader names the responsible unit of a key appeal, with an instruction (批示)."""
    if not appeal.key:
        raise ConflictError("only key appeals are named by leaders", field="key", code="not_key")
    if not instruction.strip():
        raise ValidationError("an instruction is required", field="instruction")
    model, unit = _model_and_unit(p, appeal, unit_id)
    if appeal.status not in (Status.PENDING_DISPATCH, Status.DISPATCHED, Status.SIGNED, Status.RECEIVED):
        raise ConflictError(f"cannot name a unit for an appeal that is {appeal.status.value}", field="status",
                            code="invalid_state")
    appeal.dispatch_to(unit.unit_id, _code(model, None, appeal), model.version,
                       loop_for(model, unit.level, appeal.district_code), now, who.actor, "leader",
                       {"instruction": instruction}, first_handler=True)
    return deadlines.start_clock(p, appeal, now)


def consult_open(p, appeal: Appeal, who: Principal, now: datetime, level: int, units: list[str], topic: str) -> list:
    model = p.region(appeal.region)
    known = {u.unit_id for u in model.units.units}
    if any(u not in known for u in units):
        raise ValidationError("unknown participant unit", field="units")
    appeal.open_consultation(int(level), units, now, who.actor, topic)
    return []


def consult_close(p, appeal: Appeal, who: Principal, now: datetime, minutes: str, lead_unit_id: str,
                  assisting_unit_ids: list[str] = ()) -> list:
    model, unit = _model_and_unit(p, appeal, lead_unit_id)
    outcome = appeal.close_consultation(minutes, lead_unit_id, assisting_unit_ids, now, who.actor)
    extra = []
    if appeal.assignment.unit_id != unit.unit_id:
        if appeal.status == Status.PENDING_DISPATCH or appeal.status == Status.DISPATCHED:
            appeal.dispatch_to(unit.unit_id, _code(model, None, appeal), model.version,
                               loop_for(model, unit.level, appeal.district_code), now, who.actor, "consultation",
                               {"consultation_level": outcome["level"]})
            extra += deadlines.start_clock(p, appeal, now)
    if outcome["assisting_unit_ids"]:
        extra += [assist_marker(appeal, u, now) for u in appeal.assignment.assisting_unit_ids]
    return extra
