"""Selective automation on writers the model never saw: leave-one-file-out on the shipped corpus.

    python bench/bench_automation.py [--target 0.97]

For each corpus file a model is trained on the other files (its thresholds chosen on its own held-out folds,
as in production) and every actionable report of the held-out file goes through Router.classify with
automation on. Prints per file and overall the share auto-forwarded and how many of those were right
(category and agency), then per category the threshold and what it forwarded.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from routing.corpus import corpus_items, load_corpus  # noqa: E402
from routing.engine import Router  # noqa: E402
from routing.fitting import train  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=float, default=None, help="target precision (default: automation.yaml)")
    args = parser.parse_args()
    os.environ["ROUTING_AUTOMATION"] = "on"
    if args.target is not None:
        os.environ["ROUTING_TARGET_PRECISION"] = str(args.target)
    router = Router.load(ROOT / "data")
    policy = router.automation
    corpus = load_corpus(router.rules.data_dir, router.rules.categories)
    examples = corpus.train + corpus.holdout
    raw = corpus_items(router.rules.data_dir)
    inputs = router.featurise([e.text for e in examples], [e.channel for e in examples])
    total = defaultdict(lambda: [0, 0, 0])  # file -> actionable, auto-forwarded, right among them
    per_cat = defaultdict(lambda: [0, 0, []])  # category -> auto-forwarded, right, thresholds
    print(f"target precision {policy.target_precision:.0%}, min_support {policy.min_support}")
    for group in sorted({e.group for e in examples}):
        idx = [i for i, e in enumerate(examples) if e.group != group]
        started = time.perf_counter()
        model, _ = train([examples[i] for i in idx], [inputs[i] for i in idx], router.dense_names)
        seconds = time.perf_counter() - started
        for code in router.category_codes:
            per_cat[code][2].append(model.threshold(code, policy.target_precision, policy.min_support))
        for e in examples:
            if e.group != group or not e.category:
                continue
            item = raw[e.id]
            exp = item["expected"]
            r = router.classify(item["text"], item.get("lat"), item.get("lon"), item.get("channel"),
                                item.get("received_at"), model=model)
            t = total[group]
            t[0] += 1
            if r.automation == "auto_forward":
                right = r.category == exp["category"] and ("agency" not in exp or r.agency == exp["agency"])
                t[1] += 1
                t[2] += right
                per_cat[r.category][0] += 1
                per_cat[r.category][1] += right
        a, f, ok = total[group]
        print(f"  {group:<16} auto-forwarded {f / a:6.1%} of {a}, right {ok / f if f else float('nan'):6.1%} "
              f"({ok}/{f})  [trained in {seconds:.0f} s]")
    a, f, ok = (sum(t[k] for t in total.values()) for k in range(3))
    print(f"  {'all':<16} auto-forwarded {f / a:6.1%} of {a}, right {ok / f if f else float('nan'):6.1%} ({ok}/{f})")
    print("\nper category: thresholds over the 7 models (1.01 = never), auto-forwarded, right")
    for code, (f, ok, ts) in sorted(per_cat.items()):
        never = sum(t > 1 for t in ts)
        shown = [t for t in ts if t <= 1]
        rng = f"{min(shown):.2f}-{max(shown):.2f}" if shown else "  -  "
        print(f"  {code:<18} {rng:>9} (never in {never}/{len(ts)})  forwarded {f:4}  right {ok:4}"
              + (f"  {ok / f:6.1%}" if f else ""))


if __name__ == "__main__":
    main()
