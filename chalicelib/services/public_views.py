"""The public views of appeals, written with every change that commits (a reaction of work.commit).

For each appeal a change saves with something the citizen or the public sees (a new timeline
entry, or a new appeal) the view is rebuilt from the aggregate: its summary anew, its timeline
the stored one plus the change's entries (the stored views are read in one strongly consistent
BatchGetItem; a view rewritten concurrently can only belong to a newer version of the appeal,
whose version guard then cancels this transaction). An appeal stored before views existed gets
its whole timeline from its case file, once.

When a listed appeal closes, the same change writes its rows of the public record; a reopened
appeal's rows go. (The units' figures are the analytics stage's counters, services/analytics.py.)
This module must not import services.work (work imports it).
"""
from __future__ import annotations

import functools

from chalicelib.domain import public_view as pv
from chalicelib.domain.calendar import to_local
from chalicelib.domain.errors import NotFoundError
from chalicelib.domain.privacy import scrub_public
from chalicelib.domain.records import PublicRecordRow, PublicView
from chalicelib.domain.timefmt import parse_iso

RECORD_FACETS = ("all", "unit", "category", "district", "street")


def _region(p, region: str | None) -> tuple[pv.Names, pv.PublicPolicy]:
    """The region's names and public-record policy; before any region pack is live (intake takes
    appeals in regardless) the defaults: codes shown unnamed, house numbers hidden, and the next
    change after the pack is loaded names them."""
    try:
        rt = p.region(region or p.settings.region_code)
    except NotFoundError:
        return pv.Names(), pv.PublicPolicy()
    return rt.names, rt.public_policy


def scrubber(p, region: str | None = None) -> pv.Scrub:
    """The one public-text scrubber with the region's choice on house numbers."""
    policy = _region(p, region)[1]
    return functools.partial(scrub_public, hide_house_numbers=policy.hide_house_numbers)


def public_answer(p, appeal) -> str | None:
    """The unit's answer as the citizen's channel and the public read it (scrubbed)."""
    reply = appeal.evaluation.reply
    return scrubber(p, appeal.region)(reply.answer[:pv.TEXT_LIMIT]) if reply is not None else None


def project(p, uow, events: dict[str, list], every: bool = False) -> None:
    """Add the change's public views and public-record rows to `uow`. `every`:
    rebuild the view of every appeal the change saves, not only of those with something new to
    show (a repair, e.g. after the region renamed a unit)."""
    appeals = uow.appeals
    if not appeals:
        return
    names, policy = _region(p, appeals[0].region)
    scrub = functools.partial(scrub_public, hide_house_numbers=policy.hide_house_numbers)
    touched = [(a, entries) for a in appeals
               if (entries := pv.timeline(a, a.new_events, names, scrub)) or a.version == 0 or every]
    stored = [a.appeal_id for a, _ in touched if a.version > 0]     # a new appeal has no view yet
    before = p.store.load_views(stored, consistent=True) if stored else {}
    for appeal, entries in touched:
        old = before.get(appeal.appeal_id)
        if old is None and appeal.version > 0:   # stored before views existed: its history, once
            history = p.store.load_case_file(appeal.appeal_id)
            entries = pv.timeline(appeal, [*history, *appeal.new_events], names, scrub)
        closed_at = pv.closed_at_of(appeal.new_events, old.summary.get("closed_at") if old else None)
        summary = pv.summary(appeal, names, policy, scrub, closed_at)
        view = PublicView(appeal.appeal_id, appeal.region, summary, (*(old.timeline if old else ()), *entries),
                          to_local(appeal.received_at).strftime("%Y-%m") if pv.in_open311_list(appeal, policy)
                          else None)
        uow.add(view)
        _record_rows(uow, old, view)


def _record_rows(uow, old: PublicView | None, new: PublicView) -> None:
    """A listed appeal that closes enters the public record; one that reopens or stops being
    listed leaves it (its rows are keyed by what its old view said)."""
    was, now = _listed_closed(old), _listed_closed(new)
    if was and (not now or was.summary["closed_at"] != now.summary["closed_at"]):
        uow.delete(*record_rows(was))
    if now and (not was or was.summary["closed_at"] != now.summary["closed_at"]):
        uow.add(*record_rows(now))


def _listed_closed(view: PublicView | None) -> PublicView | None:
    if view is None or not view.summary.get("listed") or view.summary.get("status") != "closed" \
            or not view.summary.get("closed_at"):
        return None
    return view


def record_rows(view: PublicView) -> list[PublicRecordRow]:
    """The closed appeal's row in each list of the public record."""
    s = view.summary
    closed = s["closed_at"]
    month = to_local(parse_iso(closed)).strftime("%Y-%m")
    year = month[:4]
    row = pv.record_summary(s)
    facets = {"all": ("-", month), "unit": ((s.get("unit") or {}).get("id"), year),
              "category": (((s.get("category") or {}).get("code") or "")[:2] or None, month),
              "district": ((s.get("district") or {}).get("code"), month),
              "street": ((s.get("street") or {}).get("code"), month)}
    return [PublicRecordRow(view.region, facet, facets[facet][0], facets[facet][1], closed, view.appeal_id, row)
            for facet in RECORD_FACETS if facets[facet][0]]
