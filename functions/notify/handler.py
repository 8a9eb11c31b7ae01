"""Notify function: SQS batch of status messages -> signed callbacks to the channels."""
from chalicelib.batch import sqs_handler
from chalicelib.bootstrap import bootstrap
from chalicelib.services import notify

PLATFORM = bootstrap()

# The backoff is looked up per failure (not bound at import), so the one policy in services.notify
# is what runs, in tests too.
lambda_handler = sqs_handler("notify", lambda message, record: notify.handle(PLATFORM, message),
                             backoff=lambda attempt: notify.backoff_seconds(attempt))
