"""requirements.lock (what make install takes) pins what requirements*.txt ask for."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _pins(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^\s;#]+)", line.strip())
        if m:
            out[re.sub(r"[-_.]+", "-", m.group(1)).lower()] = m.group(2)
    return out


def test_the_lock_pins_every_requirement_at_its_version():
    lock = _pins(ROOT / "requirements.lock")
    for name in ("requirements.txt", "requirements-dev.txt"):
        for pkg, version in _pins(ROOT / name).items():
            assert lock.get(pkg) == version, f"{name}: {pkg}=={version}, the lock has {lock.get(pkg)} (make lock)"
