"""The schema comes only from migrations: empty database to head, back to base and up again, and the
models match what the migrations build."""
from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from domain.db import alembic_config, make_engine, migrate
from domain.models import Base
from tests.conftest import backend


def _fresh_engine(tmp_path, _pg_schema):
    if backend() == "postgresql":
        engine = make_engine(_pg_schema.split("?")[0])
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS tlr_migrations CASCADE"))
            conn.execute(text("CREATE SCHEMA tlr_migrations"))
        engine.dispose()
        return make_engine(_pg_schema.split("?")[0] + "?options=-csearch_path%3Dtlr_migrations")
    return make_engine(f"sqlite:///{tmp_path / 'm.db'}")


def test_empty_to_head_down_to_base_and_up_again(tmp_path, _pg_schema):
    engine = _fresh_engine(tmp_path, _pg_schema)
    migrate(engine)
    tables = set(inspect(engine).get_table_names())
    assert {"reports", "citizens", "sla_clocks", "events", "outbox", "dead_letters"} <= tables
    command.downgrade(alembic_config(engine), "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    migrate(engine)
    assert set(inspect(engine).get_table_names()) == tables
    engine.dispose()


def test_models_match_the_migrations(tmp_path, _pg_schema):
    engine = _fresh_engine(tmp_path, _pg_schema)
    migrate(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), Base.metadata)
    engine.dispose()
    assert diff == [], f"models and migrations differ: {diff}"


def test_dead_letters_stored_again_on_rereads_keep_one_source_key(tmp_path, _pg_schema):
    """0012_claimed_time: the copies a re-read mailbox left behind keep NULL; the oldest gets the key."""
    engine = _fresh_engine(tmp_path, _pg_schema)
    migrate(engine)
    command.downgrade(alembic_config(engine), "0012_claimed_time-1")
    columns = {c["name"] for c in inspect(engine).get_columns("dead_letters")}
    assert "source_key" not in columns
    with engine.begin() as conn:
        for raw in (b"bounce", b"bounce", b"digest"):
            conn.execute(text("INSERT INTO dead_letters (channel, received_at, reason, raw, headers, status, attempts) "
                              "VALUES ('email', '2026-11-23 01:00:00', 'automatic', :raw, '{}', 'ignored', 0)"),
                         {"raw": raw})
    migrate(engine)
    with engine.connect() as conn:
        keys = conn.execute(text("SELECT source_key FROM dead_letters ORDER BY id")).scalars().all()
    engine.dispose()
    assert keys[0] is not None and keys[1] is None and keys[2] is not None and keys[0] != keys[2]
