"""A report file opened from the platform (GET /staff/reports/...html): its inline chart script and
style run because the CSP names them by hash; no other inline code could (issue 22, item 7)."""
from __future__ import annotations

import base64
import hashlib
import re
from datetime import datetime, timedelta

from chalicelib.bootstrap import bootstrap
from chalicelib.domain.calendar import SHANGHAI, to_local
from chalicelib.services import reports
from chalicelib.services.clock import FixedClock
from tests.integration.staff_fixtures import idp, staff_env  # noqa: F401
from tests.integration.test_analytics_api import get, run_analytics
from tests.integration.test_dispatch_stage import client  # noqa: F401
from tests.integration.test_evaluation import handled


def sha(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def test_a_reports_policy_allows_its_own_inline_blocks_by_hash_and_nothing_inline_else(aws, client, staff_env):
    handled(aws, client, staff_env)
    run_analytics(aws)
    today = to_local(datetime.now(SHANGHAI)).date()
    reports.run(bootstrap().with_clock(FixedClock(datetime(today.year, today.month, today.day, 9, tzinfo=SHANGHAI)
                                                  + timedelta(days=1))))
    resp = get(client, staff_env, "baoan_leader", f"/staff/reports/daily/{today.isoformat()}.html")
    body = resp.body.decode()
    csp = {d.split()[0]: d.split()[1:] for d in resp.headers["Content-Security-Policy"].split(";") if d.strip()}
    scripts = [m.group(2) for m in re.finditer(r"<script(?![^>]*\bsrc=)([^>]*)>(.*?)</script>", body, re.S)
               if "application/json" not in m.group(1)]
    styles = re.findall(r"<style[^>]*>(.*?)</style>", body, re.S)
    assert (resp.status_code, len(scripts) >= 1, len(styles) >= 1) == (200, True, True)
    assert csp["script-src"] == ["'self'", *[sha(s) for s in scripts]]
    assert csp["style-src"] == [sha(s) for s in styles]
    assert (csp["frame-ancestors"], csp["default-src"], "'unsafe-inline'" in resp.headers["Content-Security-Policy"]) \
        == (["'none'"], ["'none'"], False)
