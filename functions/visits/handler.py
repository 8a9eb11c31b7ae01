"""Return-visit planner (EventBridge schedule, every 15 minutes): visit tasks into the visitors' queue (回访)."""
from chalicelib.bootstrap import bootstrap
from chalicelib.observability import logger, metrics
from chalicelib.services import visits

PLATFORM = bootstrap()  # tests put one with a FixedClock here; time is never read any other way


@metrics.log_metrics
def lambda_handler(event, context):
    result = visits.plan(PLATFORM)
    logger.info("return-visit plan", extra={**result, "scheduled_at": (event or {}).get("time")})
    return result
