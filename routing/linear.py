"""One report at a time without scikit-learn's per-call overhead: the fitted TF-IDF vectorisers and linear
classifiers of a RoutingModel compiled into dictionaries and arrays (the same arithmetic: sublinear tf x idf,
l2 per block, then coef . x + intercept). scikit-learn's own transform/decision_function spend ~5 ms per
call on input validation; this takes ~0.1 ms, which is what makes >= 1,000 reports/s on one core.
tests/test_routing_model.py checks that both give the same margins.
"""
from __future__ import annotations

import re
from collections import Counter
from typing import Sequence

import numpy as np

_WHITE = re.compile(r"\s\s+")
_EMPTY_I = np.zeros(0, dtype=np.int64)
_EMPTY_F = np.zeros(0, dtype=np.float64)


class CompiledVectoriser:
    def __init__(self, vec):
        self.vocabulary = {str(k): int(v) for k, v in vec.vocabulary_.items()}
        self.idf = np.asarray(vec.idf_, dtype=np.float64)
        self.analyzer = vec.analyzer
        self.ngram_range = tuple(vec.ngram_range)
        self.lowercase = vec.lowercase
        self.sublinear = vec.sublinear_tf
        if self.analyzer not in ("char_wb", "word") or vec.strip_accents or vec.norm != "l2" or not vec.use_idf:
            raise ValueError("unsupported vectoriser settings for the compiled path")
        self._cache: dict[str, list[int]] = {}  # word -> its char n-grams' columns

    def _word_grams(self, w: str) -> list[str]:
        """char_wb n-grams of one word, as sklearn's _char_wb_ngrams makes them."""
        w = " " + w + " "
        size = len(w)
        out: list[str] = []
        lo, hi = self.ngram_range
        for n in range(lo, hi + 1):
            if size <= n:
                out.append(w)  # a short word counts once
                break
            out.extend([w[i:i + n] for i in range(size - n + 1)])
        return out

    def grams(self, text: str) -> list[str]:
        if self.lowercase:
            text = text.lower()
        if self.analyzer == "char_wb":
            out: list[str] = []
            for w in _WHITE.sub(" ", text).split():
                out.extend(self._word_grams(w))
            return out
        lo, hi = self.ngram_range
        tokens = text.split()  # token_pattern r"\S+"
        out = []
        for n in range(lo, min(hi, len(tokens)) + 1):
            out.extend(tokens if n == 1 else [" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1)])
        return out

    def _columns(self, text: str) -> list[int]:
        vocab = self.vocabulary
        if self.analyzer != "char_wb":
            return [j for j in map(vocab.get, self.grams(text)) if j is not None]
        cache = self._cache
        out: list[int] = []
        for w in _WHITE.sub(" ", text.lower() if self.lowercase else text).split():
            cols = cache.get(w)
            if cols is None:
                cols = [j for j in map(vocab.get, self._word_grams(w)) if j is not None]
                if len(cache) < 100_000:
                    cache[w] = cols
            out.extend(cols)
        return out

    def vector(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        counts = Counter(self._columns(text))
        if not counts:
            return _EMPTY_I, _EMPTY_F
        idx = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
        vals = ((1.0 + np.log(tf)) if self.sublinear else tf) * self.idf[idx]
        return idx, vals / (np.sqrt(vals @ vals) or 1.0)


class CompiledLinear:
    """coef . x + intercept for a sparse x given as (indices, values)."""

    def __init__(self, clf):
        self.coef = np.asarray(clf.coef_, dtype=np.float64)
        self.intercept = np.asarray(clf.intercept_, dtype=np.float64)

    def margins(self, idx: np.ndarray, vals: np.ndarray) -> np.ndarray:
        z = self.coef[:, idx] @ vals + self.intercept
        return np.array([-z[0], z[0]]) if z.shape[0] == 1 else z


class CompiledModel:
    def __init__(self, char_vec, word_vec, dense_weight: float, cat_clf, kind_clf):
        self.char = CompiledVectoriser(char_vec)
        self.word = CompiledVectoriser(word_vec)
        self.n_char = len(self.char.vocabulary)
        self.n_word = len(self.word.vocabulary)
        self.dense_weight = dense_weight
        self.cat = CompiledLinear(cat_clf)
        self.kind = CompiledLinear(kind_clf)

    def features(self, words: str, stems: str, dense: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
        ci, cv = self.char.vector(words)
        wi, wv = self.word.vector(stems)
        base = self.n_char + self.n_word
        dk = [k for k, v in enumerate(dense) if v]
        di = np.fromiter((base + k for k in dk), dtype=np.int64, count=len(dk))
        dv = np.fromiter((dense[k] * self.dense_weight for k in dk), dtype=np.float64, count=len(dk))
        return np.concatenate((ci, wi + self.n_char, di)), np.concatenate((cv, wv, dv))
