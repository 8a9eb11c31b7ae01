"""Reports (EventBridge schedule, hourly): the 每日快报, 周分析 and 月研判 that have fallen due (08:00
local; Mondays; the 1st) and are not yet written, for the city and each district, into S3."""
from chalicelib.bootstrap import bootstrap
from chalicelib.observability import logger, metrics
from chalicelib.services import reports

PLATFORM = bootstrap()  # tests put one with a FixedClock here; time is never read any other way


@metrics.log_metrics
def lambda_handler(event, context):
    result = reports.run(PLATFORM)
    logger.info("reports", extra={**result, "scheduled_at": (event or {}).get("time")})
    return result
