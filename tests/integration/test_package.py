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
