"""Notify function: SQS batch of status messages -> signed callbacks to the channels."""
from chalicelib.batch import sqs_handler
from chalicelib.services import notify
from chalicelib.services.clock import SYSTEM_CLOCK

lambda_handler = sqs_handler(lambda message, record: notify.deliver_status(message, SYSTEM_CLOCK),
                             backoff=notify.backoff_seconds)
