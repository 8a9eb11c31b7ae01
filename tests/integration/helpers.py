"""Signed requests to the Chalice app in-process, as a channel partner sends them."""
from __future__ import annotations

import json

from chalicelib.channels.signing import signed_headers


def signed_post(client, creds, channel: str, payload, *, secret: str | None = None, key_id: str | None = None,
                now: float | None = None, raw: bytes | None = None, content_type: str = "application/json",
                path_channel: str | None = None, headers_override: dict | None = None):
    path = f"/channels/{path_channel or channel}/appeals"
    body = raw if raw is not None else json.dumps(payload, ensure_ascii=False).encode()
    kid, sec = creds.get(channel, ("nobody", "nothing"))
    headers = {"Content-Type": content_type,
               **signed_headers(key_id or kid, secret or sec, "POST", path, body, now)}
    headers.update(headers_override or {})
    return client.http.post(path, headers=headers, body=body)


def status_notices(appeal_id: str) -> list[dict]:
    """The status notices (outbox messages for notify) stored for an appeal, oldest first."""
    from chalicelib.storage import keys
    from chalicelib.storage.models import OutboxItem

    rows = OutboxItem.query(keys.appeal_pk(appeal_id), OutboxItem.SK.startswith(keys.outbox_sk("status", "")))
    return [dict(r.message, done_at=r.done_at) for r in rows]


def save(appeal, now, *records, handoffs=(), close=()) -> None:
    """Store a changed appeal (with the index records and hand-offs given) as a use case would:
    one unit of work on the real store, with the appeal's public view."""
    from chalicelib.bootstrap import bootstrap
    from chalicelib.services import public_views
    from chalicelib.storage.store import DynamoStore

    uow = DynamoStore().unit_of_work(now)
    uow.track(appeal)
    uow.add(*records)
    uow.hand_off(*handoffs)
    for c in close:
        uow.close(*c)
    # Its public view follows, rebuilt whole (what work.commit's reactions write, without notices).
    public_views.project(bootstrap(), uow, {appeal.appeal_id: appeal.pull_domain_events()}, every=True)
    uow.commit()
