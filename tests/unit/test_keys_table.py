"""storage/keys.py's docstring table lists every entity type of the single table, and only those."""
from __future__ import annotations

import importlib
import pkgutil

import chalicelib.storage
from chalicelib.storage import keys
from chalicelib.storage.models import Item

COLUMNS = ["entity", "kind", "PK", "SK", "GSI1PK / GSI1SK", "GSI2PK / GSI2SK (GSI3)"]


def table_rows(doc: str) -> list[dict[str, str]]:
    """The rows of the first markdown table in `doc`, as {column: cell}."""
    lines = [ln.strip() for ln in doc.splitlines() if ln.strip().startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert set(lines[1].replace("|", "").strip()) <= {"-"}, "the second line of the table is its rule"
    rows = []
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert len(cells) == len(header), line
        rows.append(dict(zip(header, cells)))
    return rows


def entity_kinds() -> dict[str, str]:
    """Discriminator → class name of every Item subclass in the storage modules."""
    for mod in pkgutil.iter_modules(chalicelib.storage.__path__):
        importlib.import_module(f"chalicelib.storage.{mod.name}")
    class_map = Item._attributes["kind"]._class_map
    found: dict[str, str] = {}
    todo = list(Item.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__.startswith("chalicelib.") and cls in class_map:
            found[class_map[cls]] = cls.__name__
    return found


def mismatch(doc: str, kinds: dict[str, str]) -> tuple[list[str], list[str]]:
    """(entity kinds the table misses, table rows whose kind is no entity)."""
    rows = table_rows(doc)
    listed = {r["kind"] for r in rows}
    return sorted(set(kinds) - listed), sorted(r["entity"] for r in rows if r["kind"] not in kinds)


def test_the_table_has_the_expected_columns():
    assert list(table_rows(keys.__doc__)[0]) == COLUMNS


def test_every_entity_type_is_in_the_keys_table_and_every_row_names_one():
    kinds = entity_kinds()
    assert len(kinds) >= 20  # the storage modules were imported and walked
    assert mismatch(keys.__doc__, kinds) == ([], [])


def test_every_row_gives_its_key_templates():
    for row in table_rows(keys.__doc__):
        assert row["entity"] and row["PK"] and row["SK"], row
        assert row["PK"] != "–" and row["SK"] != "–", row


def test_the_check_would_catch_a_missing_entity_and_a_stray_row():
    doc = ("| entity | kind | PK | SK | GSI1PK / GSI1SK | GSI2PK / GSI2SK (GSI3) |\n"
           "|---|---|---|---|---|---|\n"
           "| Appeal | appeal | APPEAL#<id> | A | – | – |\n"
           "| Idempotency | idempotency | idempotency#… | <hash> | – | – |\n")
    assert mismatch(doc, {"appeal": "AppealItem", "event": "CaseEventItem"}) == (["event"], ["Idempotency"])
