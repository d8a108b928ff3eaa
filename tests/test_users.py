"""User accounts: argon2 hashes, roles, disabling, and the login trail in the event log."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from domain.lifecycle import ValidationError
from domain.models import Event, User
from domain.users import UserService


@pytest.fixture
def users(services):
    return UserService(services.sessions, services.clock)


def test_password_is_stored_as_an_argon2_hash_and_logins_are_logged(users, services):
    users.add("ani", "a long password", "operator")
    with services.sessions() as s:
        stored = s.scalar(select(User.password_hash).where(User.username == "ani"))
    assert stored.startswith("$argon2id$") and "a long password" not in stored
    assert users.authenticate("ani", "a long password").role == "operator"
    assert users.authenticate("ani", "wrong password") is None
    assert users.authenticate("nobody", "a long password") is None
    with services.sessions() as s:
        events = [(e.type, e.actor, e.reason) for e in s.scalars(select(Event).order_by(Event.id))]
    assert ("login", "ani", None) in events
    assert ("login_failed", "ani", "bad password") in events
    assert ("login_failed", "nobody", "unknown user") in events


def test_a_disabled_account_cannot_log_in(users):
    users.add("budi", "a long password", "supervisor")
    users.set_active("budi", False)
    assert users.authenticate("budi", "a long password") is None
    users.set_active("budi", True)
    assert users.authenticate("budi", "a long password") is not None


@pytest.mark.parametrize("name,password,role,agency,field", [
    ("x", "a long password", "operator", None, "username"),
    ("Bad Name!", "a long password", "operator", None, "username"),
    ("cici", "short", "operator", None, "password"),
    ("cici", "a long password", "wizard", None, "role"),
    ("cici", "a long password", "agency_officer", None, "agency"),
    ("cici", "a long password", "agency_officer", "NOPE", "agency"),
    ("cici", "a long password", "operator", "DLH", "agency"),
])
def test_bad_accounts_are_refused_with_the_field_named(users, name, password, role, agency, field):
    with pytest.raises(ValidationError) as err:
        users.add(name, password, role, agency_code=agency)
    assert err.value.field == field
    assert users.list() == []


def test_duplicate_username_is_refused(users):
    users.add("dedi", "a long password", "agency_officer", agency_code="DLH")
    with pytest.raises(ValidationError):
        users.add("DEDI", "another long one", "operator")


def test_users_command_line(settings, monkeypatch):
    from dashboard.users_cli import users_cli

    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    runner = CliRunner()
    added = runner.invoke(users_cli, ["add", "eko", "--role", "agency_officer", "--agency", "PUPR"],
                          env={"NEW_USER_PASSWORD": "a long password"})
    assert added.exit_code == 0, added.output
    listed = runner.invoke(users_cli, ["list"])
    assert "eko" in listed.output and "PUPR" in listed.output and "active" in listed.output
    assert runner.invoke(users_cli, ["disable", "eko"]).exit_code == 0
    assert "DISABLED" in runner.invoke(users_cli, ["list"]).output
    bad = runner.invoke(users_cli, ["add", "fa", "--role", "king"], env={"NEW_USER_PASSWORD": "a long password"})
    assert bad.exit_code == 1 and "role" in bad.output


def test_five_wrong_passwords_lock_the_account_for_fifteen_minutes(users, services, clock):
    from domain.users import LOCK_AFTER, LOCK_FOR

    users.add("budi", "a long password", "operator")
    for _ in range(LOCK_AFTER - 1):
        assert users.authenticate("budi", "guess") is None
    assert users.authenticate("budi", "a long password") is not None  # a success resets the count
    for _ in range(LOCK_AFTER):
        assert users.authenticate("budi", "guess") is None
    assert users.authenticate("budi", "a long password") is None  # locked: even the right password
    clock.advance(seconds=LOCK_FOR.total_seconds() - 1)
    assert users.authenticate("budi", "a long password") is None
    clock.advance(seconds=2)
    assert users.authenticate("budi", "a long password") is not None
    with services.sessions() as s:
        reasons = [e.reason for e in s.scalars(select(Event).where(Event.type == "login_failed").order_by(Event.id))]
        locks = [e.after.get("locked_until") for e in s.scalars(select(Event).where(Event.type == "login_failed"))]
    assert reasons.count("locked") == 2 and sum(1 for x in locks if x) == 1
    assert users.authenticate("nobody", "guess") is None  # unknown names lock nothing and do not fail


def test_every_change_that_must_end_the_sessions_moves_the_session_version(users, services):
    """Logout (end_sessions), disabling, a new password and a new role each bump users.session_version,
    which the web tier compares on every request (tests/test_web_sessions.py does it over HTTP)."""
    account = users.add("sari", "a long password", "operator")
    versions = [users.session_version(account.id)]
    users.end_sessions("sari")
    versions.append(users.session_version(account.id))
    users.set_password("sari", "another long password")
    versions.append(users.session_version(account.id))
    users.set_role("sari", "agency_officer", agency_code="DLH")
    versions.append(users.session_version(account.id))
    assert versions == [0, 1, 2, 3]
    assert users.authenticate("sari", "another long password").session_version == 3
    users.set_active("sari", False)
    assert users.session_version(account.id) is None  # a disabled account has no valid session at all
    with services.sessions() as s:
        kinds = [e.type for e in s.scalars(select(Event).where(Event.actor.in_(("sari", "admin"))).order_by(Event.id))]
    assert kinds.count("logout") == 1 and "password_changed" in kinds and "user_role_changed" in kinds
    with pytest.raises(ValidationError):
        users.set_role("sari", "agency_officer")  # an officer needs an agency


@pytest.mark.parametrize("username,password,field", [
    (None, "a long password", "username"), ("", "x", "username"), ("budi", None, "password"),
    ("a" * 65, "a long password", "username"), ("budi", "p" * 1025, "password"),
    ("bu\x00di", "a long password", "username"), ("budi", "pass\nword", "password"),
    ("%FF%FEbudi", "a long password", "username"), ("budi\ufffd", "a long password", "username"),
])
def test_malformed_login_input_is_refused_before_anything_is_written(users, services, username, password, field):
    users.add("budi", "a long password", "operator")
    with services.sessions() as s:
        before = s.scalar(select(func.count()).select_from(Event))
    with pytest.raises(ValidationError) as err:
        users.authenticate(username, password, source="192.0.2.1")
    assert err.value.field == field
    with services.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Event)) == before


def test_users_role_command_changes_the_role_and_ends_the_sessions(settings, monkeypatch):
    from dashboard.users_cli import users_cli

    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    runner = CliRunner()
    assert runner.invoke(users_cli, ["add", "gita", "--role", "operator"],
                         env={"NEW_USER_PASSWORD": "a long password"}).exit_code == 0
    moved = runner.invoke(users_cli, ["role", "gita", "--role", "agency_officer", "--agency", "DLH"])
    assert moved.exit_code == 0 and "agency_officer of DLH" in moved.output
    listed = runner.invoke(users_cli, ["list", "--json"]).output
    assert '"role": "agency_officer"' in listed and '"agency": "DLH"' in listed
    bad = runner.invoke(users_cli, ["role", "gita", "--role", "wizard"])
    assert bad.exit_code == 1 and "role" in bad.output


def test_a_lock_holds_for_the_address_that_caused_it_only(users, clock):
    from domain.users import LOCK_AFTER, LOCK_FOR

    users.add("wati", "a long password", "supervisor")
    for _ in range(LOCK_AFTER):
        assert users.authenticate("wati", "guess", source="203.0.113.5") is None
    assert users.authenticate("wati", "a long password", source="203.0.113.5") is None
    assert users.authenticate("wati", "a long password", source="10.20.0.7") is not None
    clock.advance(seconds=LOCK_FOR.total_seconds() + 1)
    assert users.authenticate("wati", "a long password", source="203.0.113.5") is not None
