"""What the learned model sees of a report: the normalised text with places, numbers, mentions and
links masked, its stems, and the rules' own scores (category words and cue lists) as numbers.

The rules' scores are computed once per report by the router (`Router.signals`) and shared by the
rules' decision and the model, so the model adds little time to a classification.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

from .location import compact
from .normalise import BOUNDARY, QUESTION, Analysis, stem

PLACE, NUMBER, QMARK = "zloc", "znum", "zq"
MASKS = frozenset((PLACE, NUMBER, QMARK))
CUE_FEATURES = ("aspiration", "information", "complaint", "hazard", "urgency", "resolved", "chronic")
CHANNELS = ("whatsapp", "email", "social", "call112", "app", "walkin", "lapor", "voice", "open311")
@dataclass(frozen=True)
class ModelInput:
    words: str   # masked normalised words (char n-grams are taken from these)
    stems: str   # masked stems (word n-grams)
    dense: tuple[float, ...]  # rules' category scores, cue scores, channel


class PlaceMasker:
    """Replaces every name of the city's kelurahan, kecamatan, landmarks and the places outside the city
    (data/areas.csv, places.yaml) by one token, so the model never learns "Periuk means flood"."""

    def __init__(self, names: Sequence[str]):
        from .normalise import raw_tokens

        self.keys = {compact(n) for n in names if compact(n)}
        self.max_len = max((len(raw_tokens(n)) for n in names), default=1)

    def mask(self, tokens: Sequence[str]) -> list[str]:
        out: list[str] = []
        i, n = 0, len(tokens)
        while i < n:
            for size in range(min(self.max_len, n - i), 0, -1):
                part = tokens[i:i + size]
                if size > 1 and (BOUNDARY in part or QUESTION in part):
                    continue
                if "".join(part) in self.keys:
                    if not out or out[-1] != PLACE:
                        out.append(PLACE)
                    i += size
                    break
            else:
                tok = tokens[i]
                if tok == QUESTION:
                    out.append(QMARK)
                elif tok != BOUNDARY:
                    out.append(NUMBER if tok[0].isdigit() else tok)
                i += 1
        return out


def place_names(rules) -> list[str]:
    names: list[str] = []
    for a in rules.areas:
        names += [a.kelurahan, a.kecamatan, *a.aliases]
    places = rules.places
    for aliases in (*places.get("kecamatan_aliases", {}).values(), *places.get("kelurahan_aliases", {}).values()):
        names += list(aliases)
    names += list(places.get("landmarks", {}))
    names += list(places.get("outside", ()))
    names += list(places.get("city_names", ()))
    return [n for n in names if n]


def dense_features(categories: Sequence[str], scores: Mapping[str, float], cues: Mapping[str, float],
                   channel: str | None) -> tuple[float, ...]:
    """log(1 + score) of every category's rule words and of every cue list, then the channel (one-hot)."""
    out = [math.log1p(scores.get(c, 0.0)) for c in categories]
    out += [math.log1p(cues.get(g, 0.0)) for g in CUE_FEATURES]
    out += [1.0 if channel == ch else 0.0 for ch in CHANNELS]
    return tuple(out)


def model_input(masker: PlaceMasker, analysis: Analysis, categories: Sequence[str], scores: Mapping[str, float],
                cues: Mapping[str, float], channel: str | None) -> ModelInput:
    words = masker.mask(analysis.tokens)
    stems = [w if w in MASKS else stem(w) for w in words]
    return ModelInput(" ".join(words), " ".join(stems), dense_features(categories, scores, cues, channel))
