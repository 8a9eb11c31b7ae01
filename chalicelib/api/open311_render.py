"""Open311 GeoReport v2 on the wire: a use case's rows (or its error) as the spec's JSON or XML.

The file name carries the format (``requests.json``, ``requests/<id>.xml``); anything else is a 404
in JSON. Errors take the spec's own form (``[{"code": 400, "description": "..."}]`` or
``<errors><error>…</error></errors>``), the description led by the offending parameter's name.
"""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from chalicelib.domain.errors import DomainError, NotFoundError
from chalicelib.observability import logger

FORMATS = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'
_XML_NAMES = {"services": ("services", "service"), "requests": ("service_requests", "request"),
              "errors": ("errors", "error")}


@dataclass(frozen=True)
class Result:
    """A successful answer before rendering: status and the rows of `kind` (services/requests)."""

    status: int
    kind: str
    rows: list[dict[str, Any]]


@dataclass(frozen=True)
class Reply:
    status: int
    body: str
    content_type: str


def render(fmt: str, kind: str, rows: list[dict[str, Any]], status: int = 200) -> Reply:
    if fmt == "xml":
        root_tag, item_tag = _XML_NAMES[kind]
        root = ET.Element(root_tag)
        for row in rows:
            item = ET.SubElement(root, item_tag)
            for name, value in row.items():
                element = ET.SubElement(item, name)
                if isinstance(value, list):         # notes: <notes><note>...</note></notes>
                    for entry in value:
                        child = ET.SubElement(element, name[:-1] if name.endswith("s") else "item")
                        for key, text in entry.items():
                            ET.SubElement(child, key).text = _xml_text(text)
                else:
                    element.text = _xml_text(value)
        body = XML_DECLARATION + ET.tostring(root, encoding="unicode")
    else:
        body = json.dumps(rows, ensure_ascii=False)
    return Reply(status, body, FORMATS[fmt])


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")  # XML 1.0 cannot carry these


def _xml_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_XML.sub("", str(value))


# Our field names where Open311 names the parameter differently.
_PARAM_NAMES = {"content": "description", "lng": "long", "ticket_id": "Idempotency-Key"}


def describe(exc: DomainError) -> str:
    """Our error messages, led by the Open311 parameter name."""
    if exc.field is None:
        return exc.message
    name = _PARAM_NAMES.get(exc.field, exc.field)
    return exc.message if exc.message.startswith(f"{name}:") else f"{name}: {exc.message}"


def render_error(fmt: str, status: int, description: str) -> Reply:
    return render(fmt, "errors", [{"code": status, "description": description}], status)


def split_format(filename: str) -> tuple[str, str | None]:
    """`requests.json` → ("requests", "json"); an unknown or missing extension gives None."""
    stem, dot, ext = filename.rpartition(".")
    if not dot or ext.lower() not in FORMATS:
        return filename, None
    return stem, ext.lower()


def answer(filename: str, handlers: Mapping[str, Callable[[], Result]] | Callable[[str], Result]) -> Reply:
    """Run the handler for `<stem>.<format>` and render its result or error in that format.

    `handlers` maps resource names to handlers, or is one handler taking the stem (an id)."""
    stem, fmt = split_format(filename)
    try:
        if fmt is None:
            raise NotFoundError("format: unknown; use .json or .xml", field="format")
        if callable(handlers):
            result = handlers(stem)
        elif stem in handlers:
            result = handlers[stem]()
        else:
            raise NotFoundError("resource: no such resource", field="resource")
        return render(fmt, result.kind, result.rows, result.status)
    except DomainError as exc:
        return render_error(fmt or "json", exc.status, describe(exc))
    except Exception:  # noqa: BLE001 - ours: a 500 without details, in the spec's form
        logger.exception("open311: unhandled error")
        return render_error(fmt or "json", 500, "internal error; it has been logged")
