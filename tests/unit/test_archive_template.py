"""The deploy template's archive (归档): an Object Lock bucket in compliance mode, versioned, encrypted,
deletes denied, for both partitions; the archive function seals, everyone else only reads."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from infra.render import merge_template
from infra.spec import SPEC

STAGES = {"dev": "us-east-1", "shenzhen": "cn-north-1"}


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_the_archive_bucket_is_locked_versioned_encrypted_and_deletes_are_denied(stage):
    t = merge_template(stage, "shenzhen")
    r = t["Resources"]
    bucket = r[SPEC.archive_bucket_logical_id]
    props = bucket["Properties"]
    assert (bucket["DeletionPolicy"], bucket["UpdateReplacePolicy"]) == ("Retain", "Retain")
    assert props["ObjectLockEnabled"] is True
    assert props["ObjectLockConfiguration"] == {"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {
        "Mode": "COMPLIANCE", "Days": {"Ref": "ArchiveLockDays"}}}}
    assert t["Parameters"]["ArchiveLockDays"]["Default"] == SPEC.archive_lock_days
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "AES256"}
    assert all(props["PublicAccessBlockConfiguration"].values())
    policy = r[SPEC.archive_bucket_logical_id + "Policy"]["Properties"]
    assert policy["Bucket"] == {"Ref": SPEC.archive_bucket_logical_id}
    deny = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}
    assert deny["DenyDelete"]["Effect"] == "Deny" and deny["DenyDelete"]["Principal"] == "*"
    assert {"s3:DeleteObject", "s3:DeleteObjectVersion", "s3:BypassGovernanceRetention"} <= set(
        deny["DenyDelete"]["Action"])
    assert deny["DenyInsecureTransport"]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    text = json.dumps(t)
    assert "arn:aws:" not in text and "arn:aws-cn:" not in text


def _s3_actions(resource: dict, bucket_id: str) -> set[str]:
    found = set()
    for stmt in resource["Properties"]["Policies"][0]["Statement"]:
        if stmt["Resource"] == {"Fn::Sub": "${%s.Arn}/*" % bucket_id}:
            found |= set(stmt["Action"])
    return found


def test_only_the_archive_function_seals_and_every_function_finds_the_bucket():
    t = merge_template("dev", "shenzhen")
    r = t["Resources"]
    for fn in SPEC.functions:
        actions = _s3_actions(r[fn.logical_id], SPEC.archive_bucket_logical_id)
        expected = {"s3:GetObject", "s3:GetObjectVersion"} | (
            {"s3:PutObject", "s3:PutObjectRetention"} if fn.name == "archive" else set())
        assert actions == expected, fn.name
        env = r[fn.logical_id]["Properties"]["Environment"]["Variables"]
        assert env[SPEC.archive_bucket_env] == {"Ref": SPEC.archive_bucket_logical_id}
    assert r["ArchiveFunction"]["Properties"]["Events"]["Schedule"]["Properties"]["Schedule"] == \
        SPEC.schedule("archive").expression


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_the_archive_resources_pass_cfn_lint_in_both_partitions(stage, tmp_path):
    """cfn-lint on a plain template of the archive's resources (the whole packaged template is
    linted by tests/integration/test_package.py)."""
    t = merge_template(stage, "shenzhen")
    ids = (SPEC.archive_bucket_logical_id, SPEC.archive_bucket_logical_id + "Policy")
    plain = {"AWSTemplateFormatVersion": "2010-09-09",
             "Parameters": {"ArchiveLockDays": t["Parameters"]["ArchiveLockDays"]},
             "Resources": {i: t["Resources"][i] for i in ids}}
    path = tmp_path / "archive.json"
    path.write_text(json.dumps(plain))
    lint = subprocess.run([str(Path(sys.executable).with_name("cfn-lint")), str(path), "--regions", STAGES[stage]],
                          capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
