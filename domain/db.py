"""Engine, sessions and migrations. Nothing connects at import time."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from domain.config import PROJECT_ROOT


READ_ONLY = "tlr_read_only"


def make_engine(database_url: str, **kwargs) -> Engine:
    """SQLite gets WAL, foreign keys and a busy timeout; PostgreSQL goes through psycopg 3."""
    url = make_url(database_url)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            # Let SQLAlchemy, not pysqlite, decide when a transaction begins (see "begin" below).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            # The panels read the same hot pages every second: keep them in this connection's cache
            # (64 MiB, against the 2 MiB default) and map the file rather than copy it page by page.
            cur.execute("PRAGMA cache_size=-65536")
            cur.execute("PRAGMA mmap_size=1073741824")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):
            # Take the write lock at the start: read-then-write transactions never deadlock. Read-only
            # sessions (`read_session_factory`) begin deferred: in WAL mode they never wait for a writer.
            conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")

        return engine
    # No server-side prepared statements: a generic plan made while a table was small (a sequential
    # scan) would stay in use as the table grows.
    connect_args = {"prepare_threshold": None, **kwargs.pop("connect_args", {})}
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args, **kwargs)


def database_unreachable(error: BaseException) -> bool:
    """True when `error` says the database cannot be reached or used right now (no connection, the
    server went away, a pool timeout, SQLite busy or locked): waiting and retrying helps. False for an
    error of one statement (bad data, a constraint, a bug), which the same input raises again: the
    message that caused it is poison and must be set aside, not retried forever."""
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError,
                              sa_exc.DisconnectionError))


def transaction_state(session: Session, key: str) -> dict:
    """A dict kept for `key` as long as the session's outermost transaction: what a queue listener
    looks up once and reuses for every report of one submit_many (reference rows, alerts it locked).
    A new transaction starts empty, and any rollback (a savepoint's too: what was read or written in
    it may be gone) drops every key, so nothing outlives the rows it was read from."""
    root = session.get_transaction()
    held = session.info.get("transaction_state")
    if held is None or held[0] is not root:
        if "transaction_state" not in session.info:
            event.listen(session, "after_soft_rollback",
                         lambda sess, _previous: sess.info.__setitem__("transaction_state", None))
        held = session.info["transaction_state"] = (root, {})
    return held[1].setdefault(key, {})


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def read_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions for pages and reports that only read: on SQLite they do not take the write lock, so a
    wall refresh never queues behind the worker's writes (and must not write: it would fail as busy)."""
    return sessionmaker(engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False)


def alembic_config(engine_or_url):
    from alembic.config import Config

    cfg = Config(str(PROJECT_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    if isinstance(engine_or_url, Engine):
        cfg.attributes["engine"] = engine_or_url
    else:
        cfg.set_main_option("sqlalchemy.url", str(engine_or_url))
    return cfg


def migrate(engine: Engine, revision: str = "heads") -> None:
    """Bring the schema to the newest revision (every branch head)."""
    from alembic import command

    command.upgrade(alembic_config(engine), revision)
