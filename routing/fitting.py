"""Training the routing model (routing/model.py): held-out k-fold predictions, softmax temperatures, one
isotonic confidence, per-category automation thresholds, and the scores the training prints.
"""
from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

import numpy as np

from .features import ModelInput
from .model import (ANSWERED_BY_CONTROL_ROOM, KINDS, NONE, Example, Params, RoutingModel, _margins, _softmax,
                    _stack, _vectorisers, choose_thresholds, raw_confidence)


def _classifier(C: float, seed: int):
    """A linear SVM (one-vs-rest, liblinear): chosen by leave-one-voice-out measurement over logistic
    regression and SGD (as accurate or better, and several times faster to train). Its margins become
    probabilities through a softmax with a fitted temperature; the confidence is calibrated after that."""
    from sklearn.svm import LinearSVC

    return LinearSVC(C=C, random_state=seed)


def _fit_temperature(margins, truth) -> float:
    """The temperature T minimising the negative log-likelihood of softmax(T x margins) on held-out rows."""
    best, best_nll = 1.0, float("inf")
    rows = np.arange(len(truth))
    for t in (0.5, 1, 1.5, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30):
        p = _softmax(margins * t)[rows, truth]
        nll = -np.log(np.clip(p, 1e-9, 1)).mean()
        if nll < best_nll:
            best, best_nll = float(t), nll
    return best


EXTRA_GROUPS = ("city:", "corrections")  # rows learned beside the corpus: split at random, not by group


def _folds(labels: Sequence[str], k: int, seed: int, groups: Sequence[str] | None = None):
    """k folds. With at least k corpus groups (files: one voice each), a corpus file's rows fall in one fold,
    so every held-out prediction is of a voice the model did not see: the calibration, the thresholds and
    the printed scores then describe new writers, as in production. A city's rows and the corrections are
    spread over the folds at random (stratified), so their held-out figures are "with this city's history".
    Without enough groups: stratified k folds."""
    from sklearn.model_selection import StratifiedKFold

    labels = np.asarray(labels, dtype=object)
    counts = Counter(labels)
    k = max(2, min(k, max(counts.values())))
    groups = np.asarray(groups if groups is not None else ["corpus"] * len(labels), dtype=object)
    extra = np.array([str(g).startswith(EXTRA_GROUPS) for g in groups], dtype=bool)
    corpus_groups = Counter(groups[~extra])
    fold = np.full(len(labels), -1)
    if len(corpus_groups) >= k:
        sizes = [0] * k
        for g, n in sorted(corpus_groups.items(), key=lambda kv: (-kv[1], kv[0])):
            f = sizes.index(min(sizes))
            fold[groups == g] = f
            sizes[f] += n
        rest = np.where(extra)[0]
    else:
        rest = np.arange(len(labels))
    if len(rest):
        import warnings

        with warnings.catch_warnings():  # rare classes: still one fold per example
            warnings.simplefilter("ignore")
            kk = max(2, min(k, len(rest)))
            for f, (_, te) in enumerate(StratifiedKFold(kk, shuffle=True, random_state=seed)
                                        .split(np.zeros(len(rest)), labels[rest])):
                fold[rest[te]] = f % k
    return [(np.where(fold != f)[0], np.where(fold == f)[0]) for f in range(k) if (fold == f).any()]


@dataclass
class TrainingReport:
    rows: int
    per_category: dict[str, int]
    per_group: dict[str, int]
    heldout: dict[str, Any] = field(default_factory=dict)   # accuracy, macro-F1, kind accuracy (k-fold)
    seconds: float = 0.0
    oof: list[dict[str, Any]] = field(default_factory=list)  # per example: predicted, confidence, correct


def train(examples: Sequence[Example], inputs: Sequence[ModelInput], dense_names: Sequence[str],
          params: Params | None = None, meta: dict | None = None, *,
          progress: Callable[[str], None] | None = None) -> tuple[RoutingModel, TrainingReport]:
    """Fit the model on `examples` (with their `inputs`, built by the router's featuriser)."""
    params = replace(params) if params is not None else Params()  # the fitted temperatures go into a copy
    started = time.perf_counter()
    say = progress or (lambda _m: None)
    labels = np.array([e.category or NONE for e in examples], dtype=object)
    if len(set(labels) - {NONE}) < 2:
        raise ValueError("at least two categories are needed to train")
    char_vec, word_vec = _vectorisers(params)
    char_vec.fit([x.words for x in inputs])
    word_vec.fit([x.stems for x in inputs])
    for vec in (char_vec, word_vec):
        vec.stop_words_ = None  # the pruned vocabulary is not needed and would bloat the stored model
    X = _stack(char_vec, word_vec, inputs, params.dense_weight)
    kinds = np.array([e.kind if e.category and e.kind in KINDS else "" for e in examples], dtype=object)
    actionable = kinds != ""
    say(f"vectorised {len(examples)} examples ({X.shape[1]} features)")

    # Held-out predictions: every example predicted by a model that did not see it.
    classes = sorted(set(labels))
    cat_oof = np.zeros((len(examples), len(classes)))
    kind_classes = sorted(set(kinds[actionable]))
    kind_oof = np.zeros((len(examples), len(kind_classes)))
    cat_oof -= 10.0  # margins of classes a fold never saw: far below any seen class
    kind_oof -= 10.0
    for fold, (tr, te) in enumerate(_folds(list(labels), params.folds, params.seed, [e.group for e in examples])):
        clf = _classifier(params.C, params.seed).fit(X[tr], labels[tr])
        cols = [classes.index(c) for c in clf.classes_]
        cat_oof[np.ix_(te, cols)] = _margins(clf.decision_function(X[te]))
        tr_a = tr[actionable[tr]]
        if len(set(kinds[tr_a])) >= 2:
            kclf = _classifier(params.kind_C, params.seed).fit(X[tr_a], kinds[tr_a])
            kcols = [kind_classes.index(c) for c in kclf.classes_]
            kind_oof[np.ix_(te, kcols)] = _margins(kclf.decision_function(X[te]))
        say(f"fold {fold + 1} done")
    params.temperature = _fit_temperature(cat_oof, np.array([classes.index(c) for c in labels]))
    act_rows = np.where(actionable)[0]
    params.kind_temperature = _fit_temperature(kind_oof[act_rows],
                                               np.array([kind_classes.index(k) for k in kinds[act_rows]]))
    cat_oof = _softmax(cat_oof * params.temperature)
    kind_oof = _softmax(kind_oof * params.kind_temperature)
    oof = _score_oof(examples, classes, kind_classes, cat_oof, kind_oof)
    calibrator = _fit_calibration([o["raw"] for o in oof if o["actionable"]],
                                  [o["right"] for o in oof if o["actionable"]])
    for o in oof:
        o["confidence"] = float(np.interp(o["raw"], calibrator[0], calibrator[1]))
    thresholds = choose_thresholds([o for o in oof if o["actionable"]], params.target_precision, params.min_support)

    cat_clf = _classifier(params.C, params.seed).fit(X, labels)
    secondary = _fit_secondary(examples, X, params)
    kind_clf = _classifier(params.kind_C, params.seed).fit(X[actionable], kinds[actionable])
    report = TrainingReport(rows=len(examples), per_category=dict(Counter(labels)),
                            per_group=dict(Counter(e.group for e in examples)), oof=oof)
    report.heldout = heldout_scores(oof)
    report.seconds = time.perf_counter() - started
    model = RoutingModel(char_vec=char_vec, word_vec=word_vec, dense_names=dense_names, params=params,
                         cat_clf=cat_clf, kind_clf=kind_clf, calibrator=calibrator, thresholds=thresholds,
                         meta={**(meta or {}), "rows": len(examples), "trained_seconds": round(report.seconds, 2),
                               "heldout": report.heldout},
                         points=[(o["predicted"], round(o["confidence"], 4), o["right"]) for o in oof if o["actionable"]],
                         secondary=secondary)
    return model, report


SECONDARY_MIN_POSITIVES = 3  # a category needs this many labelled "also names it" examples to be learned


def _fit_secondary(examples: Sequence[Example], X, params: Params):
    """One linear SVM per category: does the message ALSO name this problem (corpus secondary_categories)?
    Only examples labelled with their secondary categories (an empty list counts) train it; None without
    enough of them (a city's rows carry no such label). The engine lists a second problem only when this
    margin, the rules' words and a clause of its own agree (routing/engine.py, thresholds.yaml)."""
    rows = np.array([i for i, e in enumerate(examples) if e.secondary_known and e.category], dtype=np.int64)
    if len(rows) < 50:
        return None
    counts = Counter(c for i in rows for c in examples[i].secondary)
    classes = sorted(c for c, n in counts.items() if n >= SECONDARY_MIN_POSITIVES)
    if not classes:
        return None
    Xs = X[rows]
    coef, intercept = [], []
    for c in classes:
        y = np.array([c in examples[i].secondary for i in rows])
        clf = _classifier(params.C, params.seed).fit(Xs, y)
        coef.append(np.asarray(clf.coef_[0], dtype=np.float32))
        intercept.append(float(clf.intercept_[0]))
    return classes, np.vstack(coef), np.asarray(intercept)


def _score_oof(examples, classes, kind_classes, cat_oof, kind_oof) -> list[dict[str, Any]]:
    out = []
    act = [j for j, c in enumerate(classes) if c != NONE]
    for i, e in enumerate(examples):
        row = cat_oof[i, act]
        total = row.sum() or 1.0
        j = int(np.argmax(row))
        cat, p_cat = classes[act[j]], float(row[j] / total)
        kinds = {kind_classes[k]: float(kind_oof[i, k]) for k in range(len(kind_classes))}
        kind = max(kinds, key=kinds.get) if kinds else "COMPLAINT"
        raw = raw_confidence(p_cat, kind, kinds)
        none_p = float(cat_oof[i, classes.index(NONE)]) if NONE in classes else 0.0
        right_side = e.kind is None or ((kind in ANSWERED_BY_CONTROL_ROOM) == (e.kind in ANSWERED_BY_CONTROL_ROOM))
        out.append({"id": e.id, "group": e.group, "actionable": e.category is not None, "expected": e.category,
                    "predicted": cat, "none_p": none_p, "kind_expected": e.kind, "kind": kind, "raw": raw,
                    "right": bool(e.category == cat and right_side)})
    return out


def _fit_calibration(raw: Sequence[float], right: Sequence[bool]) -> tuple[list[float], list[float]]:
    """Isotonic map raw -> P(right), as (x, y) breakpoints; identity when there is too little data."""
    if len(raw) < 20 or len(set(right)) < 2:
        return [0.0, 1.0], [0.0, 1.0]
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip", increasing=True)
    iso.fit(np.asarray(raw), np.asarray(right, dtype=float))
    x = [0.0, *map(float, iso.X_thresholds_), 1.0]
    y = [float(iso.predict([0.0])[0]), *map(float, iso.y_thresholds_), float(iso.predict([1.0])[0])]
    return x, y


def heldout_scores(oof: Sequence[dict]) -> dict[str, Any]:
    act = [o for o in oof if o["actionable"]]
    if not act:
        return {}
    acc = sum(o["expected"] == o["predicted"] for o in act) / len(act)
    kinds = [o["kind"] == o["kind_expected"] for o in act if o["kind_expected"]]
    return {"n": len(act), "category_accuracy": round(acc, 4), "category_macro_f1": round(macro_f1(act), 4),
            # None when no row carries a kind (a city's file of text and category only)
            "kind_accuracy": round(sum(kinds) / len(kinds), 4) if kinds else None, "ece": round(ece(act)[0], 4)}


def macro_f1(items: Sequence[dict], expected: str = "expected", predicted: str = "predicted") -> float:
    labels = {o[expected] for o in items}
    f1s = []
    for lab in labels:
        tp = sum(1 for o in items if o[expected] == lab and o[predicted] == lab)
        fp = sum(1 for o in items if o[expected] != lab and o[predicted] == lab)
        fn = sum(1 for o in items if o[expected] == lab and o[predicted] != lab)
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(f1s) / len(f1s) if f1s else math.nan


def ece(items: Sequence[dict], bins: int = 10) -> tuple[float, list[tuple[float, float, int, float, float]]]:
    """Expected calibration error and the reliability table: (lo, hi, n, mean confidence, accuracy) per bin."""
    table, total, err = [], len(items), 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        inside = [o for o in items if lo <= o["confidence"] < hi or (b == bins - 1 and o["confidence"] == 1.0)]
        if not inside:
            continue
        conf = sum(o["confidence"] for o in inside) / len(inside)
        acc = sum(o["right"] for o in inside) / len(inside)
        err += len(inside) / total * abs(conf - acc)
        table.append((lo, hi, len(inside), conf, acc))
    return err, table
