"""The layer rules of GUIDE.md: the domain is pure, and entry points stay thin."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN_IN_DOMAIN = ("boto3", "botocore", "pynamodb", "aws_lambda_powertools", "chalice", "jieba", "rapidfuzz",
                       "chalicelib.storage", "chalicelib.services", "chalicelib.api")


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_domain_imports_no_aws_library_nor_outer_layer():
    offenders = {}
    for path in sorted((ROOT / "chalicelib" / "domain").rglob("*.py")):
        bad = {n for n in imports(path) if any(n == f or n.startswith(f + ".") for f in FORBIDDEN_IN_DOMAIN)}
        if bad:
            offenders[path.name] = sorted(bad)
    assert offenders == {}


def test_domain_reads_no_clock():
    for path in sorted((ROOT / "chalicelib" / "domain").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        assert "datetime.now(" not in text and "time.time(" not in text and "date.today(" not in text, path.name


def test_the_check_would_catch_a_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import boto3\nfrom pynamodb.models import Model\n")
    assert {"boto3", "pynamodb.models"} <= imports(bad)


def test_function_handlers_are_thin():
    for path in sorted((ROOT / "functions").glob("*/handler.py")):
        lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip() and not ln.startswith("#")]
        assert len(lines) <= 25, f"{path.parent.name}: handlers parse, call one service and shape the reply"
