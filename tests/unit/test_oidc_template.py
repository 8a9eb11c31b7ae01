"""The deploy template's staff sign-in (infra/oidc_template.py): the API gets the JIESU_OIDC_* settings from
a Cognito pool it creates, or from the region's own IdP; in the China partition never a Cognito pool."""
from __future__ import annotations

import pytest

from chalicelib.settings import get_settings
from chalicelib.signin import CALLBACK_PATH
from infra import oidc_template
from infra.render import merge_template


def holds(cond, params: dict):
    """CloudFormation's condition functions over known parameter values (only those the template uses)."""
    if isinstance(cond, dict):
        (fn, arg), = cond.items()
        if fn == "Ref":
            return params[arg]
        if fn == "Fn::Equals":
            return holds(arg[0], params) == holds(arg[1], params)
        if fn == "Fn::Not":
            return not holds(arg[0], params)
        if fn == "Fn::And":
            return all(holds(a, params) for a in arg)
        raise AssertionError(f"unexpected {fn}")
    return cond


@pytest.fixture(scope="module")
def template():
    return merge_template("dev", "shenzhen")


@pytest.mark.parametrize("partition,issuer,cognito", [
    ("aws", "", True), ("aws", "https://idp.city.example/realms/staff", False),
    ("aws-cn", "", False), ("aws-cn", "https://idp.city.example.cn", False)])
def test_a_cognito_pool_only_outside_china_and_only_without_a_configured_issuer(template, partition, issuer, cognito):
    params = {"AWS::Partition": partition, "OidcIssuer": issuer, "OidcClientSecretName": ""}
    made = {name for name, res in template["Resources"].items()
            if "Condition" in res and holds(template["Conditions"][res["Condition"]], params)}
    assert made == ({"StaffUserPool", "StaffUserPoolClient", "StaffUserPoolDomain"} if cognito else set())


def test_the_pool_client_is_a_public_code_flow_client_back_to_the_callback_and_staff_cannot_write_their_role(template):
    client = template["Resources"]["StaffUserPoolClient"]["Properties"]
    assert (client["GenerateSecret"], client["AllowedOAuthFlows"], client["CallbackURLs"],
            [a for a in client["WriteAttributes"] if a.startswith("custom:")]) == (
        False, ["code"], [{"Fn::Sub": "${PublicBaseUrl}" + CALLBACK_PATH}], [])


def test_every_oidc_variable_the_api_gets_is_one_the_settings_read(template, monkeypatch):
    env = template["Resources"]["APIHandler"]["Properties"]["Environment"]["Variables"]
    names = sorted(k for k in env if k.startswith("JIESU_OIDC_"))
    for i, name in enumerate(names):
        monkeypatch.setenv(name, f"value-{i}")
    get_settings.cache_clear()
    try:
        s = get_settings()
        read = {f"value-{i}" for i in range(len(names))} & {str(v) for v in vars(s).values()}
    finally:
        get_settings.cache_clear()
    assert (names == sorted(oidc_template.environment()), len(read)) == (True, len(names))
