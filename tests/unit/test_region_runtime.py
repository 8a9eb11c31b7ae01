"""The region runtime: one object per pack version, built in memory on first use, cached; no AWS."""
from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import pytest

from chalicelib.bootstrap import bootstrap
from chalicelib.domain.access import Principal, Role
from chalicelib.domain.dedup import DEFAULT_POLICY
from chalicelib.nlp.places import TOKENIZER
from chalicelib.policy import build, runtime
from chalicelib.policy.pack.model import RegionPack
from chalicelib.policy.pack.parse import read_pack
from chalicelib.policy.pack.store import decode_pack, encode_pack
from chalicelib.policy.runtime import RegionRuntime, RuntimeCache
from chalicelib.services import staff
from chalicelib.storage.corrections import CorrectionRow

ROOT = Path(__file__).resolve().parents[2]
LAIXI = read_pack(ROOT / "regions" / "laixi").with_version(1)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class Corrections:
    """A fake of chalicelib.storage.corrections.corrections_since: what was asked, what it gave."""

    def __init__(self, rows: list[CorrectionRow] = ()) -> None:
        self.rows = list(rows)
        self.asked: list[tuple[str, str]] = []

    def __call__(self, region: str, after: str) -> list[CorrectionRow]:
        self.asked.append((region, after))
        return [r for r in self.rows if r.cursor > after]


def cache_of(*packs: RegionPack, corrections=None, clock=None) -> tuple[RuntimeCache, list[RegionPack]]:
    """A cache whose live pack is whatever the test puts last in the returned list."""
    live = list(packs)
    return RuntimeCache(packs=lambda region: live[-1], corrections=corrections or Corrections(),
                        monotonic=clock or Clock()), live


def test_a_version_is_built_once_and_served_from_the_cache_until_the_live_version_changes():
    cache, live = cache_of(LAIXI)
    first = cache.get("laixi")
    assert cache.get("laixi") is first and cache.builds == 1
    assert first.version == LAIXI.catalog_version and first.region == "laixi"
    live.append(dataclasses.replace(LAIXI, policy={**LAIXI.policy, "dispatch": {"auto_threshold": 0.8}}, version=2))
    second = cache.get("laixi")
    assert second is not first and cache.builds == 2 and second.auto_threshold == 0.8
    assert cache.get("laixi") is second and cache.builds == 2


def test_the_process_cache_serves_the_given_packs_and_reset_drops_what_it_built():
    try:
        runtime.serve_packs({"laixi": LAIXI})
        first = runtime.runtime_for("laixi")
        assert runtime.runtime_for("laixi") is first and first.version == LAIXI.catalog_version
        runtime.reset()
        runtime.serve_packs({"laixi": LAIXI})
        assert runtime.runtime_for("laixi") is not first
    finally:
        runtime.reset()


def test_every_part_is_built_once_from_the_pack_in_memory(monkeypatch):
    rt = RegionRuntime(LAIXI, corrections=Corrections())
    assert rt.units is rt.units and rt.gazetteer is rt.gazetteer and rt.classifier is rt.classifier
    assert rt.gazetteer.resolve("莱西市姜山镇房疃大桥附近").street_code == "370285004"
    assert rt.units.fallback.unit_id == "U370285-SQ" and rt.city_code == "370285"
    assert rt.catalog is LAIXI.catalog_by_code and rt.policy == dict(LAIXI.policy)
    assert rt.deadline_policy.steps["reply"].by_type["投诉"].amount == 3
    assert rt.dedup_policy == dataclasses.replace(DEFAULT_POLICY, window_days=30)
    assert "370285004" in rt.areas and rt.unit_jurisdictions["U370285001-ZJ"] == "370285001"


def test_building_a_runtime_writes_nothing_to_the_temp_dir(tmp_path, monkeypatch):
    # jieba keeps its own dictionary cache (jieba.cache) in the temp dir once per process; that is
    # the library's, not region data, so the tokenizer is ready before the temp dir is watched.
    TOKENIZER.initialize()
    watched = tmp_path / "tmp"
    watched.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(watched))
    assert tempfile.gettempdir() == str(watched)
    # Laixi ships no calibration file: its classifier is calibrated in memory.
    rt = RegionRuntime(LAIXI, corrections=Corrections())
    parts = (rt.units, rt.gazetteer, rt.calendar, rt.deadline_policy, rt.dedup_policy, rt.place_lexicon,
             rt.classifier, rt.areas, rt.unit_jurisdictions)
    assert all(p is not None for p in parts)
    assert sorted(watched.rglob("*")) == []


def test_staff_sign_in_never_builds_the_classifier(monkeypatch):
    def no_classifier(pack):
        raise AssertionError("sign-in built the classifier")

    monkeypatch.setattr(build, "classifier", no_classifier)
    cache, _ = cache_of(LAIXI)
    platform = bootstrap(store=object(), publisher=object(), sealer=object(), secrets=lambda ref: "",
                         region=cache.get)
    who = Principal("h1", "h1", Role("unit_handler"), "laixi", "U370285001-ZJ", "370285001")
    assert staff.signed_in(platform, who) is who
    rt = cache.get("laixi")
    assert rt.classifier_built is False and "classifier" not in rt.__dict__ and "units" not in rt.__dict__


def test_corrections_are_folded_in_when_the_classifier_is_built_and_at_most_once_a_minute_after():
    code = "01.01.001"
    rows = Corrections([CorrectionRow("2026-05-06T00:00:00#A1", "村口的井盖不见了", code)])
    clock = Clock()
    cache, _ = cache_of(LAIXI, corrections=rows, clock=clock)
    rt = cache.get("laixi")
    assert rows.asked == []                                  # nothing read before the classifier is used
    assert rt.classifier.classify("村口的井盖不见了").code == code
    assert rows.asked == [("laixi", "")] and rt.last_correction == "2026-05-06T00:00:00#A1"
    rows.rows.append(CorrectionRow("2026-05-06T00:01:00#A2", "广场上的健身器材坏了", "01.01.002"))
    clock.t += 59
    cache.get("laixi")
    assert rows.asked == [("laixi", "")]                     # within the minute: no read
    clock.t += 2
    cache.get("laixi")
    assert rows.asked == [("laixi", ""), ("laixi", "2026-05-06T00:00:00#A1")]
    assert rt.last_correction == "2026-05-06T00:01:00#A2"


def test_one_rule_merges_a_packs_dedup_policy_over_the_defaults():
    got = build.dedup_policy({"join_threshold": 0.6, "weights": {"content": 0.5}})
    assert got == dataclasses.replace(DEFAULT_POLICY, join_threshold=0.6,
                                      weights={**DEFAULT_POLICY.weights, "content": 0.5})
    assert build.dedup_policy(None) == DEFAULT_POLICY and build.dedup_policy({}) == DEFAULT_POLICY
    # The pack itself has no second rule: its runtime is the one way to its dedup policy.
    assert not hasattr(RegionPack, "dedup_policy")
    pack = dataclasses.replace(LAIXI, policy={"dedup": {"weights": {"address": 0.4}}})
    assert RegionRuntime(pack).dedup_policy.weights == {**DEFAULT_POLICY.weights, "address": 0.4}


@pytest.mark.parametrize("region", ["shenzhen", "laixi"])
def test_a_region_folder_and_its_stored_pack_build_the_same_parts(region):
    folder = read_pack(ROOT / "regions" / region)
    stored = decode_pack(encode_pack(folder), version=1)
    a, b = RegionRuntime(folder), RegionRuntime(stored)
    assert a.areas == b.areas and a.unit_jurisdictions == b.unit_jurisdictions
    assert a.place_lexicon.surface == b.place_lexicon.surface
    assert a.calendar == b.calendar and a.deadline_policy == b.deadline_policy and a.dedup_policy == b.dedup_policy
