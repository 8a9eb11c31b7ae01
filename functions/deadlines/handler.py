"""Deadline sweep (EventBridge schedule, every minute): warnings, red alerts, supervision notices."""
from chalicelib.bootstrap import bootstrap
from chalicelib.observability import logger, metrics
from chalicelib.services import deadlines

PLATFORM = bootstrap()  # tests put one with a FixedClock here; time is never read any other way


@metrics.log_metrics
def lambda_handler(event, context):
    result = deadlines.sweep(PLATFORM)
    logger.info("deadline sweep", extra={**result, "scheduled_at": (event or {}).get("time")})
    return result
