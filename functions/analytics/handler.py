"""Analytics function (SQS, one batch at a time): counters and hotspot alerts as work happens (研判)."""
from chalicelib.batch import sqs_batch_handler
from chalicelib.bootstrap import bootstrap
from chalicelib.services import analytics

PLATFORM = bootstrap()  # tests put one with a FixedClock here; time is never read any other way

lambda_handler = sqs_batch_handler("analytics", lambda messages: analytics.process(PLATFORM, messages))
