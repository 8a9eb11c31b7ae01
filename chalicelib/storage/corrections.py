"""Dispatchers' corrections of the classifier as the region runtime reads them: oldest first, after a cursor.

Corrections are written with a dispatcher's redirect (chalicelib.storage.records); their sort
key orders them in time, so a reader keeps the last key it saw and asks only for newer ones.
"""
from __future__ import annotations

from dataclasses import dataclass

from chalicelib.storage import keys
from chalicelib.storage.models import CorrectionItem


@dataclass(frozen=True)
class CorrectionRow:
    """One stored correction: the appeal's text, the catalog code it belongs to, and its cursor."""

    cursor: str      # the item's sort key: later corrections have greater cursors
    text: str
    code: str


def corrections_since(region: str, after: str = "") -> list[CorrectionRow]:
    """The region's corrections with a cursor greater than `after` ("" for all), oldest first: one query."""
    cond = CorrectionItem.SK > after if after else None
    return [CorrectionRow(c.SK, c.text, c.code) for c in CorrectionItem.query(keys.corrections_pk(region), cond)]
