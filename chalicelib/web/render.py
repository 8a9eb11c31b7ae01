"""Rendering pages: the Jinja2 environment (autoescaping on, templates from this package), the
filters every page uses, and the static files with their content-hashed URLs.

Jinja2, the standard template engine of Python web stacks, escapes every value unless a
template says otherwise, which is what keeps citizens' text from becoming markup; writing
pages with f-strings would make every page responsible for that.
"""
from __future__ import annotations

import hashlib
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from chalicelib.domain.calendar import to_local
from chalicelib.domain.timefmt import parse_iso

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "application/javascript; charset=utf-8",
                ".svg": "image/svg+xml"}


def local_time(value: str | datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """An instant as Beijing time, as citizens read it."""
    if not value:
        return ""
    moment = parse_iso(value) if isinstance(value, str) else value
    return to_local(moment).strftime(fmt)


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


@lru_cache(maxsize=None)
def static_file(name: str) -> tuple[bytes, str, str] | None:
    """(content, content type, hash) of a vendored static file, or None."""
    path = (STATIC / name).resolve()
    if path.parent != STATIC or path.suffix not in STATIC_TYPES or not path.is_file():
        return None
    body = path.read_bytes()
    return body, STATIC_TYPES[path.suffix], hashlib.sha256(body).hexdigest()[:12]


def static_text(name: str) -> str:
    """A vendored static file's text, for a self-contained report that inlines it (ECharts)."""
    found = static_file(name)
    if found is None:
        raise FileNotFoundError(f"no vendored static file {name!r}")
    return found[0].decode("utf-8")


def static_url(name: str) -> str:
    """The file's URL with its content hash: cached for a year, a new version is a new URL."""
    found = static_file(name)
    return f"/static/{name}?v={found[2]}" if found else f"/static/{name}"


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(str(HERE / "templates")), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["local_time"] = local_time
    env.filters["percent"] = percent
    env.globals["static_url"] = static_url
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)
