"""Tracking links (全流程可视, F-AR-2): one unguessable, revocable link per appeal to its citizen's page.

The token is 256 bits: the HMAC (under the platform's secret key, storage/pii.py) of the appeal
id and a random 128-bit salt kept on the appeal. Only the SHA-256 of the token is stored, as the
key of the row that finds the appeal; the token itself is never stored, and it is neither the
appeal id nor a ticket id. The platform makes it again when it needs to hand it out (an intake
retry, a status callback). Renewing the link (a staff action, when a citizen says theirs was
seen by others) draws a new salt and revokes the old link: it then finds nothing.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime

from chalicelib.domain.access import Principal
from chalicelib.domain.errors import NotFoundError
from chalicelib.domain.records import TrackingLink

PURPOSE = "tracking"
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")
PATH = "/track/"


def _token(p, appeal_id: str, salt: str) -> str:
    return p.sealer.derive_token(PURPOSE, f"{appeal_id}:{salt}")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def url_for_token(p, token: str) -> str:
    return f"{p.settings.public_base_url.rstrip('/')}{PATH}{token}"


def tracking_url(p, appeal_id: str, salt: str | None) -> str | None:
    """The appeal's link (None for an appeal taken in before links existed, until renewed)."""
    return url_for_token(p, _token(p, appeal_id, salt)) if salt else None


def issue(p, appeal, now: datetime) -> TrackingLink:
    """Give a new appeal its link: a fresh salt on the appeal, the token's hash to store."""
    appeal.tracking_salt = secrets.token_hex(16)
    return TrackingLink(token_hash(_token(p, appeal.appeal_id, appeal.tracking_salt)), appeal.appeal_id, now)


def resolve(p, token: str) -> str:
    """The appeal a token opens; an unknown, malformed or revoked token is the same 404."""
    link = p.store.get_tracking(token_hash(token)) if TOKEN_SHAPE.fullmatch(token or "") else None
    if link is None or link.revoked_at is not None:
        raise NotFoundError("this tracking link is not valid (it may have been renewed)", field="token",
                            code="unknown_tracking_link")
    return link.appeal_id


def renew(p, appeal, who: Principal, now: datetime) -> list:
    """Staff action: revoke the appeal's link and issue a new one (shown in the staff view)."""
    revoked = []
    if appeal.tracking_salt:
        old = token_hash(_token(p, appeal.appeal_id, appeal.tracking_salt))
        revoked.append(TrackingLink(old, appeal.appeal_id, now, revoked_at=now))
    link = issue(p, appeal, now)
    appeal.record(now, "tracking_link_renewed", who.actor, {}, public=False)
    return [*revoked, link]
