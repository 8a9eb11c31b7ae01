"""Dispatch function: SQS batch of appeals -> classified, located, sent to a unit or a dispatcher."""
from chalicelib.batch import sqs_handler
from chalicelib.bootstrap import bootstrap
from chalicelib.services import dispatch

PLATFORM = bootstrap()

lambda_handler = sqs_handler("dispatch", lambda message, record: dispatch.process(PLATFORM, message["appeal_id"]))
