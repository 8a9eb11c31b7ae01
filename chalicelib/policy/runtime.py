"""A region pack version as one runtime object, built once in memory and cached per (region, version).

Every consumer (dispatch, handling, staff, deadlines, dedup, Open311) asks::

    rt = runtime_for(region)
    rt.catalog[code]; rt.units; rt.gazetteer; rt.calendar; rt.deadline_policy; rt.dedup_policy
    rt.visit_policy; rt.place_lexicon; rt.classifier; rt.policy; rt.auto_threshold; rt.city_code; rt.areas

`runtime_for` reads the live pack (chalicelib.policy.region: one pointer read a minute) and hands
back the runtime of that version, building a new one when an admin loads another version. Each
part is built on first use from the pack in memory (chalicelib.policy.build), so a staff sign-in,
which needs only the unit tree and the areas, never builds the classifier.

Dispatchers' corrections are stored in the table and folded into the classifier at most
REFRESH_S seconds later in every warm function, so a correction changes later decisions without
a redeploy.
"""
from __future__ import annotations

import threading
import time
from functools import cached_property
from typing import Callable, Mapping, Optional

from chalicelib.domain.calendar import WorkCalendar
from chalicelib.domain.catalog import CatalogItem
from chalicelib.domain.deadlines import DeadlinePolicy
from chalicelib.domain.dedup import DedupPolicy
from chalicelib.domain.return_visit import VisitPolicy
from chalicelib.domain.public_view import Names, PublicPolicy
from chalicelib.domain.metrics import MetricsPolicy
from chalicelib.domain.ranking import AssessmentPolicy, metrics_policy
from chalicelib.domain.units import UnitDirectory
from chalicelib.nlp.classifier import Classifier
from chalicelib.nlp.gazetteer import Gazetteer
from chalicelib.nlp.places import PlaceLexicon
from chalicelib.policy import build
from chalicelib.policy.pack.model import RegionPack
from chalicelib.policy.region import live_pack
from chalicelib.storage.corrections import CorrectionRow, corrections_since

REFRESH_S = 60.0

PackSource = Callable[[str], RegionPack]
CorrectionSource = Callable[[str, str], list[CorrectionRow]]


class RegionRuntime:
    """What a region decides with, for one pack version; every part built once, on first use."""

    def __init__(self, pack: RegionPack, corrections: CorrectionSource = corrections_since,
                 monotonic: Callable[[], float] = time.monotonic):
        self.pack = pack
        self.region = pack.code
        self.version = pack.catalog_version
        self.city_code = pack.city_code
        self.policy: dict = dict(pack.policy)
        self.catalog: dict[str, CatalogItem] = pack.catalog_by_code
        self._corrections = corrections
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self.last_correction = ""          # cursor of the newest correction folded in
        self.checked_at = 0.0              # when corrections were last read (monotonic)

    @cached_property
    def units(self) -> UnitDirectory:
        return build.unit_directory(self.pack)

    @cached_property
    def gazetteer(self) -> Gazetteer:
        return build.gazetteer(self.pack)

    @cached_property
    def calendar(self) -> WorkCalendar:
        return build.work_calendar(self.pack)

    @cached_property
    def deadline_policy(self) -> DeadlinePolicy:
        return build.deadline_policy(self.pack)

    @cached_property
    def dedup_policy(self) -> DedupPolicy:
        return build.dedup_policy(self.pack.policy.get("dedup"))

    @cached_property
    def public_policy(self) -> PublicPolicy:
        """What the public record lists, scrubs and ranks (policy.json `public_record`)."""
        return PublicPolicy.from_dict(self.policy.get("public_record"))

    @cached_property
    def metrics_policy(self) -> MetricsPolicy:
        """Which ratings and visit answers count as satisfied and resolved (policy.json `analytics`)."""
        return metrics_policy(self.policy.get("analytics"))

    @cached_property
    def assessment_policy(self) -> AssessmentPolicy:
        """The composite score's weights and the red and black lists (policy.json `analytics`)."""
        return AssessmentPolicy.from_dict(self.policy.get("analytics"))

    @cached_property
    def names(self) -> Names:
        """What the region's units, districts, streets and catalog items are called."""
        p = self.pack
        return Names(units={u.unit_id: u.name for u in p.units}, districts={d.code: d.name for d in p.districts},
                     streets={s.code: s.name for s in p.streets},
                     categories={c.code: (c.level1, c.level2, c.item) for c in p.catalog})

    @cached_property
    def visit_policy(self) -> VisitPolicy:
        """Which answered rounds get a return visit (回访), when, and how often it is tried."""
        return build.visit_policy(self.pack)

    @cached_property
    def place_lexicon(self) -> PlaceLexicon:
        return build.place_lexicon(self.pack)

    @cached_property
    def unit_jurisdictions(self) -> dict[str, str]:
        """Unit id -> its jurisdiction code (for checking staff tokens' claims)."""
        return {u.unit_id: u.jurisdiction_code for u in self.pack.units}

    @cached_property
    def areas(self) -> frozenset[str]:
        """Every area code of the region: the city, its districts, streets and communities."""
        p = self.pack
        return frozenset({self.city_code, *(d.code for d in p.districts), *(s.code for s in p.streets),
                          *(c.code for c in p.communities)})

    @property
    def auto_threshold(self) -> float:
        return float(self.policy.get("dispatch", {}).get("auto_threshold", 0.5))

    @cached_property
    def classifier(self) -> Classifier:
        """The dispatch model with every stored correction folded in (built on first use)."""
        clf = build.classifier(self.pack)
        self._fold(clf)
        return clf

    @property
    def classifier_built(self) -> bool:
        return "classifier" in self.__dict__

    def refresh_corrections(self) -> int:
        """Fold in corrections newer than the last seen (one query, usually empty); 0 while the
        classifier is not built (it reads them all when it is)."""
        if not self.classifier_built:
            return 0
        return self._fold(self.classifier)

    def _fold(self, clf: Classifier) -> int:
        with self._lock:
            added = 0
            for c in self._corrections(self.region, self.last_correction):
                if c.code in self.catalog:
                    clf.add_example(c.text, c.code)
                    added += 1
                self.last_correction = c.cursor
            self.checked_at = self._monotonic()
            return added


class RuntimeCache:
    """The process's runtimes: one per region, replaced when the region's live version changes."""

    def __init__(self, packs: PackSource = live_pack, corrections: CorrectionSource = corrections_since,
                 refresh_s: float = REFRESH_S, monotonic: Callable[[], float] = time.monotonic):
        self.packs = packs
        self.corrections = corrections
        self.refresh_s = refresh_s
        self.monotonic = monotonic
        self.builds = 0
        self._runtimes: dict[str, RegionRuntime] = {}
        self._lock = threading.Lock()

    def get(self, region: str) -> RegionRuntime:
        pack = self.packs(region)
        key = pack.catalog_version
        with self._lock:
            rt = self._runtimes.get(region)
            if rt is None or rt.version != key or rt.pack.content_hash != pack.content_hash:
                rt = RegionRuntime(pack, self.corrections, self.monotonic)
                self._runtimes[region] = rt
                self.builds += 1
        if rt.classifier_built and self.monotonic() - rt.checked_at > self.refresh_s:
            rt.refresh_corrections()
        return rt

    def clear(self) -> None:
        with self._lock:
            self._runtimes.clear()

    def rewind_corrections(self) -> None:
        """Read every correction again on the next use (the table behind them was replaced)."""
        with self._lock:
            for rt in self._runtimes.values():
                rt.last_correction, rt.checked_at = "", 0.0


_CACHE = RuntimeCache()


def runtime_for(region: str) -> RegionRuntime:
    """The runtime of the region's live pack version."""
    return _CACHE.get(region)


def serve_packs(packs: Optional[Mapping[str, RegionPack]]) -> None:
    """Where runtimes come from: given packs ({region: pack}, for tests and tools that run the
    services on a pack they hold) or, with None, the live packs again. Runtimes already built stay
    cached: a runtime is keyed by its pack's version and content."""
    _CACHE.packs = live_pack if packs is None else dict(packs).__getitem__


def rewind_corrections() -> None:
    """Read every correction again on the next use (tests: each has a fresh table)."""
    _CACHE.rewind_corrections()


def reset() -> None:
    """Drop every built runtime and serve the live packs again."""
    _CACHE.clear()
    _CACHE.packs = live_pack
