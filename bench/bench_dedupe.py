"""Benchmark: duplicate detection across channels on the shipped corpus, per file.

    python bench/bench_dedupe.py [FILE.jsonl ...]

Runs `routing evaluate`'s duplicate scoring (the shipped model classifies, `StreamDeduper` links each
report to the first report of its incident) on every file of data/routing/corpus (or the files given)
and prints precision, recall and F1 of the links per file, and the scoring time. The scorer's weights
(thresholds.yaml `dedupe`) were tuned on some files only: those named in its comment are marked
"tuned", the others "unseen" (reports the weights never saw).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from routing.engine import Router  # noqa: E402
from routing.evaluate import evaluate, load_labelled  # noqa: E402
from routing.stream import default_data_dir  # noqa: E402
from routing.train_cli import attach_model  # noqa: E402

TUNED_ON = ("t0_labelled", "w1_formal", "w3_social", "w4_emergency", "w6_kinds")


def main() -> None:
    files = [Path(a) for a in sys.argv[1:]] or sorted((ROOT / "data" / "routing" / "corpus").glob("*.jsonl"))
    router = Router.load(default_data_dir())
    attach_model(router)
    totals = {"tuned": [0, 0, 0], "unseen": [0, 0, 0]}
    for path in files:
        start = time.perf_counter()
        d = evaluate(router, load_labelled(path)).dedupe
        seconds = time.perf_counter() - start
        kind = "tuned" if path.stem in TUNED_ON else "unseen"
        for k, key in enumerate(("true_positive", "false_positive", "false_negative")):
            totals[kind][k] += d[key]
        print(f"{path.stem:18s} {kind:6s} precision {d['precision']:6.1%}  recall {d['recall']:6.1%}  "
              f"F1 {d['f1']:.3f}  (tp {d['true_positive']}, fp {d['false_positive']}, fn {d['false_negative']}; "
              f"{seconds:.1f} s with classification)")
    for kind, (tp, fp, fn) in totals.items():
        if tp + fp + fn:
            p = tp / (tp + fp) if tp + fp else float("nan")
            r = tp / (tp + fn) if tp + fn else float("nan")
            print(f"{'all ' + kind:25s} precision {p:6.1%}  recall {r:6.1%}  F1 {2 * p * r / (p + r):.3f}")


if __name__ == "__main__":
    main()
