"""Benchmark: signed WhatsApp webhooks over loopback to the app under gunicorn (2 workers), then the
staging inbox's drain by the worker.

    python bench/bench_webhooks.py [--requests 20000] [--repeat-share 0.2] [--backend postgresql|sqlite|both]
                                   [--worker during|after]

Each run starts `gunicorn app:server` on a fresh database (PostgreSQL: a throwaway schema on
BENCH_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432/test; SQLite: a temp file) and the
worker (`python app.py worker`, which drains the staging inbox every second), sends the requests from
16 client threads with keep-alive connections (a share of them are redeliveries of an earlier
MessageSid, as Twilio retries), and prints requests/s, p50 and p99 latency of the webhooks. It then
waits until the worker has drained every staged message and prints the drain's throughput (reports
per second between the first and the last processed row) and the number of reports created, which
must equal the number of distinct MessageSids.
`--worker during` (default) runs the worker while the webhooks arrive, as in production (both share
the 2 cores); `--worker after` starts it once the webhooks are in, to measure the drain alone.
The outbox is not delivered during the run (OUTBOX_POLL_SECONDS=3600): acknowledgements stay queued.
Target on a 2-core machine: >= 300 requests/s with p99 < 150 ms on PostgreSQL.
"""
from __future__ import annotations

import argparse
import http.client
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from twilio.request_validator import RequestValidator  # noqa: E402

TOKEN = "bench-twilio-token"
PUBLIC = "https://bench.example.go.id"
PATH = "/webhooks/twilio/whatsapp"
THREADS = 16


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_requests(total: int, repeat_share: float, seed: int = 7) -> tuple[list[tuple[bytes, str]], int]:
    rnd = random.Random(seed)
    validator = RequestValidator(TOKEN)
    distinct = int(total * (1 - repeat_share))
    bodies = []
    for i in range(distinct):
        form = {"MessageSid": f"SMbench{i:08d}", "AccountSid": "AC" + "0" * 32, "From": f"whatsapp:+62812{i:08d}",
                "To": "whatsapp:+14155238886", "WaId": f"62812{i:08d}", "ProfileName": "Bench",
                "Body": rnd.choice(["banjir di Ciledug", "jalan rusak di Karawaci", "lampu jalan mati di Cipondoh",
                                    "sampah menumpuk di Pasar Anyar"]), "NumMedia": "0"}
        bodies.append((urlencode(form).encode(), validator.compute_signature(PUBLIC + PATH, form)))
    requests = bodies + [rnd.choice(bodies) for _ in range(total - distinct)]
    rnd.shuffle(requests)
    return requests, distinct


def database(backend: str) -> tuple[str, callable]:
    if backend == "sqlite":
        path = Path(tempfile.mkdtemp(prefix="bench-")) / "bench.db"
        return f"sqlite:///{path}", lambda: shutil.rmtree(path.parent, ignore_errors=True)
    from bench.pg_schema import create_schema, drop_schema

    schema, url = create_schema("bench_webhooks")
    return url, lambda: drop_schema(schema)


def counts(url: str) -> dict:
    """Reports, staged rows by state, and the drain's first and last processing time."""
    from sqlalchemy import func, select

    from domain.db import make_engine
    from domain.models import InboundMessage, Report
    engine = make_engine(url)
    with engine.connect() as conn:
        out = {"reports": conn.execute(select(func.count()).select_from(Report)).scalar_one()}
        out.update({state: n for state, n in conn.execute(
            select(InboundMessage.state, func.count()).group_by(InboundMessage.state))})
        out["first"], out["last"] = conn.execute(
            select(func.min(InboundMessage.processed_at), func.max(InboundMessage.processed_at))).one()
    engine.dispose()
    return out


def start_worker(env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "app.py", "worker"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def run(backend: str, total: int, repeat_share: float, worker_mode: str = "during") -> dict:
    url, cleanup = database(backend)
    env = dict(os.environ, DATABASE_URL=url, TWILIO_AUTH_TOKEN=TOKEN, PUBLIC_BASE_URL=PUBLIC,
               TWILIO_ACCOUNT_SID="", PYTHONPATH=str(ROOT), DATA_DIR=str(ROOT / "data"),
               OUTBOX_POLL_SECONDS="3600")
    subprocess.run([sys.executable, "app.py", "init-db"], cwd=ROOT, env=env, check=True, capture_output=True)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "app:server", "-b", f"127.0.0.1:{port}", "-w", "2",
         "-k", "gthread", "--threads", "4", "--log-level", "warning", "--keep-alive", "30"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    worker = start_worker(env) if worker_mode == "during" else None
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("gunicorn did not start: " + server.stderr.read(4000).decode())
                time.sleep(0.2)
        requests, distinct = build_requests(total, repeat_share)
        warm = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for _ in range(4):  # let both workers load the app before the clock starts
            warm.request("GET", "/open311/v2/services.json")
            warm.getresponse().read()
        latencies: list[float] = []
        statuses: dict[int, int] = {}
        lock = threading.Lock()
        chunks = [requests[i::THREADS] for i in range(THREADS)]

        def client(chunk):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            mine, codes = [], {}
            for body, signature in chunk:
                start = time.perf_counter()
                for attempt in range(3):
                    try:
                        conn.request("POST", PATH, body=body, headers={
                            "Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature})
                        response = conn.getresponse()
                        response.read()
                        break
                    except (http.client.HTTPException, OSError):
                        conn.close()
                        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                mine.append(time.perf_counter() - start)
                codes[response.status] = codes.get(response.status, 0) + 1
            with lock:
                latencies.extend(mine)
                for k, v in codes.items():
                    statuses[k] = statuses.get(k, 0) + v

        threads = [threading.Thread(target=client, args=(c,)) for c in chunks]
        began = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - began
        if worker is None:
            worker = start_worker(env)
        drained_at, state = wait_for_drain(url, worker, began)
    finally:
        server.terminate()
        server.wait(30)
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:  # a long job still running: the figures are in already
                worker.kill()
                worker.wait(30)
    latencies.sort()
    cleanup()
    drain_seconds = (state["last"] - state["first"]).total_seconds() if state["first"] else 0.0
    processed = state.get("done", 0) + state.get("dead_letter", 0)
    return {"backend": backend, "requests": total, "distinct_sids": distinct, "seconds": round(elapsed, 1),
            "rps": round(total / elapsed), "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
            "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 1), "statuses": statuses,
            "staged": processed + state.get("pending", 0), "pending": state.get("pending", 0),
            "drain_rps": round(processed / drain_seconds) if drain_seconds else None,
            "drained_after_s": round(drained_at - elapsed, 1) if drained_at else None,
            "reports": state["reports"], "reports_match_sids": state["reports"] == distinct}


def wait_for_drain(url: str, worker: subprocess.Popen, began: float, timeout: float = 3600):
    """Poll until no staged row is pending; returns (seconds since the first request, counts)."""
    deadline = time.monotonic() + timeout
    while True:
        state = counts(url)
        if not state.get("pending"):
            return time.perf_counter() - began, state
        if worker.poll() is not None:
            raise RuntimeError("the worker died: " + worker.stderr.read(4000).decode())
        if time.monotonic() > deadline:
            return None, state
        time.sleep(0.5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=int(os.environ.get("BENCH_REQUESTS", 20000)))
    parser.add_argument("--repeat-share", type=float, default=0.2)
    parser.add_argument("--backend", choices=["postgresql", "sqlite", "both"], default="both")
    parser.add_argument("--worker", choices=["during", "after"], default="during",
                        help="run the draining worker while the webhooks arrive, or start it afterwards")
    args = parser.parse_args()
    backends = ["postgresql", "sqlite"] if args.backend == "both" else [args.backend]
    ok = True
    for backend in backends:
        r = run(backend, args.requests, args.repeat_share, args.worker)
        print(f"{r['backend']:<10} webhooks: {r['requests']} requests ({r['distinct_sids']} distinct MessageSids) in "
              f"{r['seconds']} s: {r['rps']} req/s, p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, "
              f"statuses {r['statuses']}")
        print(f"{'':<10} drain (worker {args.worker}): {r['staged']} staged, {r['pending']} left pending, "
              f"{r['drain_rps']} reports/s, queue empty {r['drained_after_s']} s after the last webhook; "
              f"reports created {r['reports']} "
              f"({'matches' if r['reports_match_sids'] else 'DOES NOT MATCH'} the distinct MessageSids)", flush=True)
        ok &= r["reports_match_sids"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
