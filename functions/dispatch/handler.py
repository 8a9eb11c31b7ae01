"""Dispatch function: SQS batch of appeals -> classified, located, sent to a unit or a dispatcher."""
from chalicelib.batch import sqs_handler
from chalicelib.services import dispatch
from chalicelib.services.clock import SYSTEM_CLOCK

lambda_handler = sqs_handler("dispatch", lambda message, record: dispatch.process(message["appeal_id"], SYSTEM_CLOCK))
