"""Demo setup of a region on the local stand-in: load its pack like an admin would, hand back channel keys.

The devserver and the `aws` test fixture can call `load_demo_region` instead of
infra.local.register_channels: the pack becomes live version 1 (catalog, units, calendar,
policy, channels) and the demo partners get the signing secrets the load created.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from chalicelib.policy.pack.parse import read_files


def load_demo_region(session, stage: str, pack_dir, callback_url: Optional[str] = None,
                     actor: str = "demo-setup") -> dict[str, tuple[str, str]]:
    """Load `pack_dir` as the live pack; returns {channel code: (key_id, secret)} for the demo partners.

    `callback_url` (the local demo receiver) replaces every channel's callback in the loaded pack,
    so the live version records where callbacks really go. Expects the process environment to
    point at the stack (JIESU_TABLE, JIESU_REGION_BUCKET, AWS_ENDPOINT_URL for moto server).
    Secrets are read back for the demo's own partners only; they are never printed or logged.
    """
    from chalicelib.services import region_admin

    folder = Path(pack_dir)
    files = dict(read_files(folder))
    if callback_url:
        doc = json.loads(files["channels.json"])
        for ch in doc["channels"]:
            ch["callback_url"] = callback_url
        files["channels.json"] = json.dumps(doc, ensure_ascii=False, indent=2)
    region = None if "region.json" in files else folder.resolve().name
    result = region_admin.load(files, actor, region=region, stage=stage, session=session)

    return demo_credentials(session, stage, result.version)


def live_demo_credentials(session, stage: str, region_code: str) -> Optional[dict[str, tuple[str, str]]]:
    """The channel keys of the region's live pack, or None when the region has none yet (a new
    stand-in). A restarted stand-in serves what it kept, so the demo pack is not loaded again
    over what an admin may have loaded since."""
    from chalicelib.services import region_admin

    live = region_admin.live_version(region_code)
    return demo_credentials(session, stage, live) if live is not None else None


def demo_credentials(session, stage: str, v) -> dict[str, tuple[str, str]]:
    from chalicelib.policy.region import fetch_pack
    from chalicelib.services import region_admin
    from chalicelib.storage.region_store import PackObjects

    pack = fetch_pack(v.s3_key, v.version, v.content_hash, v.s3_version_id, objects=PackObjects(session))
    sm = session.client("secretsmanager")
    creds = {}
    for ch in pack.channels:
        ref = region_admin.channel_secret_ref(ch, stage)
        creds[ch.code] = (ch.key_id, sm.get_secret_value(SecretId=ref)["SecretString"])
    return creds
