"""Dedup function: SQS batch of appeals taken in -> joined to their master or handed on to dispatch."""
from chalicelib.batch import sqs_handler
from chalicelib.bootstrap import bootstrap
from chalicelib.services import dedup as dedup_service

PLATFORM = bootstrap()

# No Powertools idempotency layer: the decision is one transaction guarded by the appeal's version
# and closes the dedup hand-off, so a redelivered message finds it closed and changes nothing.
lambda_handler = sqs_handler("dedup", lambda message, record: dedup_service.process(PLATFORM, message["appeal_id"]))
