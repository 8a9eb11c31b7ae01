"""Dossier routes (归档卷宗): the sealed JSON, the printable page (masked), and the page unmasked with a reason.

    GET  /staff/appeals/{id}/dossier          the dossier as sealed (JSON; personal data encrypted)
    GET  /staff/appeals/{id}/dossier/page     the printable page (HTML, A4), personal data masked
    POST /staff/appeals/{id}/dossier/unmask   the page with personal data in clear ({"reason"}), audited

Who may read follows the access table (services/archive.visible_pointer); every read is audited.
The page GET also takes the workbench's session cookie, as a browser opens it from a case page.
"""
from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib import auth
from chalicelib.api import wiring
from chalicelib.api.errors import json_response, route
from chalicelib.api.pages import HTML, PAGE_HEADERS, page_html
from chalicelib.services import archive, intake, staff
from chalicelib.storage.archive_store import archive_parts

bp = Blueprint(__name__)
ARCHIVE = archive_parts()
PAGE = {"Content-Type": HTML, **PAGE_HEADERS, "Cache-Control": "no-store"}


def _who(session: bool = False):
    return staff.signed_in(wiring.PLATFORM, auth.principal_from(dict(bp.current_request.headers), session=session))


@route(bp, "/staff/appeals/{appeal_id}/dossier", methods=["GET"])
def dossier(appeal_id: str):
    _, doc = archive.dossier(wiring.PLATFORM, ARCHIVE, appeal_id, _who())
    return json_response(doc)


@route(bp, "/staff/appeals/{appeal_id}/dossier/page", methods=["GET"])
def dossier_page(appeal_id: str):
    who = _who(session=True)
    ptr, doc = archive.dossier(wiring.PLATFORM, ARCHIVE, appeal_id, who)
    return Response(body=page_html("dossier.html", **archive.page_context(ptr, doc, who)), status_code=200,
                    headers=PAGE)


@route(bp, "/staff/appeals/{appeal_id}/dossier/unmask", methods=["POST"])
def dossier_unmask(appeal_id: str):
    who = _who()
    reason = intake.decode_object(bp.current_request.raw_body or b"", empty={}).get("reason", "")
    ptr, doc, clear = archive.unmasked(wiring.PLATFORM, ARCHIVE, appeal_id, who, reason)
    return Response(body=page_html("dossier.html", **archive.page_context(ptr, doc, who, clear, reason.strip())),
                    status_code=200, headers=PAGE)
