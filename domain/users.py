"""User accounts of the web tier: argon2 password hashes, roles, activation, and the login trail.

No Flask here: the web tier (dashboard/auth.py) and the command line (dashboard/users_cli.py) call this.
Logins and failed logins are appended to the event log (`login`, `login_failed`), and so are the
changes that end an account's sessions (`logout`, `user_disabled`, `password_changed`, `user_role_changed`):
each bumps `users.session_version`, which the web tier checks on every request.
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
from domain.models import Agency, Event, LoginThrottle, User

ROLES = ("admin", "operator", "supervisor", "agency_officer", "executive", "kiosk")
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024
LOCK_AFTER = 5  # failed logins of one account from one address
ACCOUNT_SLOW_AFTER = 20  # failed logins of one account from addresses it never logged in from, together
LOCK_FOR = timedelta(minutes=15)
FAMILIAR_FOR = timedelta(days=90)  # an address the account logged in from stays familiar this long
UNFAMILIAR = "*"  # LoginThrottle.source of the row counting unfamiliar addresses together (its
# locked_until: until when the account is slowed, never locked)

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
    session_version: int = 0


def _account(user: User) -> Account:
    return Account(user.id, user.username, user.display_name, user.role, user.agency_code, user.active,
                   user.last_login_at, user.session_version or 0)


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
        if not MIN_PASSWORD <= len(password or "") <= MAX_PASSWORD:
            raise ValidationError("password", f"must have {MIN_PASSWORD} to {MAX_PASSWORD} characters")
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
        """Enable or disable an account; disabling ends its sessions at once."""
        with self.sessions.begin() as s:
            user = self._user(s, username)
            user.active = active
            if not active:
                user.session_version = (user.session_version or 0) + 1
            self._event(s, "user_enabled" if active else "user_disabled", user.username, user.role)
            return _account(user)

    def set_password(self, username: str, password: str) -> None:
        """A new password; every session of the account ends."""
        if not MIN_PASSWORD <= len(password or "") <= MAX_PASSWORD:
            raise ValidationError("password", f"must have {MIN_PASSWORD} to {MAX_PASSWORD} characters")
        with self.sessions.begin() as s:
            user = self._user(s, username)
            user.password_hash = _hasher.hash(password)
            user.session_version = (user.session_version or 0) + 1
            self._event(s, "password_changed", user.username, user.role)

    def set_role(self, username: str, role: str, *, agency_code: str | None = None) -> Account:
        """Another role (and agency for officers); every session of the account ends."""
        if role not in ROLES:
            raise ValidationError("role", f"unknown role {role!r} (one of: {', '.join(ROLES)})")
        agency_code = (agency_code or "").strip().upper() or None
        if role == "agency_officer" and not agency_code:
            raise ValidationError("agency", "an agency officer is bound to one agency (--agency CODE)")
        if role != "agency_officer" and agency_code:
            raise ValidationError("agency", "only agency officers are bound to an agency")
        with self.sessions.begin() as s:
            if agency_code and s.get(Agency, agency_code) is None:
                raise ValidationError("agency", f"unknown agency code {agency_code!r}")
            user = self._user(s, username)
            before = {"role": user.role, "agency": user.agency_code}
            user.role, user.agency_code = role, agency_code
            user.session_version = (user.session_version or 0) + 1
            self._event(s, "user_role_changed", user.username, "admin", after={"role": role, "agency": agency_code},
                        before=before)
            return _account(user)

    def end_sessions(self, username: str, reason: str = "logout") -> None:
        """End every session of the account (logout ends them on every screen, not only this one)."""
        with self.sessions.begin() as s:
            user = s.scalar(select(User).where(User.username == (username or "").strip().lower()))
            if user is None:
                return
            user.session_version = (user.session_version or 0) + 1
            self._event(s, "logout", user.username, user.role, reason=reason)

    def session_version(self, user_id: int) -> int | None:
        """The account's current session version, None when it cannot log in (missing or disabled)."""
        with self.sessions() as s:
            row = s.execute(select(User.session_version, User.active).where(User.id == user_id)).first()
        return row.session_version if row is not None and row.active else None

    def authenticate(self, username: str, password: str, *, source: str | None = None) -> Account | None:
        """The account when the name and password match an active user not locked out for `source`
        (the client address); every attempt is in the event log.

        Failures are counted per account and address: LOCK_AFTER in a row from one address lock the
        account for that address only (LOCK_FOR), so an attacker elsewhere cannot lock a real operator
        out (the web tier also throttles each address across accounts, dashboard/auth.py). Failures
        from addresses the account never logged in from (in FAMILIAR_FOR) also count together, and
        that account-wide count only slows, never locks: past ACCOUNT_SLOW_AFTER, for LOCK_FOR, an
        unfamiliar address that has already failed on the account may not try again (one guess per
        address instead of LOCK_AFTER), while an address that has not failed is always heard: the
        right password from it logs in.
        Raises ValidationError for malformed input (nothing is written then)."""
        username, password = check_login_input(username, password)
        source = (source or "-")[:64]
        now = self.clock()
        with self.sessions.begin() as s:
            user = s.scalar(select(User).where(User.username == username).with_for_update()) if username else None
            details = {"username": username, "source": source}
            if user is None:
                _verify(_DUMMY_HASH, password)
                self._event(s, "login_failed", username or "-", "anonymous", after=details, reason="unknown user")
                return None
            pair = self._throttle(s, username, source, now)
            familiar = pair.last_success_at is not None and pair.last_success_at > now - FAMILIAR_FOR
            strangers = None if familiar else self._throttle(s, username, UNFAMILIAR, now)
            if pair.locked_until is not None and pair.locked_until > now:
                self._event(s, "login_failed", username, user.role, after=details, reason="locked")
                return None
            slowed = strangers is not None and strangers.locked_until is not None and strangers.locked_until > now
            if slowed and _failed_lately(pair, now):  # slowed: this address had its guess
                self._event(s, "login_failed", username, user.role, after=details, reason="slowed")
                return None
            ok = _verify(user.password_hash, password)
            if not (ok and user.active):
                reason = "disabled" if ok else "bad password"
                if not ok:
                    if _count_failure(pair, LOCK_AFTER, now):
                        details["locked_until"] = pair.locked_until.isoformat()
                    if strangers is not None and not slowed and _count_failure(strangers, ACCOUNT_SLOW_AFTER, now):
                        details["slowed_until"] = strangers.locked_until.isoformat()
                self._event(s, "login_failed", username, user.role, after=details, reason=reason)
                return None
            pair.failures, pair.first_failure_at, pair.locked_until, pair.last_success_at = 0, None, None, now
            user.last_login_at = now
            if _hasher.check_needs_rehash(user.password_hash):
                user.password_hash = _hasher.hash(password)
            self._event(s, "login", user.username, user.role, after=details)
            return _account(user)

    def _throttle(self, s: Session, username: str, source: str, now: datetime) -> LoginThrottle:
        row = s.get(LoginThrottle, (username, source))
        if row is None:
            row = LoginThrottle(username=username, source=source, failures=0, updated_at=now)
            s.add(row)
        elif row.locked_until is not None and row.locked_until <= now:  # a lock that ended starts afresh
            row.failures, row.first_failure_at, row.locked_until = 0, None, None
        row.updated_at = now
        return row

    def _user(self, s: Session, username: str) -> User:
        user = s.scalar(select(User).where(User.username == (username or "").strip().lower()))
        if user is None:
            raise ValidationError("username", f"no user {username!r}")
        return user

    def record_logout(self, username: str, role: str, reason: str = "logout") -> None:
        """A session that ended by itself (idle timeout): logged, the account's other sessions go on."""
        with self.sessions.begin() as s:
            self._event(s, "logout", username, role, reason=reason)

    def _event(self, s: Session, type_: str, actor: str, role: str, *, after: dict | None = None,
               before: dict | None = None, reason: str | None = None) -> None:
        s.add(Event(at=self.clock(), report_id=None, citizen_id=None, actor=actor[:64], actor_role=role[:24],
                    type=type_, before=before, after=after, reason=reason))


def check_login_input(username, password) -> tuple[str, str]:
    """The login form's fields, or ValidationError naming the field: text of bounded length without
    control characters (a megabyte "password" would cost the server an argon2 hash of it)."""
    for field, value, limit in (("username", username, 64), ("password", password, MAX_PASSWORD)):
        if not isinstance(value, str) or not value:
            raise ValidationError(field, "is required")
        if len(value) > limit:
            raise ValidationError(field, f"is longer than {limit} characters")
        if any(ord(c) < 32 or ord(c) == 127 or c == "\ufffd" for c in value):
            raise ValidationError(field, "contains control characters or bytes that are not UTF-8")
    username = username.strip().lower()
    if not USERNAME.match(username):  # no account can have this name: not worth an event
        raise ValidationError("username", "2-64 characters: lower-case letters, digits, '.', '_' or '-'")
    return username, password


def _verify(hash_: str, password: str) -> bool:
    try:
        return _hasher.verify(hash_, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _failed_lately(row: LoginThrottle, now: datetime) -> bool:
    """Whether this account and address had a failure within LOCK_FOR."""
    return bool(row.failures) and row.first_failure_at is not None and row.first_failure_at > now - LOCK_FOR


def _count_failure(row: LoginThrottle, limit: int, now: datetime) -> bool:
    """One more failure on `row`; True when it locks. Failures older than LOCK_FOR are forgotten."""
    if row.first_failure_at is None or row.first_failure_at <= now - LOCK_FOR:
        row.failures, row.first_failure_at = 0, now
    row.failures += 1
    if row.failures < limit:
        return False
    row.locked_until, row.failures, row.first_failure_at = now + LOCK_FOR, 0, None
    return True
