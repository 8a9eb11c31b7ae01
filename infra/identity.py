"""The local identity provider: a Cognito user pool on moto (us-east-1) with one demo user per role.

In production a region configures any OIDC issuer (Cognito in global regions; a city IdP in
the China partition, where Cognito user pools do not exist); the API only speaks OIDC.
"""
from __future__ import annotations

from dataclasses import dataclass

DEMO_PASSWORD = "Jiesu-demo-2026!"

# username -> (role, unit_id, jurisdiction). Units and codes are from the Shenzhen demo pack.
DEMO_USERS: dict[str, tuple[str, str, str]] = {
    "dispatcher1": ("dispatcher", "U440300-SMS", "440300"),
    "xixiang_handler": ("unit_handler", "U440306002-JD", "440306002"),
    "xixiang_manager": ("unit_manager", "U440306002-JD", "440306002"),
    "baoan_leader": ("leader", "", "440306"),
    "admin1": ("admin", "", "440300"),
    "auditor1": ("auditor", "", "440300"),
    "visitor1": ("visitor", "U440300-SMS", "440300"),      # 回访员 of the command centre
}


@dataclass
class IdentityConfig:
    pool_id: str
    client_id: str
    issuer: str
    jwks_url: str

    def env(self) -> dict[str, str]:
        return {"JIESU_OIDC_ISSUER": self.issuer, "JIESU_OIDC_AUDIENCE": self.client_id,
                "JIESU_OIDC_JWKS_URL": self.jwks_url}


def create_demo_pool(session, endpoint_url: str) -> IdentityConfig:
    """The demo pool, its app client and one user per role; what exists already is kept (a
    restarted stand-in keeps its pool, so tokens issued before the restart still verify)."""
    idp = session.client("cognito-idp", region_name="us-east-1")
    pools = [p for p in idp.list_user_pools(MaxResults=60)["UserPools"] if p["Name"] == "jiesu-staff"]
    if pools:
        pool_id = pools[0]["Id"]
    else:
        pool_id = idp.create_user_pool(PoolName="jiesu-staff", Schema=[
            {"Name": n, "AttributeDataType": "String", "Mutable": True}
            for n in ("role", "unit_id", "jurisdiction")])["UserPool"]["Id"]
    clients = [c for c in idp.list_user_pool_clients(UserPoolId=pool_id, MaxResults=60)["UserPoolClients"]
               if c["ClientName"] == "jiesu-api"]
    client_id = clients[0]["ClientId"] if clients else idp.create_user_pool_client(
        UserPoolId=pool_id, ClientName="jiesu-api", ExplicitAuthFlows=["ADMIN_NO_SRP_AUTH"])["UserPoolClient"]["ClientId"]
    for username, (role, unit, jurisdiction) in DEMO_USERS.items():
        try:
            idp.admin_get_user(UserPoolId=pool_id, Username=username)
            continue
        except idp.exceptions.UserNotFoundException:
            pass
        attrs = [{"Name": "custom:role", "Value": role}, {"Name": "custom:jurisdiction", "Value": jurisdiction}]
        if unit:
            attrs.append({"Name": "custom:unit_id", "Value": unit})
        idp.admin_create_user(UserPoolId=pool_id, Username=username, UserAttributes=attrs,
                              MessageAction="SUPPRESS")
        idp.admin_set_user_password(UserPoolId=pool_id, Username=username, Password=DEMO_PASSWORD, Permanent=True)
    # moto signs with the real AWS issuer URL, so the issuer is configured, not derived from the endpoint.
    return IdentityConfig(pool_id, client_id, f"https://cognito-idp.us-east-1.amazonaws.com/{pool_id}",
                          f"{endpoint_url.rstrip('/')}/{pool_id}/.well-known/jwks.json")


def id_token(session, config: IdentityConfig, username: str, password: str = DEMO_PASSWORD) -> str:
    idp = session.client("cognito-idp", region_name="us-east-1")
    resp = idp.admin_initiate_auth(UserPoolId=config.pool_id, ClientId=config.client_id,
                                   AuthFlow="ADMIN_NO_SRP_AUTH",
                                   AuthParameters={"USERNAME": username, "PASSWORD": password})
    return resp["AuthenticationResult"]["IdToken"]


def authenticator(session, config: IdentityConfig):
    """`authenticate(username, password) -> ID token` for infra/oidc_standin.py: Cognito's own
    sign-in (admin_initiate_auth, ADMIN_NO_SRP_AUTH) on the moto pool, so the tokens are moto's
    and verify against its JWKS; None for a wrong username or password."""
    idp = session.client("cognito-idp", region_name="us-east-1")   # one client: used from many threads
    refused = (idp.exceptions.NotAuthorizedException, idp.exceptions.UserNotFoundException,
               idp.exceptions.InvalidParameterException)

    def authenticate(username: str, password: str) -> str | None:
        if not username or not password:
            return None
        try:
            resp = idp.admin_initiate_auth(UserPoolId=config.pool_id, ClientId=config.client_id,
                                           AuthFlow="ADMIN_NO_SRP_AUTH",
                                           AuthParameters={"USERNAME": username, "PASSWORD": password})
        except refused:
            return None
        return resp["AuthenticationResult"]["IdToken"]

    return authenticate


def register_redirects(session, config: IdentityConfig, callback_url: str, logout_url: str):
    """Register the app's callback and sign-out return on the pool's app client, as a Cognito
    hosted UI needs (CallbackURLs, LogoutURLs, the code flow, scope openid), and return the
    client as the stand-in's authorization server checks it (read back from the pool)."""
    from infra.oidc_standin import RegisteredClient

    idp = session.client("cognito-idp", region_name="us-east-1")
    idp.update_user_pool_client(UserPoolId=config.pool_id, ClientId=config.client_id, ClientName="jiesu-api",
                                ExplicitAuthFlows=["ADMIN_NO_SRP_AUTH"], SupportedIdentityProviders=["COGNITO"],
                                CallbackURLs=[callback_url], LogoutURLs=[logout_url], AllowedOAuthFlows=["code"],
                                AllowedOAuthScopes=["openid"], AllowedOAuthFlowsUserPoolClient=True)
    c = idp.describe_user_pool_client(UserPoolId=config.pool_id, ClientId=config.client_id)["UserPoolClient"]
    return RegisteredClient(c["ClientId"], tuple(c.get("CallbackURLs") or ()), tuple(c.get("LogoutURLs") or ()))


def main() -> None:
    """`python infra/identity.py USER`: print an ID token for a demo user of the running `make run`."""
    import argparse
    import json
    import os
    from pathlib import Path

    import boto3

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("username", choices=sorted(DEMO_USERS))
    parser.add_argument("--state", default=str(Path(__file__).resolve().parents[1] / ".local" / "identity.json"),
                        help="written by make run")
    args = parser.parse_args()
    state = json.loads(Path(args.state).read_text())
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    session = boto3.session.Session(region_name="us-east-1")
    cfg = IdentityConfig(**state["identity"])
    idp = session.client("cognito-idp", endpoint_url=state["endpoint"])
    resp = idp.admin_initiate_auth(UserPoolId=cfg.pool_id, ClientId=cfg.client_id, AuthFlow="ADMIN_NO_SRP_AUTH",
                                   AuthParameters={"USERNAME": args.username, "PASSWORD": DEMO_PASSWORD})
    print(resp["AuthenticationResult"]["IdToken"])


if __name__ == "__main__":
    main()
