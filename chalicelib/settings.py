"""Environment read once into a typed settings object."""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache



# infra/spec.py names each queue's variable JIESU_QUEUE_<NAME>; Lambda bundles do not carry infra/.
QUEUE_ENV_PREFIX = "JIESU_QUEUE_"


@dataclass(frozen=True)
class Settings:
    stage: str
    region_code: str            # the city this stack serves, e.g. "shenzhen"
    table_name: str
    queue_urls: dict[str, str]  # short queue name -> URL
    pii_key_id: str             # KMS key (id, ARN or alias) that wraps personal-data keys
    hash_key_secret: str        # Secrets Manager id of the keyed-hash (HMAC) key
    endpoint_url: str | None    # set only when a stand-in (moto) serves AWS locally
    region_bucket: str = ""     # S3 bucket of versioned region packs
    report_bucket: str = ""     # S3 bucket of the reports (每日快报, 周分析, 月研判)
    # Staff sign-in: plain OIDC, configured per region (Cognito in global regions, any city IdP).
    oidc_issuer: str = ""
    oidc_audience: str = ""
    oidc_jwks_url: str = ""
    oidc_role_claim: str = "custom:role"
    oidc_unit_claim: str = "custom:unit_id"
    oidc_jurisdiction_claim: str = "custom:jurisdiction"
    oidc_max_token_lifetime_s: int = 12 * 3600  # an ID token living longer (exp - iat) is refused
    # The browser's sign-in (authorization code flow with PKCE, chalicelib/signin.py): the IdP's
    # endpoints; when the authorize and token URLs are empty they come from the issuer's discovery
    # document. The client id is oidc_audience. The client secret, for a confidential client only,
    # is the *name* of a Secrets Manager secret, never the secret itself.
    oidc_authorize_url: str = ""
    oidc_token_url: str = ""
    oidc_logout_url: str = ""
    oidc_client_secret_ref: str = ""
    city_code: str = ""         # the region's top administrative code, e.g. 440300
    body_limit_bytes: int = 64 * 1024
    signature_window_s: int = 300
    outbox_grace_s: int = 300   # a hand-off still open after this is re-sent by the sweep
    outbox_max_resends: int = 5
    # Where citizens open their tracking links (https://12345.example.gov.cn, or the API's URL
    # with its stage): the links in intake answers and callbacks start with it.
    public_base_url: str = "http://127.0.0.1:8000"

    def queue_url(self, name: str) -> str:
        try:
            return self.queue_urls[name]
        except KeyError:
            raise RuntimeError(f"queue {name!r} is not configured ({QUEUE_ENV_PREFIX}{name.upper()})") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    env = os.environ
    return Settings(
        stage=env.get("JIESU_STAGE", "local"),
        region_code=env.get("JIESU_REGION_CODE", "shenzhen"),
        table_name=env.get("JIESU_TABLE", "jiesu-local"),
        queue_urls={k[len(QUEUE_ENV_PREFIX):].lower(): v for k, v in env.items() if k.startswith(QUEUE_ENV_PREFIX) and v},
        pii_key_id=env.get("JIESU_PII_KEY_ID", "alias/jiesu-pii"),
        hash_key_secret=env.get("JIESU_HASH_KEY_SECRET", "jiesu/pii-hash-key"),
        endpoint_url=env.get("AWS_ENDPOINT_URL") or None,
        region_bucket=env.get("JIESU_REGION_BUCKET", ""),
        report_bucket=env.get("JIESU_REPORT_BUCKET", ""),
        oidc_issuer=env.get("JIESU_OIDC_ISSUER", ""),
        oidc_audience=env.get("JIESU_OIDC_AUDIENCE", ""),
        oidc_jwks_url=env.get("JIESU_OIDC_JWKS_URL", ""),
        oidc_role_claim=env.get("JIESU_OIDC_ROLE_CLAIM", "custom:role"),
        oidc_unit_claim=env.get("JIESU_OIDC_UNIT_CLAIM", "custom:unit_id"),
        oidc_jurisdiction_claim=env.get("JIESU_OIDC_JURISDICTION_CLAIM", "custom:jurisdiction"),
        oidc_max_token_lifetime_s=int(env.get("JIESU_OIDC_MAX_TOKEN_LIFETIME_S", 12 * 3600)),
        oidc_authorize_url=env.get("JIESU_OIDC_AUTHORIZE_URL", ""),
        oidc_token_url=env.get("JIESU_OIDC_TOKEN_URL", ""),
        oidc_logout_url=env.get("JIESU_OIDC_LOGOUT_URL", ""),
        oidc_client_secret_ref=env.get("JIESU_OIDC_CLIENT_SECRET_REF", ""),
        city_code=env.get("JIESU_CITY_CODE", "440300"),
        body_limit_bytes=int(env.get("JIESU_BODY_LIMIT", 64 * 1024)),
        public_base_url=env.get("JIESU_PUBLIC_BASE_URL", "http://127.0.0.1:8000"),
    )
