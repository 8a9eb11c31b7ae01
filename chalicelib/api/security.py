"""Security headers on every response, added in one place (issue 22, item 7).

Pages set their own Content-Security-Policy (what each may load: pages.PAGE_HEADERS, the
workbench's, the screen's, a report's); this middleware makes sure that every answer, page, JSON,
static file or error, also carries:

  * X-Content-Type-Options: nosniff
  * a CSP with `frame-ancestors 'none'` (no page may be framed: clickjacking), added to the page's
    own policy or, where a response has none (JSON, redirects), `default-src 'none'` with it;
    X-Frame-Options: DENY for browsers that predate frame-ancestors
  * Strict-Transport-Security in deployed stages (the public base URL is https; over plain http
    locally a browser would ignore it anyway)

No policy allows inline script: the pages load their scripts from /static; a report file (which
must open offline, so it carries its script inline) names each of its inline blocks by hash.
"""
from __future__ import annotations

import base64
import hashlib
import re

from chalice import Blueprint

from chalicelib.api import wiring

bp = Blueprint(__name__)

CSP = "Content-Security-Policy"
DEFAULT_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
HSTS = "max-age=31536000; includeSubDomains"
_INLINE = re.compile(r"<(script|style)(?![^>]*\bsrc=)([^>]*)>(.*?)</\1>", re.S | re.I)


def secure_headers(headers: dict[str, str], https: bool) -> dict[str, str]:
    """The response's headers with the ones every answer carries (its own CSP kept, framing refused)."""
    out = dict(headers)
    key = next((k for k in out if k.lower() == CSP.lower()), None)
    if key is None:
        out[CSP] = DEFAULT_CSP
    elif "frame-ancestors" not in out[key]:
        out[key] = out[key].rstrip("; ") + "; frame-ancestors 'none'"
    out.setdefault("X-Content-Type-Options", "nosniff")
    out.setdefault("X-Frame-Options", "DENY")
    if https:
        out.setdefault("Strict-Transport-Security", HSTS)
    return out


def inline_hashes(html: str) -> tuple[list[str], list[str]]:
    """The CSP source expressions ('sha256-…') of a document's inline <script> and <style> blocks,
    so a policy can allow exactly those and no other inline code."""
    scripts, styles = [], []
    for m in _INLINE.finditer(html):
        if m.group(1).lower() == "script" and "application/json" in m.group(2).lower():
            continue                 # a data block: never run, needs no permission
        digest = base64.b64encode(hashlib.sha256(m.group(3).encode("utf-8")).digest()).decode()
        (scripts if m.group(1).lower() == "script" else styles).append(f"'sha256-{digest}'")
    return scripts, styles


@bp.middleware("http")
def security_headers(event, get_response):
    response = get_response(event)
    https = wiring.PLATFORM.settings.public_base_url.startswith("https://")
    response.headers = secure_headers(response.headers or {}, https)
    return response
