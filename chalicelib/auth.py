"""Staff sign-in (单点登录): OIDC ID tokens verified against the issuer's JWKS (PyJWT)."""
from __future__ import annotations

import threading

import jwt
from jwt import PyJWKClient

from chalicelib.domain.access import Principal, Role
from chalicelib.domain.errors import AuthenticationError
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


def principal_from(headers: dict[str, str]) -> Principal:
    return verify(bearer(headers))
