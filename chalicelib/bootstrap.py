"""The composition root: what the services run against, put together in one place.

Entry points (app.py's routes, functions/<stage>/handler.py) call `bootstrap()` once per
process and pass the Platform to the services they call; tests pass fakes instead
(tests/fakes.py: an in-memory store, a list publisher, a fixed clock), so service tests need no
AWS stand-in. Nothing else in chalicelib builds a store, a publisher or a clock.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

from chalicelib.policy.runtime import runtime_for
from chalicelib.services.clock import SYSTEM_CLOCK, Clock
from chalicelib.settings import Settings, get_settings
from chalicelib.storage.pii import KmsSealer
from chalicelib.storage.queues import QueuePublisher
from chalicelib.storage.report_files import ReportFiles
from chalicelib.storage.secrets import get_secret
from chalicelib.storage.store import DynamoStore


@dataclass(frozen=True)
class Platform:
    clock: Clock
    store: Any                           # DynamoStore or a fake with the same methods
    publisher: Any                       # .publish(handoffs) -> sent, .send(queue, message)
    region: Callable[[str], Any]         # region code -> its RegionRuntime (live pack version)
    secrets: Callable[[str], str]        # secret reference -> value
    sealer: Any                          # .seal(party, appeal_id) / .unseal(sealed)
    files: Any = None                    # report files: .put(key, body, content_type), .get(key)
    settings_source: Callable[[], Settings] = get_settings

    @property
    def settings(self) -> Settings:
        """Read when used (the environment is read once per process, in settings.get_settings)."""
        return self.settings_source()

    def now(self):
        return self.clock.now()

    def with_clock(self, clock: Clock) -> "Platform":
        return replace(self, clock=clock)


def bootstrap(*, clock: Clock | None = None, store: Any = None, publisher: Any = None,
              region: Callable[[str], Any] | None = None, secrets: Callable[[str], str] | None = None,
              sealer: Any = None, settings: Settings | None = None, files: Any = None) -> Platform:
    """The real platform (DynamoDB, SQS, KMS, Secrets Manager, the live region pack), with any
    part replaced by what the caller passes."""
    def given(part: Any, default: Callable[[], Any]) -> Any:
        return default() if part is None else part

    return Platform(clock=given(clock, lambda: SYSTEM_CLOCK), store=given(store, DynamoStore),
                    publisher=given(publisher, QueuePublisher), region=given(region, lambda: runtime_for),
                    secrets=given(secrets, lambda: get_secret), sealer=given(sealer, KmsSealer),
                    files=given(files, ReportFiles),
                    settings_source=get_settings if settings is None else (lambda: settings))
