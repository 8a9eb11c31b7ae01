"""Hotspot spike early warning on synthetic streams built here (not the dev data).

A small city: 8 category groups x 6 streets in 2 districts, each cell a Poisson stream at its
own rate, appeals between 07:00 and 23:00. Default detector parameters throughout.
"""
from __future__ import annotations

import ast
import json
import random
import sys
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest

from chalicelib.domain.calendar import SHANGHAI, WorkCalendar
from chalicelib.domain.hotspots import (
    Alert, AppealEvent, HotspotDetector, HotspotState, Params, cell_key, nbinom_sf, poisson_sf, replay,
)
from chalicelib.policy.calendar_source import official_calendar

ROOT = Path(__file__).resolve().parents[2]

GROUPS = [f"0{g}.0{g}" for g in range(1, 9)]
STREETS = ["440301001", "440301002", "440301003", "440302001", "440302002", "440302003"]
# a rate per day for every cell, from 0.05 (a few a quarter) to 3 (a busy cell): ~46 a day
RATES = {(g, s): (0.05, 0.2, 0.5, 1.0, 3.0)[(i * 7 + j * 3) % 5]
         for i, g in enumerate(GROUPS) for j, s in enumerate(STREETS)}


@pytest.fixture(scope="module")
def calendar():
    return official_calendar()


def poisson(rng: random.Random, mean: float) -> int:
    n, t = 0, rng.expovariate(1.0)
    while t < mean:
        n, t = n + 1, t + rng.expovariate(1.0)
    return n


def stream(first: date, days: int, seed: int, factor=lambda cell, d: 1.0, prefix: str = "A") -> list[AppealEvent]:
    """Every cell's appeals for ``days`` days from ``first``, rate x factor(cell, day), in time order."""
    rng = random.Random(seed)
    out = []
    for k in range(days):
        d = first + timedelta(days=k)
        opening = datetime.combine(d, time(7), tzinfo=SHANGHAI)
        for (group, street), rate in RATES.items():
            for _ in range(poisson(rng, rate * factor((group, street), d))):
                at = opening + timedelta(seconds=int(rng.uniform(0, 16 * 3600)))
                out.append((at, group, street))
    out.sort()
    return [AppealEvent(f"{prefix}{n:06d}", at, g, s, s[:6]) for n, (at, g, s) in enumerate(out)]


def at(d: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(d, time(hh, mm), tzinfo=SHANGHAI)


# -- the tails are the textbook ones (values from scipy.stats 1.17.1) --------------------------

def test_tails_equal_scipy():
    # scipy.stats.poisson.sf(k - 1, mu) and scipy.stats.nbinom.sf(k - 1, r, r / (r + mu))
    assert poisson_sf(3, 0.05) == pytest.approx(2.006749362439793e-05, rel=1e-9)
    assert poisson_sf(10, 12.0) == pytest.approx(0.7576078383294875, rel=1e-9)
    assert nbinom_sf(3, 2.0, 0.05) == pytest.approx(5.697580227060896e-05, rel=1e-8)
    assert nbinom_sf(2, 1.0, 0.01) == pytest.approx(9.802960494069226e-05, rel=1e-8)


def test_the_detector_needs_nothing_but_the_standard_library():
    tree = ast.parse((ROOT / "chalicelib/domain/hotspots.py").read_text(encoding="utf-8"))
    modules = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    modules |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert {m for m in modules if m.split(".")[0] not in sys.stdlib_module_names
            and not m.startswith("chalicelib.domain.")} == set()


# -- what is not a spike ---------------------------------------------------------------------

def test_a_flat_quarter_raises_at_most_the_false_alerts_its_alpha_allows(calendar):
    events = stream(date(2026, 7, 1), 91, seed=1)
    _, alerts = replay(HotspotDetector(calendar), events)
    # 63 days x 46 appeals x 2 levels = 5,700 tests after the warm-up: alpha 1e-4 allows 0.6
    # false alerts on average; more than 2 would happen by chance 2 % of the time
    assert len(alerts) <= 2


def test_busy_mondays_and_quiet_weekends_are_not_spikes(calendar):
    weekly = {0: 2.5, 1: 1.0, 2: 1.0, 3: 1.0, 4: 1.2, 5: 0.4, 6: 0.3}  # the whole city's week
    events = stream(date(2026, 7, 1), 70, seed=2, factor=lambda cell, d: weekly[d.weekday()])
    _, alerts = replay(HotspotDetector(calendar), events)
    assert len(alerts) <= 2  # the flat quarter's budget


PARK = (GROUPS[0], STREETS[3])  # 3 a day on working days, 4x that on every rest day


def holiday_stream(calendar) -> list[AppealEvent]:
    """Late Aug-Oct 2026: 中秋 and the National Day week halve the city; the park keeps its rest-day level."""

    def factor(cell, d):
        rest = not calendar.is_working_day(d)
        if cell == PARK:
            return 4.0 if rest else 1.0
        return 0.5 if rest and d.weekday() < 5 else 1.0

    return stream(date(2026, 8, 20), 54, seed=3, factor=factor)


def test_a_holiday_dip_and_a_rest_day_category_are_not_spikes(calendar):
    _, alerts = replay(HotspotDetector(calendar), holiday_stream(calendar))
    assert alerts == []


def test_it_is_the_calendar_that_knows_the_holidays(calendar):
    # the same stream judged with weekends only: the park's holiday crowds look like a spike
    _, alerts = replay(HotspotDetector(WorkCalendar.weekends_only()), holiday_stream(calendar))
    assert {a.cell for a in alerts} == {cell_key(*PARK)}


# -- a spike -----------------------------------------------------------------------------------

SPIKE_DAY = date(2026, 9, 8)
SPIKE_CELL = (GROUPS[1], STREETS[3])
assert RATES[SPIKE_CELL] == 0.2  # a quiet cell


def with_spike(times: list[datetime], background_seed: int = 4) -> list[AppealEvent]:
    background = [e for e in stream(date(2026, 7, 1), 75, seed=background_seed) if e.received_at.date() <= SPIKE_DAY]
    group, street = SPIKE_CELL
    extra = [AppealEvent(f"S{n:03d}", t, group, street, street[:6]) for n, t in enumerate(times)]
    return sorted(background + extra, key=lambda e: (e.received_at, e.appeal_id))


# 12 extra appeals in the day (60x the cell's rate), the first at 09:00
SPIKE_TIMES = [at(SPIKE_DAY, 9, 0), at(SPIKE_DAY, 9, 20), at(SPIKE_DAY, 9, 35), at(SPIKE_DAY, 10, 40),
               at(SPIKE_DAY, 11, 5), at(SPIKE_DAY, 12, 30), at(SPIKE_DAY, 14, 0), at(SPIKE_DAY, 15, 10),
               at(SPIKE_DAY, 16, 45), at(SPIKE_DAY, 18, 0), at(SPIKE_DAY, 20, 15), at(SPIKE_DAY, 22, 30)]


def spike_alerts(alerts: list[Alert]) -> list[Alert]:
    return [a for a in alerts if a.group == SPIKE_CELL[0] and a.area in (SPIKE_CELL[1], SPIKE_CELL[1][:6])]


@pytest.fixture(scope="module")
def spiked(calendar):
    """The spike stream and one straight replay of it: (events, final state, alerts)."""
    events = with_spike(SPIKE_TIMES)
    state, alerts = replay(HotspotDetector(calendar), events)
    return events, state, alerts


def test_a_spike_raises_one_alert_within_the_hour_with_expected_observed_and_its_appeals(spiked):
    _, _, alerts = spiked
    # the day goes on to 12 appeals: one alert all the same, and no district copy of it
    assert [(a.level, a.area, a.raised_at - SPIKE_TIMES[0], a.observed, 0 < a.expected < 0.05,
             a.p_value < Params().alpha, a.appeal_ids) for a in spike_alerts(alerts)] == [
        ("street", SPIKE_CELL[1], timedelta(minutes=35), 3, True, True, ("S000", "S001", "S002"))]


def test_the_state_round_trips_through_json_records(calendar, spiked):
    events, whole, straight = spiked
    detector = HotspotDetector(calendar)
    cut = len(events) // 2
    half, first = replay(detector, events[:cut])
    resumed = HotspotState.from_dict(json.loads(json.dumps(half.to_dict())))
    rest, second = replay(detector, events[cut:], resumed)
    assert (first + second, rest.to_dict()) == (straight, whole.to_dict())


def test_a_redelivered_appeal_never_counts_twice(calendar, spiked):
    events, once_state, once = spiked
    twice = [e for event in events for e in (event, event)]  # every appeal delivered twice
    twice_state, doubled = replay(HotspotDetector(calendar), twice)
    assert (doubled, twice_state.to_dict()) == (once, once_state.to_dict())


# -- what else is not a spike, and how the budget is spent -------------------------------------

GROWING = {GROUPS[2], GROUPS[5]}  # +60 % over the 56 days, everywhere


def test_groups_that_grow_slowly_are_not_spikes(calendar):
    first = date(2026, 7, 1)
    events = stream(first, 56, seed=5,
                    factor=lambda cell, d: 1 + 0.6 * (d - first).days / 56 if cell[0] in GROWING else 1.0)
    _, alerts = replay(HotspotDetector(calendar), events)
    assert [a.cell for a in alerts if a.group in GROWING] == []


RARE = "09.09"  # a group seen three times in the whole city in two months, never on STREETS[3]


def rare_pair(gap: timedelta) -> list[AppealEvent]:
    background = [e for e in stream(date(2026, 7, 1), 75, seed=4) if e.received_at.date() <= SPIKE_DAY]
    seen = [AppealEvent(f"R{n}", at(date(2026, 7, 5) + timedelta(days=20 * n), 12), RARE, s, s[:6])
            for n, s in enumerate((STREETS[0], STREETS[1], STREETS[5]))]
    pair = [AppealEvent(f"P{n}", t, RARE, STREETS[3], STREETS[3][:6])
            for n, t in enumerate((at(SPIKE_DAY, 10), at(SPIKE_DAY, 10) + gap))]
    return sorted(background + seen + pair, key=lambda e: (e.received_at, e.appeal_id))


def test_two_appeals_in_a_near_empty_cell_alert_within_the_hour_with_min_count_two(calendar):
    _, alerts = replay(HotspotDetector(calendar, Params(min_count=2)), rare_pair(timedelta(minutes=40)))
    assert [(a.cell, a.level, a.raised_at, a.observed, a.appeal_ids) for a in alerts if a.group == RARE] == [
        (cell_key(RARE, STREETS[3]), "street", at(SPIKE_DAY, 10, 40), 2, ("P0", "P1"))]


def test_the_same_pair_is_not_enough_when_every_test_gets_the_same_level(calendar):
    # spend="appeal": the quiet cell's level is the busy cells' one, and two appeals cannot reach it
    params = Params(min_count=2, spend="appeal")
    _, alerts = replay(HotspotDetector(calendar, params), rare_pair(timedelta(minutes=40)))
    assert [a for a in alerts if a.group == RARE] == []


def test_the_city_record_counts_the_cells_it_has_seen(spiked):
    _, state, _ = spiked
    records = state.to_dict()
    assert records["city"]["cells"] == sum(1 for k in records if k.startswith("c:"))


def test_a_state_from_before_the_cell_count_spends_per_appeal(calendar, spiked):
    events, _, _ = spiked
    cut = len(events) // 2
    half, _ = replay(HotspotDetector(calendar), events[:cut])
    old = half.to_dict()
    del old["city"]["cells"]
    _, as_old = replay(HotspotDetector(calendar), events[cut:], HotspotState.from_dict(old))
    _, per_appeal = replay(HotspotDetector(calendar, Params(spend="appeal")), events[cut:], HotspotState.from_dict(old))
    assert as_old == per_appeal
