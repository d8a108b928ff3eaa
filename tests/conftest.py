"""Fixtures by cost: pure objects first, then a migrated database (SQLite by default, PostgreSQL when
TEST_DATABASE_URL points at one), then real servers (Dovecot, SMTP, Chromium) in their own modules.

A test that needs a real peer calls `require_peer(...)`: it skips with the reason, except under CI=true,
where a missing peer fails the run.
"""
from __future__ import annotations

import os
import shutil
import uuid
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import settings
from sqlalchemy import text

from domain.clock import FrozenClock, UTC
from domain.config import DATA_DIR, Settings
from domain.db import make_engine, migrate

# The browser fixtures (live server, Chromium, Page) live in their own module, shared by every browser test file.
pytest_plugins = ["tests.browser_support"]

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
# Selective automation (routing/automation.py) forwards confident reports by itself; the tests of the
# operators' flows expect reports to wait for them, so it is off unless a test switches it on
# (tests/test_routing_model_queue.py does).
os.environ.setdefault("ROUTING_AUTOMATION", "off")
IN_CI = os.environ.get("CI", "").lower() == "true"
# Property-based tests explore new examples on every local run; CI replays the same derandomised examples,
# so a submission lands or fails on its own code, not on the luck of the draw (a counterexample found
# locally is fixed, and kept with @example).
settings.register_profile("ci", derandomize=True, print_blob=True)
if IN_CI:
    settings.load_profile("ci")


def require_peer(available: bool, reason: str) -> None:
    """Skip (or, under CI=true, fail) a test whose real peer cannot run here."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"required peer missing under CI: {reason}")
    pytest.skip(reason)


def backend() -> str:
    return "postgresql" if TEST_DATABASE_URL.startswith("postgresql") else "sqlite"


# ---------------------------------------------------------------- databases
@pytest.fixture(scope="session")
def _pg_schema():
    """One fresh schema per test run on the PostgreSQL server named by TEST_DATABASE_URL."""
    if backend() != "postgresql":
        yield None
        return
    schema = f"tlr_test_{uuid.uuid4().hex[:10]}"
    admin = make_engine(TEST_DATABASE_URL)
    try:
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    except Exception as exc:  # noqa: BLE001
        pytest.exit(f"PostgreSQL at {TEST_DATABASE_URL} is unreachable: {exc}", returncode=3)
    sep = "&" if "?" in TEST_DATABASE_URL else "?"
    url = f"{TEST_DATABASE_URL}{sep}options=-csearch_path%3D{schema}"
    migrate(make_engine(url))
    yield url
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory):
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()  # the last connection to close checkpoints the WAL into the file
    return path


@pytest.fixture
def database_url(tmp_path, _pg_schema, _sqlite_template):
    """A migrated, empty database for one test."""
    if _pg_schema:
        engine = make_engine(_pg_schema)
        with engine.begin() as conn:
            tables = conn.execute(text(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                "AND tablename <> 'alembic_version'")).scalars().all()
            if tables:
                conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        engine.dispose()
        return _pg_schema
    path = tmp_path / "test.db"
    shutil.copy(_sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def clock():
    return FrozenClock(datetime(2026, 11, 23, 1, 0, tzinfo=UTC))  # Monday 08:00 WIB


@pytest.fixture
def settings(database_url, tmp_path):
    return Settings(database_url=database_url, data_dir=DATA_DIR, attachments_dir=tmp_path / "attachments",
                    secret_key="test-secret-key-0123456789")


@pytest.fixture
def services(settings, clock):
    from app import Services

    svc = Services(settings, clock=clock)
    svc.init_db()
    yield svc
    svc.engine.dispose()


@pytest.fixture
def queue(services):
    return services.queue


@pytest.fixture
def workflow(services):
    return services.workflow


@pytest.fixture(scope="session")
def project_root() -> Path:
    return Path(__file__).resolve().parent.parent
