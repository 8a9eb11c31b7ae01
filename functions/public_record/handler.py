"""Rankings and units' records of the public record (EventBridge schedule, every 15 minutes):
every unit's counters summed over 30 days and the year, ranked, written as snapshots the public
pages read in one GetItem (一网晒单亮责)."""
from chalicelib.bootstrap import bootstrap
from chalicelib.observability import logger, metrics
from chalicelib.services import public_record

PLATFORM = bootstrap()  # tests put one with a FixedClock here; time is never read any other way


@metrics.log_metrics
def lambda_handler(event, context):
    result = public_record.refresh(PLATFORM)
    logger.info("public record refreshed", extra={**result, "scheduled_at": (event or {}).get("time")})
    return result
