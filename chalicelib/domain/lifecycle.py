"""An appeal's lifecycle: its statuses, the one transition table, what the public sees of each
status, and the case-file entry every change appends."""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class Status(str, enum.Enum):
    """Lifecycle of an appeal; every change is a case-file event."""

    RECEIVED = "received"            # taken in, waiting for de-duplication
    JOINED = "joined"                # a duplicate joined to its master (F-DD-1)
    PENDING_DISPATCH = "pending_dispatch"  # in the dispatcher's manual queue
    DISPATCHED = "dispatched"        # sent to a unit, not yet signed for
    SIGNED = "signed"                # 签收
    CONTACTED = "contacted"          # citizen contacted
    REPLIED = "replied"              # 办结反馈, waiting for the citizen's rating
    REDO = "redo"                    # 重办 after a bad rating
    SUPERVISED = "supervised"        # 专项督办
    CLOSED = "closed"                # rated or closed by rule; archived


# Statuses the citizen's channel hears about (F-IN-3) and the public view shows.
CHANNEL_STATUSES = {"accepted", "dispatched", "replied", "closed"}

# The one table of status changes, exactly what the methods can do (each row names them).
TRANSITIONS: dict[Status, set[Status]] = {
    # join_master (de-duplication, merge), queue_for_dispatcher (dispatch stage), dispatch_to
    Status.RECEIVED: {Status.JOINED, Status.PENDING_DISPATCH, Status.DISPATCHED},
    Status.JOINED: {Status.PENDING_DISPATCH},          # split_from_master
    # dispatch_to; queue_for_dispatcher again (the dispatch stage after a split); a merge
    Status.PENDING_DISPATCH: {Status.DISPATCHED, Status.PENDING_DISPATCH, Status.JOINED},
    # sign_for; return_by_unit / escalate; dispatch_to again; a merge
    Status.DISPATCHED: {Status.SIGNED, Status.PENDING_DISPATCH, Status.DISPATCHED, Status.JOINED},
    # A reply needs a recorded contact (F-HD-1: sign, contact, handle, reply), reached or not.
    Status.SIGNED: {Status.CONTACTED, Status.PENDING_DISPATCH, Status.DISPATCHED},
    Status.CONTACTED: {Status.REPLIED},                 # reply_to_citizen
    # conclude after a rating or a reached return visit (record_return_visit, domain.return_visit)
    Status.REPLIED: {Status.CLOSED, Status.REDO, Status.SUPERVISED},
    Status.REDO: {Status.SIGNED},                       # sign_for: the unit takes it back
    Status.SUPERVISED: {Status.SIGNED},
    # reopen_after_visit (domain.return_visit): a return visit found it unresolved or unsatisfying
    Status.CLOSED: {Status.REDO, Status.SUPERVISED},
}

# What a channel, the citizen and the public see of each status (F-IN-3, F-AR-2).
PUBLIC_STATUS: dict[Status, str] = {
    Status.RECEIVED: "accepted", Status.JOINED: "accepted", Status.PENDING_DISPATCH: "accepted",
    Status.DISPATCHED: "dispatched", Status.SIGNED: "dispatched", Status.CONTACTED: "dispatched",
    Status.REPLIED: "replied",
    Status.REDO: "redo", Status.SUPERVISED: "redo",  # sent back to the unit after an unsatisfied rating (F-EV-2)
    Status.CLOSED: "closed",
}


@dataclass(frozen=True)
class CaseEvent:
    """One entry of the case file (卷宗, F-AR-1): who did what, when, and why."""

    seq: int
    at: datetime
    kind: str
    actor: str
    data: dict[str, Any] = field(default_factory=dict)
    public: bool = True  # shown on the citizen's progress view (全流程可视)
