"""Lazily created boto3 clients (Chalice imports app.py while packaging: no client at import)."""
from __future__ import annotations

import threading
from functools import lru_cache

import boto3
from botocore.config import Config

_lock = threading.Lock()
_CONFIG = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=3, read_timeout=10)


@lru_cache(maxsize=None)
def client(service: str):
    # boto3's default session is not thread-safe to create clients from; the local runner is threaded.
    with _lock:
        return boto3.session.Session().client(service, config=_CONFIG)


# What AWS answers when a request rate is over what it allows (after botocore's own retries).
THROTTLING_CODES = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException", "Throttling",
                              "RequestLimitExceeded", "TooManyRequestsException", "SlowDown",
                              "AWS.SimpleQueueService.ServiceUnavailable", "ServiceUnavailable"})


def throttled(exc: BaseException) -> bool:
    """Whether an error is AWS saying "too many requests now": a botocore ClientError, or the
    PynamoDB error wrapping one (`cause_response_code`), with a throttling code."""
    code = getattr(exc, "cause_response_code", None)
    if code is None:
        code = (getattr(exc, "response", None) or {}).get("Error", {}).get("Code")
    return code in THROTTLING_CODES


def partition(region: str) -> str:
    """aws, aws-cn or aws-us-gov: never hard-code `aws` in an ARN."""
    return boto3.session.Session().get_partition_for_region(region)


def reset_clients() -> None:
    client.cache_clear()
