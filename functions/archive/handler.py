"""Archive sweep (EventBridge schedule, hourly): seal the closed appeals that settled, shred what is past retention (归档)."""
from chalicelib.bootstrap import bootstrap
from chalicelib.observability import logger, metrics
from chalicelib.services import archive
from chalicelib.storage.archive_store import archive_parts

PLATFORM = bootstrap()  # tests put one with a FixedClock here; time is never read any other way
ARCHIVE = archive_parts()


@metrics.log_metrics
def lambda_handler(event, context):
    result = archive.run(PLATFORM, ARCHIVE)
    logger.info("archive sweep", extra={**result["archive"], "shredded": result["shred"]["shredded"],
                                        "scheduled_at": (event or {}).get("time")})
    return result
