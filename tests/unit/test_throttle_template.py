"""Throttling in the deploy template (issue 22, item 7): the stage's limits and the tighter ones of
the intake routes are on routes the app has, and API Gateway's 429 is in the error shape with
Retry-After."""
from __future__ import annotations

import json

from infra.render import ROUTE_THROTTLES, STAGE_THROTTLE, merge_template


def test_every_throttled_route_is_a_route_of_the_app_and_tighter_than_the_stage():
    import app

    for (path, method), (rate, burst) in ROUTE_THROTTLES.items():
        assert method in app.app.routes[path], (path, method)
        assert 0 < rate < STAGE_THROTTLE[0] and rate <= burst < STAGE_THROTTLE[1], (path, rate, burst)


def test_the_stage_carries_the_limits_with_api_gateways_path_encoding():
    settings = merge_template("dev", "shenzhen")["Resources"]["RestAPI"]["Properties"]["MethodSettings"]
    assert settings[0] == {"ResourcePath": "/*", "HttpMethod": "*", "ThrottlingRateLimit": 100,
                           "ThrottlingBurstLimit": 200, "MetricsEnabled": True}
    by_path = {(s["ResourcePath"], s["HttpMethod"]): (s["ThrottlingRateLimit"], s["ThrottlingBurstLimit"])
               for s in settings[1:]}
    assert by_path[("/~1channels~1{channel}~1appeals", "POST")] == (20, 40)
    assert len(by_path) == len(ROUTE_THROTTLES)


def test_a_throttled_request_gets_429_in_the_error_shape_with_retry_after():
    r = merge_template("shenzhen", "shenzhen")["Resources"]["ThrottledResponse"]["Properties"]
    assert (r["ResponseType"], r["StatusCode"], r["ResponseParameters"]) == (
        "THROTTLED", "429", {"gatewayresponse.header.Retry-After": "'1'",
                             "gatewayresponse.header.X-Content-Type-Options": "'nosniff'"})
    body = json.loads(r["ResponseTemplates"]["application/json"])
    assert set(body["error"]) == {"code", "message", "field"} and body["error"]["code"] == "throttled"


def test_each_channel_key_has_its_own_limit_at_the_edge_with_429_and_retry_after():
    from chalicelib.channels.signing import H_KEY_ID
    from infra.render import CHANNEL_KEY_LIMIT, CHANNEL_KEY_WINDOW_S

    t = merge_template("shenzhen", "shenzhen")["Resources"]
    acl, link = t["ChannelKeyLimits"]["Properties"], t["ChannelKeyLimitsAssociation"]
    [rule] = acl["Rules"]
    rate = rule["Statement"]["RateBasedStatement"]
    # keyed on the header every signed partner request carries: one bucket per channel key
    assert (rate["AggregateKeyType"], [k["Header"]["Name"] for k in rate["CustomKeys"]]) == (
        "CUSTOM_KEYS", [H_KEY_ID.lower()])
    assert (rate["Limit"], rate["EvaluationWindowSec"]) == (CHANNEL_KEY_LIMIT, CHANNEL_KEY_WINDOW_S)
    # per second, one key may not take more than the intake route's own limit
    assert CHANNEL_KEY_LIMIT / CHANNEL_KEY_WINDOW_S <= 20
    block = rule["Action"]["Block"]["CustomResponse"]
    assert (block["ResponseCode"], block["ResponseHeaders"]) == (429, [{"Name": "Retry-After",
                                                                        "Value": str(CHANNEL_KEY_WINDOW_S)}])
    body = json.loads(acl["CustomResponseBodies"][block["CustomResponseBodyKey"]]["Content"])
    assert body["error"]["code"] == "throttled"
    assert (acl["Scope"], acl["DefaultAction"], link["DependsOn"]) == ("REGIONAL", {"Allow": {}}, "RestAPIapiStage")
    assert link["Properties"]["ResourceArn"]["Fn::Sub"].endswith("/restapis/${RestAPI}/stages/api")
