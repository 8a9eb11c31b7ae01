"""A region pack's stored form: the one gzip JSON object per version, its S3 key, and a pack written as a folder."""
from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path
from typing import Optional

from chalicelib.domain.canonical import canonical_json
from chalicelib.policy.pack.model import CSV_FILES, EXAMPLE_FILE_RE, LIST_COLUMNS, OPTIONAL_CSV, RegionPack, content_hash


def encode_pack(pack: RegionPack) -> bytes:
    """The one stored object: gzip (mtime 0, so identical packs give identical bytes) of the JSON."""
    body = {"content_hash": content_hash(pack), "pack": pack.to_dict()}
    return gzip.compress(canonical_json(body).encode("utf-8"), compresslevel=6, mtime=0)


def decode_pack(blob: bytes, version: Optional[int] = None, expected_hash: Optional[str] = None) -> RegionPack:
    body = json.loads(gzip.decompress(blob).decode("utf-8"))
    pack = RegionPack.from_dict(body["pack"], version=version)
    actual = content_hash(pack)
    if actual != body.get("content_hash") or (expected_hash and actual != expected_hash):
        raise ValueError(f"region pack object is corrupt: content hash {actual[:12]} does not match "
                         f"{(expected_hash or body.get('content_hash') or '')[:12]}")
    return pack


def object_key(region: str, version: int, digest: str) -> str:
    """S3 key of a version: immutable, one object per version."""
    return f"packs/{region}/{version:06d}-{digest[:16]}/pack.json.gz"


def write_dir(pack: RegionPack, path: str | Path) -> Path:
    """Write the pack back as a folder that `parse.read_pack` reads as the same content (tools, tests)."""
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    d = pack.to_dict()
    for fname, header in CSV_FILES.items():
        key = fname[:-4]
        if key in OPTIONAL_CSV and not d.get(key):
            continue
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(header)
        for row in d[key]:
            w.writerow(["|".join(row[h]) if h in LIST_COLUMNS else
                        (_fmt_coord(row[h]) if h in ("lat", "lng") else row[h]) for h in header])
        (out / fname).write_text(buf.getvalue(), encoding="utf-8")
    (out / "region.json").write_text(_dump({"code": pack.code, "name": pack.name, "city_code": pack.city_code}),
                                     encoding="utf-8")
    (out / "channels.json").write_text(_dump({"channels": d["channels"]}), encoding="utf-8")
    (out / "calendar.json").write_text(_dump(d["calendar"]), encoding="utf-8")
    (out / "policy.json").write_text(_dump(d["policy"]), encoding="utf-8")
    by_file: dict[str, list[str]] = {}
    for e in d.get("examples", ()):
        if not EXAMPLE_FILE_RE.match(e["file"]):
            raise ValueError(f"bad example file name {e['file']!r}")
        rec = {"id": e["id"], "text": e["text"], "code": e["code"], "street": e["street"]}
        by_file.setdefault(e["file"], []).append(json.dumps({k: v for k, v in rec.items() if v or k == "text"},
                                                            ensure_ascii=False))
    if by_file:
        (out / "examples").mkdir(exist_ok=True)
    for fname, rows in by_file.items():
        (out / fname).write_text("\n".join(rows) + "\n", encoding="utf-8")
    return out


def _dump(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=2) + "\n"


def _fmt_coord(v: float) -> str:
    return f"{v:.4f}"
