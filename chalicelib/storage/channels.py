"""Loading a region's channel registrations (who may sign, where callbacks go) into the table."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from chalicelib.domain.records import Channel
from chalicelib.storage.models import ChannelItem
from chalicelib.storage.records import to_item


def secret_ref(prefix: str, key_id: str) -> str:
    return f"{prefix}{key_id}"


def read_channels(pack_dir: Path) -> list[dict]:
    return json.loads((pack_dir / "channels.json").read_text(encoding="utf-8"))["channels"]


def save_channel(code: str, name: str, key_id: str, ref: str, callback_url: str | None,
                 callback_key_id: str | None = None) -> ChannelItem:
    item = to_item(Channel(code, name, {key_id: ref}, callback_url, callback_key_id or key_id, True),
                   datetime.now(timezone.utc))
    item.save()
    return item
