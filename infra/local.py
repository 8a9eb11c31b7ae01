"""Create the spec's resources on the local stand-in (moto), the same ones the template deploys."""
from __future__ import annotations

import json
import secrets
from dataclasses import dataclass

from infra.spec import SPEC, Spec


@dataclass
class LocalResources:
    table_name: str
    region_bucket: str
    report_bucket: str
    queue_urls: dict[str, str]
    dlq_urls: dict[str, str]
    rule_names: dict[str, str]
    pii_key_id: str
    hash_key_secret: str
    archive_bucket: str = ""

    def env(self, stage: str, region_code: str) -> dict[str, str]:
        env = {"JIESU_STAGE": stage, "JIESU_REGION_CODE": region_code, "JIESU_TABLE": self.table_name,
               SPEC.region_bucket_env: self.region_bucket, SPEC.report_bucket_env: self.report_bucket,
               "JIESU_PII_KEY_ID": self.pii_key_id, "JIESU_HASH_KEY_SECRET": self.hash_key_secret,
               SPEC.archive_bucket_env: self.archive_bucket}
        for q in SPEC.queues:
            env[q.env_var] = self.queue_urls[q.name]
        return env


def offline_aws_env(stage: str = "test", quiet: bool = False) -> None:
    """For tests and benchmarks on an in-process moto: fake credentials, this stage's table name,
    no endpoint (so nothing reaches AWS). Call it before anything imports chalicelib: the
    models read the table name once."""
    import os

    os.environ.update({
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SECURITY_TOKEN": "testing", "AWS_SESSION_TOKEN": "testing",
        "JIESU_STAGE": stage, "JIESU_TABLE": f"jiesu-{stage}", "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_DEV": "false",
    })
    if quiet:  # one INFO line per appeal would flood a benchmark's output
        os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ.pop("AWS_ENDPOINT_URL", None)


def table_definition(spec: Spec, name: str) -> dict:
    """CreateTable arguments from the spec (render.py writes the same in CloudFormation terms)."""
    t = spec.table
    attrs = [t.pk, t.sk] + [a for ix in t.indexes for a in (ix.pk, ix.sk)]
    return {
        "TableName": name,
        "BillingMode": t.billing_mode,
        "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in attrs],
        "KeySchema": [{"AttributeName": t.pk, "KeyType": "HASH"}, {"AttributeName": t.sk, "KeyType": "RANGE"}],
        "GlobalSecondaryIndexes": [
            {"IndexName": ix.name, "KeySchema": [{"AttributeName": ix.pk, "KeyType": "HASH"},
                                                 {"AttributeName": ix.sk, "KeyType": "RANGE"}],
             "Projection": ix.projection} for ix in t.indexes],
    }


def bootstrap(session, stage: str = "local", spec: Spec = SPEC) -> LocalResources:
    """Create table, indexes, TTL, PITR, KMS key, hash-key secret, queues with DLQs and rules.

    Idempotent: on a stand-in that kept its state (infra/standin.py) every resource that exists
    is kept as it is, the KMS key and the hash-key secret included, so stored data still reads.
    """
    from botocore.exceptions import ClientError

    prefix = f"jiesu-{stage}"
    ddb = session.client("dynamodb")
    table_name = prefix
    try:
        ddb.create_table(**table_definition(spec, table_name))
        created = True
    except ddb.exceptions.ResourceInUseException:
        created = False
    if created:
        ddb.update_time_to_live(TableName=table_name, TimeToLiveSpecification={
            "Enabled": True, "AttributeName": spec.table.ttl_attribute})
        if spec.table.point_in_time_recovery:
            ddb.update_continuous_backups(TableName=table_name, PointInTimeRecoverySpecification={
                "PointInTimeRecoveryEnabled": True})

    s3 = session.client("s3")
    bucket, report_bucket = f"{prefix}-regions", f"{prefix}-reports"
    for name in (bucket, report_bucket):
        try:
            s3.head_bucket(Bucket=name)
        except ClientError:
            if session.region_name == "us-east-1":
                s3.create_bucket(Bucket=name)
            else:
                s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": session.region_name})
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})

    archive_bucket = f"{prefix}-archive"   # Object Lock as deployed (render._archive_bucket)
    try:
        s3.head_bucket(Bucket=archive_bucket)
    except ClientError:
        where = {} if session.region_name == "us-east-1" else {
            "CreateBucketConfiguration": {"LocationConstraint": session.region_name}}
        s3.create_bucket(Bucket=archive_bucket, ObjectLockEnabledForBucket=True, **where)
        s3.put_object_lock_configuration(Bucket=archive_bucket, ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": spec.archive_lock_days}}})

    kms = session.client("kms")
    try:
        kms.describe_key(KeyId=spec.pii_key_alias)
    except kms.exceptions.NotFoundException:
        key_id = kms.create_key(Description="Jiesu personal data")["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName=spec.pii_key_alias, TargetKeyId=key_id)

    sm = session.client("secretsmanager")
    hash_secret = f"jiesu/{stage}/pii-hash-key"
    try:
        sm.describe_secret(SecretId=hash_secret)
    except sm.exceptions.ResourceNotFoundException:
        sm.create_secret(Name=hash_secret, SecretString=secrets.token_hex(32))

    sqs = session.client("sqs")
    queue_urls, dlq_urls = {}, {}
    for q in spec.queues:
        dlq_url = sqs.create_queue(QueueName=f"{prefix}-{q.name}-dlq", Attributes={
            "MessageRetentionPeriod": str(14 * 24 * 3600)})["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        queue_urls[q.name] = sqs.create_queue(QueueName=f"{prefix}-{q.name}", Attributes={
            "VisibilityTimeout": str(q.visibility_timeout_s),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": q.max_receive_count}),
        })["QueueUrl"]
        dlq_urls[q.name] = dlq_url

    events = session.client("events")
    rule_names = {}
    for s in spec.schedules:
        name = f"{prefix}-{s.name}"
        events.put_rule(Name=name, ScheduleExpression=s.expression, State="ENABLED")
        rule_names[s.name] = name
    return LocalResources(table_name, bucket, report_bucket, queue_urls, dlq_urls, rule_names, spec.pii_key_alias,
                          hash_secret, archive_bucket)


def register_channels(session, pack_dir, stage: str, callback_url: str | None = None) -> dict[str, tuple[str, str]]:
    """Create each channel's signing secret and registration; returns {code: (key_id, secret)}."""
    from chalicelib.storage.channels import read_channels, save_channel, secret_ref

    sm = session.client("secretsmanager")
    creds = {}
    for ch in read_channels(pack_dir):
        ref = secret_ref(f"jiesu/{stage}/channels/", ch["key_id"])
        value = secrets.token_urlsafe(32)
        sm.create_secret(Name=ref, SecretString=value)
        save_channel(ch["code"], ch["name"], ch["key_id"], ref, callback_url or ch.get("callback_url"))
        creds[ch["code"]] = (ch["key_id"], value)
    return creds


def reset_process_caches() -> None:
    """Forget what this process cached about a stack (settings, clients, keys, secrets, region)."""
    from chalicelib.aws import reset_clients
    from chalicelib.policy import region
    from chalicelib.settings import get_settings
    from chalicelib.storage import pii, secrets as channel_secrets

    get_settings.cache_clear()
    reset_clients()
    pii.reset_caches()
    channel_secrets.clear()
    region.reset_cache()


def in_process_stack(session, stage: str = "test", region_code: str = "shenzhen") -> LocalResources:
    """The spec's resources on an in-process moto (tests, benchmarks), wired into this process."""
    import os

    res = bootstrap(session, stage)
    os.environ.update(res.env(stage, region_code))
    reset_process_caches()
    return res
