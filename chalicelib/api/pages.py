"""The citizen's and the public's pages (F-AR-2, F-AR-3): server-rendered HTML from the kit in
chalicelib/web, the same content as JSON for channel partners (`Accept: application/json`).

    GET  /track/{token}            the citizen's page: the whole process, and the rating form
    POST /track/{token}/rating     the rating, from that form (or JSON)
    GET  /public                   the public record: closed appeals, searchable; the rankings' top
    GET  /public/units/{unit_id}   a unit's record and its recent closed appeals
    GET  /public/rankings          one ranking whole (?period=30d|year&metric=...)
    GET  /static/{name}            the vendored stylesheet
"""
from __future__ import annotations

import functools
import json
from typing import Any, Callable
from urllib.parse import parse_qsl, urlencode, urlsplit

from chalice import Blueprint, Response

from chalicelib.api import wiring
from chalicelib.api.caching import IMMUTABLE, PRIVATE, PUBLIC, cached
from chalicelib.api.errors import error_response
from chalicelib.domain import ranking
from chalicelib.domain.errors import DomainError, NotFoundError, ValidationError
from chalicelib.domain.public_view import RATING_LABELS
from chalicelib.observability import logger
from chalicelib.services import evaluation, intake, public_record
from chalicelib.web.render import render, static_file

bp = Blueprint(__name__)

HTML = "text/html; charset=utf-8"
JSON = "application/json; charset=utf-8"
FORM = "application/x-www-form-urlencoded"
TRACK_HEADERS = {"Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}   # the link is the key
PAGE_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy":
                "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'"}
TITLES = {400: "请求有误", 404: "未找到", 409: "无法完成", 500: "系统繁忙"}


def wants_json() -> bool:
    req = bp.current_request
    accept = (req.headers.get("accept") or "").lower()
    return "application/json" in accept and "text/html" not in accept.split("application/json")[0]


def page(view: Callable[..., Response]) -> Callable[..., Response]:
    """A page's errors: the JSON error body for JSON clients, else the kit's error page with the
    same status (the message names the field; it never echoes input)."""
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except DomainError as exc:
            if wants_json():
                return error_response(exc.status, exc.code, exc.message, exc.field)
            return _html(page_html("error.html", title=TITLES.get(exc.status, "无法完成"), message=exc.message),
                         exc.status)
        except Exception:  # noqa: BLE001 - ours: logged, answered without details
            logger.exception("unhandled error on a page")
            if wants_json():
                return error_response(500, "internal", "internal error; it has been logged")
            return _html(page_html("error.html", title=TITLES[500], message="页面暂时无法显示，请稍后再试。"), 500)
    return wrapper


def base() -> str:
    """The path the app is served under (an API Gateway stage, a custom domain's base path), from
    the public base URL: every link and form of a page starts with it."""
    return urlsplit(wiring.PLATFORM.settings.public_base_url).path.rstrip("/")


def page_html(template: str, **context: Any) -> str:
    return render(template, base=base(), **context)


def _html(body: str, status: int = 200, headers: dict | None = None) -> Response:
    return Response(body=body, status_code=status, headers={"Content-Type": HTML, **PAGE_HEADERS, **(headers or {})})


def _answer(data: Any, template: str, cache: str, headers: dict | None = None, status: int = 200,
            **context: Any) -> Response:
    if wants_json():
        return cached(bp.current_request.headers, json.dumps(data, ensure_ascii=False), JSON, cache, status,
                      headers)
    return cached(bp.current_request.headers, page_html(template, **context), HTML, cache, status,
                  {**PAGE_HEADERS, **(headers or {})})


def _query() -> dict[str, str]:
    q = bp.current_request.query_params
    return {k: q[k] for k in q} if q else {}


# --- the citizen -------------------------------------------------------------------------------

@bp.route("/track/{token}", methods=["GET"])
@page
def track(token: str):
    p = wiring.PLATFORM
    v = public_record.citizen_view(p, token)
    flash = "感谢您的评价。" if _query().get("rated") == "1" else None
    return _answer(v, "track.html", PRIVATE, TRACK_HEADERS, v=v, flash=flash, error=None,
                   rate_url=f"{base()}/track/{token}/rating")


@bp.route("/track/{token}/rating", methods=["POST"], content_types=[FORM, "application/json"])
@page
def rate(token: str):
    p, req = wiring.PLATFORM, bp.current_request
    ctype = (req.headers.get("content-type") or "").split(";")[0].strip().lower()
    body = req.raw_body or b""
    if ctype == "application/json":
        result = evaluation.rate_on_page(p, token, intake.decode_object(body))
        return Response(body=json.dumps(result, ensure_ascii=False), status_code=200,
                        headers={"Content-Type": JSON, **TRACK_HEADERS})
    form = form_fields(body)
    try:
        evaluation.rate_on_page(p, token, form)
    except DomainError as exc:
        if isinstance(exc, NotFoundError):
            raise
        v = public_record.citizen_view(p, token)
        return _html(page_html("track.html", v=v, flash=None, error=_rating_error(exc),
                               rate_url=f"{base()}/track/{token}/rating"),
                     exc.status, TRACK_HEADERS)
    return Response(body="", status_code=303, headers={"Location": f"{base()}/track/{token}?rated=1", **TRACK_HEADERS})


def form_fields(body: bytes) -> dict[str, str]:
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        raise ValidationError("the form is not valid UTF-8 form data", field="body") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise ValidationError("a form field is given twice", field=name)
        form[name] = value
    return form


def _rating_error(exc: DomainError) -> str:
    """What the form tells the citizen (in Chinese, naming the field)."""
    labels = {**RATING_LABELS, "comment": "意见"}
    if exc.status == 409:
        return "答复之后才能评价。" if exc.code == "not_answered" else "这次答复已经评价过了。"
    if exc.field in RATING_LABELS:
        return f"请检查“{labels[exc.field]}”：每项请选 1 到 5 分。"
    if exc.field == "comment":
        return "请检查“意见”：最多 500 字。"
    return "提交的内容有误，请重新填写。"


# --- the public --------------------------------------------------------------------------------

def _options(p) -> dict[str, list[tuple[str, str]]]:
    rt = p.region(p.settings.region_code)
    names = rt.names
    level1 = sorted({(code[:2], l1) for code, (l1, _, _) in names.categories.items() if code[:2].isdigit()})
    return {"categories": level1, "districts": sorted(names.districts.items()),
            "streets": sorted(names.streets.items(), key=lambda kv: kv[0])}


@bp.route("/public", methods=["GET"])
@page
def public_index():
    p = wiring.PLATFORM
    params = _query()
    listing = public_record.public_list(p, params)
    top = public_record.rankings(p)
    period = (top.get("periods") or {}).get("30d") or {}
    metrics = [(m.name, period.get("metrics", {}).get(m.name)) for m in ranking.METRICS]
    data = {**listing, "totals": (top.get("totals") or {}).get("30d"), "rankings": top}
    next_url = f"{base()}/public?{urlencode({**listing['filters'], 'before': listing['next']})}" \
        if listing["next"] else None
    return _answer(data, "public_index.html", PUBLIC, rows=listing["rows"], filters=listing["filters"],
                   next_url=next_url, totals=data["totals"], top_metrics=[(n, m) for n, m in metrics if m],
                   error=None, **_options(p))


@bp.route("/public/units/{unit_id}", methods=["GET"])
@page
def public_unit(unit_id: str):
    p = wiring.PLATFORM
    u = public_record.unit_page(p, unit_id)
    next_url = f"{base()}/public?{urlencode({'unit': unit_id, 'before': u['next']})}" if u["next"] else None
    return _answer(u, "public_unit.html", PUBLIC, u=u, next_url=next_url)


@bp.route("/public/rankings", methods=["GET"])
@page
def public_rankings():
    p = wiring.PLATFORM
    q = _query()
    period, metric = q.get("period") or "30d", q.get("metric") or "satisfaction"
    page = q.get("page") or "1"
    if not page.isdigit() or int(page) < 1:
        raise ValidationError("page: a whole number from 1", field="page")
    r = public_record.rankings(p, period, metric, int(page))
    labels = [(m.name, m.label) for m in ranking.METRICS]
    return _answer(r, "public_rankings.html", PUBLIC, r=r, period=period, metric=metric, metrics=labels,
                   metric_label=dict(labels)[metric], periods=public_record.PERIODS)


@bp.route("/static/{name}", methods=["GET"])
@page
def static(name: str):
    found = static_file(name)
    if found is None:
        raise NotFoundError("no such file", field="name")
    body, ctype, _ = found
    return cached(bp.current_request.headers, body.decode(), ctype, IMMUTABLE)
