"""Render the deploy template of a stage from infra/spec.py, then package it with Chalice.

`merge_template(stage)` is everything Chalice does not write itself: the table, queues + DLQs,
KMS key, hash-key secret, the stage functions with their SQS/schedule triggers (with
ReportBatchItemFailures), least-privilege IAM and alarms; `chalice package --merge-template`
folds it into the SAM template of the API. ARNs are built from ${AWS::Partition} and
${AWS::URLSuffix}, never a literal `aws`, so the same template deploys in China regions.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from infra import oidc_template  # noqa: E402
from infra.spec import SPEC, Function, Spec  # noqa: E402

FUNCTIONS_ZIP = "functions.zip"
RUNTIME = "python3.11"


def _sub(text: str) -> dict:
    return {"Fn::Sub": text}


def _table(spec: Spec) -> dict:
    t = spec.table
    attrs = [t.pk, t.sk] + [a for ix in t.indexes for a in (ix.pk, ix.sk)]
    return {
        "Type": "AWS::DynamoDB::Table",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {
            "BillingMode": t.billing_mode,
            "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in attrs],
            "KeySchema": [{"AttributeName": t.pk, "KeyType": "HASH"}, {"AttributeName": t.sk, "KeyType": "RANGE"}],
            "GlobalSecondaryIndexes": [
                {"IndexName": ix.name,
                 "KeySchema": [{"AttributeName": ix.pk, "KeyType": "HASH"}, {"AttributeName": ix.sk, "KeyType": "RANGE"}],
                 "Projection": ix.projection} for ix in t.indexes],
            "TimeToLiveSpecification": {"AttributeName": t.ttl_attribute, "Enabled": True},
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": t.point_in_time_recovery},
            "SSESpecification": {"SSEEnabled": True},
        },
    }


def _queues(spec: Spec) -> dict:
    out = {}
    for q in spec.queues:
        out[q.dlq_logical_id] = {"Type": "AWS::SQS::Queue",
                                 "Properties": {"MessageRetentionPeriod": 14 * 24 * 3600, "SqsManagedSseEnabled": True}}
        out[q.logical_id] = {"Type": "AWS::SQS::Queue", "Properties": {
            "VisibilityTimeout": q.visibility_timeout_s,
            "SqsManagedSseEnabled": True,
            "RedrivePolicy": {"deadLetterTargetArn": {"Fn::GetAtt": [q.dlq_logical_id, "Arn"]},
                              "maxReceiveCount": q.max_receive_count}}}
        out[q.dlq_logical_id + "DepthAlarm"] = _alarm(q.dlq_logical_id, "ApproximateNumberOfMessagesVisible", 0,
                                                      f"{q.name}: messages in the dead-letter queue")
        out[q.logical_id + "AgeAlarm"] = _alarm(q.logical_id, "ApproximateAgeOfOldestMessage", 300,
                                                f"{q.name}: oldest message waiting over 5 minutes")
    return out


def _alarm(queue_id: str, metric: str, threshold: int, description: str) -> dict:
    return {"Type": "AWS::CloudWatch::Alarm", "Properties": {
        "AlarmDescription": description, "Namespace": "AWS/SQS", "MetricName": metric,
        "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id, "QueueName"]}}],
        "Statistic": "Maximum", "Period": 60, "EvaluationPeriods": 1, "Threshold": threshold,
        "ComparisonOperator": "GreaterThanThreshold", "TreatMissingData": "notBreaching"}}


def _env(spec: Spec) -> dict:
    env = {"JIESU_TABLE": {"Ref": spec.table.logical_id}, "JIESU_PII_KEY_ID": {"Ref": spec.pii_key_logical_id},
           spec.region_bucket_env: {"Ref": spec.region_bucket_logical_id},
           spec.report_bucket_env: {"Ref": spec.report_bucket_logical_id},
           spec.archive_bucket_env: {"Ref": spec.archive_bucket_logical_id},
           "JIESU_HASH_KEY_SECRET": {"Ref": "HashKeySecret"},
           # Where citizens open their tracking links (the links in intake answers and callbacks).
           "JIESU_PUBLIC_BASE_URL": {"Ref": "PublicBaseUrl"}}
    for q in spec.queues:
        env[q.env_var] = {"Ref": q.logical_id}
    return env


def _statements(spec: Spec, sends_to, table_access="readwrite", pii=True, secrets=True,
                reports: str | None = None, archive: str = "read") -> list[dict]:
    table_arn = {"Fn::GetAtt": [spec.table.logical_id, "Arn"]}
    index_arn = _sub("${%s.Arn}/index/*" % spec.table.logical_id)
    actions = ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:BatchGetItem", "dynamodb:ConditionCheckItem"]
    if table_access == "readwrite":
        actions += ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"]
    stmts = [{"Effect": "Allow", "Action": actions, "Resource": [table_arn, index_arn]}]
    stmts.append({"Effect": "Allow", "Action": ["s3:GetObject"],
                  "Resource": _sub("${%s.Arn}/*" % spec.region_bucket_logical_id)})
    if reports:   # "read": the staff API lists and serves reports; "write": the reports function
        stmts.append({"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"] if reports == "write"
                      else ["s3:GetObject"], "Resource": _sub("${%s.Arn}/*" % spec.report_bucket_logical_id)})
    # The archive: everyone with table access reads dossiers (staff API, verification); the archive
    # function also seals them (a put with its own retention needs PutObjectRetention).
    stmts.append({"Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectVersion"]
                  + (["s3:PutObject", "s3:PutObjectRetention"] if archive == "write" else []),
                  "Resource": _sub("${%s.Arn}/*" % spec.archive_bucket_logical_id)})
    if sends_to:
        stmts.append({"Effect": "Allow", "Action": ["sqs:SendMessage", "sqs:GetQueueUrl",
                                                    "sqs:ChangeMessageVisibility"],
                      "Resource": [{"Fn::GetAtt": [spec.queue(n).logical_id, "Arn"]} for n in sends_to]})
    if pii:
        stmts.append({"Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
                      "Resource": {"Fn::GetAtt": [spec.pii_key_logical_id, "Arn"]}})
    if secrets:
        stmts.append({"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": [
            {"Ref": "HashKeySecret"},
            _sub("arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:jiesu/${Stage}/channels/*")]})
    return stmts


def _function(spec: Spec, fn: Function) -> dict:
    events = {}
    if fn.trigger_queue:
        q = spec.queue(fn.trigger_queue)
        events["Queue"] = {"Type": "SQS", "Properties": {
            "Queue": {"Fn::GetAtt": [q.logical_id, "Arn"]}, "BatchSize": fn.batch_size,
            "FunctionResponseTypes": ["ReportBatchItemFailures"]}}
    if fn.trigger_schedule:
        events["Schedule"] = {"Type": "Schedule", "Properties": {
            "Schedule": spec.schedule(fn.trigger_schedule).expression, "Enabled": True}}
    sends = tuple(fn.sends_to) + ((fn.trigger_queue,) if fn.trigger_queue else ())
    return {"Type": "AWS::Serverless::Function", "Properties": {
        "Runtime": RUNTIME, "Handler": fn.handler, "CodeUri": f"./{FUNCTIONS_ZIP}",
        "Timeout": fn.timeout_s, "MemorySize": fn.memory_mb, "Layers": [{"Ref": "ManagedLayer"}],
        "Environment": {"Variables": {**_env(spec), "JIESU_STAGE": {"Ref": "Stage"}}},
        "Policies": [{"Version": "2012-10-17", "Statement": _statements(
            spec, sends, fn.table_access, pii=True, secrets=True,
            reports="write" if fn.writes_reports else None,
            archive="write" if fn.writes_archive else "read")}],
        **({"ReservedConcurrentExecutions": fn.concurrency} if fn.concurrency else {}),
        "Events": events}}


UNKNOWN_PATH_BODY = '{"error": {"code": "not_found", "message": "no such path", "field": "path"}}'


# Throttling at the edge (API Gateway stage method settings; issue 22, item 7): the whole stage,
# and tighter on the routes a partner's loop or a flood would hit (intake, ratings, Open311
# posts). Past a limit API Gateway answers 429 itself, in the API's error shape with Retry-After
# (ThrottledResponse); no request reaches the app. (rate: requests per second; burst: bucket size)
STAGE_THROTTLE = (100, 200)
ROUTE_THROTTLES = {("/channels/{channel}/appeals", "POST"): (20, 40),
                   ("/channels/{channel}/appeals/{ticket_id}/rating", "POST"): (10, 20),
                   ("/open311/v2/{resource}", "POST"): (5, 10),          # requests.json, the one POST
                   ("/track/{token}/rating", "POST"): (5, 10)}
THROTTLED_BODY = ('{"error": {"code": "throttled", "message": "too many requests: retry after the number of '
                  'seconds in Retry-After", "field": null}}')
RETRY_AFTER_SECONDS = 1


# Per channel key (the X-Jiesu-Key-Id every signed partner request carries): an AWS WAF rate-based
# rule keyed on that header, so one partner's flood or loop cannot take the others' share of the
# stage's limits. A request without the header is not counted by it (the stage limits still apply).
CHANNEL_KEY_LIMIT = 1200            # requests per key ...
CHANNEL_KEY_WINDOW_S = 60           # ... per this many seconds (WAF's evaluation window)
CHANNEL_KEY_HEADER = "x-jiesu-key-id"


def _channel_key_limits(stage: str) -> dict:
    """The WebACL of the per-key limit (429 in the error shape, Retry-After one window) and its
    association with the API's stage."""
    api_stage = stage_config(stage).get("api_gateway_stage", "api")
    acl = {"Type": "AWS::WAFv2::WebACL", "Properties": {
        "Name": _sub("jiesu-${Stage}-channel-keys"), "Scope": "REGIONAL", "DefaultAction": {"Allow": {}},
        "VisibilityConfig": {"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True,
                             "MetricName": "jiesu-channel-keys"},
        "CustomResponseBodies": {"throttled": {"ContentType": "APPLICATION_JSON", "Content": THROTTLED_BODY}},
        "Rules": [{
            "Name": "per-channel-key", "Priority": 0,
            "Statement": {"RateBasedStatement": {
                "Limit": CHANNEL_KEY_LIMIT, "EvaluationWindowSec": CHANNEL_KEY_WINDOW_S,
                "AggregateKeyType": "CUSTOM_KEYS",
                "CustomKeys": [{"Header": {"Name": CHANNEL_KEY_HEADER,
                                           "TextTransformations": [{"Priority": 0, "Type": "NONE"}]}}]}},
            "Action": {"Block": {"CustomResponse": {
                "ResponseCode": 429, "CustomResponseBodyKey": "throttled",
                "ResponseHeaders": [{"Name": "Retry-After", "Value": str(CHANNEL_KEY_WINDOW_S)}]}}},
            "VisibilityConfig": {"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True,
                                 "MetricName": "jiesu-per-channel-key"}}]}}
    association = {"Type": "AWS::WAFv2::WebACLAssociation", "DependsOn": f"RestAPI{api_stage}Stage",
                   "Properties": {"WebACLArn": {"Fn::GetAtt": ["ChannelKeyLimits", "Arn"]},
                                  "ResourceArn": _sub("arn:${AWS::Partition}:apigateway:${AWS::Region}::/restapis/"
                                                      "${RestAPI}/stages/" + api_stage)}}
    return {"ChannelKeyLimits": acl, "ChannelKeyLimitsAssociation": association}


def _method_settings() -> list[dict]:
    """MethodSettings of the API's stage: a resource path's slashes are written ~1."""
    out = [{"ResourcePath": "/*", "HttpMethod": "*", "ThrottlingRateLimit": STAGE_THROTTLE[0],
            "ThrottlingBurstLimit": STAGE_THROTTLE[1], "MetricsEnabled": True}]
    for (path, method), (rate, burst) in ROUTE_THROTTLES.items():
        out.append({"ResourcePath": "/" + path.replace("/", "~1"),
                    "HttpMethod": method, "ThrottlingRateLimit": rate, "ThrottlingBurstLimit": burst,
                    "MetricsEnabled": True})
    return out


def _private_bucket() -> dict:
    """A bucket kept on stack deletion, versioned, encrypted, with every public access blocked."""
    return {"Type": "AWS::S3::Bucket", "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain", "Properties": {
        "VersioningConfiguration": {"Status": "Enabled"},
        "PublicAccessBlockConfiguration": {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                           "IgnorePublicAcls": True, "RestrictPublicBuckets": True},
        "BucketEncryption": {"ServerSideEncryptionConfiguration": [
            {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}}}


def _archive_bucket(spec: Spec) -> dict:
    """The sealed dossiers (归档): a private bucket with Object Lock in compliance mode (no one,
    the account root included, deletes or overwrites a version before its retention ends),
    a default retention from the stack's parameter (each dossier sets its own, from its region's
    policy), and a bucket policy denying every delete and any request not over TLS."""
    bucket = _private_bucket()
    bucket["Properties"]["ObjectLockEnabled"] = True
    bucket["Properties"]["ObjectLockConfiguration"] = {
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": {"Ref": "ArchiveLockDays"}}}}
    return bucket


def _archive_bucket_policy(spec: Spec) -> dict:
    bucket_arn = {"Fn::GetAtt": [spec.archive_bucket_logical_id, "Arn"]}
    objects = _sub("${%s.Arn}/*" % spec.archive_bucket_logical_id)
    return {"Type": "AWS::S3::BucketPolicy", "Properties": {
        "Bucket": {"Ref": spec.archive_bucket_logical_id},
        "PolicyDocument": {"Version": "2012-10-17", "Statement": [
            {"Sid": "DenyDelete", "Effect": "Deny", "Principal": "*",
             "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:BypassGovernanceRetention",
                        "s3:PutLifecycleConfiguration", "s3:DeleteBucket", "s3:DeleteBucketPolicy"],
             "Resource": [bucket_arn, objects]},
            {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
             "Resource": [bucket_arn, objects], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}}}


def merge_template(stage: str, region_code: str, spec: Spec = SPEC) -> dict:
    resources: dict = {
        spec.table.logical_id: _table(spec),
        spec.pii_key_logical_id: {"Type": "AWS::KMS::Key", "Properties": {
            "Description": "Jiesu personal data (wraps data keys)", "EnableKeyRotation": True,
            "KeyPolicy": {"Version": "2012-10-17", "Statement": [{
                "Sid": "AccountAdmin", "Effect": "Allow",
                "Principal": {"AWS": _sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")},
                "Action": "kms:*", "Resource": "*"}]}}},
        "PiiKeyAlias": {"Type": "AWS::KMS::Alias", "Properties": {
            "AliasName": _sub(f"{spec.pii_key_alias}-${{Stage}}"), "TargetKeyId": {"Ref": spec.pii_key_logical_id}}},
        "HashKeySecret": {"Type": "AWS::SecretsManager::Secret", "Properties": {
            "Name": _sub("jiesu/${Stage}/pii-hash-key"), "Description": "Key of the keyed hashes of ID numbers and phones",
            "GenerateSecretString": {"PasswordLength": 64, "ExcludePunctuation": True}}},
        spec.region_bucket_logical_id: _private_bucket(),
        # Reports: private, encrypted, kept (a report once written is a record of its day).
        spec.report_bucket_logical_id: _private_bucket(),
        spec.archive_bucket_logical_id: _archive_bucket(spec),
        spec.archive_bucket_logical_id + "Policy": _archive_bucket_policy(spec),
        **_queues(spec),
        "ApiRole": {"Type": "AWS::IAM::Role", "Properties": {
            "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]},
            "ManagedPolicyArns": [_sub("arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole")],
            "Policies": [{"PolicyName": "jiesu-api", "PolicyDocument": {
                "Version": "2012-10-17", "Statement": [*_statements(spec, spec.api_sends_to, reports="read"),
                                                       oidc_template.secret_statement()]}}]}},
        # A path the API does not have: API Gateway's own answer (403 "Missing Authentication
        # Token") in the API's error shape instead, as 404 (chalice local: infra/devserver.py).
        "UnknownPathResponse": {"Type": "AWS::ApiGateway::GatewayResponse", "Properties": {
            "RestApiId": {"Ref": "RestAPI"}, "ResponseType": "MISSING_AUTHENTICATION_TOKEN", "StatusCode": "404",
            "ResponseTemplates": {"application/json": UNKNOWN_PATH_BODY}}},
        "ThrottledResponse": {"Type": "AWS::ApiGateway::GatewayResponse", "Properties": {
            "RestApiId": {"Ref": "RestAPI"}, "ResponseType": "THROTTLED", "StatusCode": "429",
            "ResponseParameters": {"gatewayresponse.header.Retry-After": f"'{RETRY_AFTER_SECONDS}'",
                                   "gatewayresponse.header.X-Content-Type-Options": "'nosniff'"},
            "ResponseTemplates": {"application/json": THROTTLED_BODY}}},
        "RestAPI": {"Properties": {"MethodSettings": _method_settings()}},
        **_channel_key_limits(stage),
        "APIHandler": {"Properties": {
            "Role": {"Fn::GetAtt": ["ApiRole", "Arn"]},
            "Environment": {"Variables": {**_env(spec), "JIESU_STAGE": {"Ref": "Stage"},
                                          **oidc_template.environment()}}}},
        **oidc_template.resources(),   # staff sign-in: the region's IdP, or a Cognito user pool
    }
    for fn in spec.functions:
        resources[fn.logical_id] = _function(spec, fn)
    return {
        "Parameters": {"Stage": {"Type": "String", "Default": stage, "AllowedPattern": "[a-z0-9-]+"},
                       "PublicBaseUrl": {"Type": "String", "Default": stage_config(stage)["public_base_url"],
                                         "AllowedPattern": "https://[^/\\s]+(/\\S*)?",
                                         "Description": "The citizen-facing URL of this stack's API (a custom "
                                                        "domain, with its base path): tracking links start "
                                                        "with it"},
                       "ArchiveLockDays": {"Type": "Number", "Default": spec.archive_lock_days, "MinValue": 1,
                                           "Description": "Default Object Lock retention (days, compliance "
                                                          "mode) of the sealed dossiers"},
                       **oidc_template.parameters()},
        "Conditions": oidc_template.conditions(),
        "Resources": resources,
        "Outputs": {"TableName": {"Value": {"Ref": spec.table.logical_id}},
                    **{f"{q.logical_id}Url": {"Value": {"Ref": q.logical_id}} for q in spec.queues},
                    **oidc_template.outputs()},
    }


def build_functions_zip(out: Path) -> Path:
    """Stage functions' code: functions/ and chalicelib/ (dependencies come from the layer)."""
    path = out / FUNCTIONS_ZIP
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for folder in ("functions", "chalicelib"):
            for f in sorted((ROOT / folder).rglob("*.py")):
                z.write(f, f.relative_to(ROOT).as_posix())
    return path


def stage_config(stage: str) -> dict:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    if stage not in config["stages"]:
        raise SystemExit(f"unknown stage {stage!r}; stages: {', '.join(config['stages'])}")
    return config["stages"][stage]


def package(stage: str, region: str | None) -> Path:
    cfg = stage_config(stage)
    region_code = cfg["environment_variables"]["JIESU_REGION_CODE"]
    region = region or cfg.get("aws_region") or {"shenzhen": "cn-north-1"}.get(stage, "us-east-1")
    out = ROOT / "build" / stage
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    merge = ROOT / "build" / f"merge-{stage}.json"
    merge.write_text(json.dumps(merge_template(stage, region_code), indent=2, ensure_ascii=False))
    env = {**__import__("os").environ, "AWS_DEFAULT_REGION": region}
    chalice = str(Path(sys.executable).with_name("chalice"))
    subprocess.run([chalice, "package", "--stage", stage, "--merge-template",
                    str(merge), str(out)], cwd=ROOT, check=True, env=env)
    build_functions_zip(out)
    print(f"template: {out / 'sam.json'} (region {region})")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description="Package (and optionally deploy) a region stack")
    parser.add_argument("--stage", required=True)
    parser.add_argument("--region")
    parser.add_argument("--deploy", action="store_true", help="aws cloudformation package + deploy (needs credentials)")
    args = parser.parse_args()
    out = package(args.stage, args.region)
    if args.deploy:
        bucket = __import__("os").environ.get("JIESU_ARTIFACT_BUCKET")
        if not bucket:
            raise SystemExit("set JIESU_ARTIFACT_BUCKET to an S3 bucket in the target region")
        subprocess.run(["aws", "cloudformation", "package", "--template-file", str(out / "sam.json"),
                        "--s3-bucket", bucket, "--output-template-file", str(out / "packaged.yaml")], check=True)
        subprocess.run(["aws", "cloudformation", "deploy", "--template-file", str(out / "packaged.yaml"),
                        "--stack-name", f"jiesu-{args.stage}", "--capabilities", "CAPABILITY_IAM",
                        "CAPABILITY_AUTO_EXPAND"], check=True)


if __name__ == "__main__":
    main()
