"""Hotspot spike early warning (热点风险预警): an incremental detector, one appeal at a time. Pure.

Cells and what they expect
--------------------------
A cell is a level-2 category group (``LL.MM``, the leaf code's first five characters) in one
area: a street, or the street's district. Every appeal feeds two cells, (group, street) and
(group, district). A cell expects its **share of the city's volume** times a clock that says
how much volume a stretch of time holds. ``clock="city"`` (the default): the appeals the city
actually received after the window's first one (each is this cell's with probability = its
share), so hour of day, quiet weekends, a holiday at half volume, a city-wide surge or an
outage cancel out unmodelled. ``clock="calendar"``: what comparable days predict, the decayed
hour-of-day volume of past working days or of past rest days (weekends and statutory holidays
of the ``WorkCalendar``). ``clock="max"`` takes the larger of the two (never alerts where either
would not): for a region where a category keeps its weekend level on holidays that halve the
rest of the city. On the dev stream the three are within one spike and two false alerts.

The share is learnt from the cell's own history, separately for working and rest days (a park
busier at weekends is compared with weekends; a holiday is a rest day). History decays
exponentially (``half_life_days``), so a slow trend moves the baseline along. Shares are
shrunk, gamma-Poisson style, towards a prior worth ``prior_weight`` appeals: the day-class
share towards the cell's pooled share, the pooled share towards independence (group share x
area share), so a cell with little or no history is judged by what its group and area make
likely, never against zero.

The test (a prospective scan)
-----------------------------
At each appeal, every window that starts at one of the cell's appeals of the last
``horizon_hours`` and ends now is tested: given the window's first appeal, are the ``M - 1``
after it more than the clock since then allows? The tail is Poisson at the plug-in mean
(``method="poisson"``) or the gamma-Poisson predictive (``method="nb"``, the default), a
negative binomial with shape = prior weight + the cell's decayed count: the fewer appeals the
share rests on, the wider the tail. Window appeals are taken out of the history first (a spike
never raises its own baseline) and the tail is multiplied by the number of windows scanned
(Bonferroni). A window is significant when ``M >= min_count`` and that is below its level.

The false-alert budget is about ``alpha`` x 2 x appeals in all. ``spend="appeal"`` gives every
test the same level ``alpha``, so a busy cell, tested at each of its many appeals, spends most of
it. ``spend="cell"`` (the default) spends it evenly per cell and hour instead: a cell's level is
``alpha`` x (the mean cell's share / the cell's share), capped at ``alpha_max``, the mean share
being 2 / the number of cells seen (street shares sum to 1, district shares too), counted in the
city record. The total is unchanged (sum over cells of rate x level), but it moves from the busy
cells to the quiet ones, where most spikes are (a spike falls on any group and street) and where
three appeals already say a lot. On bootstrapped null streams with injected spikes it catches
more at the same false-alert rate (see the bench). A cell with almost nothing expected may alert
on two appeals with ``min_count=2``; at the default ``alpha`` that takes minutes between them, so
the default keeps ``min_count=3`` (two appeals within an hour in some quiet cell happen several
times a month by chance: the Bonferroni share a pair window takes costs more than it catches).

A spike and its one alert
-------------------------
A cell's first significant window raises an alert (window, expected, observed, appeal ids);
while it keeps producing significant windows the spike goes on and nothing more is raised. The
spike ends once no window has been significant for ``quiet_hours`` (default: the horizon);
then the cell may alert again. A district alert is not raised while the street cell of the same
appeal is in a spike: it is the same spike, already on the feed.

State, order and idempotency
----------------------------
State is a flat mapping of small JSON-safe records (``HotspotState``): one for the city, one
per group, one per area, one per cell; an appeal touches six (``HotspotState.keys_for``), so a
Lambda loads and writes back only those. Events should come in receipt order (one consumer); a
little disorder inside the horizon is tolerated. An appeal id seen again in its street cell's
recent window, or older than that cell's horizon, is ignored and counts nothing: the
idempotency key is the appeal id. The tails are computed here from ``math.lgamma`` (checked in
the tests against scipy.stats): scipy would add about 100 MB to every Lambda for two sums.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import accumulate
from typing import Any, Callable, Iterable, Mapping

from chalicelib.domain.calendar import SHANGHAI as _TZ, WorkCalendar, ensure_aware, to_local

WORK, REST = 0, 1
_HOUR = 3600.0
_DAY = 86400.0
METHODS = ("poisson", "nb")
SPENDS = ("cell", "appeal")
CLOCKS = ("city", "calendar", "max")


# -- tail probabilities -------------------------------------------------------------------

def _tail_sum(log_first: float, ratio, k: int) -> float:
    """Sum of exp(log_first) * prod(ratio(i)) for i = k, k+1, ... until the terms vanish."""
    term = math.exp(log_first)
    total, i = term, k
    while term > total * 1e-17 and i < k + 100000:
        term *= ratio(i)
        total += term
        i += 1
    return total


def poisson_sf(k: int, mu: float) -> float:
    """P(X >= k) for X ~ Poisson(mu)."""
    if k <= 0:
        return 1.0
    if mu <= 0:
        return 0.0
    if mu >= k:  # a large upper tail: one minus the k terms below it
        return max(0.0, 1.0 - sum(math.exp(i * math.log(mu) - mu - math.lgamma(i + 1)) for i in range(k)))
    return min(1.0, _tail_sum(k * math.log(mu) - mu - math.lgamma(k + 1), lambda i: mu / (i + 1), k))


def nbinom_sf(k: int, r: float, mu: float) -> float:
    """P(X >= k) for a negative binomial of shape r (> 0) and mean mu (variance mu + mu^2/r)."""
    if k <= 0:
        return 1.0
    if mu <= 0:
        return 0.0
    q = mu / (r + mu)  # failure probability; P(X = i) = C(i + r - 1, i) (1 - q)^r q^i
    log_pk = (math.lgamma(k + r) - math.lgamma(r) - math.lgamma(k + 1)
              + r * math.log1p(-q) + k * math.log(q))
    if mu >= k:
        lower = sum(math.exp(math.lgamma(i + r) - math.lgamma(r) - math.lgamma(i + 1)
                             + r * math.log1p(-q) + i * math.log(q)) for i in range(k))
        return max(0.0, 1.0 - lower)
    return min(1.0, _tail_sum(log_pk, lambda i: (i + r) / (i + 1) * q, k))


# -- inputs and outputs -------------------------------------------------------------------

@dataclass(frozen=True)
class Params:
    """The detector's few knobs; see the module docstring for what each means."""

    method: str = "nb"
    clock: str = "city"
    alpha: float = 5e-5
    min_count: int = 3
    horizon_hours: float = 48.0
    half_life_days: float = 14.0
    prior_weight: float = 1.0
    quiet_hours: float | None = None  # None: as long as the horizon
    warmup_days: float = 28.0
    max_recent: int = 200
    spend: str = "cell"
    alpha_max: float = 0.01  # the "cell" spend's cap on one test's level

    def __post_init__(self) -> None:
        if self.method not in METHODS or self.clock not in CLOCKS or self.spend not in SPENDS:
            raise ValueError(f"method must be one of {METHODS}, clock one of {CLOCKS}, spend one of {SPENDS}")
        if not (0 < self.alpha < 1 and self.min_count >= 2 and self.horizon_hours > 0
                and self.half_life_days > 0 and self.prior_weight > 0 and 0 < self.alpha_max < 1):
            raise ValueError("alpha in (0,1), min_count >= 2, positive horizon, half-life and prior")


@dataclass(frozen=True)
class AppealEvent:
    """What the analytics stage gives the detector for one dispatched appeal."""

    appeal_id: str
    received_at: datetime
    group: str
    street: str
    district: str

    @classmethod
    def from_codes(cls, appeal_id: str, received_at: datetime, code: str, street: str) -> "AppealEvent":
        """Group = the leaf code's first five characters, district = the street code's first six."""
        return cls(appeal_id, ensure_aware(received_at, "received_at"), code[:5], street, street[:6])


@dataclass(frozen=True)
class Alert:
    """One spike on the dispatchers' and leaders' feed: expected N, observed M, and the appeals."""

    alert_id: str
    group: str
    area: str
    level: str  # "street" | "district"
    raised_at: datetime
    window_start: datetime
    window_end: datetime
    expected: float
    observed: int
    p_value: float
    appeal_ids: tuple[str, ...]

    @property
    def cell(self) -> str:
        return cell_key(self.group, self.area)

    def to_dict(self) -> dict[str, Any]:
        return {"alert_id": self.alert_id, "cell": self.cell, "group": self.group, "area": self.area,
                "level": self.level, "raised_at": self.raised_at.isoformat(),
                "window_start": self.window_start.isoformat(), "window_end": self.window_end.isoformat(),
                "expected": round(self.expected, 3), "observed": self.observed,
                "p_value": self.p_value, "appeal_ids": list(self.appeal_ids)}


def cell_key(group: str, area: str) -> str:
    return f"c:{group}|{area}"


# -- state ----------------------------------------------------------------------------------

@dataclass
class HotspotState:
    """Flat records keyed ``city``, ``g:<group>``, ``a:<area>``, ``c:<group>|<area>``; JSON-safe."""

    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    dirty: set[str] = field(default_factory=set)

    @staticmethod
    def keys_for(event: AppealEvent) -> list[str]:
        return ["city", f"g:{event.group}", f"a:{event.street}", f"a:{event.district}",
                cell_key(event.group, event.street), cell_key(event.group, event.district)]

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {k: _copy(v) for k, v in self.records.items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Mapping[str, Any]]) -> "HotspotState":
        return cls({k: _copy(v) for k, v in data.items()})

    def record(self, key: str, blank: dict[str, Any]) -> dict[str, Any]:
        self.dirty.add(key)
        return self.records.setdefault(key, blank)


def _copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_copy(v) for v in value]
    return value


def _decay(rec: dict[str, Any], ts: float, tau: float) -> None:
    """Bring a record's decayed counts ``w`` forward to ``ts`` (never backwards)."""
    if ts > rec["t"]:
        f = math.exp(-(ts - rec["t"]) / tau)
        rec["w"] = [x * f for x in rec["w"]] if isinstance(rec["w"], list) else rec["w"] * f
        rec["t"] = ts


@dataclass(frozen=True)
class _Window:
    p: float
    expected: float
    start: int  # index into the cell's recent list
    level: float = 0.0  # the level this window's p is judged at


class HotspotDetector:
    """Drives the state one appeal at a time: ``observe(state, event) -> (state, alerts)``."""

    def __init__(self, calendar: WorkCalendar, params: Params | None = None) -> None:
        self.calendar = calendar
        self.params = params or Params()
        self._tau = self.params.half_life_days * _DAY / math.log(2)
        quiet = self.params.quiet_hours
        self._quiet = (self.params.horizon_hours if quiet is None else quiet) * _HOUR
        self._classes: dict[date, int] = {}  # day class per date, memoised

    def day_class(self, at: datetime) -> int:
        return self._class_of(to_local(at).date())

    def observe(self, state: HotspotState, event: AppealEvent) -> tuple[HotspotState, list[Alert]]:
        p, tau = self.params, self._tau
        ts = ensure_aware(event.received_at, "received_at").timestamp()
        street_key = cell_key(event.group, event.street)
        existing = state.records.get(street_key)
        if existing is not None and (ts <= existing["floor"] or any(r[0] == event.appeal_id for r in existing["recent"])):
            return state, []  # a redelivery (or older than the horizon): counts nothing
        cls = self.day_class(event.received_at)
        local = to_local(event.received_at)
        city = state.record("city", {"first": ts, "t": ts, "w": [0.0, 0.0], "cum": [0, 0], "day": "",
                                     "days": [0.0, 0.0], "hours": [[0.0] * 24, [0.0] * 24], "cells": 0})
        _decay(city, ts, tau)
        snapshot = list(city["cum"])
        city["w"][cls] += 1.0
        city["cum"][cls] += 1
        if local.date().isoformat() > city["day"]:  # the calendar clock's comparable days,
            if city["day"]:  # decayed a day at a time
                f = math.exp(-(local.date() - date.fromisoformat(city["day"])).days * _DAY / tau)
                city["days"] = [x * f for x in city["days"]]
                city["hours"] = [[x * f for x in row] for row in city["hours"]]
            city["day"] = local.date().isoformat()
            city["days"][cls] += 1.0
        city["hours"][cls][local.hour] += 1.0
        city["first"] = min(city["first"], ts)
        shares = {}
        for key in (f"g:{event.group}", f"a:{event.street}", f"a:{event.district}"):
            rec = state.record(key, {"t": ts, "w": 0.0})
            _decay(rec, ts, tau)
            rec["w"] += 1.0
            shares[key] = rec["w"] / sum(city["w"])
        warm = ts - city["first"] >= p.warmup_days * _DAY
        forecast = self._forecast(city) if warm and p.clock != "city" else None
        alerts: list[Alert] = []
        street_in_spike = False
        for level, area in (("street", event.street), ("district", event.district)):
            key = cell_key(event.group, area)
            if key not in state.records and "cells" in city:  # keys_for loads it if it exists
                city["cells"] += 1
            cell = state.record(key, {"t": ts, "w": [0.0, 0.0], "recent": [], "floor": 0.0, "spike": None})
            _decay(cell, ts, tau)
            cell["w"][cls] += 1.0
            cell["recent"].append([event.appeal_id, ts, cls, snapshot[0], snapshot[1]])
            cell["recent"].sort(key=lambda r: r[1])
            self._prune(cell, ts)
            spike = cell["spike"]
            if spike is not None and ts - spike["last"] > self._quiet:
                cell["spike"] = spike = None
            prior = shares[f"g:{event.group}"] * shares[f"a:{area}"]
            best = self._scan(cell, city, prior, ts, forecast) if warm else None
            if best is not None and best.p < best.level:
                if spike is not None:
                    spike["last"] = ts
                elif level == "district" and street_in_spike:
                    cell["spike"] = {"alert_id": None, "start": ts, "last": ts}
                else:
                    alert = self._alert(event, level, area, cell, best)
                    cell["spike"] = {"alert_id": alert.alert_id, "start": ts, "last": ts}
                    alerts.append(alert)
            street_in_spike = cell["spike"] is not None
        return state, alerts

    def _prune(self, cell: dict[str, Any], ts: float) -> None:
        horizon = ts - self.params.horizon_hours * _HOUR
        recent = cell["recent"]
        while recent and (recent[0][1] < horizon or len(recent) > self.params.max_recent):
            cell["floor"] = max(cell["floor"], recent.pop(0)[1])
        cell["floor"] = max(cell["floor"], horizon)

    def _class_of(self, day: date) -> int:
        if day not in self._classes:
            self._classes[day] = WORK if self.calendar.is_working_day(day) else REST
        return self._classes[day]

    def _forecast(self, city: dict[str, Any]) -> Callable[[float, float], list[float]]:
        """The calendar clock: city appeals that comparable days' hours predict in [start, end)."""
        rates = [[x / max(city["days"][d], 1e-9) for x in city["hours"][d]] for d in (WORK, REST)]
        prefix = [[0.0, *accumulate(r)] for r in rates]

        def upto(d: int, at: datetime | None) -> float:  # from 00:00 to ``at`` (None: 24:00)
            if at is None:
                return prefix[d][24]
            return prefix[d][at.hour] + (at.minute * 60 + at.second) / _HOUR * rates[d][at.hour]

        def between(start: float, end: float) -> list[float]:
            out, a, b = [0.0, 0.0], datetime.fromtimestamp(start, _TZ), datetime.fromtimestamp(end, _TZ)
            day = a.date()
            while day <= b.date():
                d = self._class_of(day)
                out[d] += upto(d, b if day == b.date() else None) - (upto(d, a) if day == a.date() else 0.0)
                day += timedelta(days=1)
            return out

        return between

    def _scan(self, cell: dict[str, Any], city: dict[str, Any], prior: float, now: float,
              forecast: Callable[[float, float], list[float]] | None) -> _Window | None:
        """The most significant window ending now, or None when no window has min_count appeals."""
        p = self.params
        recent = cell["recent"]
        n = len(recent)
        if n < p.min_count:
            return None
        nu = p.prior_weight
        # the "cell" spend: the mean cell's share (street and district shares each sum to 1); a
        # state from before the cell count ("cells" absent) spends per appeal
        mean_share = 2.0 / city["cells"] if city.get("cells") else None
        own = [0.0, 0.0]  # this cell's appeals inside the window recent[i:], by day class
        best: _Window | None = None
        tested = n - p.min_count + 1  # windows in the scan: Bonferroni over them
        for i in range(n - 1, -1, -1):
            own[recent[i][2]] += math.exp(-(now - recent[i][1]) / self._tau)  # as counted in w
            m = n - i
            if m < p.min_count:
                continue
            # the clock: the city's appeals after the window's first one (each is this cell's
            # with probability = its share: binomial, taken as Poisson), or the calendar's forecast
            seen = [float(city["cum"][d] - recent[i][3 + d]) for d in (WORK, REST)]
            seen[recent[i][2]] -= 1.0
            if forecast is None:
                exposure = seen
            else:
                predicted = forecast(recent[i][1], now)
                exposure = predicted if p.clock == "calendar" else [max(a, b) for a, b in zip(seen, predicted)]
            # the history before the window predicts it: the window is taken out of it
            hist_w = [max(0.0, cell["w"][d] - own[d]) for d in (WORK, REST)]
            hist_total = [max(1.0, city["w"][d] - seen[d] - (d == recent[i][2])) for d in (WORK, REST)]
            pooled = (sum(hist_w) + nu) / (sum(hist_total) + nu / max(prior, 1e-12))
            shape = [hist_w[d] + nu for d in (WORK, REST)]
            share = [shape[d] / (hist_total[d] + nu / pooled) for d in (WORK, REST)]
            mean = share[WORK] * exposure[WORK] + share[REST] * exposure[REST]
            if p.method == "poisson":
                tail = poisson_sf(m - 1, mean)
            else:
                main = WORK if exposure[WORK] >= exposure[REST] else REST
                tail = nbinom_sf(m - 1, shape[main], mean)
            tail = min(1.0, tail * tested)
            level = p.alpha if mean_share is None or p.spend == "appeal" else \
                min(p.alpha_max, p.alpha * mean_share / pooled)
            if best is None or tail / level < best.p / best.level:
                best = _Window(tail, mean + share[recent[i][2]], i, level)  # the first appeal's slot too
        return best

    def _alert(self, event: AppealEvent, level: str, area: str, cell: dict[str, Any], best: _Window) -> Alert:
        window = cell["recent"][best.start:]
        tz = event.received_at.tzinfo
        return Alert(
            alert_id=f"hs:{event.group}:{area}:{event.appeal_id}", group=event.group, area=area, level=level,
            raised_at=event.received_at,
            window_start=datetime.fromtimestamp(window[0][1], tz), window_end=event.received_at,
            expected=best.expected, observed=len(window), p_value=best.p,
            appeal_ids=tuple(r[0] for r in window))


def replay(detector: HotspotDetector, events: Iterable[AppealEvent],
           state: HotspotState | None = None) -> tuple[HotspotState, list[Alert]]:
    """Feed events in order through one in-memory state; every alert raised, in order."""
    state = state or HotspotState()
    alerts: list[Alert] = []
    for event in events:
        state, raised = detector.observe(state, event)
        alerts.extend(raised)
    return state, alerts
