"""Benchmark: duplicate detection across channels on the shipped corpus, per file; and its tuning.

    python bench/bench_dedupe.py [FILE.jsonl ...]            # the weights of thresholds.yaml
    python bench/bench_dedupe.py --tune                      # grid search on the files named in TUNED_ON
    python bench/bench_dedupe.py --leave-one-out             # each file: tuned on the others, reported on it

Runs `routing evaluate`'s duplicate scoring (the shipped model classifies, `StreamDeduper` links each
report to the first report of its incident) on every file of data/routing/corpus (or the files given)
and prints precision, recall and F1 of the links per file. The weights in thresholds.yaml `dedupe` were
tuned on TUNED_ON only: those files are marked "tuned", the others "unseen". `--tune` and
`--leave-one-out` fit the text similarity's document frequencies on the tuning files alone, search the
grid below with the scores of every pair computed once (a matrix per file), then report through the real
`StreamDeduper`.
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from routing.dedupe import DuplicateScorer, StreamDeduper, TextSimilarity, area_words, merged_params  # noqa: E402
from routing.engine import Router, parse_time  # noqa: E402
from routing.evaluate import evaluate, load_labelled  # noqa: E402
from routing.stream import default_data_dir, dedupe_item  # noqa: E402
from routing.train_cli import attach_model  # noqa: E402

TUNED_ON = ("t0_labelled", "w1_formal", "w3_social", "w4_emergency", "w6_kinds")
GRID = {"threshold": [0.55, 0.6, 0.65, 0.7], "text": [0.3, 0.4, 0.6, 0.8], "place": [0.2, 0.3, 0.4],
        "time": [0.1, 0.15], "rare_words": [0.1, 0.2, 0.3], "no_place_text_factor": [0.3, 0.6],
        "text_char_share": [0.8, 1.0]}


def classified(router: Router, path: Path) -> tuple[list, list]:
    """(DedupeItem or None per line, duplicate group per line)."""
    items, groups = [], []
    for row in load_labelled(path):
        received = parse_time(row["received_at"]) if row.get("received_at") else None
        result = router.classify(row["text"], lat=row.get("lat"), lon=row.get("lon"), channel=row.get("channel"),
                                 received_at=received)
        items.append(dedupe_item(router, row["id"], row, result, row.get("lat"), row.get("lon"), received))
        groups.append(row.get("expected", {}).get("duplicate_group"))
    return items, groups


def pair_parts(items: list, similarity: TextSimilarity, params: dict) -> dict:
    """Every (later, earlier) pair's parts of the score that do not depend on the weights."""
    n = len(items)
    scorer = DuplicateScorer(params, similarity)
    texts = [it.text if it else "" for it in items]
    vectors = similarity.vectors(texts)
    char, word, rare = similarity.cosines(vectors, vectors)
    parts = {k: np.zeros((n, n)) for k in ("time", "place", "citizen")}
    gate, shared = np.zeros((n, n), bool), np.zeros((n, n), bool)
    for j in range(n):
        for i in range(j):
            a, b = items[j], items[i]
            if a is None or b is None:
                continue
            base, _reasons, has_place = scorer.context(a, b)
            if base is None:
                continue
            gate[j, i], shared[j, i] = True, has_place
            if a.received_at and b.received_at:
                window = params["window_hours_emergency"] if (a.emergency or b.emergency) else params["window_hours_default"]
                parts["time"][j, i] = 1 - abs((a.received_at - b.received_at).total_seconds()) / 3600 / window
            parts["place"][j, i] = scorer._place(a, b)[0]
            parts["citizen"][j, i] = bool(a.citizen and a.citizen == b.citizen)
    return {**parts, "gate": gate, "shared": shared, "char": char, "word": word, "rare": rare}


def links(parts: dict, groups: list, p: dict) -> tuple[int, int, int]:
    """(tp, fp, fn) of the stream deduper's links with weights `p` (the matrix form of DuplicateScorer)."""
    w = p["weights"]
    rare = np.minimum(1.0, parts["rare"] / p["rare_words_full"])
    text = p["text_char_share"] * parts["char"] + (1 - p["text_char_share"]) * parts["word"]
    text_w = np.where(parts["shared"] | (rare > 0), w["text"], w["text"] * p["no_place_text_factor"])
    score = np.round(w["category"] + w["time"] * parts["time"] + w["place"] * parts["place"]
                     + w["citizen"] * parts["citizen"] + text_w * text + w["rare_words"] * rare, 3)
    score = np.where(parts["gate"], np.minimum(score, 1.0), 0.0)
    root, seen, tp, fp, fn = list(range(len(groups))), {}, 0, 0, 0
    for j, group in enumerate(groups):
        best = None
        if j:
            k = int(np.argmax(score[j, :j]))
            if parts["gate"][j, k] and score[j, k] >= p["threshold"]:
                best = root[k]
        root[j] = j if best is None else best
        if best is not None:
            tp, fp = (tp + 1, fp) if group is not None and groups[best] == group else (tp, fp + 1)
        elif group is not None and seen.get(group):
            fn += 1
        if group is not None:
            seen[group] = seen.get(group, 0) + 1
    return tp, fp, fn


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else float("nan")
    r = tp / (tp + fn) if tp + fn else float("nan")
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def grid(base: dict):
    for values in itertools.product(*GRID.values()):
        v = dict(zip(GRID, values))
        weights = {**base["weights"], **{k: v[k] for k in ("text", "place", "time", "rare_words")}}
        yield {**base, "threshold": v["threshold"], "no_place_text_factor": v["no_place_text_factor"],
               "text_char_share": v["text_char_share"], "weights": weights}


def tune(router: Router, data: dict, tune_on: list[str], base: dict) -> tuple[dict, TextSimilarity]:
    texts = [it.text for name in tune_on for it in data[name][0] if it]
    similarity = TextSimilarity.fit(texts, float(base["rare_share"]), area_words(router))
    parts = {name: pair_parts(data[name][0], similarity, base) for name in tune_on}
    best = None
    for p in grid(base):
        total = np.sum([links(parts[name], data[name][1], p) for name in tune_on], axis=0)
        f1 = prf(*total)[2]
        if best is None or f1 > best[0]:
            best = (f1, p)
    return best[1], similarity


def line(name: str, kind: str, d: dict) -> str:
    return (f"{name:18s} {kind:6s} precision {d['precision']:6.1%}  recall {d['recall']:6.1%}  F1 {d['f1']:.3f}  "
            f"(tp {d['true_positive']}, fp {d['false_positive']}, fn {d['false_negative']})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--tune", action="store_true", help="grid search on TUNED_ON, report every file")
    parser.add_argument("--leave-one-out", action="store_true", help="tune on all files but one, report that one")
    args = parser.parse_args()
    files = args.files or sorted((ROOT / "data" / "routing" / "corpus").glob("*.jsonl"))
    router = Router.load(default_data_dir())
    attach_model(router)
    shipped = merged_params(router.rules.thresholds["dedupe"])
    totals = {"tuned": [0, 0, 0], "unseen": [0, 0, 0]}
    if args.tune or args.leave_one_out:
        data = {f.stem: classified(router, f) for f in files}
        rounds = [(f.stem, [g.stem for g in files if g != f]) for f in files] if args.leave_one_out \
            else [(None, [f.stem for f in files if f.stem in TUNED_ON])]
        for held, tune_on in rounds:
            params, similarity = tune(router, data, tune_on, shipped)
            print(f"tuned on {', '.join(tune_on)}: {json.dumps({k: params[k] for k in (*GRID, 'weights') if k in params})}")
            for f in files:
                if held is not None and f.stem != held:
                    continue
                deduper = StreamDeduper(params, similarity=similarity)
                d = evaluate(router, load_labelled(f), deduper=deduper).dedupe
                kind = "tuned" if f.stem in tune_on else "unseen"
                print("  " + line(f.stem, kind, d))
                for k, key in enumerate(("true_positive", "false_positive", "false_negative")):
                    totals[kind][k] += d[key]
    else:
        for f in files:
            d = evaluate(router, load_labelled(f)).dedupe
            kind = "tuned" if f.stem in TUNED_ON else "unseen"
            print(line(f.stem, kind, d))
            for k, key in enumerate(("true_positive", "false_positive", "false_negative")):
                totals[kind][k] += d[key]
    for kind, (tp, fp, fn) in totals.items():
        if tp + fp + fn:
            p, r, f1 = prf(tp, fp, fn)
            print(f"{'all ' + kind:25s} precision {p:6.1%}  recall {r:6.1%}  F1 {f1:.3f}")


if __name__ == "__main__":
    main()
