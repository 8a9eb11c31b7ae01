"""Region packs on moto: load (Shenzhen, Laixi), dry run, no-op reload, bad packs, rollback, races, refresh."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from tests.conftest import REGION_DIR, ROOT

LAIXI_DIR = ROOT / "regions" / "laixi"
T0 = datetime(2026, 5, 6, 2, 30, tzinfo=timezone.utc)


@pytest.fixture
def admin(aws):
    from chalicelib.policy import region
    from chalicelib.services import region_admin
    region.reset_cache()
    yield region_admin
    region.reset_cache()


def shenzhen_files(**changes) -> dict:
    from chalicelib.policy.pack.parse import read_files

    files = dict(read_files(REGION_DIR))
    files.update(changes)
    return files


def policy(threshold: float) -> str:
    return json.dumps({"dispatch": {"auto_threshold": threshold}})


def state(aws) -> tuple:
    """Everything a load may write: table items, bucket object versions, secret names."""
    s3 = aws.session.client("s3")
    objs = s3.list_object_versions(Bucket=aws.resources.region_bucket)
    objects = sorted((o["Key"], o["VersionId"]) for o in objs.get("Versions", []))
    secrets = sorted(s["Name"] for s in aws.session.client("secretsmanager").list_secrets()["SecretList"])
    items = sorted(json.dumps(i, sort_keys=True, default=repr) for i in aws.table_items())
    return items, objects, secrets


def test_load_shenzhen_and_laixi(aws, admin):
    from chalicelib.services.clock import FixedClock
    from chalicelib.storage.repository import get_channel

    sz = admin.load(REGION_DIR, "alice", clock=FixedClock(T0))
    with pytest.raises(admin.PackValidationError) as exc:   # this test stack serves Shenzhen
        admin.load(LAIXI_DIR, "bob")
    assert str(exc.value.errors[0]) == "region.json:0: code: this stack serves region 'shenzhen', not 'laixi' " \
        "(JIESU_REGION_CODE)"
    lx = admin.load(LAIXI_DIR, "bob", clock=FixedClock(T0), allow_other_region=True)
    assert (sz.region, sz.version.version, lx.region, lx.version.version) == ("shenzhen", 1, "laixi", 1)
    assert sz.diff.summary()["catalog"] == {"added": 495, "removed": 0, "changed": 0}
    assert sz.diff.summary()["examples"]["added"] == sz.version.counts["examples"] == 2280
    assert lx.version.counts["examples"] == 0                # Laixi ships no labelled examples
    assert lx.version.counts["streets"] == 11 and lx.version.actor == "bob"
    assert lx.version.created_at == T0.isoformat(timespec="seconds")

    s3 = aws.session.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=aws.resources.region_bucket)["Contents"]]
    assert sorted(keys) == sorted([sz.version.s3_key, lx.version.s3_key])
    assert lx.version.s3_key.startswith("packs/laixi/000001-") and lx.version.s3_key.endswith("/pack.json.gz")

    from chalicelib.policy.region import live_pack

    pack = live_pack("laixi")
    assert pack.name == "莱西市" and pack.city_code == "370285"
    assert pack.catalog_version == lx.version.catalog_version == f"v1-{pack.content_hash[:8]}"
    # A new city is data: its own gazetteer, units and deadlines work through the same code.
    from chalicelib.domain.units import choose_unit
    from chalicelib.policy.runtime import RegionRuntime

    rt = RegionRuntime(pack)
    where = rt.gazetteer.resolve("莱西市姜山镇房疃大桥附近")
    assert where.street_code == "370285004"
    choice = choose_unit(rt.catalog["01.01.001"], where, rt.units)
    assert choice.unit.name == "姜山镇人民政府" and not choice.fallback
    assert rt.deadline_policy.steps["reply"].by_type["投诉"].amount == 3

    # Laixi's channels are registered with platform-created secrets (no value is returned).
    ch = get_channel("grid")  # the last load registered Laixi's grid channel over Shenzhen's
    assert ch.key_ids == {"lx-grid-1": "jiesu/test/channels/lx-grid-1"} and ch.enabled
    sm = aws.session.client("secretsmanager")
    assert sm.describe_secret(SecretId="jiesu/test/channels/lx-app-1")["Name"]
    assert [v.version for v in admin.versions("shenzhen")] == [1]
    assert admin.live_version("laixi").live


def test_dry_run_writes_nothing(aws, admin):
    before = state(aws)
    res = admin.load(LAIXI_DIR, "alice", dry_run=True, allow_other_region=True)
    assert res.dry_run and res.version is None and res.next_version == 1
    assert res.diff.summary()["channels"]["added"] == 7
    assert state(aws) == before

    admin.load(LAIXI_DIR, "alice", allow_other_region=True)
    from chalicelib.policy.pack.parse import read_files

    files = dict(read_files(LAIXI_DIR))
    files["policy.json"] = json.dumps({"dispatch": {"auto_threshold": 0.6}})
    before = state(aws)
    res = admin.load(files, "alice", dry_run=True, allow_other_region=True)
    assert res.next_version == 2 and res.version.version == 1
    assert {k for k, _ in res.diff.sections["policy"].changed} == {"dispatch.auto_threshold"}
    assert {"dedup.window_days", "deadlines.steps.reply.default"} <= set(res.diff.sections["policy"].removed)
    assert state(aws) == before


def test_reload_identical_is_noop(aws, admin):
    first = admin.load(REGION_DIR, "alice")
    before = state(aws)
    # Same content, other bytes: CRLF line endings and rows in another order.
    files = shenzhen_files()
    lines = files["roads.csv"].decode().splitlines()
    files["roads.csv"] = "\r\n".join([lines[0], *reversed(lines[1:])]).encode()
    again = admin.load(files, "bob", region="shenzhen")
    assert again.noop and again.version.version == 1 and again.diff.empty
    assert again.version.content_hash == first.version.content_hash
    assert state(aws) == before


def test_bad_pack_changes_nothing(aws, admin):
    admin.load(REGION_DIR, "alice")
    before = state(aws)
    units = REGION_DIR.joinpath("units.csv").read_text(encoding="utf-8").splitlines()
    units.append("U440306999-JD,宝安某街道办事处,街道办事处,street,440306999")    # street not in gazetteer
    catalog = REGION_DIR.joinpath("catalog.csv").read_text(encoding="utf-8")
    bad = shenzhen_files(**{"units.csv": "\n".join(units) + "\n",
                            "catalog.csv": catalog.replace("99.99.999,", "99.99.998,")})
    with pytest.raises(admin.PackValidationError) as exc:
        admin.load(bad, "mallory", region="shenzhen")
    msgs = [str(e) for e in exc.value.errors]
    assert f"units.csv:{len(units)}: jurisdiction_code: unit U440306999-JD" in msgs[-1] or any(
        m.startswith(f"units.csv:{len(units)}: jurisdiction_code:") for m in msgs)
    assert any(m.startswith("catalog.csv:0: code: the fallback row 99.99.999") for m in msgs)
    assert state(aws) == before
    with pytest.raises(admin.PackValidationError):           # a dry run raises the same way
        admin.load(bad, "mallory", dry_run=True, region="shenzhen")

    # A channel naming a secret that does not exist is refused before anything is written.
    doc = json.loads(REGION_DIR.joinpath("channels.json").read_text(encoding="utf-8"))
    doc["channels"][0]["secret_ref"] = "partner/hotline/key"
    with pytest.raises(admin.PackValidationError) as exc:
        admin.load(shenzhen_files(**{"channels.json": json.dumps(doc)}), "mallory", region="shenzhen")
    assert exc.value.errors[0].field == "secret_ref" and "does not exist" in exc.value.errors[0].message
    assert state(aws) == before
    # ... and is used as is once it exists.
    aws.session.client("secretsmanager").create_secret(Name="partner/hotline/key", SecretString="x" * 32)
    admin.load(shenzhen_files(**{"channels.json": json.dumps(doc)}), "alice", region="shenzhen")
    from chalicelib.storage.repository import get_channel

    assert get_channel("hotline").key_ids == {"sz-hotline-1": "partner/hotline/key"}


def test_rollback_flips_live_and_channels(aws, admin):
    from chalicelib.policy.region import LivePackCache
    from chalicelib.storage.repository import get_channel

    v1 = admin.load(REGION_DIR, "alice").version
    doc = json.loads(REGION_DIR.joinpath("channels.json").read_text(encoding="utf-8"))
    doc["channels"] = [c for c in doc["channels"] if c["code"] != "qrcode"]
    v2 = admin.load(shenzhen_files(**{"channels.json": json.dumps(doc), "policy.json": policy(0.6)}), "alice",
                    region="shenzhen").version
    assert v2.version == 2 and not get_channel("qrcode").enabled
    assert LivePackCache().get("shenzhen").policy["dispatch"]["auto_threshold"] == 0.6

    back = admin.rollback("shenzhen", 1, "carol")
    assert back.version == 1 and admin.live_version("shenzhen").content_hash == v1.content_hash
    assert get_channel("qrcode").enabled
    assert LivePackCache().get("shenzhen").catalog_version == v1.catalog_version
    assert [(v.version, v.live) for v in admin.versions("shenzhen")] == [(1, True), (2, False)]
    assert [(h["action"], h["from"], h["to"], h["actor"]) for h in admin.history("shenzhen")] == [
        ("load", None, 1, "alice"), ("load", 1, 2, "alice"), ("rollback", 2, 1, "carol")]
    # Versions keep counting up after a rollback; loading v2's content again is a new version.
    v3 = admin.load(shenzhen_files(**{"policy.json": policy(0.7)}), "alice", region="shenzhen").version
    assert v3.version == 3
    from chalicelib.domain.errors import NotFoundError

    with pytest.raises(NotFoundError):
        admin.rollback("shenzhen", 9, "carol")


def test_concurrent_loads_only_one_wins(aws, admin):
    admin.load(REGION_DIR, "alice")
    before_objects = state(aws)[1]
    winner = {}

    def interleave(stage, item, done, total):
        # While A is between reading LIVE and committing, B loads and wins.
        if stage == "upload" and done == 0 and not winner:
            winner["r"] = admin.load(shenzhen_files(**{"policy.json": policy(0.7)}), "bob", region="shenzhen")

    with pytest.raises(admin.ConcurrentLoadError):
        admin.load(shenzhen_files(**{"policy.json": policy(0.6)}), "alice", progress=interleave, region="shenzhen")
    live = admin.live_version("shenzhen")
    assert live.version == 2 and live.actor == "bob"
    assert [v.version for v in admin.versions("shenzhen")] == [1, 2]
    objects = state(aws)[1]
    assert len(objects) == len(before_objects) + 1           # the loser's object was removed again
    assert winner["r"].version.s3_key in {k for k, _ in objects}


def test_live_pack_refresh_at_most_once_a_minute(aws, admin):
    from chalicelib.policy.region import LivePackCache, RegionNotLoaded

    t = [1000.0]
    cache = LivePackCache(monotonic=lambda: t[0])
    with pytest.raises(RegionNotLoaded):
        cache.get("shenzhen")
    admin.load(REGION_DIR, "alice")
    p1 = cache.get("shenzhen")
    assert p1.version == 1 and (cache.pointer_reads, cache.pack_fetches) == (2, 1)
    admin.load(shenzhen_files(**{"policy.json": policy(0.6)}), "alice", region="shenzhen")
    t[0] += 59
    assert cache.get("shenzhen") is p1 and cache.pointer_reads == 2      # cached: no read at all
    t[0] += 2
    p2 = cache.get("shenzhen")
    assert p2.version == 2 and p2.policy["dispatch"]["auto_threshold"] == 0.6 and cache.pack_fetches == 2
    t[0] += 61
    assert cache.get("shenzhen") is p2 and (cache.pointer_reads, cache.pack_fetches) == (4, 2)  # one GetItem


def test_live_pack_carries_the_labelled_examples(aws, admin):
    """The stored object holds examples/*.jsonl, and the live pack read back trains the dispatch
    model on the same content as the source folder (so it finds the shipped calibration)."""
    from chalicelib.policy import build, region
    from chalicelib.policy.pack.parse import read_pack

    v1 = admin.load(REGION_DIR, "alice").version
    head = aws.session.client("s3").head_object(Bucket=aws.resources.region_bucket, Key=v1.s3_key)
    assert head["ContentLength"] < 512 * 1024                # ~290 KB gzip with 2,280 examples and the lexicon
    live = region.live_pack("shenzhen")
    assert live.catalog_version == v1.catalog_version and live.counts()["examples"] == 2280
    assert live.counts()["lexicon"] == 494
    source = read_pack(REGION_DIR)
    got, want = build.training_set(live), build.training_set(source)
    assert len(got.examples) == len(want.examples) == 2280
    assert sorted(map(repr, got.examples)) == sorted(map(repr, want.examples))
    assert got.fingerprint == want.fingerprint
    # Editing an example is a new version, and the diff says what moved.
    rows = REGION_DIR.joinpath("examples", "history-train.jsonl").read_text(encoding="utf-8").splitlines()
    res = admin.load(shenzhen_files(**{"examples/history-train.jsonl": "\n".join(rows[:-1]) + "\n"}), "alice",
                     region="shenzhen")
    assert res.version.version == 2 and res.diff.summary() == {"examples": {"added": 0, "removed": 1, "changed": 0}}


def test_cli_load_versions_rollback(aws, admin, capsys, tmp_path, monkeypatch):
    from chalicelib.settings import get_settings
    from infra import admin as cli

    monkeypatch.setenv("JIESU_REGION_CODE", "laixi")      # a Laixi stack
    get_settings.cache_clear()

    assert cli.main(["load", str(LAIXI_DIR), "--no-progress"]) == 0
    assert "laixi: loaded v1-" in capsys.readouterr().out
    assert cli.main(["load", str(LAIXI_DIR)]) == 0
    assert "unchanged" in capsys.readouterr().out
    # A broken copy: one bad row, one unknown parent; every error on its own line, exit 2.
    bad = tmp_path / "laixi"
    bad.mkdir()
    for p in LAIXI_DIR.iterdir():
        if p.is_file():
            (bad / p.name).write_bytes(p.read_bytes())
    streets = (bad / "streets.csv").read_text(encoding="utf-8").splitlines()
    streets[3] = streets[3].replace(",370285,", ",370299,")
    (bad / "streets.csv").write_text("\n".join(streets) + "\n", encoding="utf-8")
    (bad / "roads.csv").write_text("name,street_code\n环湖路\n", encoding="utf-8")
    assert cli.main(["load", str(bad), "--no-progress"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert "streets.csv:4: district_code: unknown district '370299' for street 370285003 (not in districts.csv)" in err
    assert "roads.csv:2: -: expected 2 fields, found 1" in err
    assert err[-1].endswith("nothing was changed")
    assert cli.main(["diff", str(REGION_DIR)]) == 2
    assert "this stack serves region 'laixi', not 'shenzhen'" in capsys.readouterr().err
    assert cli.main(["diff", str(REGION_DIR), "--allow-other-region"]) == 0
    assert "would load as v1" in capsys.readouterr().out
    assert cli.main(["--json", "versions", "laixi"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["live"] is True
    assert cli.main(["rollback", "laixi", "7"]) == 4


def test_demo_region_returns_channel_credentials(aws, admin):
    from infra.demo_region import load_demo_region
    from chalicelib.storage.repository import get_channel

    creds = load_demo_region(aws.session, "test", REGION_DIR, "http://127.0.0.1:9/callbacks")
    # The fixture's register_channels created the same secrets: the load reuses them.
    assert creds == aws.creds
    assert get_channel("app").callback_url == "http://127.0.0.1:9/callbacks"
    assert admin.live_version("shenzhen").version == 1
