"""Score the engine on a labelled JSON-lines file (tests/data/labelled_reports.jsonl).

Each line is an input report plus `expected`: actionable, kind, category, agency, priority,
kecamatan, kelurahan, outside_city, duplicate_group. Fields missing from `expected` are not scored, nor are
kind, category, agency and priority of a report labelled not actionable.
"""
from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from .dedupe import f1
from .engine import Router
from .stream import classify_lines

FIELDS = ("actionable", "kind", "category", "agency", "priority", "kecamatan", "kelurahan", "outside_city")
# what a request has: a message labelled not actionable (spam, thanks, a greeting) is scored on `actionable`
# alone, whatever its labeller wrote there (ours: nothing; others: OTHER, the control room, P4)
REQUEST_FIELDS = ("kind", "category", "agency", "priority")


@dataclass
class Evaluation:
    total: int = 0
    correct: Counter = field(default_factory=Counter)
    counted: Counter = field(default_factory=Counter)
    confusion: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    misses: list[dict[str, Any]] = field(default_factory=list)
    dedupe: dict[str, float] = field(default_factory=dict)
    # per actionable labelled report: confidence, right (category and agency), automation
    decisions: list[dict[str, Any]] = field(default_factory=list)
    secondary: Counter = field(default_factory=Counter)  # secondary_categories: tp, fp, fn

    def accuracy(self, name: str) -> float:
        return self.correct[name] / self.counted[name] if self.counted[name] else float("nan")


def evaluate(router: Router, labelled: Iterable[dict[str, Any]], deduper=None) -> Evaluation:
    items = list(labelled)
    lines = [json.dumps({k: v for k, v in it.items() if k != "expected"}) for it in items]
    ev = Evaluation(total=len(items))
    outputs = list(classify_lines(router, lines, dedupe=True, deduper=deduper))
    groups = {it["id"]: it.get("expected", {}).get("duplicate_group") for it in items}
    tp = fp = fn = 0
    for it, out in zip(items, outputs):
        exp = it.get("expected", {})
        wrong = {}
        for name in FIELDS:
            if name not in exp or (name in REQUEST_FIELDS and exp.get("actionable") is False):
                continue
            ev.counted[name] += 1
            got = out.get(name)
            if got == exp[name]:
                ev.correct[name] += 1
            else:
                wrong[name] = (exp[name], got)
        if exp.get("kecamatan") is not None:
            name = "kecamatan (place named)"
            ev.counted[name] += 1
            ev.correct[name] += out.get("kecamatan") == exp["kecamatan"]
        for name in ("category", "agency"):
            if name in exp and exp.get("actionable") is not False:
                ev.confusion[name][(str(exp[name]), str(out.get(name)))] += 1
        if "secondary_categories" in exp and exp.get("actionable", True):
            want, got = set(exp["secondary_categories"] or ()), set(out.get("secondary_categories") or ())
            ev.secondary["labelled"] += 1
            ev.secondary["tp"] += len(want & got)
            ev.secondary["fp"] += len(got - want)
            ev.secondary["fn"] += len(want - got)
        if exp.get("actionable", True) and exp.get("category") and out.get("actionable"):
            ev.decisions.append({"confidence": float(out.get("confidence") or 0.0),
                                 "right": out.get("category") == exp["category"]
                                 and ("agency" not in exp or out.get("agency") == exp["agency"]),
                                 "automation": out.get("automation"), "category": out.get("category")})
        group, dup = exp.get("duplicate_group"), out.get("duplicate_of")
        earlier_in_group = group is not None and any(
            groups.get(o["id"]) == group for o in outputs[: outputs.index(out)])
        if dup is not None:
            if group is not None and groups.get(dup) == group:
                tp += 1
            else:
                fp += 1
                wrong["duplicate_of"] = (group, dup)
        elif earlier_in_group:
            fn += 1
            wrong["duplicate_of"] = (group, None)
        if wrong:
            ev.misses.append({"id": it["id"], "text": it["text"], "wrong": wrong, "explanation": out.get("explanation")})
    ev.dedupe = {"true_positive": tp, "false_positive": fp, "false_negative": fn,
                 "precision": tp / (tp + fp) if tp + fp else float("nan"),
                 "recall": tp / (tp + fn) if tp + fn else float("nan")}
    ev.dedupe["f1"] = f1(ev.dedupe["precision"], ev.dedupe["recall"])
    return ev


def load_labelled(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def confusion_table(counts: Counter) -> str:
    """Rows: expected; columns: predicted (only labels that occur)."""
    labels = sorted({e for e, _ in counts} | {p for _, p in counts})
    if not labels:
        return "(no labelled values)"
    short = {lab: lab[:7] for lab in labels}
    width = max(len(lab) for lab in labels) + 1
    head = " " * width + " ".join(f"{short[lab]:>7}" for lab in labels)
    rows = [head]
    for e in labels:
        if not any(counts[(e, p)] for p in labels):
            continue
        rows.append(f"{e:<{width}}" + " ".join(f"{counts[(e, p)] or '.':>7}" for p in labels))
    return "\n".join(rows)


def report(ev: Evaluation, misses: bool = False) -> str:
    lines = [f"{ev.total} labelled reports"]
    for name in (*FIELDS, "kecamatan (place named)"):
        if ev.counted[name]:
            lines.append(f"  {name:<26} {ev.accuracy(name):6.1%}  ({ev.correct[name]}/{ev.counted[name]})")
    d = ev.dedupe
    lines.append(f"  duplicates: precision {d['precision']:.1%}, recall {d['recall']:.1%}, F1 {d['f1']:.3f} "
                 f"(tp {d['true_positive']}, fp {d['false_positive']}, fn {d['false_negative']})")
    sec = ev.secondary
    if sec["labelled"]:
        p = f"{sec['tp'] / (sec['tp'] + sec['fp']):.1%}" if sec["tp"] + sec["fp"] else "- (none listed)"
        r = f"{sec['tp'] / (sec['tp'] + sec['fn']):.1%}" if sec["tp"] + sec["fn"] else "- (none labelled)"
        lines.append(f"  secondary categories: precision {p}, recall {r} "
                     f"(tp {sec['tp']}, fp {sec['fp']}, fn {sec['fn']}; {sec['labelled']} labelled reports)")
    lines += calibration_lines(ev.decisions)
    for name in ("category", "agency"):
        lines += ["", f"confusion matrix: {name} (rows expected, columns predicted)", confusion_table(ev.confusion[name])]
    if misses:
        lines.append("")
        for m in ev.misses:
            lines.append(f"{m['id']}: {m['wrong']}  | {m['text'][:90]}")
    return "\n".join(lines)


RISK_THRESHOLDS = (0.0, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.97, 0.99)


def calibration_lines(decisions: list[dict[str, Any]]) -> list[str]:
    """Reliability table and ECE of the confidence (right = category and agency right), then the
    risk-coverage table: at each threshold the share of reports above it and their accuracy, and the
    same for what the per-category thresholds of the model actually auto-forward."""
    from .fitting import ece

    if not decisions:
        return []
    error, table = ece(decisions)
    lines = ["", f"calibration ({len(decisions)} actionable reports; right = category and agency right): "
                 f"ECE {error:.3f}", "  confidence      n   mean conf  accuracy"]
    for lo, hi, n, conf, acc in table:
        lines.append(f"  {lo:.1f}-{hi:.1f}  {n:>8}   {conf:8.3f}  {acc:8.1%}")
    lines += ["", "risk-coverage (reports at or above the threshold: share, accuracy)",
              "  threshold  coverage  accuracy"]
    total = len(decisions)
    for t in RISK_THRESHOLDS:
        above = [d for d in decisions if d["confidence"] >= t]
        acc = sum(d["right"] for d in above) / len(above) if above else float("nan")
        lines.append(f"  {t:>9.2f}  {len(above) / total:8.1%}  {acc:8.1%}")
    auto = [d for d in decisions if d["automation"] == "auto_forward"]
    acc = sum(d["right"] for d in auto) / len(auto) if auto else float("nan")
    lines.append(f"  per-category thresholds (auto_forward): {len(auto) / total:.1%} of reports, accuracy {acc:.1%}")
    by_cat: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # predicted, auto-forwarded, right among them
    for d in decisions:
        row = by_cat[d["category"]]
        row[0] += 1
        if d["automation"] == "auto_forward":
            row[1] += 1
            row[2] += d["right"]
    lines.append("  per category   predicted  auto-forwarded  accuracy of those")
    for code, (n, fwd, right) in sorted(by_cat.items()):
        lines.append(f"  {code:<16} {n:>7}  {fwd:>9} {fwd / n:5.0%}  " + (f"{right / fwd:8.1%}" if fwd else "       -"))
    return lines
