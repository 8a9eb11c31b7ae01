"""研判 (F-AN): the staff API's dashboards, one screen, rankings, alerts and reports, and the
one-screen page. JSON routes take the bearer token; what a browser GETs (the screen page, its
data, a report file) also takes the session cookie (set by the browser's sign-in,
chalicelib/api/signin.py, or for API clients by `POST /staff/session`), never a change."""
from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, quote

from chalice import Blueprint, Response

from chalicelib import auth, signin
from chalicelib.api import wiring
from chalicelib.api.caching import PRIVATE, cached
from chalicelib.api.errors import json_response, route
from chalicelib.api.pages import HTML, JSON, PAGE_HEADERS, base, page, wants_json
from chalicelib.api.security import inline_hashes
from chalicelib.domain.errors import AuthenticationError, ValidationError
from chalicelib.services import analytics_read, reports, staff
from chalicelib.web.render import render

bp = Blueprint(__name__)
NONE = "'none'"

SCREEN_HEADERS = {**PAGE_HEADERS, "Content-Security-Policy":
                  "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; connect-src 'self'; "
                  "form-action 'self'; base-uri 'none'"}


def _who(session: bool = True):
    headers = dict(bp.current_request.headers)
    return staff.signed_in(wiring.PLATFORM, auth.principal_from(headers, session=session))


def _query(allowed: tuple[str, ...]) -> dict[str, str]:
    q = bp.current_request.query_params or {}
    unknown = sorted(set(q) - set(allowed))
    if unknown:
        # A parameter with no name (`?=x`) is named `query`: the field is never empty.
        raise ValidationError(f"{unknown[0] or 'query'}: unknown parameter (allowed: {', '.join(allowed)})",
                              field=unknown[0] or "query")
    return {k: q[k] for k in q}


@route(bp, "/staff/analytics", methods=["GET"])
def dashboard():
    """The scope's figures over a period: ?period=day|week|month|30d&date=YYYY-MM-DD&scope=<code>."""
    who = _who()
    return json_response(analytics_read.dashboard(wiring.PLATFORM, who, _query(("period", "date", "scope"))))


@route(bp, "/staff/analytics/screen", methods=["GET"])
def screen_data():
    who = _who()
    return json_response(analytics_read.screen(wiring.PLATFORM, who, _query(("scope",)).get("scope")))


@route(bp, "/staff/analytics/alerts", methods=["GET"])
def alerts():
    """The spike alerts (热点预警) of the reader's scope, newest first."""
    who = _who()
    return json_response(analytics_read.alert_feed(wiring.PLATFORM, who, _query(("scope",)).get("scope")))


@route(bp, "/staff/analytics/hotspots", methods=["GET"])
def hotspots():
    """热点问题: the most raised category groups by street over 7 days, and the hot words."""
    who = _who()
    return json_response(analytics_read.hot_problems(wiring.PLATFORM, who, _query(("scope",)).get("scope")))


@route(bp, "/staff/reports", methods=["GET"])
def report_list():
    who = _who()
    return json_response(reports.listing(wiring.PLATFORM, who, _query(("scope",)).get("scope")))


@route(bp, "/staff/reports/{kind}/{name}", methods=["GET"])
def report_file(kind: str, name: str):
    """One report file: /staff/reports/daily/2026-12-02.html (or .csv) ?scope=<code>."""
    who = _who()
    body, content_type, filename = reports.download(wiring.PLATFORM, who, kind, name,
                                                     _query(("scope",)).get("scope"))
    disposition = "inline" if filename.endswith(".html") else "attachment"
    text = body.decode("utf-8")
    # The report's own inline script (a file that opens offline carries it) draws its charts with
    # the platform's ECharts: those blocks, by hash, and nothing else run.
    scripts, styles = inline_hashes(text)
    return Response(body=text, status_code=200, headers={
        "Content-Type": content_type, "Content-Disposition": f'{disposition}; filename="{filename}"',
        "Cache-Control": "private, max-age=300", "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": f"default-src 'none'; style-src {' '.join(styles) or NONE}; "
                                   f"script-src 'self' {' '.join(scripts)}".rstrip() +
                                   "; img-src data:; base-uri 'none'; frame-ancestors 'none'"})


@bp.route("/staff/screen", methods=["GET"])
@page
def screen_page():
    """一屏观全市: the command centre's screen (refreshes itself every minute)."""
    try:
        who = _who()
    except AuthenticationError:
        if wants_json():
            raise
        # Signed out, or the session's token expired: sign in (code flow) and come back here.
        scope = (bp.current_request.query_params or {}).get("scope")
        back = "/staff/screen" + (f"?scope={quote(scope, safe='')}" if scope else "")
        return Response(body="", status_code=302, headers={"Location": f"{base()}/staff/sign-in?next={quote(back)}",
                                                           "Cache-Control": "no-store"})
    q = _query(("scope",))
    data = analytics_read.screen(wiring.PLATFORM, who, q.get("scope"))
    root = base()
    data_url = f"{root}/staff/analytics/screen" + (f"?scope={data['scope']['code']}" if q.get("scope") else "")
    if wants_json():
        return cached(bp.current_request.headers, json.dumps(data, ensure_ascii=False), JSON, PRIVATE)
    csrf = auth.csrf_for(auth.session_token(dict(bp.current_request.headers)) or "")   # the sign-out form's
    return cached(bp.current_request.headers, render("screen.html", base=root, data=data, data_url=data_url,
                                                     csrf=csrf), HTML, PRIVATE, 200, SCREEN_HEADERS)


@bp.route("/staff/session", methods=["POST"], content_types=["application/x-www-form-urlencoded", "application/json"])
@page
def sign_in():
    """A session for API clients and scripts: the ID token (posted, never in a URL) is verified
    and kept in an HttpOnly, SameSite=Strict cookie until it expires. Browsers sign in through
    the code flow instead (GET /staff/sign-in, chalicelib/api/signin.py)."""
    req = bp.current_request
    raw = (req.raw_body or b"").decode("utf-8", "replace")
    if (req.headers.get("content-type") or "").startswith("application/json"):
        try:
            doc = json.loads(raw or "{}")
        except ValueError:
            raise ValidationError("body: not valid JSON", field="body") from None
        token = str((doc if isinstance(doc, dict) else {}).get("token", ""))
        nxt = "/staff/screen"
    else:
        form = {k: v[0] for k, v in parse_qs(raw).items()}
        token, nxt = form.get("token", "").strip(), form.get("next", "/staff/screen")
    if not token:
        raise ValidationError("token: the ID token of your sign-in", field="token")
    who = staff.signed_in(wiring.PLATFORM, auth.verify(token))
    root = base()
    secure = "; Secure" if wiring.PLATFORM.settings.public_base_url.startswith("https://") else ""
    left = max(1, signin.seconds_left(token, time.time()))   # the session ends with the token
    cookie = f"{auth.SESSION_COOKIE}={token}; Path={root or '/'}; Max-Age={left}; HttpOnly; SameSite=Strict{secure}"
    target = signin.safe_next(nxt, "/staff/screen")
    return Response(body=json.dumps({"signed_in": who.username, "role": who.role.value}, ensure_ascii=False),
                    status_code=303, headers={"Location": f"{root}{target}", "Set-Cookie": cookie,
                                              "Content-Type": JSON, "Cache-Control": "no-store"})
