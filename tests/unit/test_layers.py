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


FORBIDDEN_IN_SERVICES = ("pynamodb", "boto3", "botocore", "chalicelib.storage.models")


def _offenders(folder: Path, forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    out = {}
    for path in sorted(folder.rglob("*.py")):
        bad = {n for n in imports(path) if any(n == f or n.startswith(f + ".") for f in forbidden)}
        if bad:
            out[str(path.relative_to(ROOT))] = sorted(bad)
    return out


def test_services_reach_storage_only_through_the_store():
    """Use cases get their store, unit of work, publisher and region from bootstrap(): they
    import no AWS library and no storage model (issue 15)."""
    assert _offenders(ROOT / "chalicelib" / "services", FORBIDDEN_IN_SERVICES) == {}


def test_policy_reads_storage_through_storage():
    assert _offenders(ROOT / "chalicelib" / "policy", FORBIDDEN_IN_SERVICES) == {}


def function_level_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for inner in ast.walk(node):
                if isinstance(inner, (ast.Import, ast.ImportFrom)):
                    found.append(f"{node.name}:{inner.lineno}")
    return found


def test_no_import_inside_a_function_in_chalicelib():
    """Imports sit at the top of the module: an import inside a function hides a cycle."""
    found = {str(p.relative_to(ROOT)): function_level_imports(p) for p in sorted((ROOT / "chalicelib").rglob("*.py"))}
    assert {k: v for k, v in found.items() if v} == {}


def test_the_import_check_sees_an_import_in_a_function(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    import json\n    return json\n")
    assert function_level_imports(bad) == ["f:2"]


MAX_LINES = 500


def test_no_module_in_chalicelib_is_over_500_lines():
    long = {str(p.relative_to(ROOT)): n for p in sorted((ROOT / "chalicelib").rglob("*.py"))
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}
