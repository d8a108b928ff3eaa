"""User accounts of the web tier: argon2 password hashes, roles, activation, and the login trail.

No Flask here: the web tier (dashboard/auth.py) and the command line (dashboard/users_cli.py) call this.
Logins and failed logins are appended to the event log (`login`, `login_failed`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from domain.clock import utcnow
from domain.lifecycle import ValidationError
from domain.models import Agency, Event, User

ROLES = ("admin", "operator", "supervisor", "agency_officer", "executive", "kiosk")
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD = 10
LOCK_AFTER = 5  # failed logins in a row
LOCK_FOR = timedelta(minutes=15)

_hasher = PasswordHasher()
# Verifying against this keeps the time of a login with an unknown name close to a wrong password's.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


@dataclass(frozen=True)
class Account:
    """What the web tier keeps of a user (never the hash)."""

    id: int
    username: str
    display_name: str | None
    role: str
    agency_code: str | None
    active: bool
    last_login_at: datetime | None


def _account(user: User) -> Account:
    return Account(user.id, user.username, user.display_name, user.role, user.agency_code, user.active,
                   user.last_login_at)


class UserService:
    def __init__(self, sessions: sessionmaker[Session], clock: Callable[[], datetime] = utcnow):
        self.sessions = sessions
        self.clock = clock

    def add(self, username: str, password: str, role: str, *, agency_code: str | None = None,
            display_name: str | None = None) -> Account:
        username = (username or "").strip().lower()
        if not USERNAME.match(username):
            raise ValidationError("username", "2-64 characters: lower-case letters, digits, '.', '_' or '-'")
        if role not in ROLES:
            raise ValidationError("role", f"unknown role {role!r} (one of: {', '.join(ROLES)})")
        if len(password or "") < MIN_PASSWORD:
            raise ValidationError("password", f"must have at least {MIN_PASSWORD} characters")
        agency_code = (agency_code or "").strip().upper() or None
        if role == "agency_officer" and not agency_code:
            raise ValidationError("agency", "an agency officer is bound to one agency (--agency CODE)")
        if role != "agency_officer" and agency_code:
            raise ValidationError("agency", "only agency officers are bound to an agency")
        now = self.clock()
        with self.sessions.begin() as s:
            if agency_code and s.get(Agency, agency_code) is None:
                raise ValidationError("agency", f"unknown agency code {agency_code!r}")
            if s.scalar(select(User.id).where(User.username == username)) is not None:
                raise ValidationError("username", f"{username!r} already exists")
            user = User(username=username, display_name=display_name, password_hash=_hasher.hash(password),
                        role=role, agency_code=agency_code, active=True, created_at=now)
            s.add(user)
            s.flush()
            self._event(s, "user_added", username, "admin", after={"username": username, "role": role,
                                                                   "agency": agency_code})
            return _account(user)

    def list(self) -> list[Account]:
        with self.sessions() as s:
            return [_account(u) for u in s.scalars(select(User).order_by(User.username))]

    def get(self, user_id: int) -> Account | None:
        with self.sessions() as s:
            user = s.get(User, user_id)
            return _account(user) if user is not None else None

    def set_active(self, username: str, active: bool) -> Account:
        with self.sessions.begin() as s:
            user = s.scalar(select(User).where(User.username == (username or "").strip().lower()))
            if user is None:
                raise ValidationError("username", f"no user {username!r}")
            user.active = active
            self._event(s, "user_enabled" if active else "user_disabled", user.username, user.role)
            return _account(user)

    def set_password(self, username: str, password: str) -> None:
        if len(password or "") < MIN_PASSWORD:
            raise ValidationError("password", f"must have at least {MIN_PASSWORD} characters")
        with self.sessions.begin() as s:
            user = s.scalar(select(User).where(User.username == (username or "").strip().lower()))
            if user is None:
                raise ValidationError("username", f"no user {username!r}")
            user.password_hash = _hasher.hash(password)

    def authenticate(self, username: str, password: str, *, source: str | None = None) -> Account | None:
        """The account when the name and password match an active, unlocked user; every attempt is logged.
        LOCK_AFTER failed attempts in a row lock the account for LOCK_FOR (a correct password included),
        so a password cannot be guessed at speed; the lock and its end are in the event log."""
        username = (username or "").strip().lower()[:64]
        now = self.clock()
        with self.sessions.begin() as s:
            user = s.scalar(select(User).where(User.username == username).with_for_update()) if username else None
            ok = False
            try:
                ok = _hasher.verify(user.password_hash if user else _DUMMY_HASH, password or "")
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                ok = False
            details = {"username": username, "source": source}
            locked = user is not None and user.locked_until is not None and user.locked_until > now
            if locked or not (ok and user is not None and user.active):
                reason = ("unknown user" if user is None else "locked" if locked
                          else "disabled" if not user.active else "bad password")
                if user is not None and not locked and reason == "bad password":
                    user.failed_logins = (user.failed_logins or 0) + 1
                    if user.failed_logins >= LOCK_AFTER:
                        user.locked_until, user.failed_logins = now + LOCK_FOR, 0
                        details["locked_until"] = user.locked_until.isoformat()
                self._event(s, "login_failed", username or "-", user.role if user else "anonymous",
                            after=details, reason=reason)
                return None
            user.last_login_at, user.failed_logins, user.locked_until = now, 0, None
            if _hasher.check_needs_rehash(user.password_hash):
                user.password_hash = _hasher.hash(password)
            self._event(s, "login", user.username, user.role, after=details)
            return _account(user)

    def record_logout(self, username: str, role: str, reason: str = "logout") -> None:
        with self.sessions.begin() as s:
            self._event(s, "logout", username, role, reason=reason)

    def _event(self, s: Session, type_: str, actor: str, role: str, *, after: dict | None = None,
               reason: str | None = None) -> None:
        s.add(Event(at=self.clock(), report_id=None, citizen_id=None, actor=actor[:64], actor_role=role[:24],
                    type=type_, before=None, after=after, reason=reason))
