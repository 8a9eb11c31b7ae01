"""The paths of the API document (chalicelib/api/openapi.py): per route, what the code cannot say by
itself (summary, parameters, who may call it, what it answers); request bodies are the schemas
the document generates from the models. `x-route` names the Chalice route an operation serves."""
from __future__ import annotations

from chalicelib.channels.registry import channel_codes, payload_model
from chalicelib.domain import ranking
from chalicelib.services import public_record, reports, staff

REF = "#/components/schemas/{model}"
JSON_T = "application/json"
HTML_T = "text/html"
FORM_T = "application/x-www-form-urlencoded"
XML_T = "text/xml"   # Open311's XML, as open311_render.FORMATS answers it
OPEN311 = "open311"
ERROR_TEXT = {400: "a field is wrong (named in error.field)", 401: "not authenticated (the header or field named)",
              403: "not allowed (error.field names the claim or the role)", 404: "not found (the parameter named)",
              405: "method not allowed", 409: "conflicts with the appeal's state or an earlier request",
              413: "the body is too large", 415: "unsupported content type",
              502: "the identity provider could not be reached or answered wrongly (登录暂不可用)"}


def ref(name: str) -> dict:
    return {"$ref": REF.format(model=name)}


# ------------------------------------------------------------------------------ parameters


def path(name: str, schema: dict | None = None, description: str = "") -> dict:
    return {"name": name, "in": "path", "required": True, "schema": schema or {"type": "string", "minLength": 1},
            **({"description": description} if description else {})}


def query(name: str, schema: dict | None = None, description: str = "") -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema or {"type": "string"},
            **({"description": description} if description else {})}


def accept_json() -> dict:
    return {"name": "Accept", "in": "header", "required": False, "schema": {"type": "string"},
            "description": "application/json for the same content as JSON (errors then in the Error shape); "
                           "anything else (a browser's text/html, */*) gets the page"}


DATE = {"type": "string", "format": "date"}
# A form's field left empty (`?date=&period=`) is the same as not sent: the default applies.
EMPTY = {"type": "string", "maxLength": 0}


def or_empty(schema: dict) -> dict:
    return {"anyOf": [schema, EMPTY]}
SCOPE = query("scope", description="an area or unit code inside the reader's jurisdiction")

# ------------------------------------------------------------------------------ responses


def ok(status: int = 200, schema: dict | None = None, media: str = JSON_T, text: str = "done",
       links: dict | None = None) -> dict:
    body = {"description": text, "content": {media: {"schema": schema or {"type": "object"}}}}
    if links:
        body["links"] = links
    return {str(status): body}


def redirect(status: int, text: str) -> dict:
    return {str(status): {"description": text, "headers": {"Location": {"schema": {"type": "string"}}}}}


def errors(*statuses: int, media: str = JSON_T) -> dict:
    """The refusals of an operation: the Error shape in JSON (HTML_T: or an HTML page, for a client
    that does not ask for JSON); Open311's own list in JSON (OPEN311) or its XML (XML_T)."""
    if media == XML_T:
        content = {XML_T: {"schema": {"type": "string"}}}
    else:
        content = {JSON_T: {"schema": ref("Open311Error") if media == OPEN311 else ref("Error")}}
    if media == HTML_T:
        content[HTML_T] = {"schema": {"type": "string"}}
    return {str(s): {"description": ERROR_TEXT[s], "content": content} for s in statuses}


def body(schema: dict, media: str = JSON_T, required: bool = True) -> dict:
    return {"required": required, "content": {media: {"schema": schema}}}


# ------------------------------------------------------------------------------ security

SIGNED = [{"channelSignature": []}]
BEARER = [{"staffBearer": []}]
SESSION = [{"staffBearer": []}, {"staffSession": []}]
PUBLIC: list = []
SECURITY_SCHEMES = {
    "channelSignature": {"type": "apiKey", "in": "header", "name": "X-Jiesu-Signature", "description":
                         "HMAC-SHA256 with the channel's secret over method, signed path, X-Jiesu-Timestamp, "
                         "X-Jiesu-Nonce and the body's SHA-256, with X-Jiesu-Key-Id (README: Signing)"},
    "staffBearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                    "description": "the staff member's OIDC ID token"},
    "staffSession": {"type": "apiKey", "in": "cookie", "name": "jiesu_session",
                     "description": "the browser session (GET /staff/sign-in, or POST /staff/session)"},
}


def op(route: str, summary: str, *, tag: str, security: list, responses: dict, parameters: list | None = None,
       request: dict | None = None, op_id: str = "") -> dict:
    out = {"operationId": op_id, "summary": summary, "tags": [tag], "x-route": route, "security": security,
           "parameters": parameters or [], "responses": responses}
    if request is not None:
        out["requestBody"] = request
    return out


def _staff_links() -> dict:
    return {"ReadAppeal": {"operationId": "staff_get_appeal", "parameters": {"appeal_id": "$response.body#/appeal_id"}},
            "ActOnAppeal": {"operationId": "staff_act", "parameters": {"appeal_id": "$response.body#/appeal_id"}}}


def _channel_ops(top: dict) -> dict:
    """One path per partner channel, with its own payload model as the body."""
    paths: dict[str, dict] = {}
    for code in channel_codes():
        model = payload_model(code)
        paths[f"/channels/{code}/appeals"] = {"post": op(
            "/channels/{channel}/appeals", f"{model.channel_name}: take in one appeal", tag="channels",
            security=SIGNED, op_id=f"channel_{code}_submit", request=body(top[model.__name__]),
            responses={**ok(201, ref("IntakeAnswer"), text="accepted (a retry of the same ticket answers the same)",
                            links=_staff_links()), **errors(400, 401, 404, 409, 413, 415)})}
    return paths


def _open311_ops() -> dict:
    out: dict[str, dict] = {}
    for fmt, media in (("json", JSON_T), ("xml", XML_T)):
        schema = {"type": "array"} if fmt == "json" else {"type": "string"}
        err_media = OPEN311 if fmt == "json" else XML_T
        err = errors(400, 401, 403, 404, 405, 409, 413, 415, media=err_media)
        out[f"/open311/v2/services.{fmt}"] = {
            "get": op("/open311/v2/{resource}", "Open311: the service list", tag="open311", security=PUBLIC,
                      op_id=f"open311_services_{fmt}", parameters=[query("jurisdiction_id")],
                      responses={**ok(200, schema, media), **err}),
            "post": op("/open311/v2/{resource}", "Open311: services are read-only (405)", tag="open311",
                       security=PUBLIC, op_id=f"open311_services_post_{fmt}",
                       responses=errors(405, media=err_media))}
        out[f"/open311/v2/requests.{fmt}"] = {
            "get": op("/open311/v2/{resource}", "Open311: find service requests", tag="open311", security=PUBLIC,
                      op_id=f"open311_find_{fmt}",
                      parameters=[query("service_request_id", description="comma-separated ids; when given, "
                                        "the other parameters are ignored (GeoReport v2)")] +
                      [query(n) for n in ("service_code", "status", "jurisdiction_id")] +
                      [query("start_date", or_empty({"type": "string", "format": "date-time"})),
                       query("end_date", or_empty({"type": "string", "format": "date-time"}))],
                      responses={**ok(200, schema, media), **err}),
            "post": op("/open311/v2/{resource}", "Open311: submit a service request (form, api_key)", tag="open311",
                       security=PUBLIC, op_id=f"open311_submit_{fmt}",
                       parameters=[{"name": "Idempotency-Key", "in": "header", "required": False,
                                    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,64}$"}}],
                       request=body(ref("Open311Form"), FORM_T), responses={**ok(201, schema, media), **err})}
        out[f"/open311/v2/requests/{{request_id}}.{fmt}"] = {"get": op(
            "/open311/v2/requests/{request_file}", "Open311: one service request", tag="open311", security=PUBLIC,
            op_id=f"open311_request_{fmt}", parameters=[path("request_id"), query("jurisdiction_id")],
            responses={**ok(200, schema, media), **err})}
        out[f"/open311/v2/services/{{service_code}}.{fmt}"] = {"get": op(
            "/open311/v2/services/{service_file}", "Open311: one service's definition", tag="open311",
            security=PUBLIC, op_id=f"open311_service_{fmt}", parameters=[path("service_code"), query("jurisdiction_id")],
            responses={**ok(200, {"type": "object"} if fmt == "json" else schema, media), **err})}
    return out


def _staff_ops() -> dict:
    appeal = path("appeal_id")
    actions = sorted(staff.REGISTRY)
    limit = query("limit", {"type": "integer", "minimum": 1, "maximum": 200})
    std = errors(400, 401, 403)
    return {
        "/staff/me": {"get": op("/staff/me", "Who the token belongs to", tag="staff", security=BEARER,
                                op_id="staff_me", responses={**ok(200, ref("StaffMe")), **errors(401, 403)})},
        "/staff/appeals": {"get": op("/staff/appeals", "The inbox of a queue", tag="staff", security=BEARER,
                                     op_id="staff_list", parameters=[query("queue"), query("status"), limit],
                                     responses={**ok(), **std})},
        "/staff/appeals/{appeal_id}": {"get": op("/staff/appeals/{appeal_id}", "One appeal with its case file",
                                                 tag="staff", security=BEARER, op_id="staff_get_appeal",
                                                 parameters=[appeal], responses={**ok(), **std, **errors(404)})},
        "/staff/appeals/{appeal_id}/unmask": {"post": op(
            "/staff/appeals/{appeal_id}/unmask", "Personal data in clear, with a reason (audited)", tag="staff",
            security=BEARER, op_id="staff_unmask", parameters=[appeal],
            request=body({"type": "object", "required": ["reason"], "properties": {"reason": {"type": "string"}}}),
            responses={**ok(), **std, **errors(404, 409)})},
        "/staff/appeals/{appeal_id}/actions/{action}": {"post": op(
            "/staff/appeals/{appeal_id}/actions/{action}", "One staff action; the body is the action's "
            "(components Action_<action>)", tag="staff", security=BEARER, op_id="staff_act",
            parameters=[appeal, path("action", {"type": "string", "enum": actions})],
            request=body({"anyOf": [ref(f"Action_{a}") for a in actions]}, required=False),
            responses={**ok(), **std, **errors(404, 409)})},
        "/staff/appeals/{appeal_id}/dossier": {"get": op(
            "/staff/appeals/{appeal_id}/dossier", "归档: the sealed dossier (personal data encrypted), audited",
            tag="staff", security=BEARER, op_id="staff_dossier", parameters=[appeal],
            responses={**ok(), **std, **errors(404, 409)})},
        "/staff/appeals/{appeal_id}/dossier/page": {"get": op(
            "/staff/appeals/{appeal_id}/dossier/page", "The dossier's printable page, personal data masked",
            tag="staff", security=SESSION, op_id="staff_dossier_page", parameters=[appeal],
            responses={**ok(200, {"type": "string"}, HTML_T, "the page"), **std, **errors(404, 409)})},
        "/staff/appeals/{appeal_id}/dossier/unmask": {"post": op(
            "/staff/appeals/{appeal_id}/dossier/unmask", "The dossier's page with personal data in clear, with a "
            "reason (audited)", tag="staff", security=BEARER, op_id="staff_dossier_unmask", parameters=[appeal],
            request=body({"type": "object", "required": ["reason"], "properties": {"reason": {"type": "string"}}}),
            responses={**ok(200, {"type": "string"}, HTML_T, "the page"), **std, **errors(404, 409)})},
        "/staff/visits": {"get": op("/staff/visits", "The return-visit queue", tag="staff", security=BEARER,
                                    op_id="staff_visits", parameters=[limit], responses={**ok(), **std})},
        "/staff/audit": {"get": op("/staff/audit", "The unmasking audit trail of a day", tag="staff",
                                   security=BEARER, op_id="staff_audit", parameters=[query("day", DATE)],
                                   responses={**ok(), **std})},
        "/staff/feed": {"get": op("/staff/feed", "A leader's followed appeals", tag="staff", security=BEARER,
                                  op_id="staff_feed", responses={**ok(), **std})},
    }


def _analytics_ops() -> dict:
    periods = {"type": "string", "enum": ["day", "week", "month", "30d"]}
    std = {**ok(), **errors(400, 401, 403)}
    simple = {"/staff/analytics/screen": ("analytics_screen_data", "The one screen's data"),
              "/staff/analytics/alerts": ("analytics_alerts", "Spike alerts (热点预警), newest first"),
              "/staff/analytics/hotspots": ("analytics_hotspots", "Hot problems by street, hot words"),
              "/staff/reports": ("reports_list", "The written reports of the reader's scope")}
    out = {p: {"get": op(p, s, tag="analytics", security=SESSION, op_id=i, parameters=[SCOPE], responses=std)}
           for p, (i, s) in simple.items()}
    out["/staff/analytics"] = {"get": op("/staff/analytics", "The scope's figures over a period", tag="analytics",
                                         security=SESSION, op_id="analytics_dashboard",
                                         parameters=[query("period", or_empty(periods)),
                                                     query("date", or_empty(DATE)), SCOPE],
                                         responses=std)}
    out["/staff/reports/{kind}/{name}"] = {"get": op(
        "/staff/reports/{kind}/{name}", "One report file (.html or .csv)", tag="analytics", security=SESSION,
        op_id="reports_file", parameters=[path("kind", {"type": "string", "enum": sorted(reports.KINDS)}),
                                          path("name", {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}\.(html|csv)$"}),
                                          SCOPE],
        responses={"200": {"description": "the file", "content": {HTML_T: {"schema": {"type": "string"}},
                                                                  "text/csv": {"schema": {"type": "string"}}}},
                   **errors(400, 401, 403, 404)})}
    out["/staff/screen"] = {"get": op("/staff/screen", "一屏观全市: the command centre's page", tag="pages",
                                      security=SESSION, op_id="screen_page", parameters=[SCOPE, accept_json()],
                                      responses={**_page_or_json(), **redirect(302, "to sign in"),
                                                 **errors(400, 401, 403, media=HTML_T)})}
    out["/staff/session"] = {"post": op(
        "/staff/session", "A session cookie for an API client, from its ID token", tag="signin", security=PUBLIC,
        op_id="staff_session", parameters=[accept_json()],
        request=body({"type": "object", "required": ["token"], "properties": {"token": {"type": "string"}}}),
        responses={**redirect(303, "signed in: the session cookie is set"), **errors(400, 401, 403, media=HTML_T)})}
    return out


def _page_or_json() -> dict:
    html = ok(200, {"type": "string"}, HTML_T, "the page (or its JSON with Accept: application/json)")
    html["200"]["content"][JSON_T] = {"schema": {"type": "object"}}
    return html


def _page_ops() -> dict:
    page_err = errors(400, 404, media=HTML_T)
    html = _page_or_json()
    token = path("token", {"type": "string", "minLength": 1}, "the tracking link's token")
    metrics = {"type": "string", "enum": [m.name for m in ranking.METRICS]}
    return {
        "/track/{token}": {"get": op("/track/{token}", "The citizen's page: status and the whole process",
                                     tag="pages", security=PUBLIC, op_id="track", parameters=[token, accept_json()],
                                     responses={**html, **page_err})},
        "/track/{token}/rating": {"post": op(
            "/track/{token}/rating", "The citizen's rating (form: 303 back to the page; JSON: the result)",
            tag="pages", security=PUBLIC, op_id="track_rating", parameters=[token],
            request={"required": True, "content": {JSON_T: {"schema": ref("Rating")}, FORM_T: {"schema": ref("Rating")}}},
            responses={**ok(200, ref("RatingResult")), **redirect(303, "rated: back to the page"),
                       **errors(400, 404, 409, 415, media=HTML_T)})},
        "/public": {"get": op("/public", "The public record: closed appeals, newest first", tag="pages",
                              security=PUBLIC, op_id="public_index",
                              parameters=[query(n) for n in ("category", "district", "street", "unit", "before")] +
                              [query("from", or_empty(DATE)), query("to", or_empty(DATE)), accept_json()],
                              responses={**html, **page_err})},
        "/public/units/{unit_id}": {"get": op("/public/units/{unit_id}", "A unit's public record", tag="pages",
                                              security=PUBLIC, op_id="public_unit",
                                              parameters=[path("unit_id"), accept_json()],
                                              responses={**html, **page_err})},
        "/public/rankings": {"get": op("/public/rankings", "One ranking, 50 units a page", tag="pages",
                                       security=PUBLIC, op_id="public_rankings",
                                       parameters=[query("period", or_empty({"type": "string",
                                                                             "enum": sorted(public_record.PERIODS)})),
                                                   query("metric", or_empty(metrics)),
                                                   query("page", or_empty({"type": "integer", "minimum": 1})),
                                                   accept_json()],
                                       responses={**html, **page_err})},
        "/static/{name}": {"get": op("/static/{name}", "A vendored static file", tag="pages", security=PUBLIC,
                                     op_id="static", parameters=[path("name")],
                                     responses={**ok(200, {"type": "string"}, "text/css"), **page_err})},
    }


def _workbench_ops() -> dict:
    """The workbench's pages: HTML for a signed-in browser (session cookie; forms add `csrf`)."""
    appeal = path("appeal_id")
    page = ok(200, {"type": "string"}, HTML_T, "the page")
    refused = errors(400, 401, 403, 404, 409, media=HTML_T)
    form = {"type": "object", "required": ["action", "csrf", "form_key"],
            "properties": {"action": {"type": "string", "enum": sorted(staff.REGISTRY)}, "csrf": {"type": "string"},
                           "form_key": {"type": "string", "maxLength": 64}}}
    unmask = {"type": "object", "required": ["reason", "csrf"],
              "properties": {"reason": {"type": "string"}, "csrf": {"type": "string"}}}
    simple = {"/staff/work": ("work_queue", "The person's list", [query("queue")]),
              "/staff/work/feed": ("work_feed", "A leader's followed appeals", []),
              "/staff/work/reports": ("work_reports", "The written reports of the person's scope", [])}
    out = {p: {"get": op(p, s, tag="workbench", security=SESSION, op_id=i, parameters=params,
                         responses={**page, **redirect(302, "signed out: to sign in"), **refused})}
           for p, (i, s, params) in simple.items()}
    out["/staff/work/appeals/{appeal_id}"] = {
        "get": op("/staff/work/appeals/{appeal_id}", "One case file with the forms of what may be done now",
                  tag="workbench", security=SESSION, op_id="work_case", parameters=[appeal, query("done")],
                  responses={**page, **redirect(302, "signed out: to sign in"), **refused}),
        "post": op("/staff/work/appeals/{appeal_id}", "One action from its form", tag="workbench", security=SESSION,
                   op_id="work_act", parameters=[appeal], request=body(form, FORM_T),
                   responses={**redirect(303, "done: back to the case"), **refused})}
    out["/staff/work/appeals/{appeal_id}/unmask"] = {"post": op(
        "/staff/work/appeals/{appeal_id}/unmask", "Personal data in clear, with a reason (audited), shown once",
        tag="workbench", security=SESSION, op_id="work_unmask", parameters=[appeal], request=body(unmask, FORM_T),
        responses={**page, **refused})}
    return out


def _signin_ops() -> dict:
    std = errors(400, 401, 403, 502, media=HTML_T)
    return {
        "/staff/sign-in": {"get": op("/staff/sign-in", "Start a staff sign-in (OIDC code flow with PKCE)",
                                     tag="signin", security=PUBLIC, op_id="sign_in",
                                     parameters=[query("next")],
                                     responses={**redirect(302, "to the identity provider"), **std})},
        "/staff/auth/callback": {"get": op(
            "/staff/auth/callback", "The identity provider's answer", tag="signin", security=PUBLIC,
            op_id="auth_callback", parameters=[query(n) for n in ("code", "state", "iss", "error")] + [accept_json()],
            responses={**ok(200, {"type": "string"}, HTML_T, "signed in: a page that moves on"), **std})},
        "/staff/session/end": {"post": op("/staff/session/end", "Sign out", tag="signin", security=PUBLIC,
                                          op_id="sign_out", responses={**redirect(303, "signed out"),
                                                                       **ok(200, {"type": "string"}, HTML_T)})},
    }


def _admin_ops() -> dict:
    region = path("region")
    std = errors(400, 401, 403, 404, 409)
    load = {"type": "object", "required": ["files"],
            "properties": {"files": {"type": "object", "minProperties": 1, "additionalProperties": {"type": "string"}},
                           "dry_run": {"type": "boolean"}}}
    return {
        "/admin/regions/{region}/packs": {"post": op(
            "/admin/regions/{region}/packs", "Load a region pack (dry run: the diff only)", tag="admin",
            security=BEARER, op_id="admin_load", parameters=[region], request=body(load),
            responses={**ok(200, text="dry run or no change"), **ok(201, text="a new version is live"), **std})},
        "/admin/regions/{region}/versions": {"get": op(
            "/admin/regions/{region}/versions", "The region's pack versions", tag="admin", security=BEARER,
            op_id="admin_versions", parameters=[region], responses={**ok(), **std})},
        "/admin/regions/{region}/rollback": {"post": op(
            "/admin/regions/{region}/rollback", "Make an earlier version live again", tag="admin", security=BEARER,
            op_id="admin_rollback", parameters=[region],
            request=body({"type": "object", "required": ["version"], "properties": {"version": {"type": "integer"}}}),
            responses={**ok(), **std})},
    }


def _meta_ops() -> dict:
    codes = channel_codes() + [OPEN311]
    return {
        "/": {"get": op("/", "The index: where things are, and the error shape", tag="meta", security=PUBLIC,
                        op_id="index", responses=ok(200, ref("Index")))},
        "/openapi.json": {"get": op("/openapi.json", "This document", tag="meta", security=PUBLIC, op_id="openapi",
                                    responses=ok(200, {"type": "object", "required": ["openapi", "paths"]}))},
        "/channels": {"get": op("/channels", "Every channel, its endpoint and how it authenticates", tag="channels",
                                security=PUBLIC, op_id="channels", responses=ok(200, ref("ChannelList")))},
        "/channels/{channel}/appeals/{ticket_id}/rating": {"post": op(
            "/channels/{channel}/appeals/{ticket_id}/rating", "评价: the citizen's rating, sent by their channel",
            tag="channels", security=SIGNED, op_id="channel_rating",
            parameters=[path("channel", {"type": "string", "enum": codes}), path("ticket_id")],
            request=body(ref("Rating")),
            responses={**ok(200, ref("RatingResult")), **errors(400, 401, 404, 409, 413, 415)})},
    }


def all_paths() -> dict:
    paths: dict[str, dict] = {}
    for part in (_meta_ops(), _open311_ops(), _staff_ops(), _analytics_ops(), _page_ops(), _workbench_ops(),
                 _signin_ops(), _admin_ops()):
        paths.update(part)
    return paths
