"""The one Logger and Metrics of every function and the API (Powertools)."""
from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics

os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "jiesu")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Jiesu")

# Log records never carry personal data: services log ids and codes only, and the intake path
# never passes payloads or party fields to the logger.
logger = Logger(service="jiesu")
metrics = Metrics(namespace="Jiesu", service="jiesu")
