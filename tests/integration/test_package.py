"""`make package` for each region stage: a template Lambda can deploy, with wheels Lambda can load."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from infra.spec import SPEC

ROOT = Path(__file__).resolve().parents[2]
STAGES = {"dev": "us-east-1", "shenzhen": "cn-north-1"}
LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024
# A wheel Lambda's python3.11 runtime (Amazon Linux 2, glibc 2.26) can load.
LOADABLE = re.compile(r"^(py3-none-any|py2\.py3-none-any|cp3\d*-(abi3|cp311)-manylinux(2014|_2_(1[2-9]|2[0-6]))_x86_64)$")


@pytest.fixture(scope="module")
def packages():
    out = {}
    for stage, region in STAGES.items():
        subprocess.run([sys.executable, str(ROOT / "infra" / "render.py"), "--stage", stage, "--region", region],
                       cwd=ROOT, check=True, capture_output=True, timeout=900)
        out[stage] = ROOT / "build" / stage
    return out


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_template_passes_cfn_lint_and_names_no_partition(packages, stage):
    sam = packages[stage] / "sam.json"
    lint = subprocess.run([str(Path(sys.executable).with_name("cfn-lint")), str(sam)], capture_output=True,
                          text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    text = sam.read_text()
    assert "arn:aws:" not in text and "arn:aws-cn:" not in text
    # amazonaws.com may appear only as a service principal, never in a URL or ARN.
    assert set(re.findall(r'"([^"]*amazonaws\.com[^"]*)"', text)) <= {"lambda.amazonaws.com",
                                                                      "apigateway.amazonaws.com"}
    template = json.loads(text)
    for name, res in template["Resources"].items():
        env = res.get("Properties", {}).get("Environment", {}).get("Variables", {})
        assert not {"AWS_REGION", "AWS_DEFAULT_REGION"} & set(env), name  # reserved Lambda variables
    for fn in SPEC.functions:
        assert template["Resources"][fn.logical_id]["Properties"]["Runtime"] == "python3.11"


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_every_packaged_wheel_is_loadable_by_lambda_and_the_bundle_fits(packages, stage):
    layer = zipfile.ZipFile(packages[stage] / "layer-deployment.zip")
    tags = {}
    for name in layer.namelist():
        if name.endswith(".dist-info/WHEEL"):
            for line in layer.read(name).decode().splitlines():
                if line.startswith("Tag:"):
                    tags.setdefault(name.split("/")[-2], []).append(line.split(":", 1)[1].strip())
    assert {"rapidfuzz", "pydantic_core", "cryptography", "jieba"} <= {d.split("-")[0].lower() for d in tags}
    for dist, dist_tags in tags.items():
        # Not compiled from source on this machine: every binary dist carries a manylinux tag.
        assert any(LOADABLE.match(t) for t in dist_tags), (dist, dist_tags)
    unzipped = sum(i.file_size for z in ("layer-deployment.zip", "deployment.zip")
                   for i in zipfile.ZipFile(packages[stage] / z).infolist())
    unzipped_fn = sum(i.file_size for i in zipfile.ZipFile(packages[stage] / "functions.zip").infolist())
    assert unzipped + unzipped_fn < LAMBDA_UNZIPPED_LIMIT
    fn_names = zipfile.ZipFile(packages[stage] / "functions.zip").namelist()
    for fn in SPEC.functions:
        assert fn.handler.split(".")[0] + ".py" in fn_names


BUNDLE_CHECK = r"""
import json, sys
bundle, root = sys.argv[1], sys.argv[2]
sys.path[:0] = [bundle]          # the packaged app.py and chalicelib come first
sys.path.append(root)            # the admin tooling (infra) only, to load the region as an admin would
from infra.local import offline_aws_env
offline_aws_env("test")
import chalicelib
assert chalicelib.__file__.startswith(bundle), chalicelib.__file__
import boto3
from moto import mock_aws
with mock_aws():
    session = boto3.session.Session(region_name="us-east-1")
    from infra.local import in_process_stack
    in_process_stack(session)
    from infra.demo_region import load_demo_region
    from pathlib import Path
    creds = load_demo_region(session, "test", Path(root) / "regions" / "shenzhen")
    import app  # the bundle's chalice is the runtime only (no chalice.test): API Gateway events

    def call(method, resource, path, params, body=None, ctype="application/json"):
        event = {"resource": resource, "path": path, "httpMethod": method,
                 "headers": {"Accept": "application/json", "Content-Type": ctype}, "multiValueHeaders": {},
                 "queryStringParameters": None, "multiValueQueryStringParameters": None,
                 "pathParameters": params, "stageVariables": None, "body": body, "isBase64Encoded": False,
                 "requestContext": {"resourcePath": resource, "httpMethod": method, "stage": "api",
                                    "requestId": "r-1", "identity": {"sourceIp": "127.0.0.1"}}}
        resp = app.app(event, None)
        return resp["statusCode"], json.loads(resp["body"])

    status, services = call("GET", "/open311/v2/{resource}", "/open311/v2/services.json",
                            {"resource": "services.json"})
    from urllib.parse import urlencode
    key_id, secret = creds["open311"]
    form = urlencode({"api_key": f"{key_id}.{secret}", "service_code": "01.01", "lat": "22.5431",
                      "long": "114.0579", "description": "路边垃圾堆了三天没人清运，气味很大。"})
    created, [request] = call("POST", "/open311/v2/{resource}", "/open311/v2/requests.json",
                              {"resource": "requests.json"}, form, "application/x-www-form-urlencoded")
    rid = request["service_request_id"]
    shown, [view] = call("GET", "/open311/v2/requests/{request_file}", f"/open311/v2/requests/{rid}.json",
                         {"request_file": f"{rid}.json"})
    print(json.dumps({"status": status, "services": len(services), "created": created, "shown": shown,
                      "view": {k: view[k] for k in ("service_request_id", "status", "service_code")}}))
"""


def test_open311_services_and_a_public_view_are_served_from_the_packaged_bundle(packages, tmp_path):
    """What `make package` ships has no regions/ folder: the API must read the live pack, for the
    services list and for a request's public view."""
    bundle = tmp_path / "bundle"
    with zipfile.ZipFile(packages["dev"] / "deployment.zip") as z:
        z.extractall(bundle)
    assert not (bundle / "regions").exists()
    out = subprocess.run([sys.executable, "-c", BUNDLE_CHECK, str(bundle), str(ROOT)], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert (result["status"], result["services"] > 50, result["created"], result["shown"]) == (200, True, 201, 200)
    assert result["view"] == {"service_request_id": result["view"]["service_request_id"], "status": "open",
                              "service_code": "01.01"}


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_the_packaged_template_seals_dossiers_with_object_lock(packages, stage):
    """归档 (issue 23): the packaged stack's archive bucket is in compliance-mode Object Lock,
    versioned and encrypted, with a bucket policy denying deletes (tests/unit/test_archive_template.py
    checks the rest of its settings)."""
    r = json.loads((packages[stage] / "sam.json").read_text())["Resources"]
    props = r[SPEC.archive_bucket_logical_id]["Properties"]
    assert props["ObjectLockEnabled"] is True
    assert props["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]["Mode"] == "COMPLIANCE"
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    deny = r[SPEC.archive_bucket_logical_id + "Policy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert deny["Effect"] == "Deny" and "s3:DeleteObjectVersion" in deny["Action"]
    assert r["ArchiveFunction"]["Properties"]["Handler"] == "functions/archive/handler.lambda_handler"
