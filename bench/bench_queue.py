"""Queue benchmark (issue: the unified report queue).

1. Submit N reports (default 100,000) through QueueService.submit_many in batches of 500 - the full
   path: validation, citizen identities, tickets, SLA clocks, event log - and compare with a raw DBAPI
   `executemany` of the same report rows into the same kind of database (the floor).
2. With M reports stored (default 1,000,000, bulk-loaded with SQL), time the "due before T" query
   (p50/p95 over 200 runs).

    python bench/bench_queue.py [--backend sqlite|postgresql|both] [--n 100000] [--m 1000000]

Targets on the 2-core machine: >= 2,000 reports/s through submit on SQLite; due-query p95 < 5 ms.
The routing engine is not part of this path (it has its own benchmark, bench_classify.py).
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text  # noqa: E402

from bench.pg_schema import create_schema, drop_schema  # noqa: E402
from domain.clock import UTC  # noqa: E402
from domain.config import DATA_DIR  # noqa: E402
from domain.db import make_engine, migrate, session_factory  # noqa: E402
from domain.intake import CitizenInfo, IncomingReport, LocationInfo  # noqa: E402
from domain.queue import QueueService  # noqa: E402
from domain.seed import seed  # noqa: E402
from domain.sla import SlaBook  # noqa: E402

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
CATEGORIES = ["ROAD", "FLOOD", "WASTE", "STREETLIGHT", "DRAINAGE", "WATER", "TRAFFIC", None]


def fresh_database(backend: str, tmp: Path, name: str):
    if backend == "sqlite":
        url = f"sqlite:///{tmp / (name + '.db')}"
        engine = make_engine(url)
    else:
        schema, url = create_schema(f"bench_{name}")
        engine = make_engine(url)
        engine.info = {"schema": schema}
    migrate(engine)
    with session_factory(engine).begin() as s:
        seed(s, DATA_DIR)
    return engine


def drop(engine, backend):
    schema = getattr(engine, "info", {}).get("schema") if backend == "postgresql" else None
    engine.dispose()
    if schema:
        drop_schema(schema)


def make_items(n: int) -> list[IncomingReport]:
    rnd = random.Random(1)
    items = []
    for i in range(n):
        phone = f"+62812{rnd.randrange(10_000_000, 99_999_999)}" if rnd.random() < 0.8 else None
        items.append(IncomingReport(
            channel=rnd.choice(["whatsapp", "email", "app", "x", "call112"]), external_id=f"bench-{i}",
            text=f"laporan nomor {i}: jalan rusak dan banjir di gang {rnd.randrange(100)}",
            received_at=T0 + timedelta(seconds=i), citizen=CitizenInfo(name="Warga", phone=phone) if phone else None,
            location=LocationInfo(text="Cibodas", lat=-6.2 + rnd.random() / 100, lon=106.6 + rnd.random() / 100),
            category=rnd.choice(CATEGORIES), raw_payload={"i": i}))
    return items


def bench_submit(backend: str, n: int, tmp: Path) -> None:
    items = make_items(n)
    engine = fresh_database(backend, tmp, "submit")
    queue = QueueService(session_factory(engine), SlaBook.load(DATA_DIR))
    start = time.perf_counter()
    batch = 500
    for i in range(0, n, batch):
        queue.submit_many(items[i:i + batch])
    elapsed = time.perf_counter() - start
    rate = n / elapsed
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT count(*) FROM reports")).scalar()
        events = conn.execute(text("SELECT count(*) FROM events")).scalar()
    drop(engine, backend)

    # The floor: the same report rows through the driver's executemany, one transaction per batch.
    engine = fresh_database(backend, tmp, "raw")
    rows = [dict(ticket=f"TLR-2026-{i:07d}", channel=it.channel, external_id=it.external_id, kind="COMPLAINT",
                 category_code=it.category, priority="P3", agency_code="UPT_PRK", status="NEW", text=it.text,
                 location_text="Cibodas", lat=it.location.lat, lon=it.location.lon, raw_payload='{"i": 0}',
                 sla_policy_set="default", received_at=it.received_at.replace(tzinfo=None),
                 created_at=T0.replace(tzinfo=None), updated_at=T0.replace(tzinfo=None), transfer_count=0,
                 needs_supervisor=False, is_demo=False)
            for i, it in enumerate(items)]
    cols = list(rows[0])
    placeholders = ", ".join(f"%({c})s" if backend == "postgresql" else f":{c}" for c in cols)
    sql = f"INSERT INTO reports ({', '.join(cols)}) VALUES ({placeholders})"
    raw = engine.raw_connection()
    start = time.perf_counter()
    try:
        cur = raw.cursor()
        for i in range(0, n, batch):
            if backend == "sqlite":
                cur.execute("BEGIN")
            cur.executemany(sql, rows[i:i + batch])
            raw.commit()
    finally:
        raw.close()
    floor_elapsed = time.perf_counter() - start
    floor = n / floor_elapsed
    drop(engine, backend)
    print(f"[{backend}] submit {n:,} reports: {rate:,.0f} reports/s ({elapsed:.1f} s; {stored:,} stored, "
          f"{events:,} events) | raw executemany floor: {floor:,.0f} rows/s | ratio submit/floor = "
          f"{rate / floor:.2f}")


def bench_due_query(backend: str, m: int, tmp: Path) -> None:
    engine = fresh_database(backend, tmp, "due")
    start = time.perf_counter()
    # Bulk load m reports, each with an acknowledge and a resolve clock; about 90 % of clocks are met.
    with engine.begin() as conn:
        if backend == "sqlite":
            series = f"WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {m}) "
            ts = lambda expr: f"datetime('2026-01-01', '+' || ({expr}) || ' seconds')"  # noqa: E731
            rnd = "abs(random() % 1000)"
        else:
            series = f"WITH s(i) AS (SELECT generate_series(1, {m})) "
            ts = lambda expr: f"(timestamp '2026-01-01' + ({expr}) * interval '1 second')"  # noqa: E731
            rnd = "floor(random() * 1000)::int"
        conn.execute(text(
            series + "INSERT INTO reports (id, ticket, channel, external_id, kind, priority, agency_code, status, "
            "text, sla_policy_set, received_at, created_at, updated_at, transfer_count, needs_supervisor, is_demo) "
            f"SELECT i, 'TLR-B-' || i, 'app', 'b' || i, 'COMPLAINT', 'P3', 'PUPR', 'NEW', 'x', 'default', "
            f"{ts('i * 28')}, {ts('i * 28')}, {ts('i * 28')}, 0, false, false FROM s"))
        for stage, offset in (("acknowledge", 6 * 3600), ("resolve", 168 * 3600)):
            conn.execute(text(
                series + "INSERT INTO sla_clocks (report_id, stage, calendar, started_at, target_minutes, due_at, "
                "warn_at, met_at, paused_seconds, extended_minutes) "
                f"SELECT i, '{stage}', '24x7', {ts('i * 28')}, 0, {ts(f'i * 28 + {offset}')}, "
                f"{ts(f'i * 28 + {offset} * 3 / 4')}, "
                f"CASE WHEN {rnd} < 900 THEN {ts('i * 28 + 60')} END, 0, 0 FROM s"))
    if backend == "postgresql":
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
    else:
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
    load = time.perf_counter() - start
    # "Now" sweeps through the stored period: each query asks what fell due before a moment.
    span_seconds = m * 28
    queue = QueueService(session_factory(engine), SlaBook.load(DATA_DIR))
    rnd_gen = random.Random(2)
    timings, found = [], []
    for _ in range(200):
        moment = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=rnd_gen.uniform(0, span_seconds))
        t = time.perf_counter()
        result = queue.due_before(moment, limit=100)
        timings.append((time.perf_counter() - t) * 1000)
        found.append(len(result))
    timings.sort()
    plan = ""
    with engine.connect() as conn:
        if backend == "sqlite":
            plan = " | ".join(r[-1] for r in conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN SELECT id FROM sla_clocks WHERE due_at < '2026-06-01' AND met_at IS NULL "
                "AND cancelled_at IS NULL AND paused_at IS NULL AND breached_at IS NULL ORDER BY due_at LIMIT 100"))
    drop(engine, backend)
    print(f"[{backend}] due-before query with {m:,} reports ({2 * m:,} clocks, loaded in {load:.0f} s): "
          f"p50 {statistics.median(timings):.2f} ms, p95 {timings[int(len(timings) * 0.95)]:.2f} ms, "
          f"max {timings[-1]:.2f} ms (limit 100; mean rows {statistics.mean(found):.0f}) {plan}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="both", choices=["sqlite", "postgresql", "both"])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--m", type=int, default=1_000_000)
    parser.add_argument("--only", choices=["submit", "due"], help="run one of the two measurements")
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    with tempfile.TemporaryDirectory() as tmp:
        for backend in backends:
            if args.only != "due":
                bench_submit(backend, args.n, Path(tmp))
            if args.only != "submit":
                bench_due_query(backend, args.m, Path(tmp))


if __name__ == "__main__":
    main()
