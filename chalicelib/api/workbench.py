"""The staff workbench (工作台, F-OP): server-rendered pages over the staff use cases.

    GET  /staff/work                         the person's list (?queue=unit|dispatch|key|area)
    GET  /staff/work/appeals/{id}            one case file, with the forms of what may be done now
    POST /staff/work/appeals/{id}            one action from its form (field `action`)
    POST /staff/work/appeals/{id}/unmask     personal data in clear, with a reason (audited), shown once
    GET  /staff/work/feed                    a leader's followed appeals, newest change first
    GET  /staff/work/reports                 the written reports of the person's scope

A page reads the session cookie (signed in at /staff/sign-in); a form also carries the session's
anti-forgery value and a one-time key, so a second submit of the same form does nothing. A
refusal shows on the same page, in Chinese, with what was typed kept.
"""
from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from chalice import Blueprint, Response

from chalicelib import auth
from chalicelib.api import wiring
from chalicelib.api.pages import FORM, HTML, PAGE_HEADERS, base, form_fields, page, page_html
from chalicelib.domain.access import may
from chalicelib.domain.errors import AuthenticationError, DomainError, NotFoundError, ValidationError
from chalicelib.domain.records import Nonce
from chalicelib.services import handling, reports, staff, workbench

bp = Blueprint(__name__)

WORK_HEADERS = {**PAGE_HEADERS, "Cache-Control": "no-store", "Content-Security-Policy":
                "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; form-action 'self'; "
                "base-uri 'none'; frame-ancestors 'none'"}
FORM_KEY_DAYS = 2


class _SignIn(Exception):
    """Not signed in (or the session expired): the page sends the browser to sign in."""


def _who(form: dict[str, str] | None = None):
    headers = dict(bp.current_request.headers)
    try:
        principal = auth.page_principal(headers, form.get("csrf")) if form is not None else \
            auth.principal_from(headers, session=True)
    except AuthenticationError:
        raise _SignIn() from None
    return staff.signed_in(wiring.PLATFORM, principal)


def _html(body: str, status: int = 200) -> Response:
    return Response(body=body, status_code=status, headers={"Content-Type": HTML, **WORK_HEADERS})


def _sign_in_redirect(path: str) -> Response:
    return Response(body="", status_code=302, headers={"Location": f"{base()}/staff/sign-in?next={quote(path)}",
                                                       "Cache-Control": "no-store"})


def _signed(view):
    """A workbench page: signed out → to sign-in and back; everything else as `page` does."""
    def wrapper(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except _SignIn:
            req = bp.current_request
            if req.method != "GET":     # a form's redirect chain to the IdP is refused by form-action 'self'
                return _html(page_html("staff_onward.html", next_url=f"{base()}/staff/sign-in?next=/staff/work",
                                       title="请重新登录", text="登录已过期。"), 401)
            path = (req.context.get("resourcePath") or "/staff/work").format(**(req.uri_params or {}))
            query = "&".join(f"{quote(k)}={quote(v)}" for k, v in _query().items())
            return _sign_in_redirect(path + (f"?{query}" if query else ""))
        except DomainError as exc:      # a refusal with no form to show it in: said in Chinese
            said = workbench.refusal(exc)
            return _html(page_html("error.html", title=workbench.STATUS_TEXT.get(exc.status, "无法完成"),
                                   message=said["text"]), exc.status)
    wrapper.__name__ = view.__name__
    wrapper.__doc__ = view.__doc__
    return page(wrapper)


def _context(who, **more: Any) -> dict[str, Any]:
    token = auth.session_token(dict(bp.current_request.headers)) or ""
    return {"who": who, "csrf": auth.csrf_for(token), "role_label": ROLE_LABELS.get(who.role.value, who.role.value),
            "may_screen": may(who, "analytics.read"), "may_reports": may(who, "reports.read"),
            "may_feed": may(who, "leader.follow"), "queues": workbench.queues_of(who), **more}


ROLE_LABELS = {"dispatcher": "派单员", "unit_handler": "承办人", "unit_manager": "单位负责人", "leader": "领导",
               "auditor": "审计", "visitor": "回访员", "admin": "管理员"}


def _query() -> dict[str, str]:
    q = bp.current_request.query_params
    return {k: q[k] for k in q} if q else {}


@bp.route("/staff/work", methods=["GET"])
@_signed
def work():
    who = _who()
    data = workbench.queue_page(wiring.PLATFORM, who, _query().get("queue"))
    return _html(page_html("work_queue.html", data=data, **_context(who)))


def _case(who, appeal_id: str, status: int = 200, **more: Any) -> Response:
    p = wiring.PLATFORM
    data = workbench.case_page(p, who, appeal_id)
    lists = workbench.pick_lists(p, who.region) if any(
        f["list"] for a in data["actions"] for f in a["fields"]) else {"catalog": [], "units": []}
    context = {"data": data, "lists": lists, "form_key": secrets.token_urlsafe(16), "typed": {}, "error": None,
               "done": None, "clear": None, "extension_default": workbench.default_extension(data["appeal"])}
    context.update(more)
    return _html(page_html("work_case.html", **context, **_context(who)), status)


@bp.route("/staff/work/appeals/{appeal_id}", methods=["GET"])
@_signed
def case(appeal_id: str):
    who = _who()
    done = _query().get("done")
    label = workbench.OFFERED.get(done or "", ("",))[0]
    return _case(who, appeal_id, done=f"已完成：{label}" if label else None)


def _spend(who, key: str) -> bool:
    """The form's one-time key: False when this form was submitted already."""
    if not key or len(key) > 64:
        raise ValidationError("the form has no valid key: reload the page", field="form_key")
    now = wiring.PLATFORM.now()
    expires = int((now + timedelta(days=FORM_KEY_DAYS)).timestamp())
    return wiring.PLATFORM.store.put_once(Nonce(f"form:{who.subject}", key, now, expires), now)


@bp.route("/staff/work/appeals/{appeal_id}", methods=["POST"], content_types=[FORM])
@_signed
def act(appeal_id: str):
    form = form_fields(bp.current_request.raw_body or b"")
    who = _who(form)
    name = form.get("action", "")
    p = wiring.PLATFORM
    try:
        body = workbench.form_body(name, form)
        if not _spend(who, form.get("form_key", "")):
            return _case(who, appeal_id, 409, error=workbench.refusal(
                DomainError("this form was submitted already", field="form_key", code="already_submitted")),
                typed={"action": name})
        staff.perform(p, appeal_id, name, who, body)
    except DomainError as exc:
        if isinstance(exc, NotFoundError) and exc.field in (None, "appeal_id"):
            raise
        return _case(who, appeal_id, exc.status, error=workbench.refusal(exc), typed={**form, "action": name})
    return Response(body="", status_code=303, headers={
        "Location": f"{base()}/staff/work/appeals/{appeal_id}?done={quote(name)}", "Cache-Control": "no-store"})


@bp.route("/staff/work/appeals/{appeal_id}/unmask", methods=["POST"], content_types=[FORM])
@_signed
def unmask(appeal_id: str):
    form = form_fields(bp.current_request.raw_body or b"")
    who = _who(form)
    try:
        clear = staff.unmask(wiring.PLATFORM, appeal_id, who, form.get("reason", ""))
    except DomainError as exc:
        return _case(who, appeal_id, exc.status, error=workbench.refusal(exc), typed={**form, "action": "unmask"})
    return _case(who, appeal_id, clear=clear)


@bp.route("/staff/work/feed", methods=["GET"])
@_signed
def feed():
    who = _who()
    entries = handling.feed(wiring.PLATFORM, who.subject, 50) if may(who, "leader.follow") else None
    if entries is None:
        raise DomainError("only leaders follow appeals", field="role", code="forbidden_action")
    rows = [{**e, "label": workbench.KIND_LABELS.get(e["kind"], e["kind"])} for e in entries]
    return _html(page_html("work_feed.html", rows=rows, **_context(who)))


@bp.route("/staff/work/reports", methods=["GET"])
@_signed
def report_list():
    who = _who()
    listing = reports.listing(wiring.PLATFORM, who)
    return _html(page_html("work_reports.html", listing=listing, **_context(who)))
