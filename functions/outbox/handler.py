"""Outbox repair sweep (EventBridge schedule): re-send hand-offs that stayed open."""
from chalicelib.observability import logger, metrics
from chalicelib.services import outbox
from chalicelib.services.clock import SYSTEM_CLOCK


@metrics.log_metrics
def lambda_handler(event, context):
    result = outbox.sweep(SYSTEM_CLOCK)
    logger.info("outbox sweep", extra=result)
    return result
