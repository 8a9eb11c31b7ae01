"""Deadline sweep (EventBridge schedule, every minute): warnings, red alerts, supervision notices."""
from chalicelib.observability import logger, metrics
from chalicelib.services import deadlines
from chalicelib.services.clock import SYSTEM_CLOCK

CLOCK = SYSTEM_CLOCK  # tests put a FixedClock here; time is never read any other way


@metrics.log_metrics
def lambda_handler(event, context):
    result = deadlines.sweep(CLOCK)
    logger.info("deadline sweep", extra={**result, "scheduled_at": (event or {}).get("time")})
    return result
