"""A throw-away PostgreSQL schema for a benchmark run (the machine's server, database `test`)."""
from __future__ import annotations

import os
import uuid

from sqlalchemy import text

from domain.db import make_engine

PG_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def create_schema(prefix: str) -> tuple[str, str]:
    """Create a fresh schema; returns (its name, a database URL whose search_path is that schema)."""
    schema = f"{prefix}_{uuid.uuid4().hex[:6]}"
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    admin.dispose()
    return schema, f"{PG_URL}?options=-csearch_path%3D{schema}"


def drop_schema(schema: str) -> None:
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()
