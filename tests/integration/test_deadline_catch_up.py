"""The deadline sweep catching up after it fell behind (F-HD-3), on moto through the real handler:
at most BUCKETS_PER_RUN minute buckets per run, oldest first, each run going on where the last
stopped; a gap longer than CATCH_UP_LIMIT gives the oldest buckets up, named in an error line."""
from __future__ import annotations

from datetime import timedelta

from tests.integration.test_deadlines_sweep import alert_items, env, local, new_dispatched, resume_from, run_sweep

__all__ = ["env"]  # the fixture, used by name

COUNTS = ("due_read", "warning", "overdue", "supervise", "duplicate", "stale", "done", "inactive", "already",
          "missing")


def outcome(result: dict) -> dict:
    """The run's figures that are not zero, with how many buckets it read and where it stopped."""
    return {"buckets": result["buckets"], "skipped_buckets": result["skipped_buckets"],
            "last_bucket": result["last_bucket"], **{k: result[k] for k in COUNTS if result[k]}}


def swept_up_to() -> str:
    from chalicelib.storage import keys
    from chalicelib.storage.models import SweepStateItem

    return SweepStateItem.get(keys.SWEEP_DEADLINES_PK, keys.SWEEP_SK, consistent_read=True).last_bucket


def test_a_sweep_far_behind_reads_its_limit_per_run_and_the_next_run_goes_on_from_there(env):
    from chalicelib.services import deadlines

    assert deadlines.BUCKETS_PER_RUN == 60
    t0 = local(2026, 5, 6, 10, 0, 17)                       # 02:00:17 UTC, a Wednesday
    first = new_dispatched(t0, ticket="catch-up-1")         # sign/contact alerts due 02:12-02:31 UTC
    second = new_dispatched(t0 + timedelta(minutes=60), ticket="catch-up-2")   # 03:12-03:31
    third = new_dispatched(t0 + timedelta(minutes=130), ticket="catch-up-3")   # 04:22, 04:26, 04:33, 04:41
    resume_from(t0)                                         # the sweep last read 02:00, then stopped
    late = t0 + timedelta(minutes=150)                      # 150 buckets behind, under a day

    assert outcome(run_sweep(late)) == {"buckets": 60, "skipped_buckets": 0, "last_bucket": "2026-05-06T03:00",
                                        "due_read": 4, "warning": 2, "overdue": 2}
    assert swept_up_to() == "2026-05-06T03:00"
    assert alert_items(first) == [("contact", 1, "overdue"), ("contact", 1, "warning"),
                                  ("sign", 1, "overdue"), ("sign", 1, "warning")]
    assert alert_items(second) == [] and alert_items(third) == []   # due, but in buckets not read yet

    assert outcome(run_sweep(late + timedelta(minutes=1))) == {
        "buckets": 60, "skipped_buckets": 0, "last_bucket": "2026-05-06T04:00", "due_read": 4, "warning": 2,
        "overdue": 2}
    assert len(alert_items(second)) == 4 and alert_items(third) == []

    assert outcome(run_sweep(late + timedelta(minutes=2))) == {
        "buckets": 32, "skipped_buckets": 0, "last_bucket": "2026-05-06T04:32", "due_read": 2, "warning": 1,
        "overdue": 1}
    assert alert_items(third) == [("sign", 1, "overdue"), ("sign", 1, "warning")]

    # Caught up: one minute per run again, and nothing raised twice.
    assert outcome(run_sweep(late + timedelta(minutes=3))) == {
        "buckets": 1, "skipped_buckets": 0, "last_bucket": "2026-05-06T04:33", "due_read": 1, "warning": 1}
    assert outcome(run_sweep(late + timedelta(minutes=3, seconds=30))) == {
        "buckets": 0, "skipped_buckets": 0, "last_bucket": None}
    assert swept_up_to() == "2026-05-06T04:33"
    assert [len(alert_items(a)) for a in (first, second, third)] == [4, 4, 3]


def test_a_gap_longer_than_the_catch_up_limit_gives_the_oldest_buckets_up(env, caplog):
    from chalicelib.services import deadlines

    assert deadlines.CATCH_UP_LIMIT == timedelta(hours=24)
    t0 = local(2026, 5, 6, 10, 0, 17)
    given_up = new_dispatched(t0, ticket="gap-1")                          # due 02:12-02:31 UTC on the 6th
    kept = new_dispatched(t0 + timedelta(hours=1), ticket="gap-2")         # due 03:12-03:31 UTC on the 6th
    resume_from(t0)
    now = t0 + timedelta(hours=25)                                          # 25 h behind: 60 minutes too many

    assert outcome(run_sweep(now)) == {"buckets": 60, "skipped_buckets": 60, "last_bucket": "2026-05-06T04:00",
                                       "due_read": 4, "warning": 2, "overdue": 2}
    assert alert_items(given_up) == []
    assert alert_items(kept) == [("contact", 1, "overdue"), ("contact", 1, "warning"),
                                 ("sign", 1, "overdue"), ("sign", 1, "warning")]
    [record] = [r for r in caplog.records if r.levelname == "ERROR"]
    assert record.getMessage() == "deadline sweep gap longer than the catch-up limit; older buckets skipped"
    assert (record.skipped_minutes, getattr(record, "from")) == (60, "2026-05-06T02:00:00+00:00")
