"""Benchmark of the wall's refresh and the executive panel on 1,000,000 historical and 20,000 open
reports (bulk SQL inserts into a temp SQLite file; BENCH_DATABASE_URL=postgresql://... for PostgreSQL
is not supported yet). Prints p50/p95 of each; targets: wall < 150 ms, executive < 500 ms.

    python bench/bench_dashboard.py [--historical 1000000] [--open 20000] [--runs 30]
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import Services  # noqa: E402
from dashboard import queries  # noqa: E402
from domain.clock import FrozenClock  # noqa: E402
from domain.config import DATA_DIR, Settings  # noqa: E402

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=timezone.utc)
CHANNELS = "('whatsapp','email','instagram','facebook','x','call112','app','web','walk_in')"


def fill(engine, historical: int, open_: int) -> None:
    """Reports spread over two years (historical: closed) and the last 7 days (open), with SLA clocks."""
    now = NOW.strftime("%Y-%m-%d %H:%M:%S")
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS events_no_update")
        agencies = [r[0] for r in conn.exec_driver_sql("SELECT code FROM agencies")]
        cats = [r[0] for r in conn.exec_driver_sql("SELECT code FROM categories")]
        kec = [r[0] for r in conn.exec_driver_sql("SELECT DISTINCT kecamatan FROM areas")]
        kel = [r[0] for r in conn.exec_driver_sql("SELECT kode FROM areas")]

        def pick(values, seed):
            arr = "','".join(values)
            return f"(json_extract('[\"{arr.replace(chr(39) + ',' + chr(39), chr(34) + ',' + chr(34))}\"]', '$[' || (abs({seed}) % {len(values)}) || ']'))"

        for label, count, offset, span_minutes, status in (("hist", historical, 0, 2 * 365 * 1440, "CLOSED"),
                                                          ("open", open_, historical, 7 * 1440, None)):
            status_expr = (f"'{status}'" if status else
                           "json_extract('[\"NEW\",\"VERIFIED\",\"ASSIGNED\",\"ACCEPTED\",\"IN_PROGRESS\"]', "
                           "'$[' || (n % 5) || ']')")
            conn.exec_driver_sql(f"""
                WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < {count}),
                base AS (SELECT n, random() AS r, datetime('{now}', '-' || (abs(random()) % {span_minutes}) || ' minutes') AS at
                         FROM seq)
                INSERT INTO reports (id, ticket, channel, external_id, kind, category_code, priority, agency_code,
                    status, text, kelurahan_code, kecamatan, sla_policy_set, received_at, created_at, updated_at,
                    verified_at, resolved_at, closed_at, transfer_count, needs_supervisor, is_demo, satisfaction, lat, lon)
                SELECT {offset} + n, 'B-{label}-' || n, json_extract('["whatsapp","email","app","web","x","call112"]', '$[' || (abs(r) % 6) || ']'),
                    '{label}-' || n, 'COMPLAINT', {pick(cats, 'r / 7')}, 'P' || (1 + abs(r) % 4), {pick(agencies, 'r / 11')},
                    {status_expr}, 'laporan bench', {pick(kel, 'r / 13')}, {pick(kec, 'r / 17')}, 'default', at, at, at,
                    at, {"datetime(at, '+' || (abs(r) % 4000) || ' minutes')" if status else 'NULL'},
                    {"datetime(at, '+5000 minutes')" if status else 'NULL'}, abs(r) % 4, 0, 0,
                    {"1 + abs(r) % 5" if status else 'NULL'}, -6.18 + (abs(r) % 1000) / 10000.0, 106.6 + (abs(r) % 1500) / 10000.0
                FROM base""")
        for stage, minutes in (("acknowledge", 360), ("dispatch", 1440), ("resolve", 10080)):
            conn.exec_driver_sql(f"""
                INSERT INTO sla_clocks (report_id, stage, calendar, started_at, target_minutes, due_at, warn_at,
                    met_at, paused_seconds, extended_minutes)
                SELECT id, '{stage}', '24x7', received_at, {minutes}, datetime(received_at, '+{minutes} minutes'),
                    datetime(received_at, '+{minutes * 3 // 4} minutes'),
                    CASE WHEN status = 'CLOSED' OR ('{stage}' = 'acknowledge' AND status <> 'NEW')
                              OR ('{stage}' = 'dispatch' AND status IN ('ACCEPTED', 'IN_PROGRESS'))
                         THEN datetime(received_at, '+' || (id % {minutes * 2}) || ' minutes') END, 0, 0
                FROM reports""")
        conn.exec_driver_sql(f"INSERT INTO events (at, report_id, actor, actor_role, type) "
                             f"SELECT received_at, id, 'bench', 'system', 'received' FROM reports WHERE id > {historical}")
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")


def timed(fn, runs: int, before=None) -> list[float]:
    out = []
    for _ in range(runs):
        if before:
            before()
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def report(name: str, values: list[float], target: float) -> None:
    p95 = statistics.quantiles(values, n=20)[18] if len(values) >= 20 else max(values)
    print(f"{name:<44} p50 {statistics.median(values):7.1f} ms   p95 {p95:7.1f} ms   "
          f"target < {target:.0f} ms  {'OK' if p95 < target else 'OVER'}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--historical", type=int, default=1_000_000)
    parser.add_argument("--open", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="bench-dashboard-")
    settings = Settings(database_url=f"sqlite:///{folder}/bench.db", data_dir=DATA_DIR,
                        attachments_dir=Path(folder) / "att", secret_key="bench")
    services = Services(settings, clock=FrozenClock(NOW))
    services.init_db()
    started = time.perf_counter()
    fill(services.engine, args.historical, args.open)
    print(f"filled {args.historical:,} historical + {args.open:,} open reports in {time.perf_counter() - started:.0f} s")
    from dashboard import create_dash

    create_dash(services)  # the pages register themselves with a Dash app
    executive = next(m for name, m in sys.modules.items() if name.endswith("executive") and hasattr(m, "panel"))

    def new_event():  # a change in the queue: the next refresh must recompute
        with services.engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO events (at, actor, actor_role, type) VALUES "
                                 "('2026-11-23 03:00:00', 'bench', 'system', 'bench')")

    def refresh():
        token = queries.change_token(NOW)
        queries.wall_snapshot(token, NOW)

    report("wall refresh, queue changed (recompute)", timed(refresh, args.runs, new_event), 150)
    report("wall refresh, nothing changed (token only)", timed(refresh, args.runs), 150)
    for period in ("30d", "365d"):
        report(f"executive panel, period {period}", timed(lambda: executive.panel(period), max(5, args.runs // 3)), 500)
    services.engine.dispose()
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
