"""A record that fails in a stage says so in one line: stage, appeal, exception, and `failed`."""
from __future__ import annotations

import json

from chalicelib import batch
from infra.runner import Runner, failure_summary, sqs_event
from infra.spec import SPEC


class _Session:
    """What the runner asks of a boto3 session when no queue is polled."""
    region_name = "cn-north-1"

    def client(self, name):
        return None

    def get_partition_for_region(self, region):
        return "aws-cn"


def _event(*bodies: dict) -> dict:
    msgs = [{"MessageId": f"m{i}", "ReceiptHandle": f"r{i}", "Body": json.dumps(b), "Attributes": {
        "ApproximateReceiveCount": "2"}} for i, b in enumerate(bodies)]
    return sqs_event(msgs, "arn:aws-cn:sqs:cn-north-1:123456789012:jiesu-test-dedup", "cn-north-1")


def test_a_failing_record_logs_stage_appeal_and_exception_without_personal_data(monkeypatch):
    lines = []
    monkeypatch.setattr(batch.logger, "error", lambda msg, **kw: lines.append(msg))

    def work(message, record):
        if message["appeal_id"] == "A-2":
            raise ValueError("party phone 13812345678 and id 440305199001011234 did not match")
        return "ok"

    handler = batch.sqs_handler("dedup", work)
    result = handler(_event({"appeal_id": "A-1"}, {"appeal_id": "A-2"}), None)
    assert result == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    assert lines == ["dedup: record failed for appeal A-2 (try 2): ValueError: party phone 138****5678 and id "
                     "440305********1234 did not match"]


def test_an_unreadable_body_is_named_as_such():
    line = batch.failure_line("notify", "not json", KeyError("appeal_id"), 1)
    assert line == "notify: record failed for appeal (unreadable body) (try 1): KeyError: 'appeal_id'"


def test_the_runner_names_what_a_wholly_failed_batch_raised():
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

    exc = BatchProcessingError("All records failed processing. 2 individual errors logged separately below.",
                               [(ValueError, ValueError("x"), None), (KeyError, KeyError("y"), None)])
    assert failure_summary(exc) == "KeyError, ValueError"


def test_the_runner_logs_a_failed_batch_with_its_size_and_cause(monkeypatch):
    logged = []
    fn = next(f for f in SPEC.functions if f.name == "dedup")

    def boom(event, context):
        raise RuntimeError("backend down")

    monkeypatch.setattr("infra.runner.load_handler", lambda f: boom)

    runner = Runner(_Session(), {}, {}, log=logged.append)
    failed = runner._invoke_batch(fn, _event({"appeal_id": "A-1"}))
    assert failed == {"m0"}
    assert logged == ["[runner] dedup: batch of 1 failed (RuntimeError: see the record lines above)"]


def test_a_batch_whose_records_only_wait_is_deferred_not_failed(monkeypatch):
    from chalicelib.batch import RetryLater

    logged, infos = [], []
    monkeypatch.setattr(batch.logger, "error", lambda msg, **kw: logged.append(msg))
    monkeypatch.setattr(batch.logger, "info", lambda msg, **kw: infos.append(msg))
    monkeypatch.setattr(batch, "_delay", lambda record, seconds: None)

    class Waits(RetryLater):
        pass

    def work(message, record):
        raise Waits("an earlier one first")

    handler = batch.sqs_handler("notify", work)
    fn = next(f for f in SPEC.functions if f.name == "notify")
    monkeypatch.setattr("infra.runner.load_handler", lambda f: handler)

    runner_log = []
    failed = Runner(_Session(), {}, {}, log=runner_log.append)._invoke_batch(fn, _event({"appeal_id": "A-1"}))
    assert failed == {"m0"} and logged == []
    assert infos == ["notify: record deferred: Waits"]
    assert runner_log == ["[runner] notify: batch of 1 deferred"]
