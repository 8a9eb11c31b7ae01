"""The parts of a region's runtime, each built in memory from its parsed, validated pack (no files).

A folder a tool or test reads becomes a pack first (chalicelib.policy.pack.parse.read_pack), so
a region folder and the live pack of the same content build the same parts, the same way.

    python -m chalicelib.policy.build regions/shenzhen   # regenerate the shipped calibration
"""
from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional

from chalicelib.domain.calendar import WorkCalendar
from chalicelib.domain.catalog import CatalogItem, fallback_unit_type
from chalicelib.domain.deadlines import DeadlinePolicy
from chalicelib.domain.dedup import DEFAULT_POLICY, DedupPolicy
from chalicelib.domain.return_visit import VisitPolicy
from chalicelib.domain.units import UnitDirectory
from chalicelib.nlp.calibration import (
    build_calibrator, calibration_path, fingerprint, save_calibration, shipped_calibrator,
)
from chalicelib.nlp.classifier import Classifier, Example, place_masks
from chalicelib.nlp.gazetteer import Gazetteer
from chalicelib.nlp.places import PlaceLexicon, build_place_lexicon
from chalicelib.policy.calendar_source import build_calendar
from chalicelib.policy.pack.model import RegionPack
from chalicelib.policy.pack.parse import read_pack

_DEDUP_FIELDS = frozenset(f.name for f in dataclasses.fields(DedupPolicy))


def unit_directory(pack: RegionPack) -> UnitDirectory:
    return UnitDirectory(pack.units, fallback_unit_type(pack.catalog))


def gazetteer(pack: RegionPack) -> Gazetteer:
    return Gazetteer(list(pack.districts), list(pack.streets),
                     [(c.code, c.street_code, c.name) for c in pack.communities],
                     [(r.name, r.street_code) for r in pack.roads], city_name=pack.name)


def work_calendar(pack: RegionPack) -> WorkCalendar:
    return build_calendar(dict(pack.calendar))


def deadline_policy(pack: RegionPack) -> DeadlinePolicy:
    return DeadlinePolicy.from_dict(pack.policy.get("deadlines") or {})


def dedup_policy(doc: Optional[Mapping[str, Any]]) -> DedupPolicy:
    """policy.json's "dedup" section over the defaults: the one merge rule.

    A field given replaces the default; "weights" are merged key by key into the default weights
    (a pack may tune one weight). Validation refuses unknown keys, so none reach here.
    """
    values: dict[str, Any] = {k: v for k, v in (doc or {}).items() if k in _DEDUP_FIELDS}
    if "weights" in values:
        values["weights"] = {**DEFAULT_POLICY.weights, **values["weights"]}
    return dataclasses.replace(DEFAULT_POLICY, **values)


def visit_policy(pack: RegionPack) -> VisitPolicy:
    """policy.json's "return_visit" section (回访) over the defaults: every answered round, 24 h
    after its reply, up to 3 tries 4 h apart."""
    return VisitPolicy.from_dict(pack.policy.get("return_visit") or {})


def place_lexicon(pack: RegionPack) -> PlaceLexicon:
    return build_place_lexicon(pack.districts, pack.streets, pack.roads, pack.communities)


@dataclass(frozen=True)
class TrainingSet:
    """What a region's dispatch model learns from: catalog, labelled examples, lexicon, place names."""

    catalog: list[CatalogItem]
    examples: list[Example]
    lexicon: dict[str, tuple[tuple[str, ...], ...]]
    place_names: list[str]

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.catalog, self.examples, self.lexicon)

    def classifier(self) -> Classifier:
        """A model of this set, not yet calibrated."""
        return Classifier(self.catalog, self.examples, self.place_names, lexicon=self.lexicon)


def training_set(pack: RegionPack) -> TrainingSet:
    lexicon = {x.code: tuple(d for d in (x.phrases, x.situations) if d) for x in pack.lexicon}
    names = [*(d.name for d in pack.districts), *(s.name for s in pack.streets),
             *(c.name for c in pack.communities), *(r.name for r in pack.roads)]
    return TrainingSet(list(pack.catalog), [Example(e.text, e.code) for e in pack.examples], lexicon,
                       place_masks(names))


def dispatch_settings(pack: RegionPack) -> dict:
    """policy.json's "dispatch" section (auto_threshold, fallback_below, out_of_scope, ...)."""
    return dict(pack.policy.get("dispatch") or {})


def classifier(pack: RegionPack) -> Classifier:
    """The region's dispatch model: the calibration shipped for this content, else one fitted now."""
    training = training_set(pack)
    clf = training.classifier()
    clf.calibrator = shipped_calibrator(pack.code, training.fingerprint) or build_calibrator(clf)
    return clf.apply_policy(dispatch_settings(pack))


def write_calibration(pack: RegionPack, out: Optional[Path] = None) -> Path:
    """Regenerate the calibration file the package ships for this region (maintenance)."""
    training = training_set(pack)
    return save_calibration(build_calibrator(training.classifier()), training.fingerprint,
                            out or calibration_path(pack.code))


if __name__ == "__main__":  # pragma: no cover - maintenance entry point
    print(write_calibration(read_pack(sys.argv[1] if len(sys.argv) > 1 else "regions/shenzhen")))
