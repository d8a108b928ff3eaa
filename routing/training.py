"""Training a new model version: the shipped corpus (minus its frozen holdout) together with extra
labelled examples (a city's history, the operators' corrections), scored on held-out predictions and on
the frozen holdout. Used by `routing train` (routing/cli.py) and the corrections job (routing/learning.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from .corpus import load_corpus, summary
from .fitting import TrainingReport, ece, heldout_scores, macro_f1, train
from .model import Example, Params, RoutingModel


@dataclass
class Trained:
    model: RoutingModel
    report: TrainingReport
    summary: dict[str, Any]
    scores: dict[str, Any]
    holdout: list[Example]


def train_version(router, extra: Sequence[Example] = (), *, source: str, params: Params | None = None,
                  progress: Callable[[str], None] | None = None, meta: dict | None = None) -> Trained:
    corpus = load_corpus(router.rules.data_dir, router.rules.categories)
    examples = [*corpus.train, *extra]
    inputs = router.featurise([e.text for e in examples], [e.channel for e in examples])
    model, report = train(examples, inputs, router.dense_names, params,
                          meta={"source": source, "corpus": corpus.digest, **(meta or {})}, progress=progress)
    groups = {e.group for e in extra}
    scores: dict[str, Any] = {"heldout": report.heldout}
    if groups:
        scores["heldout_new_rows"] = heldout_scores([o for o in report.oof if o["group"] in groups])
    scores["frozen_holdout"] = holdout_scores(router, model, corpus.holdout)
    scores["train_seconds"] = round(report.seconds, 2)
    info = summary(examples)
    info["corpus"] = {"digest": corpus.digest, "files": corpus.files, "holdout_rows": len(corpus.holdout)}
    return Trained(model, report, info, scores, corpus.holdout)


def predictions(router, model: RoutingModel | None, examples: Sequence[Example]) -> list[dict[str, Any]]:
    """Classify each example through the whole router (rules + `model`) as `classify` would."""
    out = []
    for e in examples:
        r = router.classify(e.text, channel=e.channel, model=model)
        right_side = e.kind is None or ((r.agency == "UPT_PRK") == (e.kind in ("ASPIRATION", "INFORMATION_REQUEST")))
        out.append({"id": e.id, "expected": e.category, "predicted": r.category, "actionable": e.category is not None,
                    "kind_expected": e.kind, "kind": r.kind, "confidence": r.confidence,
                    "right": bool(r.category == e.category and right_side), "automation": r.automation})
    return out


def holdout_scores(router, model: RoutingModel | None, examples: Sequence[Example]) -> dict[str, Any]:
    """Category accuracy and macro-F1, kind accuracy and calibration error on the frozen holdout."""
    rows = [p for p in predictions(router, model, examples) if p["actionable"]]
    if not rows:
        return {}
    return {"n": len(rows),
            "category_accuracy": round(sum(p["expected"] == p["predicted"] for p in rows) / len(rows), 4),
            "category_macro_f1": round(macro_f1(rows), 4),
            "kind_accuracy": round(sum(p["kind"] == p["kind_expected"] for p in rows if p["kind_expected"])
                                   / max(1, sum(1 for p in rows if p["kind_expected"])), 4),
            "ece": round(ece(rows)[0], 4)}


def not_worse(candidate: dict[str, Any], active: dict[str, Any], macro_f1_tolerance: float = 0.0) -> bool:
    """Promotion rule on the frozen holdout: category accuracy at least the active model's, and macro-F1 no more
    than `macro_f1_tolerance` below it (on a few hundred reports one report of a small category moves macro-F1
    by a point or two; data/routing/learning.yaml sets the tolerance)."""
    if not candidate:
        return False
    if not active:
        return True
    return (candidate["category_accuracy"] >= active["category_accuracy"]
            and candidate["category_macro_f1"] >= active["category_macro_f1"] - macro_f1_tolerance - 1e-9)
