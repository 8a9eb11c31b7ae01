"""Staff sign-in in a browser: the OIDC authorization code flow with PKCE (RFC 6749 §4.1, RFC 7636).

Pure helpers and one HTTP call (the token exchange); the routes are in chalicelib/api/signin.py,
and the ID token the exchange returns is verified by chalicelib/auth.verify like any other. The
same code runs against Cognito (global regions: `https://<domain>/oauth2/authorize`,
`/oauth2/token`, `/logout`), a city IdP in the China partition (any OIDC provider: its endpoints
from settings or from `{issuer}/.well-known/openid-configuration`), and locally against
infra/oidc_standin.py.

- PKCE S256: a random verifier (`secrets`), challenge = BASE64URL(SHA-256(verifier)), unpadded.
  The verifier never leaves the browser's sign-in cookie and the token request's body.
- `state` ties the IdP's answer to the browser that started the sign-in (the cookie holds it).
- No `nonce`: PKCE already binds the code to this browser's verifier (OAuth 2.0 Security BCP,
  RFC 9700 §2.1.1), and an IdP that mints tokens without the authorize request (the stand-in's
  Cognito tokens) could not echo one.
- Nothing secret goes into a URL this module builds: the authorize URL carries the challenge
  and the state, the logout URL the client id and where to come back.
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

import jwt

from chalicelib.domain.errors import AuthenticationError, DomainError
from chalicelib.settings import Settings

SCOPE = "openid"
TIMEOUT_S = 10
CALLBACK_PATH = "/staff/auth/callback"
SIGN_IN_PATH = "/staff/sign-in"
DEFAULT_NEXT = "/staff/work"
LOGIN_COOKIE = "jiesu_login"
LOGIN_COOKIE_PATH = "/staff/auth"     # sent back to the callback only
LOGIN_MAX_AGE_S = 600
DISCOVERY_TTL_S = 3600
MAX_ANSWER_BYTES = 256 * 1024
# OAuth's own error codes (RFC 6749 §4.1.2.1, §5.2): the only IdP words a message may repeat.
OAUTH_ERRORS = frozenset({"invalid_request", "unauthorized_client", "access_denied", "unsupported_response_type",
                          "invalid_scope", "server_error", "temporarily_unavailable", "invalid_client",
                          "invalid_grant", "unsupported_grant_type", "login_required", "interaction_required",
                          "consent_required"})
# A local page under /staff/: path characters and a query, no scheme, no `//`, no backslash.
_NEXT = re.compile(r"/staff/[A-Za-z0-9._~%/-]*(\?[A-Za-z0-9._~%/=&+-]*)?")
_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


class IdentityProviderError(DomainError):
    """The IdP could not be reached, or answered what OIDC does not allow (ours to fix, not the user's)."""

    status = 502
    code = "idp_unavailable"


# --- PKCE and state -----------------------------------------------------------------------------

def code_challenge(verifier: str) -> str:
    """S256: BASE64URL(SHA-256(ASCII(verifier))) without `=` padding (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def pkce_pair() -> tuple[str, str]:
    """(verifier, challenge): 64 URL-safe characters from 48 random bytes, and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)
    return verifier, code_challenge(verifier)


def new_state() -> str:
    return secrets.token_urlsafe(32)


def is_verifier(value: str) -> bool:
    """43-128 characters of A-Z a-z 0-9 - . _ ~ (RFC 7636 §4.1)."""
    return bool(_VERIFIER.fullmatch(value or ""))


def safe_next(value: str | None, default: str = DEFAULT_NEXT) -> str:
    """Where to go after signing in: a local path under /staff/ (no scheme, no host, no `//`, no
    `..` segment, at most 1000 characters), else `default`."""
    if not value or len(value) > 1000 or not _NEXT.fullmatch(value):
        return default
    path = value.split("?", 1)[0]
    if "//" in value or any(seg in ("..", ".") for seg in path.split("/")):
        return default
    return value


def redirect_uri(public_base_url: str) -> str:
    """The callback the IdP sends the browser back to (registered with the IdP as it is)."""
    return public_base_url.rstrip("/") + CALLBACK_PATH


# --- endpoints ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Endpoints:
    authorize: str
    token: str
    logout: str = ""      # empty: the IdP has no sign-out endpoint we know of


_discovered: dict[str, tuple[float, dict]] = {}
_lock = threading.Lock()


def _checked(url: str, what: str) -> str:
    """An endpoint must be https (the code and the verifier travel to it), or http on this machine."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and parts.hostname in _LOOPBACK:
        return url
    raise IdentityProviderError(f"the identity provider's {what} endpoint must be an https URL", field="idp")


def _get_json(url: str) -> dict:
    req = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:
            doc = json.loads(resp.read(MAX_ANSWER_BYTES))
    except (urllib.error.URLError, TimeoutError, OSError, ValueError):
        raise IdentityProviderError("the identity provider's discovery document could not be read",
                                    field="idp") from None
    if not isinstance(doc, dict):
        raise IdentityProviderError("the identity provider's discovery document is not a JSON object", field="idp")
    return doc


def discover(issuer: str, now: float | None = None) -> dict:
    """`{issuer}/.well-known/openid-configuration`, cached for an hour per issuer (failures are not)."""
    now = time.monotonic() if now is None else now
    with _lock:
        hit = _discovered.get(issuer)
    if hit and now - hit[0] < DISCOVERY_TTL_S:
        return hit[1]
    doc = _get_json(issuer.rstrip("/") + "/.well-known/openid-configuration")
    if doc.get("issuer") not in (None, issuer, issuer.rstrip("/")):
        raise IdentityProviderError("the discovery document names another issuer", field="idp")
    with _lock:
        _discovered[issuer] = (now, doc)
    return doc


def clear_discovery_cache() -> None:
    with _lock:
        _discovered.clear()


def endpoints(s: Settings) -> Endpoints:
    """The IdP's endpoints: the configured ones; when the authorize or token URL is not configured,
    the discovery document's (`authorization_endpoint`, `token_endpoint`, `end_session_endpoint`),
    a configured one still winning. Cognito's discovery has no sign-out endpoint: configure
    JIESU_OIDC_LOGOUT_URL (https://<domain>/logout) there."""
    if not (s.oidc_issuer and s.oidc_audience):
        raise AuthenticationError("staff sign-in is not configured for this region", field="Authorization",
                                  code="sign_in_unconfigured")
    authorize, token, logout = s.oidc_authorize_url, s.oidc_token_url, s.oidc_logout_url
    if not (authorize and token):
        doc = discover(s.oidc_issuer)
        authorize = authorize or str(doc.get("authorization_endpoint") or "")
        token = token or str(doc.get("token_endpoint") or "")
        logout = logout or str(doc.get("end_session_endpoint") or "")
        if not (authorize and token):
            raise IdentityProviderError("the identity provider names no authorization or token endpoint",
                                        field="idp")
    return Endpoints(_checked(authorize, "authorization"), _checked(token, "token"),
                     _checked(logout, "logout") if logout else "")


def _with_query(url: str, params: dict[str, str]) -> str:
    return url + ("&" if urllib.parse.urlsplit(url).query else "?") + urllib.parse.urlencode(params)


def authorize_url(endpoint: str, client_id: str, redirect_to: str, state: str, challenge: str) -> str:
    return _with_query(endpoint, {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_to,
                                  "scope": SCOPE, "state": state, "code_challenge": challenge,
                                  "code_challenge_method": "S256"})


def logout_url(endpoint: str, client_id: str, return_to: str) -> str:
    """Cognito's `logout?client_id=&logout_uri=`; `post_logout_redirect_uri` says the same to an
    OIDC RP-initiated logout endpoint (each IdP ignores the other's name). No id_token_hint: the
    token stays out of URLs."""
    return _with_query(endpoint, {"client_id": client_id, "logout_uri": return_to,
                                  "post_logout_redirect_uri": return_to})


# --- the token exchange (the one HTTP call) -----------------------------------------------------

def exchange_code(endpoint: str, code: str, redirect_to: str, client_id: str, verifier: str,
                  client_secret: str | None = None) -> str:
    """POST the code and the verifier to the token endpoint; the ID token it answers. A
    confidential client authenticates with HTTP Basic (client_secret_basic, RFC 6749 §2.3.1)."""
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_to,
            "client_id": client_id, "code_verifier": verifier}
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    if client_secret:
        pair = f"{urllib.parse.quote_plus(client_id)}:{urllib.parse.quote_plus(client_secret)}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
    req = urllib.request.Request(endpoint, data=urllib.parse.urlencode(form).encode(), headers=headers,
                                 method="POST")
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:
            answer = json.loads(resp.read(MAX_ANSWER_BYTES))
    except urllib.error.HTTPError as exc:
        if exc.code in (400, 401):
            raise AuthenticationError(f"the identity provider refused the sign-in code ({_oauth_error(exc)}); "
                                      "sign in again", field="code", code="code_refused") from None
        raise IdentityProviderError(f"the identity provider's token endpoint answered HTTP {exc.code}",
                                    field="idp") from None
    except (urllib.error.URLError, TimeoutError, OSError, ValueError):
        raise IdentityProviderError("the identity provider's token endpoint could not be reached",
                                    field="idp") from None
    token = answer.get("id_token") if isinstance(answer, dict) else None
    if not isinstance(token, str) or not token:
        raise IdentityProviderError("the identity provider's token answer has no id_token", field="idp")
    return token


def _oauth_error(exc: urllib.error.HTTPError) -> str:
    try:
        code = json.loads(exc.read(4096)).get("error")
    except (ValueError, AttributeError, OSError):
        return "error"
    return code if code in OAUTH_ERRORS else "error"


def seconds_left(id_token: str, now: float) -> int:
    """Whole seconds until the (already verified) token's `exp`: the session cookie's Max-Age."""
    exp = jwt.decode(id_token, options={"verify_signature": False})["exp"]
    return int(exp - now)


# --- the sign-in cookie and request cookies -----------------------------------------------------

@dataclass(frozen=True)
class LoginState:
    state: str
    verifier: str
    next: str


def login_cookie_value(login: LoginState) -> str:
    raw = json.dumps({"s": login.state, "v": login.verifier, "n": login.next}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode("ascii")


def read_login_cookie(value: str | None) -> LoginState | None:
    """The sign-in in progress, or None when the cookie is missing or not ours."""
    if not value:
        return None
    try:
        doc = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
        login = LoginState(str(doc["s"]), str(doc["v"]), safe_next(str(doc["n"])))
    except (ValueError, TypeError, KeyError):
        return None
    return login if login.state and is_verifier(login.verifier) else None


def cookie(headers: dict[str, str], name: str) -> str | None:
    raw = {k.lower(): v for k, v in headers.items()}.get("cookie", "")
    for part in raw.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name and value:
            return value
    return None
