"""What the citizen and the public see of an appeal (全流程可视 F-AR-2, 一网晒单亮责 F-AR-3). Pure.

An appeal's public view is built from the aggregate and its new case events each time a change
commits (services/public_views.py writes it in the same transaction): a summary (status,
category, street-level area, unit, deadline, the public answer, the rating) and a timeline
that only grows. Both are made of a whitelist: each case-event kind the citizen may see maps to
an entry naming only public facts (a unit's name, never a person; the deadline it was held to;
the answer and reasons with personal data scrubbed by domain.privacy.scrub_public). Internal
notes, leaders' instructions, de-duplication scores, returns and alerts have no entry.

The same summary feeds the public record (`record_summary`, written when a listed appeal
closes); the units' figures are the analytics counters (domain/metrics.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Iterable, Mapping

from chalicelib.domain.lifecycle import CaseEvent, Status
from chalicelib.domain.timefmt import iso

Scrub = Callable[[str], str]

STATUS_LABELS = {"accepted": "已受理", "dispatched": "办理中", "replied": "已答复，待评价", "redo": "重办中",
                 "closed": "已办结"}
STEP_LABELS = {"sign": "签收", "contact": "联系诉求人", "reply": "答复", "redo": "重办"}
CONTACT_LABELS = {"direct": "承办单位已联系诉求人", "relay": "承办单位经热线中心与诉求人沟通",
                  "not_possible": "承办单位无法直接联系诉求人（已说明原因）"}
RATING_LABELS = {"speed": "处置速度", "effect": "处置效果", "service": "服务体验", "reply_quality": "反馈质量"}
TEXT_LIMIT = 2000          # characters of an answer or a reason shown publicly
EXCERPT = 120              # characters of the content in a public-record row


@dataclass(frozen=True)
class PublicPolicy:
    """A region's public-record rules (policy.json `public_record`)."""

    non_public_prefixes: tuple[str, ...] = ()   # catalog codes (or prefixes) never listed publicly
    hide_house_numbers: bool = True             # house numbers below the building are scrubbed
    min_volume: int = 10                        # a unit with fewer cases in a period is not ranked
    confidence: float = 0.95                    # of the bound the rankings rank by

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> "PublicPolicy":
        d = d or {}
        return cls(tuple(d.get("non_public_categories", ())), d.get("house_numbers", "hide") != "show",
                   int(d.get("min_volume", 10)), float(d.get("confidence", 0.95)))

    def is_public_category(self, code: str | None) -> bool:
        return bool(code) and not any(code.startswith(p) for p in self.non_public_prefixes)


PUBLIC_POLICY_KEYS = {"non_public_categories", "house_numbers", "min_volume", "confidence", "note"}


def public_policy_problems(doc: Any, catalog_codes: Iterable[str]) -> list[tuple[str, str]]:
    """Every problem of a policy.json "public_record" section, as (field, message)."""
    if not isinstance(doc, dict):
        return [("", "must be an object")]
    out = [(k, f"unknown key (allowed: {', '.join(sorted(PUBLIC_POLICY_KEYS))})") for k in doc
           if k not in PUBLIC_POLICY_KEYS]
    codes = list(catalog_codes)
    prefixes = doc.get("non_public_categories", [])
    if not isinstance(prefixes, list) or not all(isinstance(x, str) and x for x in prefixes):
        out.append(("non_public_categories", "must be a list of catalog codes or code prefixes"))
    else:
        out += [("non_public_categories", f"{x!r} is no catalog code nor the start of one")
                for x in prefixes if not any(c.startswith(x) for c in codes)]
    if doc.get("house_numbers", "hide") not in ("hide", "show"):
        out.append(("house_numbers", "hide or show"))
    volume = doc.get("min_volume", 10)
    if not isinstance(volume, int) or isinstance(volume, bool) or volume < 1:
        out.append(("min_volume", "a whole number of at least 1"))
    confidence = doc.get("confidence", 0.95)
    if not isinstance(confidence, (int, float)) or isinstance(confidence, bool) or not 0.5 <= confidence < 1:
        out.append(("confidence", "a number from 0.5 up to (not including) 1"))
    return out


@dataclass(frozen=True)
class Names:
    """What the codes of a region are called (from its live pack)."""

    units: Mapping[str, str] = field(default_factory=dict)
    districts: Mapping[str, str] = field(default_factory=dict)
    streets: Mapping[str, str] = field(default_factory=dict)
    categories: Mapping[str, tuple[str, str, str]] = field(default_factory=dict)   # code -> level1, 2, item

    def unit(self, unit_id: str | None) -> dict[str, str] | None:
        return {"id": unit_id, "name": self.units.get(unit_id, "承办单位")} if unit_id else None

    def category(self, code: str | None) -> dict[str, str] | None:
        if not code:
            return None
        names = self.categories.get(code)
        if names is None:   # an Open311 service (LL.MM): its group's names
            names = next(((l1, l2, "") for c, (l1, l2, _) in self.categories.items() if c.startswith(code)),
                         ("", "", ""))
        return {"code": code, "level1": names[0], "level2": names[1], "item": names[2]}


def category_code(appeal) -> str | None:
    """The appeal's duty-catalog leaf once dispatched, else an Open311 request's service (LL.MM)."""
    return appeal.assignment.catalog_code or appeal.channel_meta.get("service_code") or None


def is_private(appeal, policy: PublicPolicy) -> bool:
    """保密 appeals and categories the region keeps out of public lists: counted, never listed."""
    code = category_code(appeal)
    return bool(appeal.anonymous) or (bool(code) and not policy.is_public_category(code))


def is_listed(appeal, policy: PublicPolicy) -> bool:
    """Listed publicly (Open311, the public record): a master (a joined report shows under its
    master), whose category is known and public, and not kept private."""
    return appeal.status != Status.JOINED and not appeal.master_id and category_code(appeal) is not None \
        and not is_private(appeal, policy)


def in_open311_list(appeal, policy: PublicPolicy) -> bool:
    """Listed by Open311 (the city's public requests, FixMyStreet-style): every request whose own
    category is known and public and that is not kept private, a joined report too (it shows the
    handling of its master)."""
    return category_code(appeal) is not None and not is_private(appeal, policy)


def open311_bucket(summary: Mapping[str, Any]) -> str:
    """Which of Open311's lists a view is in: open, closed, or joined (its status is its master's)."""
    if summary.get("master_id"):
        return "joined"
    return "closed" if summary.get("status") == "closed" else "open"


def _due(appeal, step: str) -> str | None:
    deadline = appeal.handling_clock.deadline(step)
    return iso(deadline.due_at) if deadline is not None else None


def _held(appeal, step: str, at: datetime) -> dict[str, Any]:
    """The deadline a step was held to, and whether it was met."""
    deadline = appeal.handling_clock.deadline(step)
    if deadline is None:
        return {}
    return {"due_at": iso(deadline.due_at), "on_time": at <= deadline.due_at}


def timeline_entry(appeal, event: CaseEvent, names: Names, scrub: Scrub) -> dict[str, Any] | None:
    """The public entry of one case event, or None for what the citizen does not see."""
    d = event.data
    base = {"seq": event.seq, "at": iso(event.at), "kind": event.kind}
    unit = names.unit(d.get("unit_id"))
    kind = event.kind
    if not event.public:
        return None
    if kind == "accepted":
        return {**base, "label": "诉求已受理"}
    if kind == "joined_master":
        return {**base, "label": "与其他市民反映的同一问题合并办理"}
    if kind == "duplicate_joined":
        return {**base, "label": "又有市民反映了同一问题", "reports": appeal.weight}
    if kind == "split_from_master":
        return {**base, "label": "经核实不是同一问题，单独办理"}
    if kind == "dispatched":
        return {**base, "label": f"已派单至{unit['name'] if unit else '承办单位'}", "unit": unit}
    if kind == "deadlines_set":
        dues = {step: d[step] for step in ("sign", "contact", "reply", "redo") if step in d}
        return {**base, "label": "办理时限已确定", "due": dues}
    if kind == "signed":
        return {**base, "label": f"{unit['name'] if unit else '承办单位'}已签收", "unit": unit,
                **_held(appeal, "sign", event.at)}
    if kind == "contacted":
        return {**base, "label": CONTACT_LABELS.get(d.get("how", "direct"), CONTACT_LABELS["direct"]), "unit": unit,
                **_held(appeal, "contact", event.at)}
    if kind == "extension_approved":
        deadline = d.get("deadline") or {}
        reason = (d.get("requested") or {}).get("reason", "")
        return {**base, "label": f"{STEP_LABELS.get(d.get('step'), '办理')}时限已延期", "due_at": deadline.get("due_at"),
                "reason": scrub(reason[:TEXT_LIMIT])}
    if kind == "replied":
        return {**base, "label": f"{unit['name'] if unit else '承办单位'}已答复", "unit": unit,
                "answer": scrub(d.get("answer", "")[:TEXT_LIMIT]), **_held(appeal, "reply", event.at)}
    if kind == "rated":
        scores = {k: int(d[k]) for k in RATING_LABELS if k in d}
        return {**base, "label": "市民已评价：" + ("不满意" if d.get("unsatisfied") else "满意"), "scores": scores,
                "satisfied": not d.get("unsatisfied")}
    if kind == "sent_back_for_redo":
        return {**base, "label": "市民不满意，退回承办单位重办"}
    if kind == "special_supervision":
        return {**base, "label": "重办后仍不满意，转专项督办"}
    if kind == "closed":
        return {**base, "label": "已办结"}
    if kind == "return_visit":
        if not d.get("reached"):
            return {**base, "label": "回访未接通"}
        return {**base, "label": f"回访：{d.get('resolved', '')}，{d.get('satisfied', '')}",
                "resolved": d.get("resolved"), "satisfied_level": d.get("satisfied")}
    if kind == "reopened_after_visit":
        return {**base, "label": "回访发现问题未解决，转专项督办" if d.get("to") == "supervised"
                else "回访发现问题未解决，退回承办单位重办"}
    return None


def timeline(appeal, events: Iterable[CaseEvent], names: Names, scrub: Scrub) -> list[dict[str, Any]]:
    return [e for e in (timeline_entry(appeal, x, names, scrub) for x in events) if e is not None]


def summary(appeal, names: Names, policy: PublicPolicy, scrub: Scrub, closed_at: str | None) -> dict[str, Any]:
    """The appeal as the public may know it (no party, no ticket, no channel key, no staff)."""
    status = appeal.public_status()
    reply = appeal.evaluation.reply
    rating = appeal.evaluation.rating
    location = appeal.location
    code = category_code(appeal)
    return {
        "appeal_id": appeal.appeal_id,
        "region": appeal.region,
        "status": status,
        "status_label": STATUS_LABELS.get(status, status),
        "received_at": iso(appeal.received_at),
        "updated_at": iso(appeal.public_changed_at or appeal.received_at),
        "title": scrub(appeal.title or ""),
        "content": scrub(appeal.content or ""),
        "address": scrub(location.address or ""),
        # About a hundred metres: where the problem is, not which door.
        "lat": round(location.lat, 3) if location.lat is not None else None,
        "lng": round(location.lng, 3) if location.lng is not None else None,
        "category": names.category(code),
        "service_code": code[:5] if code else None,
        "district": {"code": appeal.district_code, "name": names.districts.get(appeal.district_code, "")}
        if appeal.district_code else None,
        "street": {"code": appeal.street_code, "name": names.streets.get(appeal.street_code, "")}
        if appeal.street_code else None,
        "unit": names.unit(appeal.assignment.unit_id),
        "due_at": _due(appeal, "redo") if status == "redo" else _due(appeal, "reply"),
        "answer": {"text": scrub(reply.answer[:TEXT_LIMIT]), "at": iso(reply.at), "unit": names.unit(reply.unit_id)}
        if reply is not None and status in ("replied", "closed") else None,
        "rating": {"scores": {k: int(rating.scores[k]) for k in RATING_LABELS if k in rating.scores},
                   "satisfied": not rating.unsatisfied, "at": iso(rating.at), "round": rating.round}
        if rating is not None else None,
        "closed_at": closed_at if status == "closed" else None,
        # A photo the citizen published through Open311 (a public API) with the request.
        "media_url": appeal.attachments[0] if appeal.channel == "open311" and appeal.attachments else None,
        "reports": appeal.weight,
        "people": appeal.distinct_reporters,
        "redo_count": appeal.evaluation.redo_count,
        "master_id": appeal.master_id,
        "private": is_private(appeal, policy),
        "listed": is_listed(appeal, policy),
    }


def closed_at_of(events: Iterable[CaseEvent], before: str | None) -> str | None:
    """When the appeal closed: this change's `closed` event, else what the view said."""
    closing = [e for e in events if e.kind == "closed"]
    return iso(closing[-1].at) if closing else before


def record_summary(view: Mapping[str, Any]) -> dict[str, Any]:
    """One row of the public record (一网晒单): a closed, listed appeal, small enough to list."""
    content = view.get("content") or ""
    return {k: view.get(k) for k in ("appeal_id", "received_at", "closed_at", "category", "district", "street",
                                     "unit", "rating", "reports", "title")} | {
        "excerpt": content[:EXCERPT] + ("…" if len(content) > EXCERPT else ""),
        "answer": (view.get("answer") or {}).get("text", "")[:600],
    }
