"""Dispatch (派单, F-DS): automatic first, manual second; loops, returns, arbitration, key work."""
from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta

from chalicelib.domain.access import Principal
from chalicelib.domain.appeal import Appeal, Status
from chalicelib.domain.errors import ConflictError, ValidationError
from chalicelib.nlp.units import choose_unit
from chalicelib.observability import logger, metrics
from chalicelib.services import deadlines, outbox
from chalicelib.services.clock import Clock
from chalicelib.services.dispatch_model import DispatchModel, model_for
from chalicelib.storage import keys, repository
from chalicelib.storage.models import CorrectionItem, MarkerItem

SYSTEM_ACTOR = "system:dispatch"


def loop_for(model: DispatchModel, unit_level: str, district_code: str | None) -> str:
    """市区大循环+各区小循环: district-level work and below runs in the district's loop."""
    if unit_level in ("district", "street", "community") and district_code:
        return district_code
    return model.city_code


def process(appeal_id: str, clock: Clock) -> str:
    """The dispatch stage: classify, resolve the place, pick the unit, or queue for a dispatcher."""
    appeal = repository.load_appeal(appeal_id)
    pending = repository.get_outbox(appeal_id, "dispatch", "1")
    if pending is None or pending.done_at or appeal.status not in (Status.RECEIVED, Status.PENDING_DISPATCH):
        return "already_done"
    now = clock.now()
    model = model_for(appeal.region)
    loc = appeal.location
    where = model.gazetteer.resolve(loc.address, text=appeal.content, lat=loc.lat, lng=loc.lng,
                                    grid_code=loc.grid_code)
    appeal.district_code, appeal.street_code = where.district_code, where.street_code
    result = model.classifier.classify(f"{appeal.title} {appeal.content}".strip())
    suggestions = [asdict(s) for s in result.suggestions[:3]]
    info = {"confidence": round(result.confidence, 4), "suggestions": suggestions,
            "location": {"method": where.method, "street_code": where.street_code,
                         "district_code": where.district_code, "reason": where.reason}}
    handoffs, extra = [], []
    if where.resolved and result.confidence >= model.auto_threshold and result.code in model.catalog:
        item = model.catalog[result.code]
        choice = choose_unit(item, where, model.units)
        appeal.dispatch_to(choice.unit.unit_id, item.code, model.version,
                           loop_for(model, item.unit_level, where.district_code), now, SYSTEM_ACTOR, "auto",
                           {**info, "unit_reason": choice.reason, "fallback_unit": choice.fallback})
        handoffs += outbox.status_handoffs_with_joined(appeal, "dispatched")
        extra += deadlines.start_clock(appeal, now)
        metrics.add_metric(name="AutoDispatched", unit="Count", value=1)
        outcome = "dispatched"
    else:
        if not where.resolved:
            reason = "location not resolved: " + (where.reason or "no match")
        elif result.out_of_catalog:
            reason = "out of catalogue (兜底): " + result.suggestions[0].why
        else:
            reason = f"confidence {result.confidence:.2f} below {model.auto_threshold:.2f}"
        appeal.queue_for_dispatcher(where.district_code or model.city_code, now, SYSTEM_ACTOR, reason, info)
        metrics.add_metric(name="ManualDispatchQueued", unit="Count", value=1)
        outcome = "queued"
    extra += _key_rule(appeal, model, now)
    repository.save_appeal(appeal, now, handoffs, close_outbox=[("dispatch", "1")], extra_items=extra)
    outbox.publish(handoffs)
    logger.info("dispatch decided", extra={"appeal_id": appeal_id, "outcome": outcome})
    return outcome


def _key_rule(appeal: Appeal, model: DispatchModel, now: datetime) -> list:
    """重点办 by rule: urgent work, or an event many people report (region policy thresholds)."""
    rules = model.policy.get("key", {})
    min_weight = int(rules.get("min_reports", 5))
    reasons = []
    if appeal.urgency.value == "急件" and rules.get("urgent", True):
        reasons.append("urgent (急件)")
    if appeal.weight >= min_weight:
        reasons.append(f"{appeal.weight} reports of the same event")
    if not reasons or appeal.key:
        return []
    appeal.flag_key("rule: " + "; ".join(reasons), now, SYSTEM_ACTOR)
    return key_markers(appeal, now)


def key_markers(appeal: Appeal, now: datetime) -> list[MarkerItem]:
    """A key appeal shows in the leaders' key queue of its loop (the unit's side) and, when the
    place it is about lies in another district, in that district's too (the place's side)."""
    loop = appeal.loop or appeal.district_code or "city"
    sk = keys.time_id_sk(repository.iso(now), appeal.appeal_id)
    markers = [MarkerItem(keys.appeal_pk(appeal.appeal_id), keys.KEY_SK, appeal_id=appeal.appeal_id,
                          note={"reason": appeal.key_reason}, GSI1PK=keys.leader_queue(loop), GSI1SK=sk)]
    if appeal.district_code and appeal.district_code != loop:
        markers.append(MarkerItem(keys.appeal_pk(appeal.appeal_id), keys.key_area_sk(appeal.district_code),
                                  appeal_id=appeal.appeal_id, note={"reason": appeal.key_reason},
                                  GSI1PK=keys.leader_queue(appeal.district_code), GSI1SK=sk))
    return markers


def assist_marker(appeal: Appeal, unit_id: str, now: datetime) -> MarkerItem:
    return MarkerItem(keys.appeal_pk(appeal.appeal_id), keys.assist_sk(unit_id), appeal_id=appeal.appeal_id,
                      note={"role": "assisting", "lead_unit_id": appeal.unit_id},
                      GSI1PK=keys.unit_queue(unit_id), GSI1SK=f"assisting#{repository.iso(now)}#{appeal.appeal_id}")


# --- staff actions ---------------------------------------------------------------------------

def _model_and_unit(appeal: Appeal, unit_id: str) -> tuple[DispatchModel, object]:
    model = model_for(appeal.region)
    unit = next((u for u in model.units.units if u.unit_id == unit_id), None)
    if unit is None:
        raise ValidationError("no such unit in this region", field="unit_id")
    return model, unit


def _code(model: DispatchModel, code: str | None, appeal: Appeal) -> str:
    code = code or appeal.catalog_code or (appeal.dispatch_info.get("suggestions") or [{}])[0].get("code")
    if not code or code not in model.catalog:
        raise ValidationError("a catalog code of this region is required", field="catalog_code")
    return code


def manual_dispatch(appeal: Appeal, who: Principal, now: datetime, unit_id: str, catalog_code: str | None = None,
                    reason: str = "") -> list:
    """A dispatcher dispatches by hand; a code other than the model's guess teaches the model."""
    if appeal.status != Status.PENDING_DISPATCH:
        raise ConflictError(f"only queued appeals are dispatched by hand (it is {appeal.status.value})",
                            field="status", code="invalid_state")
    if appeal.disputed:
        raise ConflictError("a disputed appeal is decided by arbitration", field="status", code="needs_arbitration")
    model, unit = _model_and_unit(appeal, unit_id)
    code = _code(model, catalog_code, appeal)
    guess = (appeal.dispatch_info.get("suggestions") or [{}])[0].get("code")
    appeal.dispatch_to(unit.unit_id, code, model.version, loop_for(model, unit.level, appeal.district_code), now,
                       who.actor, "manual", {"reason": reason, "model_guess": guess})
    extra = deadlines.start_clock(appeal, now)
    if code != guess:
        extra.append(CorrectionItem(keys.corrections_pk(appeal.region),
                                    keys.time_id_sk(repository.iso(now), appeal.appeal_id),
                                    text=f"{appeal.title} {appeal.content}".strip(), code=code,
                                    at=repository.iso(now)))
    return extra


def return_appeal(appeal: Appeal, who: Principal, now: datetime, reason: str) -> list:
    model = model_for(appeal.region)
    hours = float(model.policy.get("dispatch", {}).get("return_within_hours", 24))
    appeal.return_by_unit(who.unit_id, reason, now, who.actor, timedelta(hours=hours))
    return []


def arbitrate(appeal: Appeal, who: Principal, now: datetime, unit_id: str, reason: str,
              catalog_code: str | None = None) -> list:
    model, unit = _model_and_unit(appeal, unit_id)
    appeal.arbitrate(unit.unit_id, _code(model, catalog_code, appeal), model.version,
                     loop_for(model, unit.level, appeal.district_code), now, who.actor, reason)
    return deadlines.start_clock(appeal, now)


def escalate(appeal: Appeal, who: Principal, now: datetime, reason: str) -> list:
    """吹哨/提级办理: the unit cannot solve it at its level; the level above takes it."""
    appeal.require_lead(who.unit_id)
    if not reason.strip():
        raise ValidationError("a reason is required", field="reason")
    model, unit = _model_and_unit(appeal, appeal.unit_id)
    # A street or community unit's work goes up to its district's loop; a district's to the city's.
    upper = appeal.district_code if unit.level in ("street", "community") and appeal.district_code \
        else model.city_code
    appeal.record(now, "escalated", who.actor, {"from_unit_id": appeal.unit_id, "from_loop": appeal.loop,
                                                "to_loop": upper, "reason": reason}, public=False)
    appeal.queue_for_dispatcher(upper, now, who.actor, "escalated by unit", {"escalated_from": appeal.unit_id})
    return []


def assign_down(appeal: Appeal, who: Principal, now: datetime, unit_id: str, instruction: str) -> list:
    """The level above assigns downward to a unit inside its jurisdiction."""
    model, unit = _model_and_unit(appeal, unit_id)
    if who.jurisdiction != model.city_code and not unit.jurisdiction_code.startswith(who.jurisdiction):
        raise ValidationError("that unit is outside your jurisdiction", field="unit_id")
    if not instruction.strip():
        raise ValidationError("an instruction is required", field="instruction")
    code = _code(model, None, appeal)
    appeal.dispatch_to(unit.unit_id, code, model.version, loop_for(model, unit.level, appeal.district_code), now,
                       who.actor, "assigned", {"instruction": instruction})
    return deadlines.start_clock(appeal, now)


def joint(appeal: Appeal, who: Principal, now: datetime, assisting_unit_ids: list[str]) -> list:
    model = model_for(appeal.region)
    known = {u.unit_id for u in model.units.units}
    unknown = [u for u in assisting_unit_ids if u not in known]
    if unknown:
        raise ValidationError("names a unit that is not in this region", field="assisting_unit_ids")
    lead = appeal.unit_id if who.role.value == "dispatcher" else who.unit_id
    appeal.set_joint(lead, assisting_unit_ids, now, who.actor)
    return [assist_marker(appeal, u, now) for u in appeal.assisting_unit_ids]


def flag_key(appeal: Appeal, who: Principal, now: datetime, reason: str) -> list:
    appeal.flag_key(reason, now, who.actor)
    return key_markers(appeal, now)


def leader_name_unit(appeal: Appeal, who: Principal, now: datetime, unit_id: str, instruction: str) -> list:
    """A leader names the responsible unit of a key appeal, with an instruction (批示)."""
    if not appeal.key:
        raise ConflictError("only key appeals are named by leaders", field="key", code="not_key")
    if not instruction.strip():
        raise ValidationError("an instruction is required", field="instruction")
    model, unit = _model_and_unit(appeal, unit_id)
    if appeal.status not in (Status.PENDING_DISPATCH, Status.DISPATCHED, Status.SIGNED, Status.RECEIVED):
        raise ConflictError(f"cannot name a unit for an appeal that is {appeal.status.value}", field="status",
                            code="invalid_state")
    appeal.first_handler_locked = True
    appeal.dispatch_to(unit.unit_id, _code(model, None, appeal), model.version,
                       loop_for(model, unit.level, appeal.district_code), now, who.actor, "leader",
                       {"instruction": instruction})
    return deadlines.start_clock(appeal, now)


def consult_open(appeal: Appeal, who: Principal, now: datetime, level: int, units: list[str], topic: str) -> list:
    model = model_for(appeal.region)
    known = {u.unit_id for u in model.units.units}
    if any(u not in known for u in units):
        raise ValidationError("unknown participant unit", field="units")
    appeal.open_consultation(int(level), units, now, who.actor, topic)
    return []


def consult_close(appeal: Appeal, who: Principal, now: datetime, minutes: str, lead_unit_id: str,
                  assisting_unit_ids: list[str] = ()) -> list:
    model, unit = _model_and_unit(appeal, lead_unit_id)
    outcome = appeal.close_consultation(minutes, lead_unit_id, assisting_unit_ids, now, who.actor)
    extra = []
    if appeal.unit_id != unit.unit_id:
        if appeal.status == Status.PENDING_DISPATCH or appeal.status == Status.DISPATCHED:
            appeal.dispatch_to(unit.unit_id, _code(model, None, appeal), model.version,
                               loop_for(model, unit.level, appeal.district_code), now, who.actor, "consultation",
                               {"consultation_level": outcome["level"]})
            extra += deadlines.start_clock(appeal, now)
    if outcome["assisting_unit_ids"]:
        appeal.assisting_unit_ids = list(outcome["assisting_unit_ids"])
        extra += [assist_marker(appeal, u, now) for u in appeal.assisting_unit_ids]
    return extra
