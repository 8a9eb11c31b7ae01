"""The stand-in's authorization server: the OAuth 2.0 / OIDC endpoints of Cognito's hosted UI, on 127.0.0.1.

Why it exists: moto (5.2.5, the version in .venv) serves Cognito's *API* (`cognito-idp`:
admin_initiate_auth, the pool's JWKS, a discovery document) but not its hosted UI.
moto/cognitoidp/urls.py routes only `/`, `/<pool>/.well-known/jwks.json` and
`/<pool>/.well-known/openid-configuration`; that document names no `authorization_endpoint` and
no `token_endpoint`, and `/oauth2/authorize`, `/oauth2/token` and `/logout` have no route at all
(tests/unit/test_signin.py fails the day moto gains them). This small stdlib server adds exactly
those, so the browser's sign-in (chalicelib/signin.py) runs locally as against Cognito:

    GET  /.well-known/openid-configuration   its endpoints (issuer: the tokens' issuer)
    GET  /oauth2/authorize                   the sign-in form (用户名/密码), the request's
                                             client_id, redirect_uri, state and PKCE challenge kept
    POST /oauth2/authorize                   the form: authenticate(username, password) -> ID token;
                                             wrong: the form again, 401, 用户名或密码错误; right: a
                                             one-time code (60 s), 302 to redirect_uri?code=&state=
    POST /oauth2/token                       code (once only) + client_id + redirect_uri +
                                             code_verifier (S256 of it = the challenge) -> the ID token
    GET  /logout?client_id=&logout_uri=      302 to logout_uri (a registered one)

Who signs in is pluggable: `authenticate(username, password)` returns an ID token (None or
`Refused` when the password is wrong). `make run` passes Cognito's own (infra/identity.py
`authenticator`: admin_initiate_auth with ADMIN_NO_SRP_AUTH on the moto pool), so the tokens are
moto's and verify against moto's JWKS; tests pass their test IdP's. There is no single sign-on
session: every authorize asks for the password. Codes live in memory (a restart forgets them; a
code is good for 60 s). Nothing logged carries a code, a token, a verifier or a password.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import secrets
import threading
import time
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterable

import jwt

CODE_TTL_S = 60
MAX_BODY = 64 * 1024
PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'"


class Refused(Exception):
    """`authenticate`'s answer to a wrong username or password."""


Authenticate = Callable[[str, str], "str | None"]


@dataclass(frozen=True)
class RegisteredClient:
    """An app client as the IdP knows it (Cognito: its CallbackURLs and LogoutURLs)."""
    client_id: str
    redirect_uris: tuple[str, ...]
    logout_uris: tuple[str, ...] = ()
    secret: str | None = None        # a confidential client authenticates at the token endpoint


@dataclass(frozen=True)
class _Grant:
    client_id: str
    redirect_uri: str
    challenge: str
    id_token: str
    expires_at: float


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


def _is_pkce_value(value: str) -> bool:
    return 43 <= len(value) <= 128 and all(c.isascii() and (c.isalnum() or c in "-._~") for c in value)


def _with_query(url: str, params: dict[str, str]) -> str:
    return url + ("&" if urllib.parse.urlsplit(url).query else "?") + urllib.parse.urlencode(params)


class OidcStandIn:
    """The server; `start()` serves it on a thread, `stop()` closes it. Port 0: any free port."""

    def __init__(self, authenticate: Authenticate, clients: Iterable[RegisteredClient], *, issuer: str | None = None,
                 jwks_url: str = "", port: int = 0, log: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.authenticate, self.jwks_url, self.log, self.clock = authenticate, jwks_url, log or (lambda line: None), clock
        self._clients = {c.client_id: c for c in clients}
        self._grants: dict[str, _Grant] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        self._server.daemon_threads = True
        self._issuer = issuer
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def issuer(self) -> str:
        return self._issuer or self.url

    def env(self) -> dict[str, str]:
        """The app's settings for this IdP's endpoints (chalicelib/settings.py)."""
        return {"JIESU_OIDC_AUTHORIZE_URL": f"{self.url}/oauth2/authorize",
                "JIESU_OIDC_TOKEN_URL": f"{self.url}/oauth2/token", "JIESU_OIDC_LOGOUT_URL": f"{self.url}/logout"}

    def register(self, client: RegisteredClient) -> None:
        with self._lock:
            self._clients[client.client_id] = client

    def client(self, client_id: str) -> RegisteredClient | None:
        with self._lock:
            return self._clients.get(client_id)

    def start(self) -> "OidcStandIn":
        self._thread = threading.Thread(target=self._server.serve_forever, name="oidc-standin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- what the endpoints decide (the handler below only speaks HTTP) ---------------------------

    def discovery(self) -> dict:
        return {"issuer": self.issuer, "authorization_endpoint": f"{self.url}/oauth2/authorize",
                "token_endpoint": f"{self.url}/oauth2/token", "end_session_endpoint": f"{self.url}/logout",
                "jwks_uri": self.jwks_url, "response_types_supported": ["code"],
                "grant_types_supported": ["authorization_code"], "code_challenge_methods_supported": ["S256"],
                "scopes_supported": ["openid"], "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"]}

    def check_authorize(self, q: dict[str, str]) -> tuple[int, str] | None:
        """None when the request may show the form; else (400, a page) for an unknown client or
        redirect (never redirected to), or (302, redirect_uri with an OAuth error)."""
        client = self.client(q.get("client_id", ""))
        if client is None or q.get("redirect_uri") not in client.redirect_uris:
            return 400, "客户端或回调地址未在统一身份认证登记（client_id / redirect_uri）。"
        error = None
        if q.get("response_type") != "code":
            error = "unsupported_response_type"
        elif "openid" not in q.get("scope", "").split():
            error = "invalid_scope"
        elif q.get("code_challenge_method") != "S256" or not _is_pkce_value(q.get("code_challenge", "")):
            error = "invalid_request"
        if error:
            params = {"error": error, **({"state": q["state"]} if q.get("state") else {})}
            return 302, _with_query(q["redirect_uri"], params)
        return None

    def sign_in(self, form: dict[str, str]) -> str | None:
        """The redirect (with a fresh code) for right credentials, None for wrong ones."""
        try:
            token = self.authenticate(form.get("username", ""), form.get("password", ""))
        except Refused:
            token = None
        if not token:
            self.log("[idp] sign-in refused: wrong username or password")
            return None
        code = secrets.token_urlsafe(32)
        grant = _Grant(form["client_id"], form["redirect_uri"], form["code_challenge"], token,
                       self.clock() + CODE_TTL_S)
        with self._lock:
            now = self.clock()
            for old in [c for c, g in self._grants.items() if g.expires_at <= now]:
                del self._grants[old]
            self._grants[code] = grant
        self.log(f"[idp] {form.get('username', '')} signed in; code issued for {grant.client_id}")
        params = {"code": code, **({"state": form["state"]} if form.get("state") else {})}
        return _with_query(grant.redirect_uri, params)

    def token(self, form: dict[str, str], basic: tuple[str, str] | None) -> tuple[int, dict]:
        """RFC 6749 §4.1.3 with RFC 7636 §4.6: (status, JSON answer)."""
        client_id = basic[0] if basic else form.get("client_id", "")
        client = self.client(client_id)
        if client is None or (form.get("client_id") and form["client_id"] != client_id):
            return 401, {"error": "invalid_client", "error_description": "unknown client"}
        if client.secret is not None:
            given = basic[1] if basic else form.get("client_secret", "")
            if not hmac.compare_digest(given.encode(), client.secret.encode()):
                return 401, {"error": "invalid_client", "error_description": "client authentication failed"}
        if form.get("grant_type") != "authorization_code":
            return 400, {"error": "unsupported_grant_type"}
        with self._lock:
            grant = self._grants.pop(form.get("code", ""), None)     # once only, whatever follows
        refusal = None
        if grant is None or grant.expires_at <= self.clock():
            refusal = "the code is unknown, used already or expired"
        elif grant.client_id != client_id:
            refusal = "the code was issued to another client"
        elif form.get("redirect_uri") != grant.redirect_uri:
            refusal = "redirect_uri differs from the authorization request's"
        elif not _is_pkce_value(form.get("code_verifier", "")) or s256(form["code_verifier"]) != grant.challenge:
            refusal = "code_verifier does not match the code_challenge (S256)"
        if refusal:
            self.log(f"[idp] token refused (invalid_grant): {refusal}")
            return 400, {"error": "invalid_grant", "error_description": refusal}
        exp = jwt.decode(grant.id_token, options={"verify_signature": False}).get("exp")
        expires_in = max(0, int(exp - time.time())) if isinstance(exp, (int, float)) else 3600
        return 200, {"id_token": grant.id_token, "token_type": "Bearer", "expires_in": expires_in}

    def logout(self, q: dict[str, str]) -> str | None:
        client = self.client(q.get("client_id", ""))
        target = q.get("logout_uri", "")
        return target if client is not None and target in client.logout_uris else None


def form_page(q: dict[str, str], error: str | None = None) -> str:
    """The sign-in form (Chinese), carrying the authorize request's parameters as hidden fields."""
    keep = ("response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method")
    hidden = "\n".join(f'<input type="hidden" name="{k}" value="{html.escape(q.get(k, ""))}">' for k in keep)
    notice = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><title>统一身份认证 · 登录</title>
<style>body{{font:16px/1.6 system-ui,sans-serif;background:#f5f7fa;margin:0}}main{{max-width:22rem;margin:3rem auto;
background:#fff;padding:1.5rem;border:1px solid #e4e7eb;border-radius:.5rem}}label{{display:block;margin:.6rem 0 .2rem}}
input[type=text],input[type=password]{{width:100%;padding:.45rem;box-sizing:border-box}}button{{margin-top:1rem;
padding:.55rem 1rem;background:#1565c0;color:#fff;border:0;border-radius:.3rem}}.error{{color:#c62828}}
.sub{{color:#616e7c;font-size:.9rem}}</style></head>
<body><main><h1>统一身份认证</h1><p class="sub">工作人员登录（本地演示：代替 Cognito 托管登录页）</p>
{notice}
<form method="post" action="/oauth2/authorize">
{hidden}
<label for="username">用户名</label><input type="text" id="username" name="username" autocomplete="username" required
 value="{html.escape(q.get("username", ""))}">
<label for="password">密码</label><input type="password" id="password" name="password" autocomplete="current-password" required>
<button type="submit">登录</button>
</form></main></body></html>"""


def _message_page(text: str) -> str:
    return (f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>统一身份认证</title></head>'
            f'<body><h1>统一身份认证</h1><p role="alert">{html.escape(text)}</p></body></html>')


def _basic(header: str | None) -> tuple[str, str] | None:
    scheme, _, value = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(value.strip()).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return urllib.parse.unquote_plus(user), urllib.parse.unquote_plus(password)


def _handler(idp: OidcStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _send(self, status: int, body: str = "", content_type: str = "text/html; charset=utf-8",
                  headers: dict | None = None) -> None:
            data = body.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("Referrer-Policy", "no-referrer")
            if content_type.startswith("text/html"):
                self.send_header("Content-Security-Policy", PAGE_CSP)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def _json(self, status: int, doc: dict) -> None:
            self._send(status, json.dumps(doc), "application/json", {"Pragma": "no-cache"})

        def _query(self) -> dict[str, str]:
            return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))

        def _form(self) -> dict[str, str] | None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                return None
            return dict(urllib.parse.parse_qsl(self.rfile.read(length).decode("utf-8", "replace")))

        def do_GET(self):  # noqa: N802 - http.server's naming
            path, q = urllib.parse.urlsplit(self.path).path, self._query()
            if path == "/.well-known/openid-configuration":
                return self._json(200, idp.discovery())
            if path == "/oauth2/authorize":
                check = idp.check_authorize(q)
                if check is None:
                    return self._send(200, form_page(q))
                status, where = check
                return self._send(302, headers={"Location": where}) if status == 302 else \
                    self._send(400, _message_page(where))
            if path == "/logout":
                target = idp.logout(q)
                if target is None:
                    return self._send(400, _message_page("退出地址未在统一身份认证登记（client_id / logout_uri）。"))
                return self._send(302, headers={"Location": target})
            return self._json(404, {"error": "not_found"})

        def do_POST(self):  # noqa: N802
            path, form = urllib.parse.urlsplit(self.path).path, self._form()
            if form is None:
                return self._json(413, {"error": "invalid_request", "error_description": "body too large"})
            if path == "/oauth2/authorize":
                check = idp.check_authorize(form)
                if check is not None:
                    status, where = check
                    return self._send(302, headers={"Location": where}) if status == 302 else \
                        self._send(400, _message_page(where))
                where = idp.sign_in(form)
                if where is None:
                    return self._send(401, form_page(form, "用户名或密码错误"))
                return self._send(302, headers={"Location": where})
            if path == "/oauth2/token":
                status, doc = idp.token(form, _basic(self.headers.get("Authorization")))
                return self._json(status, doc)
            return self._json(404, {"error": "not_found"})

        def log_message(self, *args):   # the request line carries codes and states: not logged
            pass

    return Handler
