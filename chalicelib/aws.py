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


def partition(region: str) -> str:
    """aws, aws-cn or aws-us-gov: never hard-code `aws` in an ARN."""
    return boto3.session.Session().get_partition_for_region(region)


def reset_clients() -> None:
    client.cache_clear()
