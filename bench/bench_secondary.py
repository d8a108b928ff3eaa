"""Secondary categories ("a message that names two problems gets a primary category, with the second one
listed"): precision and recall by leave-one-file-out on the shipped corpus.

    python bench/bench_secondary.py [--tune [--full]] [--target 0.7]

For each corpus file (one voice each) a model is trained on the other files and every labelled report of the
held-out file goes through Router.classify; precision = listed secondary categories that the label has,
recall = labelled ones we listed. Files without `secondary_categories` labels are trained on, never scored.
`--tune` also searches the thresholds in data/routing/secondary.yaml (the two margins; `--full`: all five):
for each held-out file the most recall at `--target` precision on the OTHER files, then scored on the
held-out file (nested: the figures are of files the thresholds were not chosen on), and the frontier over
all files.
"""
from __future__ import annotations

import argparse
import itertools
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from routing.corpus import corpus_items, load_corpus  # noqa: E402
from routing.engine import Router  # noqa: E402
from routing.secondary import SecondaryPolicy  # noqa: E402
from routing.fitting import train  # noqa: E402
from routing.model import Params  # noqa: E402

# --tune searches the two margins (the rule and clause thresholds fixed); --full also searches those
GRID = {"min_margin": (-0.5, -0.4, -0.3, -0.2, 99.0), "marked_min_margin": (-1.2, -0.9, -0.7, -0.5, 99.0)}
FULL_GRID = {"min_margin": (-0.7, -0.5, -0.4, -0.3, -0.2, 99.0), "min_rule_score": (0, 4, 6, 8),
             "min_clause_score": (0, 3, 5), "marked_min_margin": (-1.2, -0.9, -0.7, -0.5, 99.0),
             "marked_min_clause_score": (3, 5, 7)}  # 99: that way off


def collect(router: Router) -> list[dict]:
    corpus = load_corpus(router.rules.data_dir, router.rules.categories)
    examples = corpus.train + corpus.holdout
    raw = corpus_items(router.rules.data_dir)
    inputs = router.featurise([e.text for e in examples], [e.channel for e in examples])
    rows = []
    for group in sorted({e.group for e in examples}):
        scored = [e for e in examples if e.group == group and e.secondary_known and e.category]
        if not scored:
            continue
        train_idx = [i for i, e in enumerate(examples) if e.group != group]
        started = time.perf_counter()
        model, _ = train([examples[i] for i in train_idx], [inputs[i] for i in train_idx], router.dense_names,
                         Params(folds=2))  # the final fit does not depend on the folds
        print(f"  {group}: trained on the other files in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        for e in scored:
            item = raw[e.id]
            result = router.classify(item["text"], item.get("lat"), item.get("lon"), item.get("channel"),
                                     item.get("received_at"), model=model)
            candidates = []
            if result.actionable:
                sig = router.signals(item["text"])
                pred = model.predict([router.model_input(sig, item.get("channel"))], explain=False)[0]
                candidates = router.secondary_candidates(result.category, sig, pred, floor=-10)
            rows.append({"group": group, "want": set(e.secondary), "got": set(result.secondary_categories),
                         "candidates": candidates, "actionable": result.actionable})
    return rows


def counts(rows, policy=None) -> tuple[int, int, int]:
    tp = fp = fn = 0
    for r in rows:
        got = r["got"] if policy is None else (set(policy.choose(r["candidates"])) if r["actionable"] else set())
        tp += len(got & r["want"])
        fp += len(got - r["want"])
        fn += len(r["want"] - got)
    return tp, fp, fn


def pr(c) -> str:
    tp, fp, fn = c
    p = f"{tp / (tp + fp):.1%}" if tp + fp else "  -  "
    r = f"{tp / (tp + fn):.1%}" if tp + fn else "  -  "
    return f"precision {p:>6}, recall {r:>6} (tp {tp}, fp {fp}, fn {fn})"


def _show(policy: SecondaryPolicy) -> str:
    return ", ".join(f"{k} {getattr(policy, k):g}" for k in SecondaryPolicy.NUMBERS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tune", action="store_true", help="search the thresholds (nested leave-one-file-out)")
    parser.add_argument("--full", action="store_true", help="with --tune: also the rule and clause thresholds")
    parser.add_argument("--target", type=float, default=0.7, help="precision the tuning aims at")
    args = parser.parse_args()
    router = Router.load(ROOT / "data")
    print("leave-one-file-out (each file scored by a model trained on the others):", file=sys.stderr)
    rows = collect(router)
    groups = sorted({r["group"] for r in rows})
    shipped = router.secondary
    print(f"secondary categories with the shipped thresholds (data/routing/secondary.yaml) {_show(shipped)}:")
    for g in groups:
        print(f"  {g:<16} {pr(counts([r for r in rows if r['group'] == g]))}")
    print(f"  {'all':<16} {pr(counts(rows))}")
    if not args.tune:
        return
    grid = FULL_GRID if args.full else GRID
    policies = [replace(shipped, **dict(zip(grid, values))) for values in itertools.product(*grid.values())]
    table = {g: [counts([r for r in rows if r["group"] == g], p) for p in policies] for g in groups}

    def pooled(gs, k):
        return tuple(map(sum, zip(*(table[g][k] for g in gs))))

    def precision(c):
        return c[0] / (c[0] + c[1]) if c[0] + c[1] else 0.0

    print(f"\nnested: thresholds chosen on the other files for >= {args.target:.0%} precision, scored on the file")
    total = (0, 0, 0)
    for g in groups:
        others = [h for h in groups if h != g]
        ok = [(pooled(others, k)[0], precision(pooled(others, k)), k) for k in range(len(policies))
              if precision(pooled(others, k)) >= args.target and pooled(others, k)[0] >= 5]
        if ok:
            k = max(ok)[2]
            got = table[g][k]
            print(f"  {g:<16} {pr(got)}  with {_show(policies[k])}")
        else:
            got = (0, 0, sum(len(r["want"]) for r in rows if r["group"] == g))
            print(f"  {g:<16} {pr(got)}  (no thresholds reach the target on the other files: none listed)")
        total = tuple(a + b for a, b in zip(total, got))
    print(f"  {'all':<16} {pr(total)}")
    print("\nfrontier over all files (most recall at each precision):")
    best = -1
    for c, k in sorted(((pooled(groups, k), k) for k in range(len(policies))), key=lambda x: -precision(x[0])):
        if c[0] > best:
            best = c[0]
            print(f"  {pr(c)}  {_show(policies[k])}")


if __name__ == "__main__":
    main()
