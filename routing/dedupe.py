"""Duplicate reports of one incident: a pairwise score with reasons, a batch scorer, and a stream deduper.

One incident reported on WhatsApp, X and 112 is worded differently each time, so the score combines
place (coordinates, kelurahan, kecamatan, street), time, category, the same citizen and a text
similarity that survives rewording: TF-IDF cosine over character n-grams (char_wb 2-5, robust to
typos, slang spellings and word order) and over words. The n-grams are hashed, so the IDF fitted once on
the shipped corpus also weighs n-grams it never saw (a new city's street and landmark names) as rare,
which is what they are. The weights, windows and the threshold are data (thresholds.yaml `dedupe`).

`DuplicateScorer.score_many` scores a batch of new reports against their candidates with one sparse
matrix product; `duplicate_score(a, b)` is the same score for one pair. Both are pure and know nothing of
storage: routing/duplicates.py queries the candidates (same category, window, place) and calls them,
`classify --dedupe` (routing/stream.py) uses `StreamDeduper`.
"""
from __future__ import annotations

import math
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from .location import haversine_m

DEFAULTS = {
    "threshold": 0.65, "window_hours_emergency": 6, "window_hours_default": 72, "near_m": 150, "far_m": 1000,
    "weights": {"category": 0.20, "place": 0.40, "time": 0.10, "text": 0.60, "citizen": 0.15, "rare_words": 0.20},
    # kinds of report that can be one incident (an aspiration or a question is not)
    "kinds": ["COMPLAINT", "EMERGENCY"],
    # share of the character n-gram cosine in the text similarity (the rest: word cosine)
    "text_char_share": 1.0,
    # the text's weight when the two reports share neither a place nor a rare word (similar words alone are weak)
    "no_place_text_factor": 0.3,
    # a rare word is used by at most this share of the corpus' reports (names of streets, landmarks, areas);
    # `rare_words_full` of them shared give the full rare-word weight
    "rare_share": 0.01, "rare_words_full": 1,
    # place evidence (0-1) for each kind of shared place
    "place_scores": {"same_kelurahan": 0.8, "same_kelurahan_street": 1.0, "same_kecamatan": 0.3,
                     "same_kecamatan_street": 0.8, "same_street": 0.5, "different_street": 0.5},
}
N_FEATURES = 2 ** 18
MAX_TEXT = 2000  # characters of a report that are compared (the opening names the incident)


def merged_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """DEFAULTS overlaid with thresholds.yaml's `dedupe` (nested dicts merged key by key)."""
    p = {**DEFAULTS, **(params or {})}
    for key in ("weights", "place_scores"):
        p[key] = {**DEFAULTS[key], **((params or {}).get(key) or {})}
    return p


@dataclass(frozen=True)
class DedupeItem:
    id: str
    category: str | None
    received_at: datetime | None = None
    text: str = ""
    lat: float | None = None
    lon: float | None = None
    kelurahan_code: str | None = None
    kecamatan: str | None = None
    street: str | None = None
    citizen: str | None = None
    emergency: bool = False
    kind: str | None = None


# ---------------------------------------------------------------- text similarity
def _clean(text: str) -> str:
    return (text or "")[:MAX_TEXT].lower()


class TextSimilarity:
    """TF-IDF vectors (hashed char_wb 2-5 n-grams and words 1-2) whose cosines survive rewording.
    `fit(texts)` learns document frequencies once; an n-gram never seen gets the highest IDF."""

    def __init__(self, rare_share: float = 0.01):
        from sklearn.feature_extraction.text import HashingVectorizer

        common = {"n_features": N_FEATURES, "alternate_sign": False, "norm": None, "lowercase": False,
                  "dtype": np.float32}
        self._char = HashingVectorizer(analyzer="char_wb", ngram_range=(2, 5), **common)
        self._word = HashingVectorizer(analyzer="word", ngram_range=(1, 2), token_pattern=r"(?u)\b\w+\b", **common)
        self._unigram = HashingVectorizer(analyzer="word", token_pattern=r"(?u)\b[^\W\d]{3,}\b", binary=True,
                                          **common)
        self.rare_share = rare_share
        self.idf_char = self.idf_word = None
        self.rare = None  # 0/1 per hashed word: at most `rare_share` of the fitted documents use it

    @classmethod
    def fit(cls, texts: Iterable[str], rare_share: float = 0.01, not_rare: Iterable[str] = ()) -> TextSimilarity:
        """Document frequencies of `texts`; `not_rare`: words that never count as rare (the city's own
        kelurahan and kecamatan names: the place score weighs them already)."""
        sim = cls(rare_share)
        docs = [_clean(t) for t in texts]
        n = len(docs)
        sim.idf_char = _idf(_df(sim._char.transform(docs)), n)
        sim.idf_word = _idf(_df(sim._word.transform(docs)), n)
        sim.rare = (_df(sim._unigram.transform(docs)) <= rare_share * n).astype(np.float32)
        known = " ".join(not_rare).lower()
        if known.strip():
            sim.rare[sim._unigram.transform([known]).indices] = 0
        return sim

    def vectors(self, texts: Sequence[str]):
        """-> (char rows, word rows, rare words): L2-normalised sparse TF-IDF rows and the 0/1 rows of the
        rare words (names of streets, landmarks, neighbourhoods), one per text."""
        docs = [_clean(t) for t in texts]
        rare = self._unigram.transform(docs).tocsr()
        rare.data *= self.rare[rare.indices] if self.rare is not None else 0
        rare.eliminate_zeros()
        return (_weigh(self._char.transform(docs), self.idf_char), _weigh(self._word.transform(docs), self.idf_word),
                rare)

    @staticmethod
    def cosines(a, b) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Dense (len(a) x len(b)) char and word cosines and shared rare words of two `vectors` results."""
        return (a[0] @ b[0].T).toarray(), (a[1] @ b[1].T).toarray(), (a[2] @ b[2].T).toarray()


def _df(counts) -> np.ndarray:
    return np.bincount(counts.tocsr().indices, minlength=counts.shape[1])


def _idf(df: np.ndarray, n: int) -> np.ndarray:
    return (np.log((1 + n) / (1 + df)) + 1).astype(np.float32)


def _weigh(counts, idf: np.ndarray | None):
    from sklearn.preprocessing import normalize

    counts = counts.tocsr()
    counts.data = np.log1p(counts.data)  # sublinear tf: a word said three times is not three times the evidence
    if idf is not None:
        counts.data *= idf[counts.indices]
    return normalize(counts, copy=False)


_SHIPPED: dict[tuple, TextSimilarity] = {}
_SHIPPED_LOCK = threading.Lock()


def shipped_similarity(router=None, rare_share: float = DEFAULTS["rare_share"]) -> TextSimilarity:
    """The text similarity with its document frequencies fitted once per process on the shipped corpus
    (data/routing/corpus), normalised as the router normalises reports (`router` None: the texts as they
    are); without a corpus, plain TF cosines and no rare words."""
    from .corpus import corpus_files

    data_dir = Path(router.rules.data_dir) if router is not None else Path(__file__).resolve().parent.parent / "data"
    key = (str(data_dir.resolve()), router is not None, rare_share)
    with _SHIPPED_LOCK:
        if key not in _SHIPPED:
            texts = list(_corpus_texts(tuple(corpus_files(data_dir))))
            _SHIPPED[key] = _cached_fit(router, texts, rare_share) if texts else TextSimilarity(rare_share)
        return _SHIPPED[key]


def _cached_fit(router, texts: list[str], rare_share: float) -> TextSimilarity:
    """Fit on the (normalised) corpus; the fitted frequencies are kept on disk beside the shipped model
    (routing/shipped.py cache_dir), keyed by the corpus, the rules, the normaliser and this code."""
    import hashlib

    from .shipped import cache_dir

    here = Path(__file__).resolve().parent
    sha = hashlib.sha256(repr((rare_share, N_FEATURES, router is not None)).encode())
    for name in ("dedupe.py", "normalise.py"):
        sha.update((here / name).read_bytes())
    if router is not None:
        for path in sorted((Path(router.rules.data_dir) / "routing").glob("*.yaml")):
            sha.update(path.read_bytes())
        sha.update((Path(router.rules.data_dir) / "areas.csv").read_bytes())
    for text in texts:
        sha.update(text.encode())
    path = cache_dir() / f"dedupe-idf-{sha.hexdigest()[:20]}.npz"
    sim = TextSimilarity(rare_share)
    try:
        with np.load(path) as saved:
            sim.idf_char, sim.idf_word, sim.rare = saved["char"], saved["word"], saved["rare"]
        return sim
    except (OSError, KeyError, ValueError):
        pass
    known: list[str] = []
    if router is not None:
        texts = [router.normaliser.analyse(t[:MAX_TEXT]).text for t in texts]
        known = area_words(router)
    sim = TextSimilarity.fit(texts, rare_share, known)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez_compressed(tmp, char=sim.idf_char, word=sim.idf_word, rare=sim.rare)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home: fit again next time
    return sim


def area_words(router) -> list[str]:
    """The city's kelurahan and kecamatan names (and their aliases), normalised as reports are."""
    names = {n for a in router.rules.areas for n in (a.kelurahan, a.kecamatan, *a.aliases)}
    return [router.normaliser.analyse(n).text for n in sorted(names)]


def _corpus_texts(paths: tuple[Path, ...]) -> Iterable[str]:
    import json

    for path in paths:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    text = json.loads(line).get("text")
                    if isinstance(text, str):
                        yield text


# ---------------------------------------------------------------- the score
class DuplicateScorer:
    """The duplicate score: hard gates (category, time window, clearly different places), then
    category + place + time + text similarity + same citizen, weighted as in thresholds.yaml."""

    def __init__(self, params: Mapping[str, Any] | None = None, similarity: TextSimilarity | None = None):
        self.params = merged_params(params)
        self.threshold = float(self.params["threshold"])
        self.similarity = similarity or TextSimilarity(float(self.params["rare_share"]))
        self._kinds = frozenset(self.params["kinds"])

    # ---- the part of the score that needs no text
    def context(self, a: DedupeItem, b: DedupeItem) -> tuple[float | None, list[str], bool]:
        """(score without text or None when a gate says no, reasons, whether a place is shared)."""
        p, w = self.params, self.params["weights"]
        if not a.category or a.category != b.category:
            return None, ["different category"], False
        for item in (a, b):
            if item.kind and item.kind not in self._kinds:
                return None, [f"{item.kind.lower().replace('_', ' ')} is no incident"], False
        score, reasons = w["category"], [f"same category {a.category}"]
        if a.received_at and b.received_at:
            hours = abs((a.received_at - b.received_at).total_seconds()) / 3600
            window = p["window_hours_emergency"] if (a.emergency or b.emergency) else p["window_hours_default"]
            if hours > window:
                return None, reasons + [f"{hours:.1f} h apart (window {window:g} h)"], False
            score += w["time"] * (1 - hours / window) if window else 0
            reasons.append(f"{hours * 60:.0f} min apart")
        place, why = self._place(a, b)
        if place is None:
            return None, reasons + [why], False
        score += w["place"] * place
        reasons.append(why)
        if a.citizen and a.citizen == b.citizen:
            score += w["citizen"]
            reasons.append("same citizen")
        # Two streets named: not one shared place, whatever the kecamatan (the text must then carry more).
        return score, reasons, place > 0 and not (a.street and b.street and a.street != b.street)

    def _place(self, a: DedupeItem, b: DedupeItem) -> tuple[float | None, str]:
        p, ps = self.params, self.params["place_scores"]
        same_street = bool(a.street and a.street == b.street)
        other_street = bool(a.street and b.street and a.street != b.street)
        if None not in (a.lat, a.lon, b.lat, b.lon):
            metres = haversine_m(a.lat, a.lon, b.lat, b.lon)
            if metres > p["far_m"] and not (a.kelurahan_code and a.kelurahan_code == b.kelurahan_code):
                return None, f"{metres:.0f} m apart"
            near = 1.0 if metres <= p["near_m"] else max(0.0, 1 - (metres - p["near_m"]) / (p["far_m"] - p["near_m"]))
            return near, f"{metres:.0f} m apart"
        if a.kelurahan_code and b.kelurahan_code:
            if a.kelurahan_code != b.kelurahan_code:
                return None, "different kelurahan"
            if same_street:
                return ps["same_kelurahan_street"], f"same kelurahan and street {a.street}"
            value = ps["same_kelurahan"] * (ps["different_street"] if other_street else 1.0)
            return value, "same kelurahan" + (" (different streets)" if other_street else "")
        if a.kecamatan and b.kecamatan:
            if a.kecamatan != b.kecamatan:
                return None, "different kecamatan"
            if same_street:
                return ps["same_kecamatan_street"], f"same kecamatan {a.kecamatan} and street {a.street}"
            value = ps["same_kecamatan"] * (ps["different_street"] if other_street else 1.0)
            return value, f"same kecamatan {a.kecamatan}" + (" (different streets)" if other_street else "")
        if same_street:
            return ps["same_street"], f"same street {a.street}"
        return 0.0, "no common place"

    def text_weight(self, shared_place: bool) -> float:
        w = self.params["weights"]["text"]
        return w if shared_place else w * self.params["no_place_text_factor"]

    def text_score(self, reasons: list[str], shared_place: bool, char: float, word: float, rare: float) -> float:
        """The text's part of the score: weighted cosines plus shared rare words; appends the reason."""
        share, w = self.params["text_char_share"], self.params["weights"]
        similarity = share * float(char) + (1 - share) * float(word)
        rare_part = min(1.0, float(rare) / self.params["rare_words_full"])
        reasons.append(f"text similarity {similarity:.2f} (characters {char:.2f}, words {word:.2f})"
                       + (f", {rare:.0f} rare word(s) shared" if rare else ""))
        # Similar words without a shared place or a shared name are weak evidence ("jalan rusak di ..." is common).
        return self.text_weight(shared_place or rare_part > 0) * similarity + w["rare_words"] * rare_part

    @property
    def text_max(self) -> float:
        w = self.params["weights"]
        return w["text"] * max(1.0, self.params["no_place_text_factor"]) + w["rare_words"]

    # ---- scoring
    def score(self, a: DedupeItem, b: DedupeItem) -> tuple[float, list[str]]:
        """Score in [0, 1] that `a` and `b` report the same incident, with the reasons (0 on a gate)."""
        base, reasons, shared = self.context(a, b)
        if base is None:
            return 0.0, reasons
        if a.text and b.text:
            vectors = self.similarity.vectors([a.text, b.text])
            char, word, rare = self.similarity.cosines(vectors, vectors)
            base += self.text_score(reasons, shared, char[0, 1], word[0, 1], rare[0, 1])
        return min(1.0, round(base, 3)), reasons

    def score_many(self, news: Sequence[DedupeItem], candidates: Sequence[DedupeItem],
                   pairs: Iterable[tuple[int, int]] | None = None, vectors=None,
                   at_least: float | None = None) -> list[list[tuple[int, float, list[str]]]]:
        """For each new item, [(candidate index, score, reasons)] of the candidates scoring at least
        `at_least` (default: the threshold), best first. `pairs` limits which (new, candidate) indices are
        scored (default: all); `vectors` may give (new vectors, candidate vectors) computed before."""
        floor = self.threshold if at_least is None else at_least
        kept: list[tuple[int, int, float, list[str], bool]] = []
        max_text = self.text_max
        for i, j in (pairs if pairs is not None else ((i, j) for i in range(len(news)) for j in range(len(candidates)))):
            base, reasons, shared = self.context(news[i], candidates[j])
            if base is None or base + max_text < floor:
                continue
            kept.append((i, j, base, reasons, shared))
        out: list[list[tuple[int, float, list[str]]]] = [[] for _ in news]
        if not kept:
            return out
        rows = sorted({i for i, *_ in kept})
        cols = sorted({j for _, j, *_ in kept})
        if vectors is None:
            new_v = self.similarity.vectors([news[i].text for i in rows])
            cand_v = self.similarity.vectors([candidates[j].text for j in cols])
            row_at, col_at = {i: k for k, i in enumerate(rows)}, {j: k for k, j in enumerate(cols)}
        else:
            new_v, cand_v = vectors
            row_at, col_at = {i: i for i in rows}, {j: j for j in cols}
        char, word, rare = self.similarity.cosines(new_v, cand_v)
        for i, j, base, reasons, shared in kept:
            if news[i].text and candidates[j].text:
                r, c = row_at[i], col_at[j]
                base += self.text_score(reasons, shared, char[r, c], word[r, c], rare[r, c])
            value = min(1.0, round(base, 3))
            if value >= floor:
                out[i].append((j, value, reasons))
        for found in out:
            found.sort(key=lambda f: -f[1])
        return out


@lru_cache(maxsize=8)
def _default_scorer(params_key: str) -> DuplicateScorer:
    import json

    params = json.loads(params_key)
    return DuplicateScorer(params, shipped_similarity(None, float(merged_params(params)["rare_share"])))


def duplicate_score(a: DedupeItem, b: DedupeItem, params: Mapping[str, Any] | None = None) -> tuple[float, list[str]]:
    """Score in [0, 1] that `a` and `b` report the same incident, with the reasons (see DuplicateScorer).
    Hard gates (score 0): different or missing category, outside the time window, clearly different places."""
    import json

    return _default_scorer(json.dumps(params or {}, sort_keys=True)).score(a, b)


class StreamDeduper:
    """For each new item, the id of an earlier item judged the same incident (the first report of
    that incident), or None. Memory holds only items inside the longest time window."""

    def __init__(self, params: Mapping[str, Any] | None = None, max_candidates: int = 2000,
                 similarity: TextSimilarity | None = None, router=None):
        self.max_candidates = max_candidates
        rare_share = float(merged_params(params)["rare_share"])
        self.scorer = DuplicateScorer(params, similarity or shipped_similarity(router, rare_share))
        self.params = self.scorer.params
        self.threshold = self.scorer.threshold
        self._by_category: dict[str, list[tuple[DedupeItem, str, Any]]] = {}
        self._window_s = 3600 * max(self.params["window_hours_emergency"], self.params["window_hours_default"])
        self.last_reasons: list[str] = []

    def add(self, item: DedupeItem) -> str | None:
        self.last_reasons = []
        if not item.category:
            return None
        bucket = self._by_category.setdefault(item.category, [])
        if item.received_at is not None:
            bucket[:] = [entry for entry in bucket if entry[0].received_at is None
                         or abs((item.received_at - entry[0].received_at).total_seconds()) <= self._window_s]
        del bucket[:-self.max_candidates]
        best, best_score = None, self.threshold
        mine = self.scorer.similarity.vectors([item.text])  # once per item, kept with it in the bucket
        reach = self.threshold - self.scorer.text_max
        kept = []
        for entry in bucket:
            base, reasons, shared = self.scorer.context(item, entry[0])
            if base is not None and base >= reach:
                kept.append((entry, base, reasons, shared))
        if kept:
            char, word, rare = (_row_dots(mine[k], [entry[2][k] for entry, *_ in kept]) for k in range(3))
            for n, (entry, base, reasons, shared) in enumerate(kept):
                if item.text and entry[0].text:
                    base += self.scorer.text_score(reasons, shared, char[n], word[n], rare[n])
                value = min(1.0, round(base, 3))
                if value > best_score or (value == best_score and best is None):
                    best, best_score, self.last_reasons = entry[1], value, reasons
        bucket.append((item, best or item.id, mine))
        return best


def _row_dots(query, rows: list) -> np.ndarray:
    """Dot products of one sparse row with each of `rows` (1-row CSR matrices), without stacking them."""
    if not rows:
        return np.zeros(0)
    dense = np.zeros(query.shape[1], dtype=np.float32)
    dense[query.indices] = query.data
    lengths = np.fromiter((r.nnz for r in rows), dtype=np.int64, count=len(rows))
    if not lengths.sum():
        return np.zeros(len(rows))
    products = np.concatenate([r.data for r in rows]) * dense[np.concatenate([r.indices for r in rows])]
    sums = np.zeros(len(rows))
    nonempty = lengths > 0
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    sums[nonempty] = np.add.reduceat(products, starts[nonempty])
    return sums


def f1(precision: float, recall: float) -> float:
    if math.isnan(precision) or math.isnan(recall) or precision + recall == 0:
        return float("nan") if math.isnan(precision) or math.isnan(recall) else 0.0
    return 2 * precision * recall / (precision + recall)
