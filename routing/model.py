"""The learned half of routing: a linear model over char and word n-grams plus the rules' scores.

`train(examples, featurise)` fits two classifiers on `ModelInput`s (routing/features.py):
- category (our codes, plus NONE for messages that are not actionable), and
- kind (COMPLAINT, EMERGENCY, ASPIRATION, INFORMATION_REQUEST), on the actionable examples.
It measures itself on held-out predictions (k-fold, every example predicted by a model that never saw
it), fits ONE calibrated confidence on them (isotonic: the probability that category and agency are
right), and chooses per category the confidence above which reports are right at the target precision
(selective automation). Priority and agency are not learned: the rules derive them (routing/engine.py).

A `RoutingModel` is pure: no database, no files. `to_bytes()`/`from_bytes()` (joblib) store it.
"""
from __future__ import annotations

import io
import math
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

import numpy as np
from scipy import sparse

from .features import ModelInput

NONE = "NONE"  # the category label of a message that is not actionable
KINDS = ("COMPLAINT", "EMERGENCY", "ASPIRATION", "INFORMATION_REQUEST")
ANSWERED_BY_CONTROL_ROOM = frozenset({"ASPIRATION", "INFORMATION_REQUEST"})
FORMAT = 1  # bump when the stored shape changes (an old blob then fails to load with a clear error)


@dataclass(frozen=True)
class Example:
    text: str
    category: str | None          # None: not actionable
    kind: str | None = None
    channel: str | None = None
    group: str = "corpus"         # where it came from (a corpus file, "city", "corrections"): grouped CV
    id: str | None = None
    secondary: tuple[str, ...] = ()


@dataclass(frozen=True)
class Prediction:
    category: str                         # best actionable category (never NONE)
    category_probs: tuple[tuple[str, float], ...]   # ranked, actionable categories only
    none_prob: float                      # probability that the message is not actionable
    kind: str
    kind_probs: tuple[tuple[str, float], ...]
    confidence: float                     # calibrated P(category and agency right)
    terms: tuple[str, ...] = ()           # strongest features for the category decision


@dataclass
class Params:
    char_ngrams: tuple[int, int] = (2, 5)
    word_ngrams: tuple[int, int] = (1, 2)
    min_df: int = 2
    dense_weight: float = 0.1
    C: float = 0.5
    kind_C: float = 0.5
    temperature: float = 1.0       # softmax(temperature x margin): fitted on held-out margins at training
    kind_temperature: float = 1.0
    folds: int = 5
    target_precision: float = 0.97
    min_support: int = 8
    seed: int = 7


class RoutingModel:
    def __init__(self, *, char_vec, word_vec, dense_names: Sequence[str], params: Params, cat_clf, kind_clf,
                 calibrator, thresholds: dict[str, float], meta: dict[str, Any],
                 points: Sequence[tuple[str, float, bool]] = ()):
        self.char_vec, self.word_vec = char_vec, word_vec
        self.dense_names = list(dense_names)
        self.params = params
        self.cat_clf, self.kind_clf = cat_clf, kind_clf
        self.calibrator = calibrator
        self.thresholds = dict(thresholds)
        self.meta = dict(meta)
        self.points = [tuple(p) for p in points]  # held-out (predicted category, confidence, right)
        self._thresholds_for: dict[tuple[float, int], dict[str, float]] = {
            (params.target_precision, params.min_support): self.thresholds}
        self._prepare()

    def threshold(self, category: str, target: float | None = None, min_support: int | None = None) -> float:
        """The confidence at or above which `category` is forwarded without a person, for `target`
        precision (default: the one the model was trained for), from the stored held-out predictions."""
        key = (self.params.target_precision if target is None else target,
               self.params.min_support if min_support is None else min_support)
        table = self._thresholds_for.get(key)
        if table is None:
            table = choose_thresholds([{"predicted": p, "confidence": c, "right": r} for p, c, r in self.points],
                                      key[0], key[1])
            self._thresholds_for[key] = table
        return table.get(category, table.get("*", 1.01))

    def _prepare(self) -> None:
        self.classes = [str(c) for c in self.cat_clf.classes_]
        self.kind_classes = [str(c) for c in self.kind_clf.classes_]
        self._none_index = self.classes.index(NONE) if NONE in self.classes else None
        self._n_char = len(self.char_vec.vocabulary_)
        self._n_word = len(self.word_vec.vocabulary_)
        names = np.empty(self._n_word, dtype=object)
        for term, j in self.word_vec.vocabulary_.items():
            names[j] = term
        self._word_names = names
        # Calibration as a lookup table (np.interp is ~50x faster per report than IsotonicRegression.predict).
        self._cal_x = np.asarray(self.calibrator[0], dtype=float)
        self._cal_y = np.asarray(self.calibrator[1], dtype=float)
        from .linear import CompiledModel

        self._fast = CompiledModel(self.char_vec, self.word_vec, self.params.dense_weight, self.cat_clf, self.kind_clf)

    # ------------------------------------------------------------ prediction
    def matrix(self, inputs: Sequence[ModelInput]):
        return _stack(self.char_vec, self.word_vec, inputs, self.params.dense_weight)

    def predict(self, inputs: Sequence[ModelInput], explain: bool = True) -> list[Prediction]:
        """Predictions through the compiled path (routing/linear.py): the same arithmetic as sklearn's."""
        out = []
        fast, params = self._fast, self.params
        for x in inputs:
            idx, vals = fast.features(x.words, x.stems, x.dense)
            cat_row = _softmax1(fast.cat.margins(idx, vals) * params.temperature)
            kind_row = _softmax1(fast.kind.margins(idx, vals) * params.kind_temperature)
            out.append(self._one(idx, vals, cat_row, kind_row, explain))
        return out

    def margins(self, inputs: Sequence[ModelInput]):
        """sklearn's own category margins for `inputs` (the reference the compiled path must match)."""
        return _margins(self.cat_clf.decision_function(self.matrix(inputs)))

    def _one(self, idx, vals, cat_row, kind_row, explain: bool) -> Prediction:
        none_p = float(cat_row[self._none_index]) if self._none_index is not None else 0.0
        order = np.argsort(-cat_row)
        ranked = [(self.classes[j], float(cat_row[j])) for j in order if j != self._none_index]
        total = sum(p for _, p in ranked) or 1.0
        ranked = [(c, p / total) for c, p in ranked]  # P(category | actionable)
        kinds = sorted(((self.kind_classes[j], float(kind_row[j])) for j in range(len(self.kind_classes))),
                       key=lambda kv: -kv[1])
        category, p_cat = ranked[0]
        kind = kinds[0][0]
        raw = raw_confidence(p_cat, kind, dict(kinds))
        confidence = float(np.interp(raw, self._cal_x, self._cal_y))
        terms = self._terms(idx, vals, self.classes.index(category)) if explain else ()
        return Prediction(category, tuple(ranked[:5]), none_p, kind, tuple(kinds), confidence, terms)

    def _terms(self, idx, vals, cls: int, top: int = 5) -> tuple[str, ...]:
        """The words (stems) and rule scores that pushed most towards the chosen category."""
        readable = idx >= self._n_char  # char n-grams are not readable; the word and rule features say the same
        idx, vals = idx[readable], vals[readable]
        contrib = vals * self._fast.cat.coef[cls, idx]
        picked = []
        for k in np.argsort(-contrib)[:top]:
            if contrib[k] <= 0:
                break
            j = int(idx[k]) - self._n_char
            name = self._word_names[j] if j < self._n_word else f"rules:{self.dense_names[j - self._n_word]}"
            picked.append(f"{name}(+{contrib[k]:.2f})")
        return tuple(picked)

    # ------------------------------------------------------------ storage
    def to_bytes(self) -> bytes:
        import joblib

        state = {"format": FORMAT, "char_vec": self.char_vec, "word_vec": self.word_vec,
                 "dense_names": self.dense_names, "params": self.params.__dict__, "cat_clf": self.cat_clf,
                 "kind_clf": self.kind_clf, "calibrator": self.calibrator, "thresholds": self.thresholds,
                 "meta": self.meta, "points": self.points}
        buf = io.BytesIO()
        joblib.dump(state, buf, compress=3)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> "RoutingModel":
        """Load a stored model. Blobs come from this platform's own database or cache, never from users."""
        import joblib

        state = joblib.load(io.BytesIO(blob))
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise ValueError("stored routing model has an unknown format; train it again")
        return cls(char_vec=state["char_vec"], word_vec=state["word_vec"], dense_names=state["dense_names"],
                   params=Params(**state["params"]), cat_clf=state["cat_clf"], kind_clf=state["kind_clf"],
                   calibrator=state["calibrator"], thresholds=state["thresholds"], meta=state["meta"],
                   points=state.get("points", ()))


# ---------------------------------------------------------------- helpers
def raw_confidence(p_cat: float, kind: str, kind_probs: dict[str, float]) -> float:
    """P(category right) x P(the agency side is right: the control room for aspirations and information
    requests, else the category's agency). Calibrated afterwards."""
    side = ANSWERED_BY_CONTROL_ROOM if kind in ANSWERED_BY_CONTROL_ROOM else frozenset(KINDS) - ANSWERED_BY_CONTROL_ROOM
    return p_cat * sum(p for k, p in kind_probs.items() if k in side)


def _margins(z):
    z = np.atleast_2d(z)
    return np.hstack([-z, z]) if z.shape[1] == 1 else z


def _softmax1(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def _softmax(z):
    z = np.atleast_2d(z)
    if z.shape[1] == 1:  # binary decision_function
        z = np.hstack([-z, z])
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _vectorisers(params: Params):
    from sklearn.feature_extraction.text import TfidfVectorizer

    char_vec = TfidfVectorizer(analyzer="char_wb", ngram_range=tuple(params.char_ngrams), sublinear_tf=True,
                               min_df=params.min_df, dtype=np.float32)
    word_vec = TfidfVectorizer(analyzer="word", ngram_range=tuple(params.word_ngrams), sublinear_tf=True,
                               token_pattern=r"\S+", min_df=1, dtype=np.float32)
    return char_vec, word_vec


def _stack(char_vec, word_vec, inputs: Sequence[ModelInput], dense_weight: float):
    dense = np.asarray([x.dense for x in inputs], dtype=np.float32) * dense_weight
    return sparse.hstack([char_vec.transform([x.words for x in inputs]),
                          word_vec.transform([x.stems for x in inputs]),
                          sparse.csr_matrix(dense)], format="csr")


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
    kind_clf = _classifier(params.kind_C, params.seed).fit(X[actionable], kinds[actionable])
    report = TrainingReport(rows=len(examples), per_category=dict(Counter(labels)),
                            per_group=dict(Counter(e.group for e in examples)), oof=oof)
    report.heldout = heldout_scores(oof)
    report.seconds = time.perf_counter() - started
    model = RoutingModel(char_vec=char_vec, word_vec=word_vec, dense_names=dense_names, params=params,
                         cat_clf=cat_clf, kind_clf=kind_clf, calibrator=calibrator, thresholds=thresholds,
                         meta={**(meta or {}), "rows": len(examples), "trained_seconds": round(report.seconds, 2),
                               "heldout": report.heldout},
                         points=[(o["predicted"], round(o["confidence"], 4), o["right"]) for o in oof if o["actionable"]])
    return model, report


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


def choose_thresholds(oof: Sequence[dict], target: float, min_support: int) -> dict[str, float]:
    """Per predicted category, the lowest confidence t such that the reports at or above t were right at
    `target` precision (on held-out predictions) with at least `min_support` of them; categories with too
    few predictions take the threshold chosen over all categories together. 1.01 means never."""
    def lowest(items) -> float | None:
        items = sorted(items, key=lambda o: -o["confidence"])
        best, right = None, 0
        for n, o in enumerate(items, 1):
            right += o["right"]
            last = n == len(items) or items[n]["confidence"] < o["confidence"]
            if last and n >= min_support and right / n >= target:
                best = o["confidence"]
        return best

    overall = lowest(oof)
    overall = 1.01 if overall is None else overall
    out = {"*": overall}
    by_cat: dict[str, list] = {}
    for o in oof:
        by_cat.setdefault(o["predicted"], []).append(o)
    for cat, items in by_cat.items():
        t = lowest(items) if len(items) >= 2 * min_support else None
        out[cat] = max(overall, t) if t is not None else overall
    return out


def heldout_scores(oof: Sequence[dict]) -> dict[str, Any]:
    act = [o for o in oof if o["actionable"]]
    if not act:
        return {}
    acc = sum(o["expected"] == o["predicted"] for o in act) / len(act)
    kind_acc = sum(o["kind"] == o["kind_expected"] for o in act if o["kind_expected"]) / max(
        1, sum(1 for o in act if o["kind_expected"]))
    return {"n": len(act), "category_accuracy": round(acc, 4), "category_macro_f1": round(macro_f1(act), 4),
            "kind_accuracy": round(kind_acc, 4), "ece": round(ece(act)[0], 4)}


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
