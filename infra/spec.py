"""The one source of every resource: table, indexes, queues, DLQs, schedules, functions, IAM.

Both the deploy template (infra/render.py) and the local bootstrap (infra/local.py) are
generated from here; tests/integration/test_infra_agree.py checks that they agree.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from chalicelib.storage.keys import INDEX_ATTRIBUTES

APP_NAME = "jiesu"

# Lambda timeout of the stage functions; queue visibility is a multiple of it (AWS advice: 6x).
FUNCTION_TIMEOUT_S = 30
VISIBILITY_FACTOR = 6
MAX_RECEIVE_COUNT = 5
DLQ_RETENTION_S = 14 * 24 * 3600


@dataclass(frozen=True)
class Index:
    name: str
    pk: str
    sk: str
    # Non-key attributes projected (INCLUDE); empty: ALL.
    include: tuple[str, ...] = ()

    @property
    def projection(self) -> dict:
        """The index's Projection, in CreateTable's and CloudFormation's terms (the same)."""
        if not self.include:
            return {"ProjectionType": "ALL"}
        return {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(self.include)}


@dataclass(frozen=True)
class Table:
    logical_id: str
    pk: str = "PK"
    sk: str = "SK"
    indexes: tuple[Index, ...] = ()
    ttl_attribute: str = "expires_at"
    point_in_time_recovery: bool = True
    billing_mode: str = "PAY_PER_REQUEST"


@dataclass(frozen=True)
class Queue:
    name: str                   # short name: dedup, dispatch, notify
    logical_id: str
    visibility_timeout_s: int = FUNCTION_TIMEOUT_S * VISIBILITY_FACTOR
    max_receive_count: int = MAX_RECEIVE_COUNT

    @property
    def env_var(self) -> str:
        """Where functions and the API find its URL (chalicelib.settings reads the same prefix)."""
        return f"JIESU_QUEUE_{self.name.upper()}"

    @property
    def dlq_logical_id(self) -> str:
        return self.logical_id + "Dlq"


@dataclass(frozen=True)
class Schedule:
    name: str
    logical_id: str
    expression: str             # EventBridge schedule expression

    @property
    def period_s(self) -> int:
        """The period of a ``rate(N unit)`` expression in seconds (the local runner fires on it)."""
        n, unit = self.expression.removeprefix("rate(").removesuffix(")").split()
        return int(n) * {"minute": 60, "hour": 3600, "day": 86400}[unit.rstrip("s")]


@dataclass(frozen=True)
class Function:
    name: str                   # folder under functions/
    logical_id: str
    trigger_queue: str | None = None      # SQS trigger (batch, partial failures)
    trigger_schedule: str | None = None   # EventBridge schedule
    batch_size: int = 10
    timeout_s: int = FUNCTION_TIMEOUT_S
    memory_mb: int = 512
    # Least privilege: which queues it may send to, and what it does with table/kms/secrets.
    sends_to: tuple[str, ...] = ()
    table_access: str = "readwrite"       # "read" | "readwrite"
    uses_pii_key: bool = False
    reads_secrets: bool = False
    writes_reports: bool = False           # puts report files into the report bucket
    writes_archive: bool = False           # puts sealed dossiers into the archive bucket (归档)
    # Lambda's reserved concurrency (None: unreserved). 1: one batch at a time, in order (the
    # analytics stage: the hotspot detector's state has one writer). The local runner polls the
    # queue with as many pollers.
    concurrency: int | None = None

    @property
    def handler(self) -> str:
        return f"functions/{self.name}/handler.lambda_handler"


@dataclass(frozen=True)
class Spec:
    table: Table
    queues: tuple[Queue, ...]
    schedules: tuple[Schedule, ...]
    functions: tuple[Function, ...]
    api_sends_to: tuple[str, ...] = ()
    # Versioned region packs (catalog, units, gazetteer, calendar, policy, dispatch model).
    region_bucket_logical_id: str = "RegionBucket"
    region_bucket_env: str = "JIESU_REGION_BUCKET"
    # Reports (每日快报, 周分析, 月研判): HTML and CSV files, listed and served by the staff API.
    report_bucket_logical_id: str = "ReportBucket"
    report_bucket_env: str = "JIESU_REPORT_BUCKET"
    # Sealed dossiers (归档): Object Lock in compliance mode, versioned, encrypted, deletes denied.
    archive_bucket_logical_id: str = "ArchiveBucket"
    archive_bucket_env: str = "JIESU_ARCHIVE_BUCKET"
    archive_lock_days: int = 3650          # the bucket's default retention; each dossier sets its own
    pii_key_logical_id: str = "PiiKey"
    pii_key_alias: str = "alias/jiesu-pii"
    secret_prefix: str = "jiesu/channels/"
    extra: dict = field(default_factory=dict)

    def queue(self, name: str) -> Queue:
        return next(q for q in self.queues if q.name == name)

    def schedule(self, name: str) -> Schedule:
        return next(s for s in self.schedules if s.name == name)


SPEC = Spec(
    table=Table(
        logical_id="AppealsTable",
        # Each GSI projects the keys, `kind` and the small entries' fields (INCLUDE, issue 21: an
        # appeal's change writes its index entries only when their keys move). A table created
        # with the earlier ALL projections still works; infra/reindex.py says how its indexes
        # change (`python -m infra.admin reproject --dry-run` lists those that differ).
        indexes=(
            # GSI1: lists by owner and time — a unit's inbox, a channel's appeals, pending outbox.
            Index("GSI1", "GSI1PK", "GSI1SK", INDEX_ATTRIBUTES["GSI1"]),
            # GSI2: time buckets — deadlines due in a minute bucket, hotspots by day.
            Index("GSI2", "GSI2PK", "GSI2SK", INDEX_ATTRIBUTES["GSI2"]),
            # GSI3: appeals by area (district) and time — leaders', auditors' and dashboard views.
            Index("GSI3", "GSI3PK", "GSI3SK", INDEX_ATTRIBUTES["GSI3"]),
        ),
    ),
    queues=(
        Queue("dedup", "DedupQueue"),
        Queue("dispatch", "DispatchQueue"),
        Queue("notify", "NotifyQueue"),
        Queue("analytics", "AnalyticsQueue"),
    ),
    schedules=(
        Schedule("deadlines", "DeadlineSweepRule", "rate(1 minute)"),
        Schedule("outbox", "OutboxSweepRule", "rate(1 minute)"),
        Schedule("visits", "ReturnVisitPlanRule", "rate(15 minutes)"),
        Schedule("public_record", "PublicRecordRule", "rate(15 minutes)"),
        # Reports fall due at 08:00 local (daily), on Mondays (weekly) and on the 1st (monthly):
        # an hourly run writes whatever is due and not yet written (a missed run catches up).
        Schedule("reports", "ReportsRule", "rate(1 hour)"),
        # 归档: closed appeals whose settling window ended are sealed; personal data past retention shredded.
        Schedule("archive", "ArchiveRule", "rate(1 hour)"),
    ),
    functions=(
        Function("dedup", "DedupFunction", trigger_queue="dedup", sends_to=("dispatch", "notify", "analytics"),
                 uses_pii_key=False),
        # 研判: counters and hotspot alerts from every change's case events (one batch at a time).
        Function("analytics", "AnalyticsFunction", trigger_queue="analytics", concurrency=1),
        Function("dispatch", "DispatchFunction", trigger_queue="dispatch", sends_to=("notify", "analytics")),
        Function("notify", "NotifyFunction", trigger_queue="notify", sends_to=("notify", "analytics"),
                 reads_secrets=True),
        Function("deadlines", "DeadlinesFunction", trigger_schedule="deadlines", sends_to=("notify", "analytics")),
        Function("outbox", "OutboxFunction", trigger_schedule="outbox",
                 sends_to=("dedup", "dispatch", "notify", "analytics")),
        # 回访: reads hour buckets of answered rounds, puts visit tasks; sends nothing.
        Function("visits", "VisitsFunction", trigger_schedule="visits", timeout_s=60),
        # 一网晒单: sums the units' counters, writes the rankings and units' records; sends nothing.
        Function("public_record", "PublicRecordFunction", trigger_schedule="public_record", timeout_s=120),
        Function("reports", "ReportsFunction", trigger_schedule="reports", timeout_s=300, memory_mb=1024,
                 writes_reports=True),
        Function("archive", "ArchiveFunction", trigger_schedule="archive", timeout_s=300, writes_archive=True),
    ),
    api_sends_to=("dedup", "dispatch", "notify", "analytics"),
)
