"""The one canonical JSON text (sorted keys, no padding, UTF-8 as is): what is hashed or stored
byte for byte (a ticket's payload hash, a region pack's content hash and stored object)."""
from __future__ import annotations

import json
from typing import Any


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
