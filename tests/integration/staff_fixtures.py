"""Staff sign-in for tests: an RSA key, its JWKS served on 127.0.0.1, and tokens per demo person."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

ROOT = Path(__file__).resolve().parents[2]
ISSUER = "https://idp.example.test/jiesu"
AUDIENCE = "jiesu-api"

PEOPLE = {
    "dispatcher": ("dispatcher", "U440300-SMS", "440300"),
    "xixiang_handler": ("unit_handler", "U440306002-JD", "440306002"),
    "xixiang_manager": ("unit_manager", "U440306002-JD", "440306002"),
    "yuanling_handler": ("unit_handler", "U440304001-JD", "440304001"),
    "baoan_leader": ("leader", "", "440306"),
    "futian_leader": ("leader", "", "440304"),
    "admin": ("admin", "", "440300"),
    "auditor": ("auditor", "", "440300"),
    "visitor": ("visitor", "U440300-SMS", "440300"),
}


class IdP:
    def __init__(self):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        self.jwks = json.dumps({"keys": [{**public, "kid": "k1", "alg": "RS256", "use": "sig"}]}).encode()
        idp = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(idp.jwks)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.jwks_url = f"http://127.0.0.1:{self.server.server_port}/.well-known/jwks.json"

    def token(self, person: str, *, key=None, iss=ISSUER, aud=AUDIENCE, exp_in=600, **claims) -> str:
        role, unit, jurisdiction = PEOPLE[person]
        now = int(time.time())
        body = {"sub": f"sub-{person}", "cognito:username": person, "iss": iss, "aud": aud, "iat": now,
                "exp": now + exp_in, "custom:role": role, "custom:jurisdiction": jurisdiction}
        if unit:
            body["custom:unit_id"] = unit
        body.update(claims)
        return jwt.encode(body, key or self.key, algorithm="RS256", headers={"kid": "k1"})

    def headers(self, person: str, **kw) -> dict:
        return {"Authorization": f"Bearer {self.token(person, **kw)}", "Content-Type": "application/json"}


@pytest.fixture(scope="session")
def idp():
    i = IdP()
    yield i
    i.server.shutdown()


@pytest.fixture
def staff_env(aws, idp, monkeypatch):
    """OIDC configured for the test IdP; the demo region served from the repo's pack folder (the
    `aws` fixture serves it and rewinds the runtime's corrections cursor: every test has a fresh table)."""
    from chalicelib.settings import get_settings

    monkeypatch.setenv("JIESU_OIDC_ISSUER", ISSUER)
    monkeypatch.setenv("JIESU_OIDC_AUDIENCE", AUDIENCE)
    monkeypatch.setenv("JIESU_OIDC_JWKS_URL", idp.jwks_url)
    get_settings.cache_clear()
    yield idp
    get_settings.cache_clear()
