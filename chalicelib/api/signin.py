"""Staff sign-in in a browser (单点登录): the OIDC authorization code flow with PKCE.

    GET  /staff/sign-in?next=/staff/...      302 to the IdP's sign-in page; the state, the PKCE
                                             verifier and `next` wait in the `jiesu_login` cookie
    GET  /staff/auth/callback?code=&state=   the IdP sends the browser back: the state checked
                                             against the cookie, the code exchanged, the ID token
                                             verified (chalicelib/auth.verify), the session cookie
                                             set for the token's life; a page moves on to `next`
    POST /staff/session/end                  sign out: the session cookie cleared, then the IdP's
                                             sign-out (if it has one), else back to sign-in

API clients keep `Authorization: Bearer` (and `POST /staff/session`, chalicelib/api/analytics.py).
The ID token, the code and the verifier are never logged and never put in a URL we build.
"""
from __future__ import annotations

import hmac
import json
import time

from chalice import Blueprint, Response

from chalicelib import auth, signin
from chalicelib.api import wiring
from chalicelib.api.errors import error_response
from chalicelib.api.pages import HTML, JSON, PAGE_HEADERS, base, form_fields, page, page_html, wants_json
from chalicelib.domain.errors import AuthenticationError, DomainError, ValidationError
from chalicelib.observability import logger
from chalicelib.services import staff
from chalicelib.settings import get_settings

bp = Blueprint(__name__)

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache", "Referrer-Policy": "no-referrer"}
FORMS = ["application/x-www-form-urlencoded", "application/json", "text/plain", "multipart/form-data"]
TITLES = {400: "登录未完成", 401: "登录被拒绝", 403: "无法登录", 502: "登录暂不可用"}
# What the page says, per error code (the JSON body keeps the English message and the field).
SAID = {
    "bad_state": "这次登录已失效（可能已超过 10 分钟，或在另一个窗口重新开始过），请重新登录。",
    "sign_in_refused": "统一身份认证拒绝了这次登录。",
    "code_refused": "登录凭证无效或已经用过，请重新登录。",
    "missing_code": "统一身份认证没有返回登录凭证，请重新登录。",
    "bad_issuer_param": "登录回应不是来自本区域的统一身份认证，请重新登录。",
    "idp_unavailable": "暂时无法连接统一身份认证，请稍后再试。",
    "sign_in_unconfigured": "本区域尚未配置工作人员登录，请联系管理员。",
    "token_expired": "登录已过期，请重新登录。",
}
TOKEN_REFUSED = "统一身份认证签发的令牌未通过校验，请联系管理员。"


def _request():
    return bp.current_request


def _secure() -> str:
    return "; Secure" if wiring.PLATFORM.settings.public_base_url.startswith("https://") else ""


def _login_cookie(value: str, max_age: int) -> str:
    """SameSite=Lax: it has to come back on the IdP's top-level redirect to the callback."""
    return (f"{signin.LOGIN_COOKIE}={value}; Path={base()}{signin.LOGIN_COOKIE_PATH}; Max-Age={max_age}; "
            f"HttpOnly; SameSite=Lax{_secure()}")


def _session_cookie(token: str, max_age: int) -> str:
    return (f"{auth.SESSION_COOKIE}={token}; Path={base() or '/'}; Max-Age={max_age}; HttpOnly; "
            f"SameSite=Strict{_secure()}")


def _public(path: str) -> str:
    """An absolute URL of ours, as registered with the IdP."""
    return wiring.PLATFORM.settings.public_base_url.rstrip("/") + path


def _query(allowed: tuple[str, ...] | None = None) -> dict[str, str]:
    q = _request().query_params or {}
    if allowed is not None:
        unknown = sorted(set(q) - set(allowed))
        if unknown:
            raise ValidationError(f"{unknown[0] or 'query'}: unknown parameter (allowed: {', '.join(allowed)})",
                                  field=unknown[0] or "query")
    return {k: q[k] for k in q}


def _refused(exc: DomainError, next_path: str) -> Response:
    """A sign-in that did not complete: the JSON error for JSON clients, else the sign-in page
    saying why (in Chinese) with a link to start again; the sign-in cookie is cleared."""
    headers = {**NO_STORE, "Set-Cookie": _login_cookie("", 0)}
    if wants_json():
        resp = error_response(exc.status, exc.code, exc.message, exc.field)
        resp.headers.update(headers)
        return resp
    text = SAID.get(exc.code) or (TOKEN_REFUSED if exc.field == auth.FIELD else exc.message)
    body = page_html("sign_in.html", title=TITLES.get(exc.status, "登录未完成"), message=text, next_url=next_path)
    return Response(body=body, status_code=exc.status, headers={"Content-Type": HTML, **PAGE_HEADERS, **headers})


@bp.route(signin.SIGN_IN_PATH, methods=["GET"])
@page
def staff_sign_in():
    """Start a sign-in: a fresh state and PKCE pair, kept in the browser for 10 minutes."""
    nxt = signin.safe_next(_query(("next",)).get("next"))
    try:
        s = get_settings()
        ep = signin.endpoints(s)
    except DomainError as exc:
        return _refused(exc, nxt)
    verifier, challenge = signin.pkce_pair()
    login = signin.LoginState(signin.new_state(), verifier, nxt)
    location = signin.authorize_url(ep.authorize, s.oidc_audience, _public(signin.CALLBACK_PATH), login.state,
                                    challenge)
    return Response(body="", status_code=302, headers={
        "Location": location, **NO_STORE,
        "Set-Cookie": _login_cookie(signin.login_cookie_value(login), signin.LOGIN_MAX_AGE_S)})


@bp.route(signin.CALLBACK_PATH, methods=["GET"])
@page
def auth_callback():
    """The IdP's answer. 200 with a page that moves on (not a 302 to `next`): the session cookie
    is SameSite=Strict, and a browser does not send it on the rest of a redirect chain that began
    on the IdP's site, so a redirect would land signed out."""
    login = signin.read_login_cookie(signin.cookie(dict(_request().headers), signin.LOGIN_COOKIE))
    nxt = login.next if login else signin.DEFAULT_NEXT
    try:
        token, who = _complete(login)
        left = signin.seconds_left(token, time.time())
        if left < 1:
            raise AuthenticationError("token expired", field=auth.FIELD, code="token_expired")
    except DomainError as exc:
        return _refused(exc, nxt)
    logger.info("staff sign-in", extra={"role": who.role.value, "jurisdiction": who.jurisdiction})
    target = f"{base()}{nxt}"
    headers = {**PAGE_HEADERS, **NO_STORE,
               "Set-Cookie": [_session_cookie(token, left), _login_cookie("", 0)]}
    if wants_json():
        body = json.dumps({"signed_in": who.username, "role": who.role.value, "next": target}, ensure_ascii=False)
        return Response(body=body, status_code=200, headers={**headers, "Content-Type": JSON})
    body = page_html("staff_onward.html", title="已登录", text=f"{who.username}，欢迎。正在进入工作页面。",
                     next_url=target)
    return Response(body=body, status_code=200, headers={**headers, "Content-Type": HTML})


def _complete(login: signin.LoginState | None):
    """Check the IdP's answer against the sign-in in progress, exchange the code, verify the token."""
    q = _query()
    if q.get("error"):
        raise AuthenticationError("the identity provider refused the sign-in", field="error", code="sign_in_refused")
    state = q.get("state") or ""
    if login is None:
        raise ValidationError("state: no sign-in is in progress in this browser (its cookie is missing or "
                              "expired); start again", field="state", code="bad_state")
    if not hmac.compare_digest(state.encode(), login.state.encode()):
        raise ValidationError("state: does not match this browser's sign-in; start again", field="state",
                              code="bad_state")
    s = get_settings()
    if q.get("iss") and q["iss"].rstrip("/") != s.oidc_issuer.rstrip("/"):   # RFC 9207 mix-up defence
        raise ValidationError("iss: the answer is not from this region's identity provider", field="iss",
                              code="bad_issuer_param")
    code = q.get("code") or ""
    if not code:
        raise ValidationError("code: the identity provider sent no authorization code", field="code",
                              code="missing_code")
    ep = signin.endpoints(s)
    secret = wiring.PLATFORM.secrets(s.oidc_client_secret_ref) if s.oidc_client_secret_ref else None
    token = signin.exchange_code(ep.token, code, _public(signin.CALLBACK_PATH), s.oidc_audience, login.verifier,
                                 secret)
    return token, staff.signed_in(wiring.PLATFORM, auth.verify(token))


def _posted(req) -> dict:
    """A posted form's fields, or a JSON object's (anything else: no fields)."""
    raw = req.raw_body or b""
    if (req.headers.get("content-type") or "").lower().startswith("application/json"):
        try:
            doc = json.loads(raw or b"{}")
        except ValueError:
            raise ValidationError("body: not valid JSON", field="body") from None
        return doc if isinstance(doc, dict) else {}
    if (req.headers.get("content-type") or "").lower().startswith("application/x-www-form-urlencoded"):
        return form_fields(raw)
    return {}


@bp.route("/staff/session/end", methods=["POST"], content_types=FORMS)
@page
def staff_sign_out():
    """Sign out: the session cookie goes; then the IdP's sign-out (Cognito: `logout?client_id=
    &logout_uri=`), which returns to /staff/sign-in, or straight to /staff/sign-in without one.
    A browser's form gets a page that moves on, not a 303: the staff pages' CSP `form-action
    'self'` also covers where a form's redirects lead, and Chromium refuses one to the IdP."""
    req = _request()
    token = auth.session_token(dict(req.headers))
    if token:                   # a session to end: only from its own pages' form (anti-forgery value)
        auth.require_csrf(token, _posted(req).get("csrf"))
    target = f"{base()}{signin.SIGN_IN_PATH}"
    s = get_settings()
    try:
        ep = signin.endpoints(s)
    except DomainError:         # no IdP reachable: signed out here all the same
        ep = None
    if ep and ep.logout:
        target = signin.logout_url(ep.logout, s.oidc_audience, _public(signin.SIGN_IN_PATH))
    cookie = f"{auth.SESSION_COOKIE}=; Path={base() or '/'}; Max-Age=0; HttpOnly; SameSite=Strict{_secure()}"
    headers = {**NO_STORE, "Set-Cookie": cookie}
    if "text/html" not in (_request().headers.get("accept") or "").lower():
        return Response(body="", status_code=303, headers={**headers, "Location": target})
    body = page_html("staff_onward.html", title="已退出登录", text="您已退出登录。", next_url=target)
    return Response(body=body, status_code=200, headers={**headers, **PAGE_HEADERS, "Content-Type": HTML})
