"""Staff sign-in (单点登录): OIDC ID tokens verified against the issuer's JWKS (PyJWT)."""
from __future__ import annotations

import hashlib
import hmac
import math
import threading

import jwt
from jwt import PyJWKClient

from chalicelib.domain.access import Principal, Role
from chalicelib.domain.errors import AuthenticationError, ForbiddenError
from chalicelib.settings import get_settings

FIELD = "Authorization"
_clients: dict[str, PyJWKClient] = {}
_lock = threading.Lock()


def _jwks(url: str) -> PyJWKClient:
    with _lock:
        if url not in _clients:
            # Keys are cached for an hour; an unknown `kid` triggers a refetch (key rotation).
            _clients[url] = PyJWKClient(url, cache_keys=True, lifespan=3600, timeout=5)
        return _clients[url]


def bearer(headers: dict[str, str]) -> str:
    value = {k.lower(): v for k, v in headers.items()}.get("authorization", "")
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("send `Authorization: Bearer <OIDC ID token>`", field=FIELD, code="missing_token")
    return token.strip()


def verify(token: str) -> Principal:
    """Check signature, issuer, audience and expiry; map the claims to a Principal."""
    s = get_settings()
    if not (s.oidc_issuer and s.oidc_audience and s.oidc_jwks_url):
        raise AuthenticationError("staff sign-in is not configured for this region", field=FIELD,
                                  code="sign_in_unconfigured")
    try:
        key = _jwks(s.oidc_jwks_url).get_signing_key_from_jwt(token).key
        claims = jwt.decode(token, key, algorithms=["RS256"], audience=s.oidc_audience, issuer=s.oidc_issuer,
                            options={"require": ["exp", "iat", "iss", "aud", "sub"]}, leeway=30)
    except jwt.ExpiredSignatureError:
        raise AuthenticationError("token expired", field=FIELD, code="token_expired") from None
    except jwt.InvalidIssuerError:
        raise AuthenticationError("token issuer is not this region's identity provider", field=FIELD,
                                  code="bad_issuer") from None
    except jwt.InvalidAudienceError:
        raise AuthenticationError("token audience is not this application", field=FIELD, code="bad_audience") from None
    except (jwt.InvalidSignatureError, jwt.PyJWKClientError):
        raise AuthenticationError("token signature does not verify", field=FIELD, code="bad_signature") from None
    except jwt.PyJWTError as exc:
        raise AuthenticationError(f"token rejected ({exc.__class__.__name__})", field=FIELD, code="bad_token") from None
    _check_id_token(claims, s.oidc_max_token_lifetime_s)
    try:
        role = Role(claims.get(s.oidc_role_claim, ""))
    except ValueError:
        raise AuthenticationError("token carries no known staff role", field=FIELD, code="no_role") from None
    jurisdiction = str(claims.get(s.oidc_jurisdiction_claim) or "")
    if not jurisdiction:
        raise AuthenticationError("token carries no jurisdiction", field=FIELD, code="no_jurisdiction")
    return Principal(subject=str(claims["sub"]), username=str(claims.get("cognito:username") or claims["sub"]),
                     role=role, region=s.region_code, unit_id=claims.get(s.oidc_unit_claim) or None,
                     jurisdiction=jurisdiction)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_id_token(claims: dict, max_lifetime_s: int) -> None:
    """What PyJWT leaves open: only ID tokens (Cognito marks them token_use=id; an IdP without
    token_use is held to the audience check alone), times as JSON numbers (PyJWT takes "exp" as
    text too), and no longer a life than the region allows. Messages never repeat claim values."""
    if "token_use" in claims and claims["token_use"] != "id":
        raise AuthenticationError("send an ID token, not an access or other token", field=FIELD,
                                  code="not_id_token")
    if not (_is_number(claims["exp"]) and _is_number(claims["iat"])):
        raise AuthenticationError("token exp and iat must be numbers (seconds since the epoch)", field=FIELD,
                                  code="bad_token")
    if claims["exp"] - claims["iat"] > max_lifetime_s:
        raise AuthenticationError(f"token lifetime (exp - iat) exceeds this region's maximum of {max_lifetime_s} s",
                                  field=FIELD, code="token_lifetime")


SESSION_COOKIE = "jiesu_session"


def session_token(headers: dict[str, str]) -> str | None:
    """The ID token a browser page's session cookie holds (HttpOnly, SameSite=Strict), if any."""
    raw = {k.lower(): v for k, v in headers.items()}.get("cookie", "")
    for part in raw.split(";"):
        name, _, value = part.strip().partition("=")
        if name == SESSION_COOKIE and value:
            return value
    return None


def principal_from(headers: dict[str, str], session: bool = False) -> Principal:
    """The signed-in person: the bearer token, or (`session`: a page or a download a browser
    GETs, never a change) the session cookie's. Both are verified the same way."""
    has_bearer = any(k.lower() == "authorization" for k in headers)
    token = session_token(headers) if session and not has_bearer else None
    return verify(token if token else bearer(headers))


def csrf_for(token: str) -> str:
    """The anti-forgery value of a session: made from its token, which a page of another site
    cannot read (the cookie is HttpOnly), so it cannot put the value in a form it forges."""
    return hashlib.sha256(b"jiesu-csrf:" + token.encode()).hexdigest()[:32]


def page_principal(headers: dict[str, str], csrf: str | None) -> Principal:
    """A change made from a staff page's form: the session cookie's person, when the form
    carries the anti-forgery value of that same session."""
    token = session_token(headers)
    if not token:
        raise AuthenticationError("sign in first", field="session", code="missing_token")
    require_csrf(token, csrf)
    return verify(token)


def require_csrf(token: str, csrf: str | None) -> None:
    """403 naming `csrf` unless a form carries the anti-forgery value of the session it changes.
    (SameSite=Strict already keeps the cookie off another site's form; the value also stops a page
    of the same site but another origin, and browsers that ignore SameSite.)"""
    # As bytes: compare_digest refuses a str with non-ASCII characters (a TypeError, so a 500).
    if not csrf or not hmac.compare_digest(str(csrf).encode(), csrf_for(token).encode()):
        raise ForbiddenError("this form is not from your session: reload the page", field="csrf", code="bad_csrf")
