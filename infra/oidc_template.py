"""Staff sign-in in the deploy template: the region's OIDC provider, or a Cognito user pool.

A region names its IdP with the `Oidc*` parameters (issuer, client id, and the endpoints when the
issuer has no discovery document): that is the only way in the China partition, where Cognito user
pools do not exist, and the way for a city that runs its own 统一身份认证. When `OidcIssuer` is left
empty outside the China partition, the stack creates a Cognito user pool for its staff (admin-created
users only; the role, unit and jurisdiction are custom attributes staff cannot write), a public app
client for the authorization code flow with PKCE whose callback is the API's
`/staff/auth/callback`, and a hosted sign-in domain. Either way the API gets the same
`JIESU_OIDC_*` variables chalicelib/settings.py reads, so the product code has one path.

In the China partition with no issuer the variables stay empty and the sign-in page says sign-in is
not configured (chalicelib/api/signin.py `sign_in_unconfigured`) rather than pointing anywhere.
"""
from __future__ import annotations

from chalicelib.signin import CALLBACK_PATH, SIGN_IN_PATH

USE_COGNITO = "UseCognitoForStaff"
HAS_CLIENT_SECRET = "HasOidcClientSecret"
POOL, CLIENT, DOMAIN = "StaffUserPool", "StaffUserPoolClient", "StaffUserPoolDomain"
# The attributes the API reads (settings.oidc_*_claim defaults: custom:role, custom:unit_id, ...).
CUSTOM_ATTRIBUTES = ("role", "unit_id", "jurisdiction")
ID_TOKEN_HOURS = 8      # a working day; the session cookie lives as long as its token

PARAMETERS = {
    "OidcIssuer": "The region's OIDC issuer (iss of its ID tokens). Empty: a Cognito user pool is "
                  "created (not in the China partition, which has none)",
    "OidcClientId": "The workbench's client id at that IdP (the ID tokens' aud)",
    "OidcJwksUrl": "The IdP's JSON Web Key Set URL",
    "OidcAuthorizeUrl": "Authorization endpoint; empty: from the issuer's discovery document",
    "OidcTokenUrl": "Token endpoint; empty: from the issuer's discovery document",
    "OidcLogoutUrl": "Sign-out endpoint; empty: the discovery document's end_session_endpoint, if any",
    "OidcClientSecretName": "Secrets Manager name of the client secret, for a confidential client only",
}


def _if(cognito, configured: str) -> dict:
    return {"Fn::If": [USE_COGNITO, cognito, {"Ref": configured}]}


def _hosted(path: str) -> dict:
    return {"Fn::Sub": "https://${%s}.auth.${AWS::Region}.amazoncognito.com%s" % (DOMAIN, path)}


def parameters() -> dict:
    return {name: {"Type": "String", "Default": "", "Description": text} for name, text in PARAMETERS.items()}


def conditions() -> dict:
    return {
        USE_COGNITO: {"Fn::And": [{"Fn::Equals": [{"Ref": "OidcIssuer"}, ""]},
                                  {"Fn::Not": [{"Fn::Equals": [{"Ref": "AWS::Partition"}, "aws-cn"]}]}]},
        HAS_CLIENT_SECRET: {"Fn::Not": [{"Fn::Equals": [{"Ref": "OidcClientSecretName"}, ""]}]},
    }


def resources() -> dict:
    attrs = [f"custom:{a}" for a in CUSTOM_ATTRIBUTES]
    return {
        POOL: {"Type": "AWS::Cognito::UserPool", "Condition": USE_COGNITO,
               "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain", "Properties": {
                   "UserPoolName": {"Fn::Sub": "jiesu-${Stage}-staff"},
                   "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": True},
                   "Policies": {"PasswordPolicy": {"MinimumLength": 12, "RequireLowercase": True,
                                                   "RequireNumbers": True, "RequireUppercase": True,
                                                   "RequireSymbols": False}},
                   "MfaConfiguration": "OPTIONAL",
                   "EnabledMfas": ["SOFTWARE_TOKEN_MFA"],
                   "Schema": [{"Name": a, "AttributeDataType": "String", "Mutable": True}
                              for a in CUSTOM_ATTRIBUTES]}},
        CLIENT: {"Type": "AWS::Cognito::UserPoolClient", "Condition": USE_COGNITO, "Properties": {
            "UserPoolId": {"Ref": POOL}, "ClientName": {"Fn::Sub": "jiesu-${Stage}-workbench"},
            "GenerateSecret": False,                     # a public client: PKCE instead of a secret
            "AllowedOAuthFlowsUserPoolClient": True, "AllowedOAuthFlows": ["code"],
            "AllowedOAuthScopes": ["openid", "profile"], "SupportedIdentityProviders": ["COGNITO"],
            "CallbackURLs": [{"Fn::Sub": "${PublicBaseUrl}%s" % CALLBACK_PATH}],
            "LogoutURLs": [{"Fn::Sub": "${PublicBaseUrl}%s" % SIGN_IN_PATH}],
            "ReadAttributes": ["email", *attrs], "WriteAttributes": ["email"],   # staff cannot set their role
            "IdTokenValidity": ID_TOKEN_HOURS, "AccessTokenValidity": ID_TOKEN_HOURS, "RefreshTokenValidity": 1,
            "TokenValidityUnits": {"IdToken": "hours", "AccessToken": "hours", "RefreshToken": "days"},
            "PreventUserExistenceErrors": "ENABLED", "EnableTokenRevocation": True}},
        DOMAIN: {"Type": "AWS::Cognito::UserPoolDomain", "Condition": USE_COGNITO, "Properties": {
            "UserPoolId": {"Ref": POOL}, "Domain": {"Fn::Sub": "jiesu-${Stage}-${AWS::AccountId}"}}},
    }


def environment() -> dict:
    """The API's JIESU_OIDC_* variables (chalicelib/settings.py), from the pool or the parameters."""
    issuer = {"Fn::Sub": "https://cognito-idp.${AWS::Region}.${AWS::URLSuffix}/${%s}" % POOL}
    return {
        "JIESU_OIDC_ISSUER": _if(issuer, "OidcIssuer"),
        "JIESU_OIDC_AUDIENCE": _if({"Ref": CLIENT}, "OidcClientId"),
        "JIESU_OIDC_JWKS_URL": _if({"Fn::Sub": "https://cognito-idp.${AWS::Region}.${AWS::URLSuffix}/${%s}"
                                               "/.well-known/jwks.json" % POOL}, "OidcJwksUrl"),
        "JIESU_OIDC_AUTHORIZE_URL": _if(_hosted("/oauth2/authorize"), "OidcAuthorizeUrl"),
        "JIESU_OIDC_TOKEN_URL": _if(_hosted("/oauth2/token"), "OidcTokenUrl"),
        "JIESU_OIDC_LOGOUT_URL": _if(_hosted("/logout"), "OidcLogoutUrl"),
        "JIESU_OIDC_CLIENT_SECRET_REF": {"Ref": "OidcClientSecretName"},
    }


def secret_statement() -> dict:
    """The API may read the client secret it is told of (only then: AWS::NoValue otherwise)."""
    return {"Fn::If": [HAS_CLIENT_SECRET, {
        "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"],
        "Resource": {"Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}"
                                ":secret:${OidcClientSecretName}*"}}, {"Ref": "AWS::NoValue"}]}


def outputs() -> dict:
    return {"StaffUserPoolId": {"Condition": USE_COGNITO, "Value": {"Ref": POOL}},
            "StaffSignInDomain": {"Condition": USE_COGNITO, "Value": _hosted("")}}
