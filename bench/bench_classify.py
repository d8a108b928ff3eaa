"""Classification throughput on one core: the labelled set, repeated, with the learned model (the shipped
one, from its cache; trained first if there is none) and with the rules alone.

    python bench/bench_classify.py [--repeat 30] [--rules-only]

Prints reports/s for Router.classify and for the full JSON-lines stream (parse, classify, dedupe,
serialise), and the training time of the shipped model. The first pass (cold caches: stems, typo
repairs) is reported separately. Target (issue 9): >= 1,000 reports/s with the model on one core.
"""
from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from routing.engine import Router  # noqa: E402
from routing.stream import classify_stream  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--file", type=Path, default=ROOT / "tests" / "data" / "labelled_reports.jsonl")
    parser.add_argument("--rules-only", action="store_true", help="without the learned model")
    args = parser.parse_args()
    import os

    os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core
    items = [json.loads(line) for line in args.file.read_text(encoding="utf-8").splitlines() if line.strip()]
    t = time.perf_counter()
    router = Router.load(ROOT / "data")
    print(f"load rules: {time.perf_counter() - t:.2f} s")
    if not args.rules_only:
        from routing.shipped import cache_dir, cache_key, shipped_model, train_shipped

        t = time.perf_counter()
        model, report = train_shipped(router)
        print(f"train the shipped model: {time.perf_counter() - t:.1f} s ({report.rows} reports, 5-fold "
              f"calibration included)")
        cached = (cache_dir() / f"shipped-{cache_key(router)}.joblib").exists()
        t = time.perf_counter()
        model = shipped_model(router)
        print(f"load the shipped model ({'disk cache' if cached else 'trained, then cached'}): "
              f"{time.perf_counter() - t:.2f} s")
        router.use_model(lambda: model)

    def timed(work):
        """-> (CPU seconds of this process, wall seconds): the CPU figure is one core's throughput even when
        the machine is shared; the wall figure is what a caller waited."""
        c, w = time.process_time(), time.perf_counter()
        work()
        return time.process_time() - c, time.perf_counter() - w

    def classify_all(times=1):
        for _ in range(times):
            for it in items:
                router.classify(it["text"], it.get("lat"), it.get("lon"), it.get("channel"), it.get("received_at"))

    cpu, wall = timed(classify_all)
    print(f"cold pass: {len(items) / cpu:,.0f} reports/s per core ({len(items) / wall:,.0f}/s wall, {len(items)} reports)")
    n = len(items) * args.repeat
    cpu, wall = timed(lambda: classify_all(args.repeat))
    print(f"Router.classify: {n / cpu:,.0f} reports/s per core ({n / wall:,.0f}/s wall, {n} reports)")

    lines = "".join(json.dumps({k: v for k, v in it.items() if k != "expected"}) + "\n" for it in items) * args.repeat
    for dedupe in (False, True):
        cpu, wall = timed(lambda: classify_stream(io.StringIO(lines), io.StringIO(), dedupe=dedupe, router=router))
        rate = n / cpu
        print(f"classify_stream{' --dedupe' if dedupe else ''}: {rate:,.0f} reports/s per core ({n / wall:,.0f}/s wall)"
              + ("" if dedupe or args.rules_only else f"  (target >= 1,000/s: {'met' if rate >= 1000 else 'NOT met'})"))


if __name__ == "__main__":
    main()
