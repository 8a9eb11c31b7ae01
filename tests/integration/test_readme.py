"""README documents every staff action with its body fields (the registry is the source)."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_staff_action_and_field_is_in_readme():
    from chalicelib.services import handling  # noqa: F401 - registers the handling actions
    from chalicelib.services import staff

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `([a-z_]+)`(?:, `[a-z_]+`)? \| ([^|]+) \|", readme, re.M)}
    rows.update({"unfollow": rows.get("follow", "")})
    for name, action in staff.REGISTRY.items():
        assert name in rows, f"README lacks the action {name}"
        for field in action.fields:
            assert f"`{field}" in rows[name], f"README's {name} row lacks {field}"


def test_readme_starts_with_the_two_commands():
    head = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()[:10]
    assert any(line.startswith("make run") for line in head) and any(line.startswith("make test") for line in head)
