"""Staff actions on appeals: one registry of actions, each checked, applied and saved the same way."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from chalicelib.domain.access import (AppealScope, Principal, can_see, check_claims, may, require, require_queue,
                                      require_unmask, require_visible)
from chalicelib.domain.appeal import Appeal
from chalicelib.domain.errors import NotFoundError, ValidationError
from chalicelib.domain.privacy import mask_deep, mask_free_text
from chalicelib.domain.records import AuditEntry
from chalicelib.services import dedup, dispatch, handling, tracking, visits, work

# field name -> (type, required)
Fields = dict[str, tuple[type, bool]]


@dataclass(frozen=True)
class Action:
    permission: str
    fields: Fields
    apply: Callable[..., list] | None = None          # fn(p, appeal, who, now, **fields) -> index records
    custom: Callable[..., Any] | None = None          # fn(p, appeal_id, who, **fields) for multi-appeal work


REGISTRY: dict[str, Action] = {
    "dispatch": Action("dispatch.manual", {"unit_id": (str, True), "catalog_code": (str, False),
                                           "reason": (str, False)}, dispatch.manual_dispatch),
    "return": Action("handle.return", {"reason": (str, True)}, dispatch.return_appeal),
    "arbitrate": Action("dispatch.arbitrate", {"unit_id": (str, True), "catalog_code": (str, False),
                                               "reason": (str, True)}, dispatch.arbitrate),
    "escalate": Action("handle.escalate", {"reason": (str, True)}, dispatch.escalate),
    "assign": Action("handle.assign_down", {"unit_id": (str, True), "instruction": (str, True)},
                     dispatch.assign_down),
    "joint": Action("dispatch.manual", {"assisting_unit_ids": (list, True)}, dispatch.joint),
    "flag_key": Action("dispatch.flag_key", {"reason": (str, True)}, dispatch.flag_key),
    "name_unit": Action("leader.name_unit", {"unit_id": (str, True), "instruction": (str, True)},
                        dispatch.leader_name_unit),
    "consult_open": Action("dispatch.consult", {"level": (int, True), "units": (list, True), "topic": (str, True)},
                           dispatch.consult_open),
    "consult_close": Action("dispatch.consult", {"minutes": (str, True), "lead_unit_id": (str, True),
                                                 "assisting_unit_ids": (list, False)}, dispatch.consult_close),
}


def register(name: str, action: Action) -> None:
    """Other use-case modules add their actions here (handling, de-duplication)."""
    REGISTRY[name] = action


def parse_fields(spec: Fields, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ValidationError("the body must be a JSON object", field="body")
    unknown = sorted(set(body) - set(spec))
    if unknown:
        raise ValidationError("this action takes no such field", field=unknown[0] or "body")
    out = {}
    for name, (typ, required) in spec.items():
        if name not in body or body[name] is None:
            if required:
                raise ValidationError(f"{name} is required", field=name)
            out[name] = [] if typ is list else None
            continue
        value = body[name]
        if typ is int and isinstance(value, bool) or not isinstance(value, typ):
            raise ValidationError(f"{name} must be {typ.__name__}", field=name)
        if typ is str and len(value) > 4000:
            raise ValidationError(f"{name} is longer than 4000 characters", field=name)
        if typ is list and (len(value) > 20 or not all(isinstance(v, str) for v in value)):
            raise ValidationError(f"{name} must be a list of at most 20 strings", field=name)
        out[name] = value
    return {k: v for k, v in out.items() if v is not None}


def scope(p, appeal: Appeal) -> AppealScope:
    return AppealScope(region=appeal.region, district_code=appeal.district_code, street_code=appeal.street_code,
                       unit_ids=appeal.assignment.handling_units(),
                       city_code=p.settings.city_code)


def signed_in(p, who: Principal) -> Principal:
    """A verified token's principal, once its unit and jurisdiction are found in the live pack."""
    model = p.region(who.region)
    check_claims(who, model.unit_jurisdictions, model.areas)
    return who


def load_visible(p, appeal_id: str, who: Principal) -> Appeal:
    appeal = p.store.load_appeal(appeal_id)
    require_visible(who, scope(p, appeal))
    return appeal


def perform(p, appeal_id: str, name: str, who: Principal, body: Any) -> Appeal | Any:
    """Check the role, parse the fields, check visibility, apply, save once, tell the channel;
    on a fresh copy again when the pipeline changed the appeal meanwhile."""
    return work.on_fresh_copy(lambda: _perform_once(p, appeal_id, name, who, body))


def _perform_once(p, appeal_id: str, name: str, who: Principal, body: Any) -> Appeal | Any:
    """Check the role, parse the fields, check visibility, apply, save once, tell the channel."""
    action = REGISTRY.get(name)
    if action is None:
        raise NotFoundError("no such action", field="action")
    require(who, action.permission)
    args = parse_fields(action.fields, body)
    if action.custom is not None:
        load_visible(p, appeal_id, who)
        return action.custom(p, appeal_id, who, **args)
    appeal = load_visible(p, appeal_id, who)
    now = p.now()
    uow = p.store.unit_of_work(now)
    uow.add(*action.apply(p, appeal, who, now, **args))
    uow.track(appeal)       # a changed public status is told to the channels by work.commit
    work.commit(p, uow)
    return appeal


# --- views -----------------------------------------------------------------------------------

PUBLIC_FIELDS = ("appeal_id", "channel", "appeal_type", "urgency", "title", "content", "status", "received_at",
                 "district_code", "street_code", "unit_id", "assisting_unit_ids", "catalog_code",
                 "catalog_version", "loop", "key", "key_reason", "weight", "duplicates", "master_id", "deadlines",
                 "alerts", "reply", "consultation", "dispatch_info", "return_count", "first_handler_locked",
                 "followers", "attachments")


def staff_view(p, appeal: Appeal, who: Principal | None = None, with_case_file: bool = True,
               with_party: bool = True) -> dict:
    """What staff see: everything about the appeal, personal data masked (F-OP-2).

    ID numbers and phones a citizen typed into the text (content, title, address, case-file
    notes) are masked like the party fields; `unmask` shows them. A confidential (匿名/保密)
    appeal says so, and only the dispatch centre sees even the masked hints of who it is."""
    d = appeal.to_dict()
    view = {k: d.get(k) for k in PUBLIC_FIELDS}
    for name in ("title", "content"):
        view[name] = mask_free_text(view[name])
    view["status"] = appeal.status.value
    view["appeal_type"] = appeal.appeal_type.value
    view["urgency"] = appeal.urgency.value
    view["received_at"] = appeal.received_at.isoformat()
    view["address"] = mask_free_text(appeal.location.address)
    view["distinct_reporters"] = appeal.distinct_reporters
    view["anonymous"] = appeal.anonymous
    view["rating"] = d["rating"] or None
    view["dispatch_info"] = mask_deep(view["dispatch_info"])
    party = p.store.get_party(appeal.appeal_id) if appeal.has_party and with_party else None
    if party is None:
        view["party"] = None
    elif appeal.anonymous and (who is None or not may(who, "party.unmask_confidential")):
        view["party"] = {"name": None, "id_number": None, "phone": None, "masked": True, "confidential": True}
    else:
        view["party"] = {"name": party.name_hint, "id_number": party.id_hint, "phone": party.phone_hint,
                         "masked": True, "confidential": appeal.anonymous}
    if who is not None and may(who, "tracking.renew"):   # the hotline can give the citizen their link
        view["tracking_url"] = tracking.tracking_url(p, appeal.appeal_id, appeal.tracking_salt)
    if with_case_file:
        view["case_file"] = [{"seq": e.seq, "at": e.at.isoformat(), "kind": e.kind, "actor": e.actor,
                              "data": mask_deep(e.data)} for e in p.store.load_case_file(appeal.appeal_id)]
    return view


def unmask(p, appeal_id: str, who: Principal, reason: str) -> dict:
    return work.on_fresh_copy(lambda: _unmask_once(p, appeal_id, who, reason))


def _unmask_once(p, appeal_id: str, who: Principal, reason: str) -> dict:
    """Personal data in clear for a role that may see it, written to the audit trail first: the
    party fields, and the text as the citizen wrote it (phones or ID numbers typed into it)."""
    require(who, "party.unmask")
    if not isinstance(reason, str) or len(reason.strip()) < 4:
        raise ValidationError("say why you need the personal data (at least 4 characters)", field="reason")
    appeal = load_visible(p, appeal_id, who)
    require_unmask(who, appeal.anonymous)
    party = p.store.get_party(appeal_id)
    if party is None:
        raise NotFoundError("this appeal has no personal data", field="party")
    now = p.now()
    fields = ["name", "id_number", "phone", "text"]
    appeal.record(now, "party_unmasked", who.actor, {"reason": reason.strip(), "fields": fields,
                                                     "confidential": appeal.anonymous}, public=False)
    uow = p.store.unit_of_work(now)
    uow.track(appeal)
    uow.add(AuditEntry(appeal.region, appeal_id, who.actor, who.subject, "party.unmask", reason.strip(),
                       tuple(fields), now))
    work.commit(p, uow)   # the audit entry is written before anything is shown
    clear = p.sealer.unseal(party)
    return {"appeal_id": appeal_id, "name": clear.name, "id_number": clear.id_number, "phone": clear.phone,
            "confidential": appeal.anonymous, "title": appeal.title, "content": appeal.content,
            "address": appeal.location.address}


def audit_trail(p, region: str, day: str, who: Principal, limit: int = 200) -> list[dict]:
    require(who, "audit.read")
    return p.store.audit_trail(region, day, limit)


def inbox(p, who: Principal, queue: str | None, status: str | None, limit: int = 50) -> dict:
    """A list of appeals the person may see: their unit's inbox, their dispatch queue, the leaders'
    key queue, or their area; every item is re-checked against their jurisdiction."""
    queue, appeals = inbox_appeals(p, who, queue, status, limit)
    return {"queue": queue, "count": len(appeals),
            "appeals": [staff_view(p, a, who, with_case_file=False) for a in appeals]}


def inbox_appeals(p, who: Principal, queue: str | None, status: str | None, limit: int = 50) -> tuple[str, list]:
    """The queue read and its appeals (what `inbox` lists)."""
    require(who, "appeal.list")
    if not 1 <= limit <= 200:
        raise ValidationError("limit is 1..200", field="limit")
    queue = require_queue(who, queue)
    city = p.settings.city_code
    if queue == "unit":
        found = p.store.unit_inbox(who.unit_id or "-", status, limit)
    elif queue in ("dispatch", "key"):
        # City staff oversee the big loop and every district's small loop; district staff their own.
        loops = [who.jurisdiction[:6] if who.jurisdiction != city else city] + \
            (_districts(p) if who.jurisdiction == city else [])
        read = p.store.dispatch_queue if queue == "dispatch" else p.store.key_queue
        found = [a for loop in loops for a in read(loop, limit)]
    else:
        areas = [who.jurisdiction[:6]] if who.jurisdiction != city else _districts(p)
        found = [a for area in areas for a in p.store.area_appeals(area, limit)]
    seen: set[str] = set()  # a key appeal may sit in two of the queues read (its loop's, its place's)
    appeals = [a for a in found if a.appeal_id not in seen and not seen.add(a.appeal_id)
               and can_see(who, scope(p, a)) and (not status or a.status.value == status)]
    return queue, appeals[:limit]


def visit_queue(p, who: Principal, limit: int = 50) -> dict:
    """The visitors' queue (回访): the open return visits of the region, oldest due first, each
    re-checked against the person's jurisdiction; the appeals in one batch read."""
    require(who, "visit.list")
    if not 1 <= limit <= 200:
        raise ValidationError("limit is 1..200", field="limit")
    tasks = p.store.visit_queue(who.region, limit)
    appeals = {a.appeal_id: a for a in p.store.load_appeals(list(dict.fromkeys(t.appeal_id for t in tasks)))}
    model, now = p.region(who.region), p.now()
    entries = [visits.queue_entry(t, appeals[t.appeal_id], model, now) for t in tasks
               if t.appeal_id in appeals and can_see(who, scope(p, appeals[t.appeal_id]))]
    return {"count": len(entries), "visits": entries}


def _districts(p) -> list[str]:
    return sorted(p.region(p.settings.region_code).units.district_codes)


def _register_others() -> None:
    """Handling steps (F-HD), return visits (F-EV-3) and de-duplication corrections (F-DD-3) join
    the one registry."""
    for name, (permission, fields, fn) in handling.STAFF_ACTIONS.items():
        register(name, Action(permission, fields, fn))

    def split(p, appeal_id: str, who: Principal, reason: str) -> Appeal:
        return dedup.split(p, appeal_id, who.actor, reason)

    def merge(p, appeal_id: str, who: Principal, into_master_id: str, reason: str) -> Appeal:
        load_visible(p, into_master_id, who)  # both groups must be inside the dispatcher's area
        return dedup.merge(p, appeal_id, into_master_id, who.actor, reason)

    register("visit", Action("visit.record", visits.FIELDS, visits.record))   # 回访 (F-EV-3)
    register("tracking_renew", Action("tracking.renew", {}, tracking.renew))  # F-AR-2: revoke, issue anew
    register("split", Action("dedup.split", {"reason": (str, True)}, custom=split))
    register("merge", Action("dedup.merge", {"into_master_id": (str, True), "reason": (str, True)}, custom=merge))


_register_others()
