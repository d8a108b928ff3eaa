"""The learned half of routing: a linear model over char and word n-grams plus the rules' scores.

`train(...)` (routing/fitting.py) fits two classifiers on `ModelInput`s (routing/features.py):
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
from dataclasses import dataclass
from typing import Any, Sequence

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
    secondary_known: bool = False  # labelled with its secondary categories (an empty list is a label too)


@dataclass(frozen=True)
class Prediction:
    category: str                         # best actionable category (never NONE)
    category_probs: tuple[tuple[str, float], ...]   # ranked, actionable categories only
    none_prob: float                      # probability that the message is not actionable
    kind: str
    kind_probs: tuple[tuple[str, float], ...]
    confidence: float                     # calibrated P(category and agency right)
    terms: tuple[str, ...] = ()           # strongest features for the category decision
    secondary: tuple[tuple[str, float], ...] = ()  # margin of "also names this problem" per category, ranked


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
                 points: Sequence[tuple[str, float, bool]] = (), secondary=None):
        self.char_vec, self.word_vec = char_vec, word_vec
        self.dense_names = list(dense_names)
        self.params = params
        self.cat_clf, self.kind_clf = cat_clf, kind_clf
        self.calibrator = calibrator
        self.thresholds = dict(thresholds)
        self.meta = dict(meta)
        self.points = [tuple(p) for p in points]  # held-out (predicted category, confidence, right)
        # "the message also names problem c": (classes, coef, intercept) of one linear SVM per category,
        # trained on the corpus's secondary_categories labels (None: a model stored before them)
        self.secondary = secondary
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
        return table.get(category, NEVER)  # a category without held-out predictions never auto-forwards

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
        if self.secondary is not None:
            classes, coef, intercept = self.secondary
            self._sec_classes = list(classes)
            self._sec_coef = np.asarray(coef, dtype=np.float64)
            self._sec_intercept = np.asarray(intercept, dtype=np.float64)

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
        secondary: tuple[tuple[str, float], ...] = ()
        if self.secondary is not None and len(self._sec_classes):
            z = self._sec_coef[:, idx] @ vals + self._sec_intercept
            secondary = tuple(sorted(((c, float(m)) for c, m in zip(self._sec_classes, z)), key=lambda kv: -kv[1]))
        return Prediction(category, tuple(ranked[:5]), none_p, kind, tuple(kinds), confidence, terms, secondary)

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
                 "meta": self.meta, "points": self.points, "secondary": self.secondary}
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
                   points=state.get("points", ()), secondary=state.get("secondary"))


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


NEVER = 1.01  # a threshold no confidence reaches
WILSON_Z = 1.0  # one standard error: new writers are less predictable than the held-out folds


def wilson_lower(right: int, n: int, z: float = WILSON_Z) -> float:
    """Lower Wilson bound of a precision of right/n: a small sample must be more convincing."""
    if n == 0:
        return 0.0
    p = right / n
    centre = p + z * z / (2 * n)
    margin = z * ((p * (1 - p) + z * z / (4 * n)) / n) ** 0.5
    return (centre - margin) / (1 + z * z / n)


def choose_thresholds(oof: Sequence[dict], target: float, min_support: int) -> dict[str, float]:
    """Per predicted category, the lowest confidence t such that its held-out (out-of-fold) predictions at or
    above t were right at `target` precision (the lower Wilson bound of it) with at least `min_support` of
    them. A category with fewer than 2 x `min_support` held-out predictions, or whose predictions never
    reach the target, never auto-forwards (1.01), and no category forwards below the threshold chosen over
    all categories together ("*", also 1.01 when the whole never reaches the target)."""
    def lowest(items) -> float | None:
        items = sorted(items, key=lambda o: -o["confidence"])
        best, right = None, 0
        for n, o in enumerate(items, 1):
            right += o["right"]
            last = n == len(items) or items[n]["confidence"] < o["confidence"]
            if last and n >= min_support and wilson_lower(right, n) >= target:
                best = o["confidence"]
        return best

    overall = lowest(oof)
    overall = NEVER if overall is None else overall
    out = {"*": overall}
    by_cat: dict[str, list] = {}
    for o in oof:
        by_cat.setdefault(o["predicted"], []).append(o)
    for cat, items in by_cat.items():
        t = lowest(items) if len(items) >= 2 * min_support else None
        out[cat] = max(overall, t) if t is not None else NEVER
    return out


