"""The report lifecycle as an explicit state machine, with who may take each transition.

    NEW -> VERIFIED -> ASSIGNED -> ACCEPTED -> IN_PROGRESS -> RESOLVED -> CLOSED
    plus REJECTED (with a reason), MERGED (into another report), WAITING_CITIZEN (pauses the
    resolve clock) and reopening (RESOLVED -> ASSIGNED when the citizen disputes within 72 h).

Pure Python: no database, no framework.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum


class DomainError(Exception):
    """A request the domain refuses; the message is fit to show to the person who asked."""


class ValidationError(DomainError):
    """Bad input; `field` names what is wrong."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


class NotFound(DomainError):
    pass


TICKET_SHAPE = re.compile(r"[A-Z0-9][A-Z0-9_\-]{0,39}")


def ticket_of(value) -> str:
    """A ticket number as typed or sent (any case, spaces around) in its stored form; NotFound for anything
    that cannot be a ticket (control characters, other symbols, too long): such input never reaches SQL."""
    ticket = value.strip().upper() if isinstance(value, str) else ""
    if not TICKET_SHAPE.fullmatch(ticket):
        raise NotFound(f"no report with ticket {str(value)[:40]!r}")
    return ticket


def report_not_found(value) -> NotFound:
    """The one answer for a ticket that names no report, and for a report the asker may not see (another
    agency's, one not forwarded yet): the same class and the same words, so nobody learns it exists."""
    ticket = value.strip().upper() if isinstance(value, str) else ""
    return NotFound(f"no report with ticket {(ticket if TICKET_SHAPE.fullmatch(ticket) else str(value)[:40])!r}")


class TransitionError(DomainError):
    pass


class Status(StrEnum):
    NEW = "NEW"
    VERIFIED = "VERIFIED"
    ASSIGNED = "ASSIGNED"
    ACCEPTED = "ACCEPTED"
    IN_PROGRESS = "IN_PROGRESS"
    WAITING_CITIZEN = "WAITING_CITIZEN"
    RESOLVED = "RESOLVED"
    CLOSED = "CLOSED"
    REJECTED = "REJECTED"
    MERGED = "MERGED"


class Kind(StrEnum):
    EMERGENCY = "EMERGENCY"
    COMPLAINT = "COMPLAINT"
    ASPIRATION = "ASPIRATION"
    INFORMATION_REQUEST = "INFORMATION_REQUEST"


class Role(StrEnum):
    OPERATOR = "operator"
    AGENCY_OFFICER = "agency_officer"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"
    SYSTEM = "system"
    CITIZEN = "citizen"


class RejectReason(StrEnum):
    SPAM = "spam"
    PRANK = "prank"
    HOAX = "hoax"
    OUTSIDE_AUTHORITY = "outside_authority"
    INCOMPLETE = "incomplete"


class Action(StrEnum):
    VERIFY = "verify"
    ASSIGN = "assign"
    ACCEPT = "accept"
    START = "start"
    RESOLVE = "resolve"
    CLOSE = "close"
    REJECT = "reject"
    MERGE = "merge"
    ASK_CITIZEN = "ask_citizen"
    CITIZEN_REPLIED = "citizen_replied"
    EXPIRE_WAIT = "expire_wait"
    REOPEN = "reopen"
    TRANSFER = "transfer"


OPEN_STATUSES = frozenset(
    {Status.NEW, Status.VERIFIED, Status.ASSIGNED, Status.ACCEPTED, Status.IN_PROGRESS, Status.WAITING_CITIZEN}
)
FINAL_STATUSES = frozenset({Status.CLOSED, Status.REJECTED, Status.MERGED})
BEFORE_ASSIGNMENT = frozenset({Status.NEW, Status.VERIFIED})  # agencies see reports once forwarded
WAIT_LIMIT = timedelta(hours=72)
REOPEN_WINDOW = timedelta(hours=72)
PING_PONG_TRANSFERS = 2  # more transfers than this flag the report for a supervisor

CONTROL_ROOM = frozenset({Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN})
AGENCY = frozenset({Role.AGENCY_OFFICER, Role.SUPERVISOR, Role.ADMIN})


@dataclass(frozen=True)
class Transition:
    action: Action
    sources: frozenset[Status]
    target: Status | None  # None: back to the status held before waiting
    roles: frozenset[Role]


_T = Transition
TRANSITIONS: dict[Action, Transition] = {
    t.action: t
    for t in [
        _T(Action.VERIFY, frozenset({Status.NEW}), Status.VERIFIED, CONTROL_ROOM | {Role.SYSTEM}),
        _T(Action.ASSIGN, frozenset({Status.VERIFIED}), Status.ASSIGNED, CONTROL_ROOM | {Role.SYSTEM}),
        _T(Action.ACCEPT, frozenset({Status.ASSIGNED}), Status.ACCEPTED, AGENCY),
        _T(Action.START, frozenset({Status.ACCEPTED}), Status.IN_PROGRESS, AGENCY),
        _T(Action.RESOLVE, frozenset({Status.ACCEPTED, Status.IN_PROGRESS}), Status.RESOLVED, AGENCY),
        _T(Action.CLOSE, frozenset({Status.RESOLVED}), Status.CLOSED, CONTROL_ROOM | {Role.SYSTEM, Role.CITIZEN}),
        _T(Action.REJECT, frozenset({Status.NEW, Status.VERIFIED}), Status.REJECTED, CONTROL_ROOM),
        _T(
            Action.MERGE,
            frozenset({Status.NEW, Status.VERIFIED, Status.ASSIGNED, Status.WAITING_CITIZEN}),
            Status.MERGED,
            CONTROL_ROOM | {Role.SYSTEM},
        ),
        _T(
            Action.ASK_CITIZEN,
            frozenset({Status.NEW, Status.VERIFIED, Status.ACCEPTED, Status.IN_PROGRESS}),
            Status.WAITING_CITIZEN,
            CONTROL_ROOM | {Role.AGENCY_OFFICER},
        ),
        _T(
            Action.CITIZEN_REPLIED,
            frozenset({Status.WAITING_CITIZEN}),
            None,
            CONTROL_ROOM | {Role.SYSTEM, Role.CITIZEN, Role.AGENCY_OFFICER},
        ),
        _T(Action.EXPIRE_WAIT, frozenset({Status.WAITING_CITIZEN}), Status.CLOSED, frozenset({Role.SYSTEM})),
        _T(Action.REOPEN, frozenset({Status.RESOLVED, Status.CLOSED}), Status.ASSIGNED, CONTROL_ROOM | {Role.SYSTEM, Role.CITIZEN}),
        _T(
            Action.TRANSFER,
            frozenset({Status.ASSIGNED, Status.ACCEPTED, Status.IN_PROGRESS}),
            Status.ASSIGNED,
            CONTROL_ROOM | {Role.AGENCY_OFFICER},
        ),
    ]
}


def check_transition(action: Action | str, status: Status | str, role: Role | str) -> Transition:
    """Return the transition if `role` may take `action` from `status`, else raise TransitionError."""
    try:
        action, status, role = Action(action), Status(status), Role(role)
    except ValueError as exc:
        raise TransitionError(str(exc)) from exc
    transition = TRANSITIONS[action]
    if status not in transition.sources:
        allowed = ", ".join(sorted(transition.sources))
        raise TransitionError(f"cannot {action.value} a report in status {status.value} (allowed from: {allowed})")
    if role not in transition.roles:
        raise TransitionError(f"role {role.value} may not {action.value} a report")
    if role == Role.AGENCY_OFFICER and status in BEFORE_ASSIGNMENT:
        raise TransitionError(f"role {role.value} may not {action.value} a report before it is assigned")
    return transition


def allowed_actions(status: Status | str, role: Role | str) -> list[Action]:
    """The actions `role` may take on a report in `status` (for user interfaces)."""
    status, role = Status(status), Role(role)
    if role == Role.AGENCY_OFFICER and status in BEFORE_ASSIGNMENT:
        return []
    return [a for a, t in TRANSITIONS.items() if status in t.sources and role in t.roles]
