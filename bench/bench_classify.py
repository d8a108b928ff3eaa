"""Classification throughput on one core: the labelled set, repeated.

    python bench/bench_classify.py [--repeat 30] [--dedupe]

Prints reports/s for Router.classify and for the full JSON-lines stream (parse, classify, dedupe,
serialise). The first pass (cold caches: stems, typo repairs) is reported separately.
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
    args = parser.parse_args()
    items = [json.loads(line) for line in args.file.read_text(encoding="utf-8").splitlines() if line.strip()]
    t = time.perf_counter()
    router = Router.load(ROOT / "data")
    print(f"load rules: {time.perf_counter() - t:.2f} s")

    t = time.perf_counter()
    for it in items:
        router.classify(it["text"], it.get("lat"), it.get("lon"), it.get("channel"), it.get("received_at"))
    cold = time.perf_counter() - t
    print(f"cold pass: {len(items) / cold:,.0f} reports/s ({len(items)} reports)")

    t = time.perf_counter()
    for _ in range(args.repeat):
        for it in items:
            router.classify(it["text"], it.get("lat"), it.get("lon"), it.get("channel"), it.get("received_at"))
    warm = time.perf_counter() - t
    n = len(items) * args.repeat
    print(f"Router.classify: {n / warm:,.0f} reports/s ({n} reports)")

    lines = "".join(json.dumps({k: v for k, v in it.items() if k != "expected"}) + "\n" for it in items) * args.repeat
    for dedupe in (False, True):
        out = io.StringIO()
        t = time.perf_counter()
        classify_stream(io.StringIO(lines), out, dedupe=dedupe, router=router)
        took = time.perf_counter() - t
        print(f"classify_stream{' --dedupe' if dedupe else ''}: {n / took:,.0f} reports/s")


if __name__ == "__main__":
    main()
