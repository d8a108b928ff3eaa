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
