"""A region's runtime model: gazetteer, classifier, catalog, units, policy, calendar; cached per process.

Corrections by dispatchers are stored in the table and folded into the classifier at most a
minute later in every warm function, so a correction changes later decisions without a redeploy.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from chalicelib.domain.calendar import WorkCalendar
from chalicelib.domain.catalog import fallback_unit_type
from chalicelib.domain.deadlines import DeadlinePolicy
from chalicelib.nlp.classifier import CatalogItem, Classifier, load_region_classifier
from chalicelib.nlp.gazetteer import Gazetteer
from chalicelib.nlp.units import UnitDirectory
from chalicelib.policy import region as region_source
from chalicelib.policy.calendar_source import load_calendar
from chalicelib.storage import keys
from chalicelib.storage.models import CorrectionItem

REFRESH_S = 60


@dataclass
class DispatchModel:
    region: str
    version: str
    gazetteer: Gazetteer
    classifier: Classifier
    catalog: dict[str, CatalogItem]
    units: UnitDirectory
    policy: dict
    city_code: str
    deadline_policy: DeadlinePolicy
    calendar: WorkCalendar
    last_correction: str = ""
    checked_at: float = field(default=0.0)

    @cached_property
    def unit_jurisdictions(self) -> dict[str, str]:
        """Unit id -> its jurisdiction code (for checking staff tokens' claims)."""
        return {u.unit_id: u.jurisdiction_code for u in self.units.units}

    @cached_property
    def areas(self) -> frozenset[str]:
        """Every area code of the region: the city, its districts, streets and communities."""
        g = self.gazetteer
        return frozenset({self.city_code, *g.districts, *g.streets, *g.communities})

    @property
    def auto_threshold(self) -> float:
        return float(self.policy.get("dispatch", {}).get("auto_threshold", 0.5))

    def refresh_corrections(self) -> int:
        """Fold in corrections newer than the last seen (one query, usually empty)."""
        cond = CorrectionItem.SK > self.last_correction if self.last_correction else None
        added = 0
        for c in CorrectionItem.query(keys.corrections_pk(self.region), cond):
            if c.code in self.catalog:
                self.classifier.add_example(c.text, c.code)
                added += 1
            self.last_correction = c.SK
        self.checked_at = time.monotonic()
        return added


_models: dict[str, DispatchModel] = {}
_lock = threading.Lock()


def build(region: str, region_dir: Path, version: str) -> DispatchModel:
    policy_path = region_dir / "policy.json"
    policy = json.loads(policy_path.read_text(encoding="utf-8")) if policy_path.exists() else {}
    classifier = load_region_classifier(region_dir)
    catalog = classifier.items          # the catalog the classifier was built from: read once
    units = UnitDirectory.from_csv(region_dir / "units.csv", fallback_unit_type(catalog.values()))
    city = units.fallback.jurisdiction_code
    classifier.apply_policy(policy.get("dispatch", {}))
    return DispatchModel(region=region, version=version, gazetteer=Gazetteer.from_region(region_dir),
                         classifier=classifier, catalog=catalog,
                         units=units, policy=policy, city_code=city,
                         deadline_policy=DeadlinePolicy.from_dict(policy.get("deadlines", {})),
                         calendar=load_calendar(region_dir))


def model_for(region: str) -> DispatchModel:
    """The live model of a region; rebuilt when an admin loads a new pack version."""
    region_dir, version = region_source.materialize(region)
    with _lock:
        model = _models.get(region)
        if model is None or model.version != version:
            model = build(region, region_dir, version)
            model.refresh_corrections()
            _models[region] = model
        elif time.monotonic() - model.checked_at > REFRESH_S:
            model.refresh_corrections()
        return model


def forget() -> None:
    """For tests: drop cached models."""
    with _lock:
        _models.clear()
