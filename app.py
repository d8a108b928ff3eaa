"""Composition root and command line of the control-room platform.

    python app.py                  serve the web app and run the scheduler in one process
    python app.py serve --demo     the same, with the demo feed
    python app.py worker           the scheduler alone (production: next to `gunicorn app:server`)
    python app.py init-db          migrate and seed
    python app.py submit FILE|-    store one report (JSON) and print it
    python app.py show TICKET      print one report
    python app.py list --json      one JSON line per report

Nothing connects to anything at import time, except that importing `server` (gunicorn app:server)
builds the web app from the environment.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Callable, Optional

import typer

from domain.actors import SYSTEM
from domain.clock import utcnow
from domain.config import Settings
from domain.db import make_engine, migrate, read_session_factory, session_factory
from domain.intake import IncomingReport, trusted_receipt
from domain.lifecycle import DomainError
from domain.queue import QueueService
from domain.seed import seed
from domain.sla import SlaBook
from domain.views import report_to_dict
from domain.workflow import Workflow


@dataclass
class Services:
    """Everything the web tier, the worker and the command line share, wired once."""

    settings: Settings
    clock: Callable[[], datetime] = utcnow

    @cached_property
    def engine(self):
        return make_engine(self.settings.database_url)

    @cached_property
    def sessions(self):
        return session_factory(self.engine)

    @cached_property
    def reads(self):
        """Sessions that only read (the dashboards): see domain.db.read_session_factory."""
        return read_session_factory(self.engine)

    @cached_property
    def sla(self) -> SlaBook:
        return SlaBook.load(self.settings.data_dir)

    @cached_property
    def queue(self) -> QueueService:
        queue = QueueService(self.sessions, self.sla, clock=self.clock, ticket_prefix=self.settings.ticket_prefix,
                             classifier=_load_classifier(self.settings, self.engine))
        queue.listeners.extend(_plugin_listeners(self))
        return queue

    @cached_property
    def workflow(self) -> Workflow:
        return Workflow(self.queue)

    def init_db(self) -> dict[str, int]:
        migrate(self.engine)
        with self.sessions.begin() as s:
            added = seed(s, self.settings.data_dir)
        self.queue.refresh_reference()
        return added


def _load_classifier(settings: Settings, engine=None):
    """The routing engine when it is installed (routing/), else None: reports then wait in triage.
    Coordinates resolve by the kelurahan boundaries imported with `geo import` (areas.boundary_geojson),
    else by the default ones shipped in data/geo (Router.load merges them, the imported winning); the
    learned model is the database's active version, else the shipped one (routing/registry.py)."""
    try:
        from routing.adapter import RouterClassifier
        from routing.engine import Router
        from routing.geo import polygons_from_db
    except ImportError:
        return None
    polygons = polygons_from_db(engine) if engine is not None else None
    router = Router.load(settings.data_dir, polygons or None)
    try:
        from routing.registry import attach
    except ImportError:  # scikit-learn missing: the rules alone
        return RouterClassifier(router)
    attach(router, session_factory(engine) if engine is not None else None)
    return RouterClassifier(router)


def _plugin_listeners(services: Services) -> list:
    """Queue listeners contributed by routing (duplicates, incident alerts) and the channels (outbox
    messages to citizens), run inside the transaction of the change that causes them."""
    found = []
    for module_name in ("routing.listeners", "ingest.notify"):
        try:
            module = __import__(module_name, fromlist=["listeners"])
        except ImportError:
            continue
        found.extend(module.listeners(services))
    return found


def create_server(services: Services | None = None):
    """Build the Flask server: the Dash pages plus the channels' webhooks and API."""
    from dashboard import create_dash

    services = services or Services(Settings.from_env())
    dash_app = create_dash(services)
    try:
        from ingest.web import register as register_webhooks
    except ImportError:
        register_webhooks = None
    if register_webhooks is not None:
        register_webhooks(dash_app.server, services)
    return dash_app.server


def _start_scheduler(services: Services, *, demo: bool, blocking: bool):
    from worker import build_scheduler

    scheduler = build_scheduler(services, demo=demo, blocking=blocking)
    scheduler.start()
    return scheduler


# ---------------------------------------------------------------- command line
cli = typer.Typer(add_completion=False, no_args_is_help=False, help="Control-room operations platform.")


def _services() -> Services:
    return Services(Settings.from_env())


def _fail(message: str, code: int = 1):
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _print_json(data) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False))


@cli.callback(invoke_without_command=True)
def main(ctx: typer.Context):
    """With no command: serve the web app and run the scheduler in one process."""
    if ctx.invoked_subcommand is None:
        serve(host="127.0.0.1", port=8050, demo=None)


@cli.command()
def serve(host: str = "127.0.0.1", port: int = 8050,
          demo: Optional[bool] = typer.Option(None, "--demo/--no-demo",
                                              help="Run the demo feed (default: when no channel is configured).")):
    """Serve the web app (waitress, dashboard/serving.py) with the scheduler in the same process (the
    embedded default). SIGTERM or Ctrl-C stops both gracefully."""
    from dashboard import serving

    services = _services()
    _require_session_key(services.settings)
    try:
        options = serving.ServerOptions.from_env(services.settings.max_request_bytes)
    except ValueError as exc:
        _fail(str(exc))
    services.init_db()
    _warm_routing(services)
    use_demo = demo if demo is not None else (services.settings.demo or not _channels_configured())
    if use_demo:
        _demo_accounts(services)
        _demo_history(services)
    serving.configure_logging()
    scheduler = _start_scheduler(services, demo=use_demo, blocking=False)
    try:
        server = create_server(services)
        typer.echo(f"Serving on http://{host}:{port}/ (demo feed: {'on' if use_demo else 'off'})", err=True)
        serving.run(server, host, port, options)
    finally:
        scheduler.shutdown(wait=True)  # the jobs finish their run; the worker lock is released


def _demo_accounts(services: Services) -> None:
    """On a fresh demo database, one account per role so every screen can be tried; the random
    passwords are printed once. Never runs when any account exists."""
    import secrets

    from domain.users import UserService

    users = UserService(services.sessions, services.clock)
    if users.list():
        return
    lines = []
    for username, role, agency in (("admin", "admin", None), ("operator", "operator", None),
                                   ("supervisor", "supervisor", None), ("dlh", "agency_officer", "DLH"),
                                   ("pupr", "agency_officer", "PUPR"), ("executive", "executive", None)):
        password = secrets.token_urlsafe(9)
        users.add(username, password, role, agency_code=agency)
        lines.append(f"  {username:<11} {password}  ({role}{' ' + agency if agency else ''})")
    typer.echo("Demo accounts (shown once; manage with `python app.py users`):\n" + "\n".join(lines), err=True)


def _demo_history(services: Services) -> None:
    """On a fresh demo database, months of history before the live feed starts (DEMO_HISTORY_DAYS, 0: none),
    with the executive panel's rollup built from it."""
    from dashboard.rollup import catch_up
    from ingest.demo_history import ensure_history

    days = services.settings.demo_history_days
    if days <= 0:
        return
    result = ensure_history(services, days=days, progress=True)
    if result is None:
        return
    catch_up(services.sessions, services.queue.clock())
    typer.echo(f"\nDemo history: {result.reports:,} reports from {result.first:%d-%m-%Y} to {result.last:%d-%m-%Y} "
               f"({result.events:,} events) in {result.seconds:.1f} s", err=True)


def _channels_configured() -> bool:
    import os

    return any(os.environ.get(v) for v in ("TWILIO_AUTH_TOKEN", "IMAP_HOST", "META_APP_SECRET", "X_BEARER_TOKEN"))


@cli.command()
def worker(demo: bool = typer.Option(False, "--demo", help="Also run the demo feed.")):
    """Run the scheduler alone: SLA sweeps, pollers, outbox delivery, housekeeping."""
    services = _services()
    services.init_db()
    _warm_routing(services)
    if demo:
        _demo_history(services)
    _start_scheduler(services, demo=demo, blocking=True)


@cli.command("init-db")
def init_db():
    """Migrate the database to the newest schema, seed the reference data, and (without SECRET_KEY)
    create the session key file once."""
    from domain import session_key

    services = _services()
    added = services.init_db()
    key_file = session_key.ensure_key_file(services.settings)
    typer.echo(f"database ready; added {json.dumps(added)}", err=True)
    _prepare_routing_model(services)
    if key_file is not None:
        typer.echo(f"session key: {key_file} (mode 0600; set SECRET_KEY in production)", err=True)


def _routing_source(services: Services):
    """The classifier's learned-model source (routing/registry.ActiveModel), or None (rules alone)."""
    router = getattr(services.queue.classifier, "router", None)
    return getattr(router, "model_source", None)


def _prepare_routing_model(services: Services) -> None:
    """init-db: train and cache the shipped routing model now (one progress line), so that the first
    `classify` and the first report after `serve` need not wait for it."""
    router = getattr(services.queue.classifier, "router", None)
    if router is None or _routing_source(services) is None:
        return
    from routing.shipped import ensure_cached

    try:
        ensure_cached(router, lambda text: typer.echo(text, err=True, nl=False))
    except Exception as exc:  # noqa: BLE001 - the platform runs on the rules alone
        typer.echo(f"\nrouting model: not available ({type(exc).__name__}: {exc}); routing by the rules alone",
                   err=True)


def _warm_routing(services: Services) -> None:
    """serve and worker: load (or train) the shipped model in the background; reports arriving first are
    routed by the rules alone, never held up."""
    source = _routing_source(services)
    if source is not None and hasattr(source, "warm"):
        source.warm()


def _require_session_key(settings: Settings) -> None:
    """Refuse to serve without a session key, in one line (domain/session_key.py)."""
    from domain import session_key

    try:
        session_key.load(settings)
    except session_key.NoSessionKey as exc:
        _fail(str(exc))


@cli.command()
def submit(file: str = typer.Argument("-", help="JSON file with one report, or - for stdin")):
    """Store one report (idempotent per channel and external_id) and print it as JSON."""
    services = _services()
    try:
        raw = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
    except OSError as exc:
        _fail(f"cannot read {file}: {exc.strerror}")
    services.init_db()
    try:
        incoming = IncomingReport.from_json(raw, max_bytes=services.settings.max_payload_bytes)
        # The operator states when the control room received it: kept (SLA clocks start there), never the future.
        incoming = trusted_receipt(incoming, services.queue.clock())
        result = services.queue.submit(incoming, SYSTEM)
    except DomainError as exc:
        _fail(str(exc))
    _print_json(_report_json(services, services.queue.get(result.report.ticket)))


def _report_json(services: Services, report) -> dict:
    """A report as the command line prints it: with the citizen's tracking link (PUBLIC_BASE_URL)."""
    return report_to_dict(report, tracking_base_url=services.settings.public_base_url)


@cli.command()
def show(ticket: str):
    """Print one report as JSON."""
    services = _services()
    services.init_db()
    try:
        _print_json(_report_json(services, services.queue.get(ticket)))
    except DomainError as exc:
        _fail(str(exc))


@cli.command("list")
def list_reports(as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
                 status: Optional[str] = None, agency: Optional[str] = None, limit: int = 100):
    """List reports, newest first."""
    services = _services()
    services.init_db()
    page = services.queue.list_reports(status=[status.upper()] if status else None, agency=agency,
                                       per_page=limit)
    for report in page.items:
        if as_json:
            _print_json(_report_json(services, report))
        else:
            typer.echo(f"{report.ticket}  {report.status:<15} {report.priority} {report.agency_code:<14} "
                       f"{report.channel:<9} {report.text[:60]!r}")


@cli.command()
def demo(count: int = typer.Option(50, help="How many demo reports to create now."),
         seed_value: int = typer.Option(7, "--seed", help="Random seed.")):
    """Fill the database with demo reports (labelled as demo) and move some through the lifecycle."""
    from ingest.demo import DemoFeed

    services = _services()
    services.init_db()
    feed = DemoFeed(services.queue, services.workflow, seed=seed_value)
    created = feed.backfill(count)
    typer.echo(f"created {created} demo reports", err=True)


def _register_plugins() -> None:
    """Sub-commands contributed by the packages: users, routing (with `classify` at the top), geo."""
    from dashboard.users_cli import users_cli
    from routing.cli import geo_cli, routing_cli

    cli.add_typer(users_cli, name="users")
    cli.add_typer(routing_cli, name="routing")
    cli.add_typer(geo_cli, name="geo")
    classify = next(c for c in routing_cli.registered_commands if (c.name or c.callback.__name__) == "classify")
    cli.command("classify")(classify.callback)


def __getattr__(name: str):
    # `gunicorn app:server` builds the web app lazily from the environment.
    if name == "server":
        from domain import session_key

        services = _services()
        try:
            session_key.load(services.settings)
        except session_key.NoSessionKey as exc:
            raise _load_error(f"error: {exc}") from None
        services.init_db()
        value = create_server(services)
        globals()["server"] = value
        return value
    raise AttributeError(name)


def _load_error(message: str) -> Exception:
    """The error that makes the WSGI server stop with `message` as its one line: gunicorn prints an
    AppImportError's message alone and halts instead of restarting workers."""
    try:
        from gunicorn.errors import AppImportError
    except ImportError:
        return RuntimeError(message)
    return AppImportError(message)


if __name__ == "__main__":
    _register_plugins()
    cli()
