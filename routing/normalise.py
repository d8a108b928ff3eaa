"""Text normalisation for informal Indonesian: case and accents, repeated letters, slang,
typos (rapidfuzz) and stemming (Sastrawi, cached), plus a phrase matcher over stems.

`Normaliser.analyse(text)` is the single entry point; every cache lives on the instance, so two
routers loaded from different rules never share corrections.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Iterable, Mapping

from rapidfuzz import process
from rapidfuzz.distance import DamerauLevenshtein

BOUNDARY = ","  # clause boundary token: commas, full stops, new lines, "tapi"/"but"
QUESTION = "?"
_TOKEN_RE = re.compile(r"[a-z0-9]+|[?]|[,.;:!\n()/|]")
_REDUP_RE = re.compile(r"\b([a-z]{2,})2\b")  # "anak2" -> "anak" (reduplication written with a 2)
_RUN3_RE = re.compile(r"(.)\1{2,}")
_RUN2_RE = re.compile(r"(.)\1+")
_CLAUSE_WORDS = frozenset({"tapi", "but", "namun"})
# A full stop after these is an abbreviation ("kel.", "jl.", "no."), not the end of a clause.
_ABBREVIATIONS = frozenset("kel kec jl jln gg kab no rt rw kh dr ir st sd smp pak bu hj jend kp perum komp blok "
                           "yth tn ny sdr".split())


@lru_cache(maxsize=1)
def _sastrawi():
    from Sastrawi.Stemmer.StemmerFactory import StemmerFactory

    factory = StemmerFactory()
    return factory.create_stemmer(), frozenset(factory.get_words())


_STEMS: dict[str, str] = {}


def stem(word: str) -> str:
    """Sastrawi stem of one lower-case word, cached process-wide (stemming is the slow part)."""
    cached = _STEMS.get(word)
    if cached is None:
        if word.isalpha() and len(word) > 3:
            cached = _sastrawi()[0].stem(word) or word
        else:
            cached = word
        _STEMS[word] = cached
    return cached


def dictionary() -> frozenset[str]:
    """Sastrawi's list of Indonesian root words, used to tell real words from typos and gibberish."""
    return _sastrawi()[1]


def fold(text: str) -> str:
    """Lower case, accents removed, reduplication '2' dropped."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    text = text.replace("\u2019", "'").replace("'", "")
    return _REDUP_RE.sub(r"\1", text)


def raw_tokens(text: str) -> list[str]:
    """Words, '?' and clause boundaries (','), before slang and spelling repair."""
    out: list[str] = []
    for tok in _TOKEN_RE.findall(fold(text)):
        if tok == QUESTION or tok[0].isalnum():
            out.append(tok)
        elif tok == "." and out and (out[-1] in _ABBREVIATIONS or len(out[-1]) == 1):
            continue
        elif out and out[-1] != BOUNDARY:
            out.append(BOUNDARY)
    return out


@dataclass(frozen=True)
class Analysis:
    """One message, normalised. `tokens` keeps boundaries and '?'; `stems` is parallel to it."""

    tokens: tuple[str, ...]
    stems: tuple[str, ...]
    clauses: tuple[int, ...]
    word_count: int
    known_share: float
    corrections: tuple[str, ...] = field(default=())

    @property
    def text(self) -> str:
        return " ".join(t for t in self.tokens if t not in (BOUNDARY, QUESTION))


class Normaliser:
    def __init__(self, slang: Mapping[str, str], vocabulary: Iterable[str], fuzzy_min_length: int = 5,
                 fuzzy_cutoff: float = 85):
        self.slang = {k: tuple(v.split()) for k, v in slang.items()}
        self.vocabulary = frozenset(vocabulary)
        self.fuzzy_targets = sorted(w for w in self.vocabulary if len(w) >= fuzzy_min_length - 1 and w.isalpha())
        self.fuzzy_min_length = fuzzy_min_length
        self.fuzzy_cutoff = fuzzy_cutoff
        self._words: dict[str, tuple[tuple[str, ...], str | None, bool]] = {}
        self._slang_values = frozenset(w for v in self.slang.values() for w in v)

    def _known(self, word: str) -> bool:
        return (word in self.vocabulary or word in self.slang or word in self._slang_values
                or word.isdigit() or word in dictionary() or stem(word) in dictionary())

    def _repair(self, tok: str) -> tuple[tuple[str, ...], str | None, bool]:
        """-> (words, correction note or None, known). Cached per raw token."""
        hit = self._words.get(tok)
        if hit is not None:
            return hit
        result = self._repair_uncached(tok)
        if len(self._words) < 200_000:
            self._words[tok] = result
        return result

    def _repair_uncached(self, tok: str) -> tuple[tuple[str, ...], str | None, bool]:
        if tok in self.slang:
            return self.slang[tok], None, True
        if self._known(tok) or tok[0].isdigit():
            return (tok,), None, True
        for candidate in dict.fromkeys((_RUN3_RE.sub(r"\1", tok), _RUN2_RE.sub(r"\1", tok))):
            if candidate != tok:
                if candidate in self.slang:
                    return self.slang[candidate], f"{tok}->{' '.join(self.slang[candidate])}", True
                if self._known(candidate):
                    return (candidate,), f"{tok}->{candidate}", True
        word = _RUN3_RE.sub(r"\1", tok)
        if len(word) >= self.fuzzy_min_length and self.fuzzy_targets:
            match = process.extractOne(word, self.fuzzy_targets, scorer=DamerauLevenshtein.normalized_similarity,
                                       score_cutoff=self.fuzzy_cutoff / 100)
            if match is not None:
                return (match[0],), f"{tok}~{match[0]}", True
        return (word,), None, False

    def analyse(self, text: str) -> Analysis:
        tokens: list[str] = []
        clauses: list[int] = []
        corrections: list[str] = []
        clause = words = known = 0
        for tok in raw_tokens(text):
            if tok == BOUNDARY or tok in _CLAUSE_WORDS:
                clause += 1
                if tokens and tokens[-1] != BOUNDARY:
                    tokens.append(BOUNDARY)
                    clauses.append(clause)
                continue
            if tok == QUESTION:
                tokens.append(tok)
                clauses.append(clause)
                clause += 1
                continue
            repaired, note, is_known = self._repair(tok)
            words += 1
            known += is_known
            if note:
                corrections.append(note)
            for w in repaired:
                tokens.append(w)
                clauses.append(clause)
        stems = tuple(stem(t) for t in tokens)
        return Analysis(tuple(tokens), stems, tuple(clauses), words, known / words if words else 0.0,
                        tuple(corrections))

    def term_stems(self, term: str) -> tuple[str, ...]:
        """How a rule word or phrase is matched: its tokens after slang, stemmed (no typo repair)."""
        exact = term.startswith("=")
        out: list[str] = []
        for tok in raw_tokens(term.lstrip("=")):
            if tok == BOUNDARY:
                continue
            out.extend(("=" + w) if exact else stem(w) for w in self.slang.get(tok, (tok,)))
        return tuple(out)


@dataclass(frozen=True)
class Match:
    start: int
    end: int
    term: str
    weights: tuple[tuple[str, float], ...]  # (label, weight) for every label that lists the term


class TermIndex:
    """Longest-match phrase finder over stem sequences for weighted terms grouped by label."""

    def __init__(self, normaliser: Normaliser, groups: Mapping[str, Mapping[str, float]]):
        by_seq: dict[tuple[str, ...], tuple[str, dict[str, float]]] = {}
        for label, terms in groups.items():
            for term, weight in terms.items():
                seq = normaliser.term_stems(str(term))
                if not seq:
                    continue
                entry = by_seq.setdefault(seq, (str(term), {}))
                entry[1][label] = max(entry[1].get(label, 0.0), float(weight))  # same stems: strongest
        self._first: dict[str, list[tuple[tuple[str, ...], str, tuple[tuple[str, float], ...]]]] = {}
        for seq, (term, weights) in by_seq.items():
            self._first.setdefault(seq[0], []).append((seq, term, tuple(weights.items())))
        for options in self._first.values():
            options.sort(key=lambda o: -len(o[0]))

    def find(self, a: "Analysis") -> list[Match]:
        """Matches in `a`, longest first at each position. A term written "=word" matches the
        normalised word itself rather than its stem ("=masukan" must not match "masuk")."""
        stems, tokens = a.stems, a.tokens
        out: list[Match] = []
        i, n = 0, len(stems)
        while i < n:
            options = self._first.get(stems[i], ())
            exact = self._first.get("=" + tokens[i])
            if exact:
                options = sorted((*options, *exact), key=lambda o: -len(o[0]))
            for seq, term, weights in options:
                end = i + len(seq)
                if end <= n and all(k == stems[j] if k[0] != "=" else k[1:] == tokens[j]
                                    for j, k in zip(range(i, end), seq)):
                    out.append(Match(i, end, term, weights))
                    i = end
                    break
            else:
                i += 1
        return out


def negated(match: Match, negators: list[Match], clauses: tuple[int, ...], window: int) -> Match | None:
    """The negator that governs `match` (ends at most `window` tokens before it, same clause), if any."""
    for neg in negators:
        if neg.end <= match.start and match.start - neg.end < window \
                and clauses[neg.end - 1] == clauses[match.start]:
            return neg
    return None
