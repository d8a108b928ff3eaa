"""`python app.py users add|list|disable|enable|password|role`: manage web accounts (argon2 hashes).

Disabling an account, a new password and a new role end every session of the account at once."""
from __future__ import annotations

import json
from typing import Optional

import typer

from domain.lifecycle import DomainError
from domain.users import ROLES, UserService

users_cli = typer.Typer(add_completion=False, no_args_is_help=True, help="Manage web accounts.")


def _service() -> UserService:
    from app import Services
    from domain.config import Settings

    services = Services(Settings.from_env())
    services.init_db()
    return UserService(services.sessions, services.clock)


def _fail(message: str):
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


@users_cli.command("add")
def add(username: str, role: str = typer.Option(..., help=f"One of: {', '.join(ROLES)}"),
        agency: Optional[str] = typer.Option(None, help="Agency code (agency officers only)"),
        name: Optional[str] = typer.Option(None, help="Display name"),
        password: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True,
                                     envvar="NEW_USER_PASSWORD")):
    """Add an account (the password is prompted, or read from NEW_USER_PASSWORD)."""
    try:
        account = _service().add(username, password, role, agency_code=agency, display_name=name)
    except DomainError as exc:
        _fail(str(exc))
    typer.echo(f"added {account.username} ({account.role}{', ' + account.agency_code if account.agency_code else ''})")


@users_cli.command("list")
def list_users(as_json: bool = typer.Option(False, "--json")):
    """List accounts."""
    for a in _service().list():
        if as_json:
            typer.echo(json.dumps({"username": a.username, "role": a.role, "agency": a.agency_code,
                                   "active": a.active, "last_login_at": a.last_login_at.isoformat()
                                   if a.last_login_at else None}))
        else:
            typer.echo(f"{a.username:<20} {a.role:<15} {a.agency_code or '-':<14} "
                       f"{'active' if a.active else 'DISABLED'}")


@users_cli.command("disable")
def disable(username: str):
    """Disable an account (its sessions end at once)."""
    try:
        _service().set_active(username, False)
    except DomainError as exc:
        _fail(str(exc))
    typer.echo(f"disabled {username}")


@users_cli.command("enable")
def enable(username: str):
    try:
        _service().set_active(username, True)
    except DomainError as exc:
        _fail(str(exc))
    typer.echo(f"enabled {username}")


@users_cli.command("password")
def password(username: str, password: str = typer.Option(..., prompt=True, hide_input=True,
                                                          confirmation_prompt=True, envvar="NEW_USER_PASSWORD")):
    try:
        _service().set_password(username, password)
    except DomainError as exc:
        _fail(str(exc))
    typer.echo(f"password of {username} changed (its sessions ended)")


@users_cli.command("role")
def role(username: str, role: str = typer.Option(..., help=f"One of: {', '.join(ROLES)}"),
         agency: Optional[str] = typer.Option(None, help="Agency code (agency officers only)")):
    """Give an account another role (its sessions end at once)."""
    try:
        account = _service().set_role(username, role, agency_code=agency)
    except DomainError as exc:
        _fail(str(exc))
    typer.echo(f"{account.username} is now {account.role}{' of ' + account.agency_code if account.agency_code else ''}")
