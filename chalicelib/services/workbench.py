"""The staff workbench (F-OP): what a dispatcher's, a unit's and a leader's pages show, and the
forms they act through. Every figure and every action comes from the staff use cases
(services/staff.py); this module only shapes them for people: working-time countdowns, the
dispatch suggestions, the actions a person may take now with their fields, labels in Chinese,
and a refusal of the API said in Chinese with the field it concerns.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Mapping

from chalicelib.domain.access import QUEUES, Principal, may
from chalicelib.domain.appeal import Appeal
from chalicelib.domain.calendar import SHANGHAI
from chalicelib.domain.errors import DomainError, ValidationError
from chalicelib.domain.lifecycle import Status
from chalicelib.domain.public_view import STATUS_LABELS as PUBLIC_STATUS_LABELS
from chalicelib.domain.timefmt import parse_iso
from chalicelib.domain.units import choose_unit
from chalicelib.services import dispatch, staff

QUEUE_LABELS = {"unit": "本单位待办", "dispatch": "待派单", "key": "重点诉求", "area": "辖区诉求"}
STATUS_LABELS = {"received": "已受理", "joined": "已并案", "pending_dispatch": "待派单", "dispatched": "待签收",
                 "signed": "已签收", "contacted": "已联系", "replied": "已答复", "redo": "重办中",
                 "supervised": "督办中", "closed": "已办结"}
STEP_LABELS = {"sign": "签收", "contact": "联系诉求人", "reply": "答复", "redo": "重办答复"}
STATE_LABELS = {"ok": "正常", "warning": "临期预警", "overdue": "红色预警", "supervise": "督办"}
KIND_LABELS = {
    "accepted": "受理", "joined_master": "并入主件", "duplicate_joined": "重复件并入", "duplicate_split": "拆分重复件",
    "split_from_master": "从主件拆出", "master_changed": "主件变更", "duplicates_moved": "重复件转移",
    "queued_for_dispatcher": "转人工派单", "dispatched": "派单", "signed": "签收", "contacted": "联系诉求人",
    "replied": "答复", "unit_note": "办理记录", "returned": "退回", "disputed": "退回争议", "escalated": "上报",
    "joint_handling": "联合办理", "flagged_key": "列为重点", "consultation_opened": "发起会商",
    "consultation_closed": "会商结束", "extension_requested": "申请延期", "extension_approved": "延期批准",
    "extension_refused": "延期驳回", "leader_instruction": "领导批示", "followed": "领导关注",
    "unfollowed": "取消关注", "rated": "市民评价", "closed": "办结", "redo": "重办", "sent_back_for_redo": "退回重办",
    "special_supervision": "专项督办", "reopened_after_visit": "回访后重启", "return_visit": "回访",
    "deadlines_set": "时限开始", "deadline_recomputed": "时限重算", "urgency_raised": "紧急程度提高",
    "deadline_warning": "临期预警", "red_alert": "红色预警", "supervision_notice": "督办通知",
    "party_unmasked": "查看个人信息", "dedup_checked": "查重",
}
# Why an appeal waits for a dispatcher, as the dispatch stage and the units' steps put it.
QUEUE_REASONS = (("returned by unit", "承办单位退回"), ("disputed: needs arbitration", "多次退回，需仲裁"),
                 ("escalated by unit", "承办单位上报"), ("location not resolved", "未能定位"),
                 ("out of catalogue", "目录外事项（兜底）"), ("confidence", "分类置信度不足"))


def queue_reason(reason: str | None) -> str | None:
    """The reason in Chinese, the stage's own words kept after it (they name the figures)."""
    if not reason:
        return None
    for start, said in QUEUE_REASONS:
        if reason.startswith(start):
            rest = reason[len(start):].lstrip(" :")
            return f"{said}（{rest}）" if rest else said
    return reason

# The actions a page offers: label, the statuses in which it makes sense (None: any open one),
# and the order they are shown in. Whether it is allowed is the use case's to say: a refusal
# shows on the page like any other.
OPEN = frozenset(s for s in Status if s not in (Status.CLOSED, Status.JOINED))
HANDLING = frozenset({Status.DISPATCHED, Status.SIGNED, Status.CONTACTED, Status.REDO, Status.SUPERVISED})
OFFERED: dict[str, tuple[str, frozenset[Status] | None]] = {
    "sign": ("签收", frozenset({Status.DISPATCHED, Status.REDO, Status.SUPERVISED})),
    "contact": ("联系诉求人", frozenset({Status.SIGNED})),
    "note": ("办理记录", HANDLING),
    "reply": ("答复诉求人", HANDLING - {Status.DISPATCHED}),
    "extension_request": ("申请延期", HANDLING - {Status.DISPATCHED}),
    "return": ("退回（非本单位职责）", frozenset({Status.DISPATCHED, Status.SIGNED})),
    "escalate": ("上报", frozenset({Status.DISPATCHED, Status.SIGNED, Status.CONTACTED})),
    "assign": ("下派", HANDLING),
    "dispatch": ("派单", frozenset({Status.PENDING_DISPATCH})),
    "arbitrate": ("仲裁（退回争议）", frozenset({Status.PENDING_DISPATCH})),
    "joint": ("联合办理", HANDLING),
    "extension_decide": ("延期审批", HANDLING),
    "flag_key": ("列为重点", OPEN),
    "consult_open": ("发起会商", OPEN),
    "consult_close": ("结束会商", OPEN),
    "split": ("拆分（不是同一诉求）", frozenset({Status.JOINED})),
    "merge": ("并入另一主件", OPEN - {Status.RECEIVED}),
    "instruct": ("批示", OPEN | {Status.CLOSED}),
    "follow": ("关注", None),
    "unfollow": ("取消关注", None),
    "name_unit": ("指定承办单位", OPEN),
}
FIELD_LABELS = {
    "note": "记录", "how": "联系方式", "answer": "答复内容", "attachments": "附件链接（每行一个）",
    "reason": "理由", "new_due_at": "申请延至", "approve": "审批", "unit_id": "单位", "catalog_code": "事项（目录）",
    "instruction": "要求", "assisting_unit_ids": "协办单位（每行一个编号）", "level": "会商层级", "units": "参会单位（每行一个编号）",
    "topic": "会商议题", "minutes": "会商纪要", "lead_unit_id": "主办单位", "into_master_id": "并入的主件编号",
    "text": "批示内容",
}
CHOICES = {"how": [("direct", "直接联系"), ("relay", "经热线中心转达")], "approve": [("true", "批准"), ("false", "驳回")],
           "level": [("1", "单位层面"), ("2", "区级"), ("3", "市级")]}
LONG_TEXT = {"note", "answer", "reason", "instruction", "topic", "minutes", "text", "attachments",
             "assisting_unit_ids", "units"}

# A refusal of the use cases, said in Chinese (by its code, else by its kind); the field is named too.
ERROR_TEXT = {
    "invalid_state": "当前状态下不能执行此操作", "forbidden_action": "您的角色无权执行此操作",
    "outside_jurisdiction": "该诉求不在您的辖区或单位范围内", "not_lead_unit": "只有主办单位可以执行此操作",
    "not_handling_unit": "只有承办单位可以执行此操作", "contact_required": "请先联系诉求人再答复",
    "return_too_late": "已超过可退回的时限", "needs_arbitration": "该件已被多次退回，需由派单员仲裁",
    "extension_pending": "已有待审批的延期申请", "no_pending_extension": "没有待审批的延期申请",
    "not_approver": "您不是此延期申请的审批人", "step_done": "该环节已完成", "no_consultation": "没有进行中的会商",
    "consultation_open": "会商正在进行中", "not_joined": "该件不是重复件", "not_master": "目标不是主件",
    "not_key": "该件不是重点诉求", "too_many_followers": "关注人数已达上限", "unknown_unit": "没有这个单位",
    "confidential": "保密诉求的个人信息只有派单中心可以查看", "first_handler_responsible": "首接单位须负责到底",
    "stale_deadline": "时限已变化，请刷新后重试", "concurrent_update": "该件刚被他人更新，请刷新后重试",
    "no_deadline": "该环节没有进行中的时限", "forbidden_queue": "您的角色不能查看这个列表",
    "already_submitted": "这张表单已经提交过，未重复执行",
    "bad_csrf": "表单不是从您当前的登录会话提交的，请刷新页面后重试", "not_found": "未找到该诉求",
}
STATUS_TEXT = {400: "填写有误", 401: "请重新登录", 403: "无权执行此操作", 404: "未找到", 409: "当前状态下不能执行此操作"}


def refusal(exc: DomainError) -> dict[str, Any]:
    """What a page says of a refusal: in Chinese, with the field it concerns, and the API's code."""
    text = ERROR_TEXT.get(exc.code) or STATUS_TEXT.get(exc.status, "无法完成")
    field = FIELD_LABELS.get(exc.field or "", "")
    if exc.status == 400 and exc.field:
        text = f"请检查「{field or exc.field}」" + ("" if exc.code == "invalid" else f"：{text}")
    return {"text": text, "field": exc.field, "code": exc.code, "status": exc.status, "detail": exc.message}


# --- lists ---------------------------------------------------------------------------------------

def queues_of(who: Principal) -> list[tuple[str, str]]:
    return [(q, QUEUE_LABELS[q]) for q, roles in QUEUES.items() if who.role in roles]


def queue_page(p, who: Principal, queue: str | None, limit: int = 50) -> dict[str, Any]:
    """A person's list: their unit's inbox soonest deadline first, the dispatch queue with each
    appeal's suggestions and why it waits, the key appeals of a leader's area."""
    queue, appeals = staff.inbox_appeals(p, who, queue, None, limit)
    now = p.now()
    model = p.region(who.region)
    rows = []
    for appeal in appeals:
        clocks = running(appeal, model, now)
        rows.append({**_row(staff.staff_view(p, appeal, who, with_case_file=False, with_party=False), model),
                     "assisting": bool(who.unit_id) and who.unit_id in appeal.assignment.assisting_unit_ids,
                     "countdowns": [_countdown(c) for c in clocks],
                     "next_due": clocks[0].due_at.isoformat() if clocks else None, "state": _worst(clocks)})
    if queue == "unit":
        rows.sort(key=lambda r: (r["next_due"] is None, r["next_due"] or "", r["appeal_id"]))
    return {"queue": queue, "queue_label": QUEUE_LABELS[queue], "queues": queues_of(who), "rows": rows,
            "count": len(rows)}


def _row(view: Mapping[str, Any], model) -> dict[str, Any]:
    info = view.get("dispatch_info") or {}
    where = info.get("location") or {}
    names = model.names
    return {
        "appeal_id": view["appeal_id"], "title": view.get("title") or "", "content": view.get("content") or "",
        "status": view["status"], "status_label": STATUS_LABELS.get(view["status"], view["status"]),
        "received_at": view["received_at"], "urgency": view.get("urgency"), "key": view.get("key"),
        "unit": names.units.get(view.get("unit_id") or "", view.get("unit_id") or ""),
        "street": names.streets.get(view.get("street_code") or "", ""),
        "district": names.districts.get(view.get("district_code") or "", ""),
        "reports": view.get("weight") or 1, "address": view.get("address") or "",
        "suggestions": [{**s, "unit": _suggested_unit(model, s.get("code"), where)}
                        for s in (info.get("suggestions") or [])[:3]],
        "confidence": info.get("confidence"),
        "queue_reason": queue_reason(info.get("reason")) if info.get("how") == "manual_queue" else None, "location_method": where.get("method"), "location_reason": where.get("reason"),
    }


def _suggested_unit(model, code: str | None, where: Mapping[str, Any]) -> dict[str, str] | None:
    """The unit a suggested leaf goes to at the resolved place (what dispatching it would pick)."""
    item = model.catalog.get(code or "")
    if item is None:
        return None
    place = _Place(where.get("district_code"), where.get("street_code"))
    choice = choose_unit(item, place, model.units)
    return {"unit_id": choice.unit.unit_id, "name": choice.unit.name}


@dataclass(frozen=True)
class _Place:
    district_code: str | None
    street_code: str | None
    community_code: str | None = None


def running(appeal: Appeal, model, now: datetime) -> list:
    """The countdowns of the steps a unit is working on (an appeal back with the dispatcher has none)."""
    return appeal.handling_clock.countdowns(model.calendar, now) if appeal.status in HANDLING else []


def _countdown(c) -> dict[str, Any]:
    return {"step": c.step, "step_label": STEP_LABELS.get(c.step, c.step), "due_at": c.due_at.isoformat(),
            "minutes_left": c.minutes_left, "left": left_text(c.minutes_left), "state": c.state,
            "state_label": STATE_LABELS[c.state], "extension_pending": c.extension_pending}


def left_text(minutes: int) -> str:
    """Working time left as people say it: 剩余 2天3小时 / 超期 45分钟."""
    m = abs(minutes)
    days, rest = divmod(m, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = ([f"{days}天"] if days else []) + ([f"{hours}小时"] if hours else []) + \
        ([f"{mins}分钟"] if mins and not days else [])
    return ("超期 " if minutes < 0 else "剩余 ") + ("".join(parts) or "0分钟")


def _worst(clocks) -> str:
    order = ["ok", "warning", "overdue", "supervise"]
    return max((c.state for c in clocks), key=order.index, default="ok")


# --- one appeal ----------------------------------------------------------------------------------

def case_page(p, who: Principal, appeal_id: str) -> dict[str, Any]:
    """The case file as staff read it (personal data masked), its countdowns, the dedup evidence
    and the forms of the actions the person may take now."""
    appeal = staff.load_visible(p, appeal_id, who)
    view = staff.staff_view(p, appeal, who)
    model = p.region(who.region)
    clocks = running(appeal, model, p.now())
    names = model.names.units
    events = [{**e, "label": KIND_LABELS.get(e["kind"], e["kind"]),
               "unit": names.get((e["data"] or {}).get("unit_id") or "", ""),
               "data": {**(e["data"] or {}), "reason": queue_reason((e["data"] or {}).get("reason"))}
               if e["kind"] == "queued_for_dispatcher" else e["data"] or {}} for e in view["case_file"]]
    row = _row(view, model)
    if not row["suggestions"] and appeal.status == Status.PENDING_DISPATCH:   # a returned one: suggest anew
        row["suggestions"] = _row({**view, "dispatch_info": {**(view.get("dispatch_info") or {}), **dispatch.decide(
            model, appeal.location.address, appeal.content, appeal.title).info}}, model)["suggestions"]
    evidence = [{"at": e["at"], "kind": e["label"], "score": e["data"].get("score"),
                 "matched_fields": e["data"].get("matched_fields") or {}, "master_id": e["data"].get("master_id"),
                 "reason": e["data"].get("reason"), "signal": e["data"].get("signal"),
                 "possible": e["data"].get("possible_duplicate")} for e in events if "matched_fields" in (e["data"] or {})]
    channels = {c.code: c.name for c in model.pack.channels}
    return {"appeal": view, "row": row, "events": events, "channel": channels.get(view["channel"], view["channel"]), "evidence": evidence,
            "countdowns": [_countdown(c) for c in clocks], "state": _worst(clocks),
            "status_label": STATUS_LABELS.get(view["status"], view["status"]),
            "public_status": PUBLIC_STATUS_LABELS.get(appeal.public_status(), ""),
            "actions": actions_for(who, appeal), "following": who.subject in appeal.followers,
            "assisting": bool(who.unit_id) and who.unit_id in appeal.assignment.assisting_unit_ids,
            "assisting_units": [model.names.units.get(u, u) for u in appeal.assignment.assisting_unit_ids],
            "may_unmask": may(who, "party.unmask") and view.get("party") is not None}


def actions_for(who: Principal, appeal: Appeal) -> list[dict[str, Any]]:
    """The forms of the actions this person's role may take, in this status."""
    out = []
    for name, (label, statuses) in OFFERED.items():
        action = staff.REGISTRY.get(name)
        if action is None or not may(who, action.permission):
            continue
        if statuses is not None and appeal.status not in statuses:
            continue
        if name == "follow" and who.subject in appeal.followers or name == "unfollow" and \
                who.subject not in appeal.followers:
            continue
        if name == "arbitrate" and not appeal.disputed:
            continue
        if name in ("consult_close",) and not appeal.consultation.get("open"):
            continue
        if name == "extension_decide" and appeal.pending_extension() is None:
            continue
        out.append({"name": name, "label": label, "fields": [_field(f, t, req) for f, (t, req) in action.fields.items()]})
    return out


def _field(name: str, typ: type, required: bool) -> dict[str, Any]:
    kind = "select" if name in CHOICES else "bool" if typ is bool else "number" if typ is int else \
        "datetime" if name == "new_due_at" else "textarea" if name in LONG_TEXT else "text"
    return {"name": name, "label": FIELD_LABELS.get(name, name), "kind": kind, "required": required,
            "choices": CHOICES.get(name, []), "list": "units" if name in ("unit_id", "lead_unit_id") else
            "catalog" if name == "catalog_code" else None}


def form_body(name: str, form: Mapping[str, str]) -> dict[str, Any]:
    """A submitted form as the action's JSON body: lists one per line, numbers, yes/no, a local
    time as an instant; empty fields left out (the use case says what is missing)."""
    action = staff.REGISTRY.get(name)
    if action is None:
        raise ValidationError("no such action", field="action")
    body: dict[str, Any] = {}
    for field, (typ, _) in action.fields.items():
        raw = (form.get(field) or "").strip()
        if not raw:
            continue
        if typ is list:
            body[field] = [x.strip() for x in raw.replace("，", "\n").replace(",", "\n").splitlines() if x.strip()]
        elif typ is bool:
            body[field] = raw == "true"
        elif typ is int:
            try:
                body[field] = int(raw)
            except ValueError:
                raise ValidationError(f"{field} must be a whole number", field=field) from None
        elif field == "new_due_at":
            body[field] = local_instant(raw, field)
        else:
            body[field] = raw
    return body


def local_instant(raw: str, field: str) -> str:
    """A browser's datetime-local value (Beijing time, no zone) as an ISO instant."""
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        raise ValidationError(f"{field}: a date and time", field=field) from None
    return (at if at.tzinfo else at.replace(tzinfo=SHANGHAI)).isoformat()


def default_extension(appeal_view: Mapping[str, Any]) -> str:
    """A proposal for the extension form: the reply deadline plus two days (local, minutes)."""
    due = ((appeal_view.get("deadlines") or {}).get("reply") or {}).get("due_at")
    if not due:
        return ""
    return (parse_iso(due).astimezone(SHANGHAI) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")


def pick_lists(p, region: str) -> dict[str, list[tuple[str, str]]]:
    """The dispatch forms' searchable lists: every catalog leaf and every unit, code first."""
    model = p.region(region)
    return {"catalog": sorted((code, f"{item.level2}·{item.item}") for code, item in model.catalog.items()),
            "units": sorted((u.unit_id, u.name) for u in model.units.units)}
