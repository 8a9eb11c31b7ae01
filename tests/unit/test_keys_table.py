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


def test_the_indexes_project_the_discriminator_and_small_fields_never_a_body():
    """Issue 21: an index entry carries `kind` (PynamoDB picks the class by it) and the fields its
    queries read whole; the big attributes stay in the table, and DynamoDB's limit of 100
    projected non-key attributes over all indexes holds."""
    from chalicelib.storage.models import AppealItem, Item as Base
    from infra.spec import SPEC

    assert [ix.name for ix in SPEC.table.indexes] == list(keys.INDEX_ATTRIBUTES)
    for ix in SPEC.table.indexes:
        assert ix.projection == {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(keys.INDEX_ATTRIBUTES[ix.name])}
        assert getattr(Base, ix.name.lower()).Meta.projection.non_key_attributes == list(keys.INDEX_ATTRIBUTES[ix.name])
    projected = {a for attrs in keys.INDEX_ATTRIBUTES.values() for a in attrs}
    assert all("kind" in attrs for attrs in keys.INDEX_ATTRIBUTES.values())
    assert not projected & {"body", "timeline", "facts", "contribution", "features"}
    assert not projected & (set(AppealItem.get_attributes()) - {"appeal_id", "region", "kind", "expires_at"}
                            - {a for a in Base.get_attributes()})
    assert sum(len(a) for a in keys.INDEX_ATTRIBUTES.values()) <= 100
