"""Roles, what each may do, and which appeals each may see (F-OP-2). Pure."""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Collection, Mapping

from chalicelib.domain.errors import ForbiddenError, ValidationError, appeal_not_found
from chalicelib.domain.units import Unit


class Role(str, enum.Enum):
    DISPATCHER = "dispatcher"        # command centre: dispatch, arbitrate, flag key work
    UNIT_HANDLER = "unit_handler"    # a unit's case worker: sign, contact, handle, reply, return
    UNIT_MANAGER = "unit_manager"    # a unit's head: the handler's actions, approvals, assign downward
    LEADER = "leader"                # instruct (批示), follow, name units for key appeals
    ADMIN = "admin"                  # operate the stack: region packs, versions
    AUDITOR = "auditor"              # read-only, including the audit trail
    VISITOR = "visitor"              # 回访员: the command centre's return-visit staff


# Every staff action, and the roles that may take it. One table, checked in one place.
ACTIONS: dict[str, frozenset[Role]] = {
    "appeal.read": frozenset({Role.DISPATCHER, Role.UNIT_HANDLER, Role.UNIT_MANAGER, Role.LEADER, Role.AUDITOR,
                              Role.VISITOR}),
    "appeal.list": frozenset({Role.DISPATCHER, Role.UNIT_HANDLER, Role.UNIT_MANAGER, Role.LEADER, Role.AUDITOR}),
    # (a visitor calls the citizen back: the number, with a reason, audited)
    "party.unmask": frozenset({Role.DISPATCHER, Role.UNIT_HANDLER, Role.UNIT_MANAGER, Role.VISITOR}),
    # A confidential (匿名/保密) appeal's identity: the dispatch centre only, with a reason, audited.
    # (also who sees even the masked hints of a confidential appeal's citizen)
    "party.unmask_confidential": frozenset({Role.DISPATCHER}),
    "dispatch.manual": frozenset({Role.DISPATCHER}),
    "dispatch.arbitrate": frozenset({Role.DISPATCHER}),
    "dispatch.flag_key": frozenset({Role.DISPATCHER, Role.LEADER}),
    "dispatch.consult": frozenset({Role.DISPATCHER, Role.UNIT_MANAGER}),
    "dedup.split": frozenset({Role.DISPATCHER}),
    "dedup.merge": frozenset({Role.DISPATCHER}),
    "handle.sign": frozenset({Role.UNIT_HANDLER, Role.UNIT_MANAGER}),
    "handle.contact": frozenset({Role.UNIT_HANDLER, Role.UNIT_MANAGER}),
    "handle.reply": frozenset({Role.UNIT_HANDLER, Role.UNIT_MANAGER}),
    "handle.return": frozenset({Role.UNIT_HANDLER, Role.UNIT_MANAGER}),
    "handle.escalate": frozenset({Role.UNIT_HANDLER, Role.UNIT_MANAGER}),
    "handle.extend_request": frozenset({Role.UNIT_HANDLER, Role.UNIT_MANAGER}),
    "handle.extend_decide": frozenset({Role.DISPATCHER, Role.UNIT_MANAGER}),
    "handle.assign_down": frozenset({Role.UNIT_MANAGER, Role.DISPATCHER}),
    "leader.instruct": frozenset({Role.LEADER}),
    "leader.follow": frozenset({Role.LEADER}),
    "leader.name_unit": frozenset({Role.LEADER}),
    # 回访 (F-EV-3): the visitors' queue and recording a call
    "tracking.renew": frozenset({Role.DISPATCHER}),  # the citizen's link was seen by others: a new one
    "visit.list": frozenset({Role.VISITOR, Role.DISPATCHER}),
    "visit.record": frozenset({Role.VISITOR, Role.DISPATCHER}),
    # 研判 (F-AN): dashboards, the one screen, rankings, alerts (each in its jurisdiction; a unit
    # manager reads the unit's own figures), and the written reports
    "analytics.read": frozenset({Role.DISPATCHER, Role.LEADER, Role.AUDITOR, Role.UNIT_MANAGER}),
    "reports.read": frozenset({Role.DISPATCHER, Role.LEADER, Role.AUDITOR}),
    "audit.read": frozenset({Role.AUDITOR, Role.ADMIN}),
    "region.load": frozenset({Role.ADMIN}),
    "region.read": frozenset({Role.ADMIN, Role.AUDITOR}),
}

# Roles whose view is the unit's own work (and, for managers, the units below it);
# the others see everything inside their jurisdiction.
UNIT_SCOPED = frozenset({Role.UNIT_HANDLER, Role.UNIT_MANAGER})


@dataclass(frozen=True)
class Principal:
    """A signed-in staff member, as established from a verified OIDC token."""

    subject: str
    username: str
    role: Role
    region: str
    unit_id: str | None
    jurisdiction: str            # administrative code: city (e.g. 440300), district, street, community

    @property
    def actor(self) -> str:
        """How the case file names this person (an id, never a name or phone)."""
        return f"{self.role.value}:{self.subject}"


def check_claims(who: Principal, unit_jurisdictions: Mapping[str, str], areas: Collection[str]) -> None:
    """The token's unit and jurisdiction claims must exist in the region's live pack and agree.

    The IdP is trusted for who someone is; what the claims name is checked against the region's
    own data, so a stale or mistyped directory entry cannot widen what a person sees.
    `unit_jurisdictions` maps unit ids to their jurisdiction codes, `areas` holds every code of
    the region (city, districts, streets, communities).
    """
    field = "Authorization"
    if who.unit_id is not None and who.unit_id not in unit_jurisdictions:
        raise ForbiddenError(f"the token's unit claim names no unit of region {who.region}",
                             field=field, code="unknown_unit")
    if who.role in UNIT_SCOPED:
        if who.unit_id is None:
            raise ForbiddenError(f"a {who.role.value} token must name the staff member's unit",
                                 field=field, code="no_unit")
        if unit_jurisdictions[who.unit_id] != who.jurisdiction:
            raise ForbiddenError("the token's jurisdiction claim is not that of its unit",
                                 field=field, code="jurisdiction_mismatch")
    if who.jurisdiction not in areas:
        raise ForbiddenError(f"the token's jurisdiction claim names no area of region {who.region}",
                             field=field, code="unknown_jurisdiction")


@dataclass(frozen=True)
class AppealScope:
    """Where an appeal sits, for access checks: its area and the units working on it."""

    region: str
    district_code: str | None
    street_code: str | None
    unit_ids: tuple[str, ...]     # lead and assisting units
    city_code: str = ""


def require(principal: Principal, action: str) -> None:
    """403 unless the role may take the action (the message names the action, nothing else)."""
    roles = ACTIONS.get(action)
    if roles is None:
        raise ValueError(f"unknown action {action}")
    if principal.role not in roles:
        raise ForbiddenError(f"role {principal.role.value} may not {action}", field="role", code="forbidden_action")


# Staff lists (GET /staff/appeals?queue=): who may read which, and each role's own by default.
QUEUES: dict[str, frozenset[Role]] = {
    "unit": frozenset({Role.UNIT_HANDLER, Role.UNIT_MANAGER}),
    "dispatch": frozenset({Role.DISPATCHER}),
    "key": frozenset({Role.LEADER, Role.DISPATCHER}),
    "area": frozenset({Role.LEADER, Role.DISPATCHER, Role.AUDITOR}),
}
DEFAULT_QUEUE = {Role.UNIT_HANDLER: "unit", Role.UNIT_MANAGER: "unit", Role.DISPATCHER: "dispatch",
                 Role.LEADER: "key", Role.AUDITOR: "area"}


def require_queue(principal: Principal, queue: str | None) -> str:
    """The list asked for (or the role's own); 400 for no such list, 403 for another role's."""
    queue = queue or DEFAULT_QUEUE.get(principal.role)
    if queue not in QUEUES:
        raise ValidationError("queue is one of unit, dispatch, key, area", field="queue")
    if principal.role not in QUEUES[queue]:
        raise ForbiddenError("this list is not for your role", field="queue", code="forbidden_queue")
    return queue


def may(principal: Principal, action: str) -> bool:
    """Whether the role may take the action (for views that show or hide, rather than refuse)."""
    return principal.role in ACTIONS[action]


def require_unmask(principal: Principal, confidential: bool) -> None:
    """Personal data in clear: the roles of party.unmask; a confidential appeal's, the centre only."""
    require(principal, "party.unmask")
    if confidential:
        require(principal, "party.unmask_confidential")


def covers(jurisdiction: str, area_code: str | None, city_code: str) -> bool:
    """Whether a jurisdiction contains an area: the city contains all, a district its streets, ..."""
    if not jurisdiction:
        return False
    if jurisdiction == city_code:
        return True
    return bool(area_code) and area_code.startswith(jurisdiction)


def can_see(principal: Principal, scope: AppealScope, sub_units: frozenset[str] = frozenset()) -> bool:
    if principal.region != scope.region:
        return False
    if principal.role in UNIT_SCOPED:
        mine = {principal.unit_id} | (sub_units if principal.role == Role.UNIT_MANAGER else frozenset())
        return any(u in mine for u in scope.unit_ids)
    area = scope.street_code or scope.district_code
    if principal.jurisdiction == scope.city_code:
        return True
    return covers(principal.jurisdiction, area, scope.city_code)


def require_visible(principal: Principal, scope: AppealScope, sub_units: frozenset[str] = frozenset()) -> None:
    """404, not 403, for an appeal outside one's jurisdiction: its existence is not disclosed."""
    if not can_see(principal, scope, sub_units):
        raise appeal_not_found()


# --- decisions that depend on where the person and the units sit -------------------------------

LEVEL_RANK = {"city": 0, "district": 1, "street": 2, "community": 3}


def may_decide_extension(principal: Principal, region: str, lead: Unit | None, own: Unit | None,
                         city_code: str) -> bool:
    """A dispatcher of the region, or a unit manager of a unit above the lead unit (higher level
    and covering its jurisdiction). The requesting unit never approves its own request."""
    if principal.region != region:
        return False
    if principal.role == Role.DISPATCHER:
        return True
    if principal.role != Role.UNIT_MANAGER or own is None or lead is None or own.unit_id == lead.unit_id:
        return False
    return LEVEL_RANK.get(own.level, 9) < LEVEL_RANK.get(lead.level, 9) and \
        covers(own.jurisdiction_code, lead.jurisdiction_code, city_code)


def require_extension_decider(principal: Principal, region: str, lead: Unit | None, own: Unit | None,
                              city_code: str) -> None:
    if not may_decide_extension(principal, region, lead, own, city_code):
        raise ForbiddenError("only a dispatcher or a manager of a unit above may decide extensions",
                             field="role", code="not_approver")


def require_in_jurisdiction(principal: Principal, region: str, area_code: str | None, city_code: str) -> None:
    """Leaders act on appeals in their own jurisdiction; as for visibility, an appeal outside it
    is not disclosed (404)."""
    if principal.region != region or not (principal.jurisdiction == city_code
                                          or covers(principal.jurisdiction, area_code, city_code)):
        raise appeal_not_found()


def require_assignable(principal: Principal, unit: Unit, city_code: str) -> None:
    """The level above assigns downward only to a unit inside its own jurisdiction."""
    if principal.jurisdiction != city_code and not unit.jurisdiction_code.startswith(principal.jurisdiction):
        raise ValidationError("that unit is outside your jurisdiction", field="unit_id")
