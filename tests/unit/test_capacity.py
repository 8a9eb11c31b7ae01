"""Request-unit arithmetic of bench/capacity.py: item sizes, rounding, index writes."""
from __future__ import annotations

import pytest

from bench.capacity import (
    IndexDef,
    TableDef,
    index_entry,
    index_write_units,
    item_size,
    item_write_units,
    number_size,
    query_read_units,
    read_units,
    value_size,
    write_units,
)

TABLE = TableDef("t", ("PK", "SK"), (IndexDef("GSI1", ("GSI1PK", "GSI1SK")),))


def sized(n: int, **extra) -> dict:
    """An item of exactly n bytes (plus whatever `extra` attributes add): PK holds the filler."""
    return {"PK": {"S": "x" * (n - 2)}, **extra}


@pytest.mark.parametrize("text,size", [
    ("1", 2), ("12", 2), ("123", 3), ("12345", 4), ("100", 2), ("1000000", 2), ("0.0012", 2),
    ("-123.45", 4), ("0", 2), ("1E+5", 2), ("12345678901234567890123456789012345678", 20),
])
def test_number_size_is_one_byte_per_two_significant_digits_plus_one(text, size):
    assert number_size(text) == size


@pytest.mark.parametrize("av,size", [
    ({"S": "abc"}, 3),
    ({"S": "深圳"}, 6),                    # UTF-8 bytes, not characters
    ({"B": b"\x00\x01\x02"}, 3),
    ({"BOOL": True}, 1),
    ({"NULL": True}, 1),
    ({"SS": ["a", "bc"]}, 3),
    ({"NS": ["1", "12345"]}, 6),
    ({"BS": [b"ab", b"c"]}, 3),
    ({"L": []}, 3),
    ({"M": {}}, 3),
    ({"L": [{"N": "1"}, {"BOOL": False}]}, 3 + (2 + 1) + (1 + 1)),
    ({"M": {"a": {"S": "xy"}}}, 3 + (1 + 2 + 1)),
    ({"M": {"outer": {"M": {"in": {"S": "z"}}}}}, 3 + (5 + (3 + (2 + 1 + 1)) + 1)),
])
def test_value_sizes(av, size):
    assert value_size(av) == size


def test_item_size_counts_attribute_names_in_utf8():
    item = {"PK": {"S": "APPEAL#1"}, "名": {"S": "王"}, "n": {"N": "42"}}
    assert item_size(item) == (2 + 8) + (3 + 3) + (1 + 2)
    assert item_size(None) == 0 and item_size({}) == 0
    assert item_size(sized(1500)) == 1500


@pytest.mark.parametrize("size,units", [(0, 1), (1, 1), (1024, 1), (1025, 2), (1500, 2), (2048, 2), (4097, 5)])
def test_write_units_are_per_kb_rounded_up_at_least_one(size, units):
    assert write_units(size) == units


@pytest.mark.parametrize("size,strong,eventual", [(0, 1, 0.5), (4096, 1, 0.5), (4097, 2, 1.0), (10_000, 3, 1.5)])
def test_read_units_are_per_4kb_and_halved_when_eventually_consistent(size, strong, eventual):
    assert read_units(size, consistent=True) == strong
    assert read_units(size, consistent=False) == eventual


def test_query_sums_items_before_rounding():
    assert query_read_units([2000, 2000, 2000], consistent=True) == 2  # 6,000 bytes: 2, not 3 x 1
    assert query_read_units([], consistent=False) == 0.5              # an empty page still costs the minimum


def test_a_1500_byte_put_is_2_wru_and_its_gsi_entry_2_more():
    assert item_write_units(None, sized(1500), TABLE) == (2, 0)
    with_keys = sized(1500 - 14, GSI1PK={"S": "U"}, GSI1SK={"S": "1"})  # 6+1 + 6+1 = 14 bytes of keys
    assert item_size(with_keys) == 1500
    assert item_write_units(None, with_keys, TABLE) == (2, 2)


def test_replacing_or_updating_charges_the_larger_of_before_and_after():
    assert item_write_units(sized(3000), sized(100), None) == (3, 0)
    assert item_write_units(sized(100), sized(2100), None) == (3, 0)
    assert item_write_units(sized(2100), None, None) == (3, 0)          # delete: the old item
    assert item_write_units(None, None, None) == (1, 0)                 # delete of nothing: the minimum


def test_sparse_index_needs_every_key_attribute():
    ix = TABLE.indexes[0]
    assert index_entry(sized(10, GSI1PK={"S": "U"}), ix, TABLE.keys) is None
    assert index_write_units(None, sized(10, GSI1PK={"S": "U"}), ix, TABLE.keys) == 0


def test_index_key_change_is_a_delete_plus_a_put():
    ix = TABLE.indexes[0]
    old = sized(1500, GSI1PK={"S": "A"}, GSI1SK={"S": "1"})
    new = sized(500, GSI1PK={"S": "B"}, GSI1SK={"S": "1"})
    assert index_write_units(old, new, ix, TABLE.keys) == 2 + 1


def test_removing_the_index_key_deletes_the_entry_once():
    ix = TABLE.indexes[0]
    old = sized(1500, GSI1PK={"S": "A"}, GSI1SK={"S": "1"})
    assert index_write_units(old, sized(1500), ix, TABLE.keys) == 2     # e.g. closing an outbox entry
    assert item_write_units(old, None, TABLE) == (2, 2)                 # deleting the item


def test_same_index_key_charges_only_when_projected_attributes_change():
    ix = TABLE.indexes[0]
    keys = dict(GSI1PK={"S": "A"}, GSI1SK={"S": "1"})
    a = sized(100, **keys)
    assert index_write_units(a, dict(a), ix, TABLE.keys) == 0
    b = dict(a, note={"S": "y" * 1200})
    assert index_write_units(a, b, ix, TABLE.keys) == 2                 # max(old, new) entry


def test_keys_only_and_include_projections_size_and_trigger_on_projected_attributes():
    keys_only = IndexDef("K", ("G",), "KEYS_ONLY")
    include = IndexDef("I", ("G",), "INCLUDE", ("note",))
    a = {"PK": {"S": "p"}, "SK": {"S": "s"}, "G": {"S": "g"}, "big": {"S": "x" * 5000}}
    b = dict(a, big={"S": "y" * 5000})
    assert index_entry(a, keys_only, ("PK", "SK")) == {"PK": {"S": "p"}, "SK": {"S": "s"}, "G": {"S": "g"}}
    assert index_write_units(None, a, keys_only, ("PK", "SK")) == 1     # the entry is tiny
    assert index_write_units(a, b, keys_only, ("PK", "SK")) == 0        # nothing projected changed
    assert index_write_units(a, dict(a, note={"S": "n"}), include, ("PK", "SK")) == 1


def test_table_def_from_describe_table():
    desc = {"TableName": "t", "KeySchema": [{"AttributeName": "PK", "KeyType": "HASH"},
                                             {"AttributeName": "SK", "KeyType": "RANGE"}],
            "GlobalSecondaryIndexes": [{"IndexName": "GSI1", "KeySchema": [
                {"AttributeName": "GSI1PK", "KeyType": "HASH"}, {"AttributeName": "GSI1SK", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "ALL"}}],
            "LocalSecondaryIndexes": [{"IndexName": "L", "KeySchema": [
                {"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "at", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["x"]}}]}
    t = TableDef.from_description(desc)
    assert t.keys == ("PK", "SK")
    assert t.indexes == (IndexDef("GSI1", ("GSI1PK", "GSI1SK"), "ALL"), IndexDef("L", ("PK", "at"), "INCLUDE", ("x",)))
    assert t.key_of(sized(10, SK={"S": "s"})) == {"PK": {"S": "x" * 8}, "SK": {"S": "s"}}
