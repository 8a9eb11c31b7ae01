"""What the page benchmarks share to fill a store: one real hotline work order taken in by the
real intake, and clones of a real appeal's stored items with a new id and every timestamp
shifted (bench/public_pages.py, bench/workbench_pages.py)."""
from __future__ import annotations

import base64
import json
import re
import zlib
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOTLINE = ROOT / "tests" / "events" / "channels" / "hotline.json"
HOTLINE_PATH = "/channels/hotline/appeals"
LOCAL = timezone(timedelta(hours=8))


# --- one real appeal ------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _hotline_template() -> dict:
    return json.loads(HOTLINE.read_text(encoding="utf-8"))


def hotline_appeal(p, creds: dict, now: datetime, serial: int, text: str, address: str, rng,
                   appeal_type: str = "投诉", urgency: str = "普通") -> tuple[str, str]:
    """One signed 12345-hotline work order through intake.take_in (ticket SZ<local date><serial>,
    a random caller phone from rng): its appeal id and tracking token."""
    from chalicelib.channels.signing import signed_headers
    from chalicelib.services import intake

    key_id, secret = creds["hotline"]
    payload = dict(_hotline_template(), gdbh=f"SZ{now.astimezone(LOCAL):%Y%m%d}{serial:06d}", sqnr=text,
                   fsdz=address, gdbt=text[:20], jjcd=urgency, sqlx=appeal_type,
                   ldsj=now.astimezone(LOCAL).isoformat(timespec="seconds"),
                   lxdh=f"139{rng.randrange(10**8):08d}")
    body = json.dumps(payload, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json",
               **signed_headers(key_id, secret, "POST", HOTLINE_PATH, body, now.timestamp())}
    taken = intake.take_in(p, intake.ChannelRequest("hotline", "POST", HOTLINE_PATH, headers, body))
    return taken.body["appeal_id"], taken.body["tracking_url"].rsplit("/", 1)[1]


# --- clones -------------------------------------------------------------------------------------

def text_of(av: dict) -> str | None:
    """The text of a stored string, or of a packed JSON binary (storage.models.PackedJSONAttribute:
    zlib over UTF-8 JSON); None for any other value (numbers, sealed binaries, lists)."""
    if "S" in av:
        return av["S"]
    if "B" in av:
        try:
            return zlib.decompress(_raw(av["B"])).decode()
        except zlib.error:
            return None
    return None


def _raw(value) -> bytes:
    """A binary as boto3 gives it (bytes) or as moto's backend keeps it (base64 text)."""
    return value if isinstance(value, (bytes, bytearray)) else base64.b64decode(value)


def _like(av: dict, text: str) -> dict:
    """`text` stored the way `av` was: a string, or packed again."""
    return {"S": text} if "S" in av else {"B": zlib.compress(text.encode())}


STAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})?")


def shift_stamp(text: str, delta: timedelta) -> str:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00")) + delta
    frac = text[19:].split("+")[0].split("-")[0].split("Z")[0]
    spec = "seconds" if not frac else "milliseconds" if len(frac) == 4 else "microseconds"
    out = moment.isoformat(timespec=spec)
    return out[:-6] + "Z" if text.endswith("Z") else out


class Template:
    """One real appeal's items, ready to be cloned (low-level AttributeValue form): its appeal
    item, its public view, its public-record rows (`rows`, PUBREC#...) and any other items of its
    partition (`extra`: party, key markers, ... cloned as they are, id and times shifted)."""

    def __init__(self, appeal_id: str, appeal: dict, view: dict, rows: list[dict],
                 extra: list[dict] | tuple = ()) -> None:
        self.appeal_id, self.appeal, self.view, self.rows = appeal_id, appeal, view, rows
        self.extra = list(extra)
        summary = json.loads(text_of(view["body"]))
        self.closed = summary["status"] == "closed"
        self.received = datetime.fromisoformat(summary["received_at"])
        self.closed_at = datetime.fromisoformat(summary["closed_at"]) if self.closed else None
        self.unit = (summary.get("unit") or {}).get("id")
        self.satisfied = bool((summary.get("rating") or {}).get("satisfied"))
        self.replied = summary.get("answer") is not None
        self.stamps = sorted({m for item in (appeal, view, *rows, *self.extra) for av in item.values()
                              if (text := text_of(av)) is not None for m in STAMP.findall(text)})

    def clone(self, new_id: str, delta: timedelta) -> list[dict]:
        shifted = {s: shift_stamp(s, delta) for s in self.stamps}
        old = self.appeal_id

        def fix(av: dict) -> dict:
            s = text_of(av)
            if s is None:
                return av
            if old in s:
                s = s.replace(old, new_id)
            if "T" in s:
                s = STAMP.sub(lambda m: shifted.get(m.group(0)) or shift_stamp(m.group(0), delta), s)
            return _like(av, s)

        items = []
        for src in (self.appeal, self.view, *self.rows, *self.extra):
            items.append({k: fix(v) for k, v in src.items()})
        view = items[1]
        if "GSI2PK" in view:   # the Open311 listing: the local month of receipt
            received = datetime.fromisoformat(json.loads(text_of(view["body"]))["received_at"])
            _, region, bucket, _ = view["GSI2PK"]["S"].split("#")          # O311#<region>#<bucket>#<month>
            view["GSI2PK"] = {"S": f"O311#{region}#{bucket}#{received.astimezone(LOCAL):%Y-%m}"}
            if "GSI1PK" in view:   # every status together: O311A#<region>#<month>
                view["GSI1PK"] = {"S": f"O311A#{region}#{received.astimezone(LOCAL):%Y-%m}"}
            if "GSI3PK" in view:   # and by service: O311S#<region>#<service>#<bucket>#<month>
                _, _, service, bucket, _ = view["GSI3PK"]["S"].split("#")
                view["GSI3PK"] = {"S": f"O311S#{region}#{service}#{bucket}#{received.astimezone(LOCAL):%Y-%m}"}
        for row in items[2:2 + len(self.rows)]:  # the public record: by local month of closing (a unit's list by year)
            _, region, facet, value, _ = row["PK"]["S"].split("#", 4)
            closed = datetime.fromisoformat(row["closed_at"]["S"]).astimezone(LOCAL)
            part = f"{closed:%Y}" if facet == "unit" else f"{closed:%Y-%m}"
            row["PK"] = {"S": f"PUBREC#{region}#{facet}#{value}#{part}"}
        return items


ACCOUNT = "123456789012"


def place_clones(n: int, closed: list[Template], open_: list[Template], table: str, rng, now: datetime,
                 open_share: float, open_within: timedelta, spread: timedelta, each=None, log=None,
                 open_after: timedelta = timedelta(hours=1)) -> tuple[int, int]:
    """n clones straight into moto's backend (no request): a share `open_share` of an open
    template, received between `open_within` and `open_after` before `now`, the others of a
    closed one, received over `spread` and closed before `now`. `each(template, received, delta)`
    is told of every clone. Returns (items written, open clones)."""
    import time

    from moto.dynamodb.models import dynamodb_backends

    from chalicelib.services.ids import new_appeal_id

    backend = dynamodb_backends[ACCOUNT]["us-east-1"]
    written, n_open, t0 = 0, 0, time.perf_counter()
    for k in range(n):
        if rng.random() < open_share:
            t = rng.choice(open_)
            received = now - timedelta(seconds=rng.uniform(open_after.total_seconds(), open_within.total_seconds()))
            n_open += 1
        else:
            t = rng.choice(closed)
            gap = (t.closed_at - t.received).total_seconds()
            received = now - timedelta(seconds=rng.uniform(gap + 600, spread.total_seconds()))
        received = received.replace(microsecond=0)
        delta = received - t.received
        for item in t.clone(new_appeal_id(received), delta):
            backend.put_item(table, item)
            written += 1
        if each is not None:
            each(t, received, delta)
        if log is not None and (k + 1) % 10000 == 0:
            log(f"    filled {k + 1:>7}/{n} appeals, {written} items, {time.perf_counter() - t0:.0f}s")
    return written, n_open
