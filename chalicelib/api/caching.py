"""HTTP caching of public answers: a strong ETag of the body, Cache-Control, and 304 Not Modified
when the client (or a CDN in front of the API) already holds the same body."""
from __future__ import annotations

import hashlib
from typing import Mapping

from chalice import Response

PUBLIC = "public, max-age=60, stale-while-revalidate=300"   # the public record, Open311 lists
PRIVATE = "private, no-cache"                                # a citizen's own page: always revalidated
IMMUTABLE = "public, max-age=31536000, immutable"            # static files (their URL carries a hash)


def etag_of(body: str | bytes) -> str:
    data = body.encode() if isinstance(body, str) else body
    return '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


def cached(request_headers: Mapping[str, str], body: str, content_type: str, cache_control: str = PUBLIC,
           status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """`body` with its ETag and Cache-Control; a 304 without body when If-None-Match names it."""
    tag = etag_of(body)
    out = {"Content-Type": content_type, "ETag": tag, "Cache-Control": cache_control, "Vary": "Accept",
           **(headers or {})}
    wanted = {t.strip() for t in (request_headers.get("if-none-match") or "").split(",")}
    if status == 200 and (tag in wanted or f"W/{tag}" in wanted or "*" in wanted):
        return Response(body="", status_code=304, headers=out)
    return Response(body=body, status_code=status, headers=out)
