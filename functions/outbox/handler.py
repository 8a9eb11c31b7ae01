"""Outbox repair sweep (EventBridge schedule): re-send hand-offs that stayed open."""
from chalicelib.bootstrap import bootstrap
from chalicelib.observability import logger, metrics
from chalicelib.services import outbox

PLATFORM = bootstrap()


@metrics.log_metrics
def lambda_handler(event, context):
    result = outbox.sweep(PLATFORM)
    logger.info("outbox sweep", extra=result)
    return result
