"""User accounts: argon2 hashes, roles, disabling, and the login trail in the event log."""
from __future__ import annotations

import pytest
from sqlalchemy import select
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
