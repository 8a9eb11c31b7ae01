"""Security headers on every page and answer (issue 22, item 7; chalicelib/api/security.py): a CSP
that allows no inline script and no framing, nosniff, X-Frame-Options, HSTS in deployed stages only;
and no template carries inline script, event handlers or style attributes."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from chalice.test import Client

from chalicelib.api.security import inline_hashes, secure_headers
from chalicelib.settings import get_settings

TEMPLATES = Path(__file__).resolve().parents[2] / "chalicelib" / "web" / "templates"

# One of each kind of answer: JSON, the public pages, a citizen's page for an unknown link (the
# error page), sign-in (no IdP here: refused), the workbench signed out (a redirect), a static file,
# the API document, a staff route without a token, a wrong method.
PATHS = {
    "index": ("GET", "/", 200), "public": ("GET", "/public", 200), "rankings": ("GET", "/public/rankings", 200),
    "track_unknown": ("GET", "/track/nosuchtoken00000000", 404), "sign_in_no_idp": ("GET", "/staff/sign-in", 401),
    "workbench_signed_out": ("GET", "/staff/work", 302), "static": ("GET", "/static/jiesu.css", 200),
    "openapi": ("GET", "/openapi.json", 200), "staff_no_token": ("GET", "/staff/appeals/20260101-NOSUCHONE", 401),
    "wrong_method": ("DELETE", "/public", 405), "channels": ("GET", "/channels", 200),
}


@pytest.fixture
def client(aws, monkeypatch):
    import app

    with Client(app.app) as c:
        yield c


def directives(csp: str) -> dict[str, list[str]]:
    out = {}
    for part in csp.split(";"):
        words = part.split()
        if words:
            out[words[0]] = words[1:]
    return out


def fetch(client, name):
    method, path, status = PATHS[name]
    resp = client.http.request(method, path, headers={"Accept": "text/html"}, body=b"")
    assert resp.status_code == status, (name, resp.status_code, resp.body[:200])
    return resp


@pytest.mark.parametrize("name", sorted(PATHS))
def test_csp_refuses_framing_and_inline_script(client, name):
    csp = directives(fetch(client, name).headers["Content-Security-Policy"])
    assert csp["frame-ancestors"] == ["'none'"]
    script = csp.get("script-src", csp["default-src"])
    assert "'unsafe-inline'" not in script and "'unsafe-eval'" not in script
    assert "'unsafe-inline'" not in csp.get("style-src", csp["default-src"])


@pytest.mark.parametrize("name", sorted(PATHS))
def test_nosniff_and_no_framing(client, name):
    headers = fetch(client, name).headers
    assert (headers["X-Content-Type-Options"], headers["X-Frame-Options"]) == ("nosniff", "DENY")


@pytest.mark.parametrize("name", sorted(PATHS))
def test_no_hsts_over_plain_http_locally(client, name):
    assert "Strict-Transport-Security" not in fetch(client, name).headers


@pytest.mark.parametrize("name", ["index", "public", "sign_in_no_idp", "staff_no_token"])
def test_hsts_in_a_deployed_stage(client, monkeypatch, name):
    monkeypatch.setenv("JIESU_PUBLIC_BASE_URL", "https://jiesu.example.gov.cn")
    get_settings.cache_clear()
    try:
        headers = fetch(client, name).headers
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def test_a_pages_own_policy_is_kept_and_framing_added():
    out = secure_headers({"Content-Security-Policy": "default-src 'none'; style-src 'self'"}, https=False)
    assert out["Content-Security-Policy"] == "default-src 'none'; style-src 'self'; frame-ancestors 'none'"
    assert secure_headers({}, https=False)["Content-Security-Policy"] == \
        "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"


def test_a_report_names_its_inline_blocks_by_hash_and_its_data_block_needs_none():
    doc = ('<style>p{color:red}</style><script type="application/json" id="d">{"a":1}</script>'
           '<script src="/static/echarts.min.js"></script><script>draw()</script>')
    scripts, styles = inline_hashes(doc)
    assert (scripts, styles) == (["'sha256-jm3FkV4tNIdBUr8jRVVl5n9PUixlaxTWD0pdpFiSH5A='"],
                                 ["'sha256-p0bF+un5yUb9MBO6xRb8kPHlY2BdpHVtLiFkDrZPF64='"])


INLINE = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>|\son[a-z]+\s*=|\sstyle\s*=|javascript:", re.I)


@pytest.mark.parametrize("template", sorted(p.name for p in TEMPLATES.glob("*.html") if p.name != "report.html"))
def test_no_page_template_carries_inline_script_handlers_or_style_attributes(template):
    assert INLINE.findall((TEMPLATES / template).read_text(encoding="utf-8")) == []
