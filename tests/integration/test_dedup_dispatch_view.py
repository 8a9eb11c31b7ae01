"""The dedup stage on moto with the dispatch model's view: paraphrases join, borderline pairs are
offered to a dispatcher instead of joined, and the case file says which signal decided."""
from __future__ import annotations

from tests.integration.test_dedup_stage import DEV, case_file, deliver, load

# One locked public toilet by a metro exit (C096): named (公厕) the first time, then told by what it
# does to the teller (带小孩来玩找不到厕所) with no concept or wording in common.
TOILET_NAMED, TOILET_TOLD = "P0194", "P0203"
# A loose manhole cover at one junction, then one near a metro exit of the same road (C010 vs C005).
MANHOLE_AT_EXIT, MANHOLE_AT_JUNCTION = "P0015", "P0020"


def test_a_paraphrase_joins_on_the_dispatch_models_view_and_says_so(aws):
    first, second = deliver(aws, TOILET_NAMED, TOILET_TOLD)
    assert load(second).master_id == first and load(first).duplicates == [second]
    [joined] = case_file(second)["joined_master"]
    assert joined.data["signal"] == "dispatch"
    assert "content from dispatch" in joined.data["reason"]
    # The earlier appeal's view was read from its posting (kept with its features at dedup time).
    assert joined.data["matched_fields"]["dispatch_group"] > 0.5
    assert joined.data["matched_fields"]["same_leaf"] == 1.0


def test_the_same_kind_of_problem_at_a_neighbouring_place_is_offered_not_joined(aws):
    first, second = deliver(aws, MANHOLE_AT_EXIT, MANHOLE_AT_JUNCTION)
    assert load(second).master_id is None and load(first).duplicates == []
    [checked] = case_file(second)["dedup_checked"]
    assert checked.public is False
    possible = checked.data["possible_duplicate"]
    assert possible["master_id"] == first and possible["candidate_id"] == first
    assert "address" in possible["reason"] and possible["fields"]["address"] < 0.3
    assert DEV[MANHOLE_AT_EXIT]["cluster"] != DEV[MANHOLE_AT_JUNCTION]["cluster"]
