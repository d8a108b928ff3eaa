"""The routing decision: actionable?, kind, category, priority, agency, location, confidence.

`Router.load(data_dir)` reads the rules once; `router.classify(text, ...)` is pure and returns a
frozen `Classification` whose `explanation` lists the words and rules that decided.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Sequence

from .boundaries import default_boundaries, merge as merge_boundaries
from .location import Gazetteer, Location
from .normalise import Analysis, Normaliser, TermIndex, negated, raw_tokens
from .rules import Rules, load_rules

WIB = timezone(timedelta(hours=7))  # Kota Tangerang local time, for hour-of-day rules


@dataclass(frozen=True)
class Classification:
    actionable: bool
    kind: str | None
    category: str | None
    agency: str | None
    priority: str | None
    kecamatan: str | None
    kelurahan: str | None
    confidence: float
    kelurahan_code: str | None = None
    outside_city: bool = False
    location_source: str | None = None
    support_agencies: tuple[str, ...] = ()
    suggestions: tuple[tuple[str, float], ...] = ()
    explanation: tuple[str, ...] = ()
    street: str | None = None
    rt: str | None = None
    rw: str | None = None
    normalised_text: str = field(default="", repr=False)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["support_agencies"] = list(self.support_agencies)
        d["suggestions"] = [[c, s] for c, s in self.suggestions]
        d["explanation"] = list(self.explanation)
        d.pop("normalised_text")
        return d


def parse_time(value: Any) -> datetime | None:
    """ISO 8601 (a trailing Z is accepted); naive times are taken as local (WIB)."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str) and value.strip():
        dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    else:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=WIB)


class Router:
    def __init__(self, rules: Rules, polygons: dict | None = None):
        self.rules = rules
        t = rules.thresholds
        self.cls = t["classification"]
        vocabulary: set[str] = set()
        for terms in (*rules.category_terms.values(), *(c["terms"] for c in rules.cues.values()),
                      *(rules.non_actionable[g] for g in ("greeting", "thanks", "spam"))):
            for term in terms:
                vocabulary.update(w for w in raw_tokens(term) if w.isalnum())
        vocabulary.update(w for n in (*rules.negation["terms"], *rules.negation["hazard_only"]) for w in n.split())
        self.gazetteer = Gazetteer(rules.areas, rules.places, polygons, t["location"])
        self.gazetteer.street_stopwords.update(w for terms in rules.category_terms.values() for t in terms
                                               for w in raw_tokens(t))
        vocabulary.update(self.gazetteer.name_words)
        vocabulary.update(w for ov in rules.overrides for term in ov.terms for w in raw_tokens(term))
        self.normaliser = Normaliser(rules.slang, vocabulary, t["text"]["fuzzy_min_length"], t["text"]["fuzzy_cutoff"])
        n = self.normaliser
        self.categories = TermIndex(n, rules.category_terms)
        self.cue_index = {g: TermIndex(n, {g: c["terms"]}) for g, c in rules.cues.items()}
        self.na_index = TermIndex(n, {g: rules.non_actionable[g] for g in ("greeting", "thanks", "spam")})
        self.neg_all = TermIndex(n, {"neg": {t: 1 for t in rules.negation["terms"]}})
        self.neg_hazard = TermIndex(n, {"neg": {t: 1 for t in (*rules.negation["terms"], *rules.negation["hazard_only"])}})
        self.override_terms = [tuple(n.term_stems(term) for term in ov.terms) for ov in rules.overrides]

    @classmethod
    def load(cls, data_dir: Path, polygons: dict | None = None) -> "Router":
        """Load rules from `data_dir` (reference CSVs + routing/*.yaml); RulesError when invalid. Coordinates
        resolve by the kelurahan boundaries in `polygons` (imported), else by those shipped in data_dir/geo."""
        rules = load_rules(Path(data_dir))
        return cls(rules, merge_boundaries(polygons, default_boundaries(data_dir, rules.areas)))

    # ----------------------------------------------------------------- helpers
    def _score(self, index: TermIndex, a: Analysis, negators: TermIndex | None = None,
               notes: list[str] | None = None) -> tuple[dict[str, float], dict[str, list[str]]]:
        scores: dict[str, float] = defaultdict(float)
        words: dict[str, list[str]] = defaultdict(list)
        negs = negators.find(a) if negators else []
        for m in index.find(a):
            neg = negated(m, negs, a.clauses, self.rules.negation["window"]) if negs else None
            if neg is not None:
                if notes is not None:
                    notes.append(f"negated: '{m.term}' after '{neg.term}'")
                continue
            for label, weight in m.weights:
                scores[label] += weight
                words[label].append(f"{m.term}(+{weight:g})")
        return scores, words

    def _cue(self, group: str, a: Analysis, negators: TermIndex | None = None,
             notes: list[str] | None = None) -> tuple[float, list[str]]:
        scores, words = self._score(self.cue_index[group], a, negators, notes)
        return scores.get(group, 0.0), words.get(group, [])

    @staticmethod
    def _has_term(seqs: Sequence[tuple[str, ...]], a: Analysis) -> str | None:
        stems = a.stems
        for seq in seqs:
            k = len(seq)
            for i in range(len(stems) - k + 1):
                if stems[i:i + k] == seq:
                    return " ".join(seq)
        return None

    # ----------------------------------------------------------------- decision
    def classify(self, text: str, lat: float | None = None, lon: float | None = None, channel: str | None = None,
                 received_at: Any = None) -> Classification:
        if not isinstance(text, str):
            raise TypeError("text must be a string")
        a = self.normaliser.analyse(text)
        loc = self.gazetteer.locate(a.tokens, lat, lon)
        why: list[str] = []
        if a.corrections:
            why.append("spelling: " + ", ".join(a.corrections[:8]))
        scores, words = self._score(self.categories, a, self.neg_all, why)
        ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
        top_code, top = ranked[0] if ranked else (None, 0.0)
        second = ranked[1][1] if len(ranked) > 1 else 0.0
        suggestions = tuple((c, round(s, 2)) for c, s in ranked[: self.cls["suggestions"]])
        na, na_words = self._score(self.na_index, a)
        spam = na.get("spam", 0.0)
        location = _location_fields(loc)
        why.extend(f"location: {e}" for e in loc.evidence)

        def not_actionable(reason: str, confidence: float) -> Classification:
            return Classification(False, None, None, None, None, confidence=round(confidence, 3),
                                  suggestions=suggestions, explanation=tuple(why + [f"not actionable: {reason}"]),
                                  normalised_text=a.text, **location)

        if spam >= self.rules.non_actionable["spam_score"] and spam >= top:
            return not_actionable("promotion/spam: " + ", ".join(na_words["spam"]), min(1.0, spam / (spam + 2)))
        has_evidence = top >= self.cls["min_category_score"]
        courtesy = na.get("greeting", 0.0) + na.get("thanks", 0.0)
        if not has_evidence or courtesy >= top:
            if courtesy:
                said = na_words.get("greeting", []) + na_words.get("thanks", [])
                return not_actionable("greeting/thanks: " + ", ".join(said), 0.9)
            if a.word_count < self.cls["min_words"]:
                return not_actionable(f"too short ({a.word_count} words)", 0.8)
            if a.known_share < self.cls["min_known_share"]:
                return not_actionable(f"gibberish ({a.known_share:.0%} known words)", 0.8)

        # -- confidence and category
        sat, floor = self.cls["saturation"], self.cls["margin_floor"]
        confidence = top / (top + sat) * (floor + (1 - floor) * ((top - second) / top)) if top > 0 else 0.0
        triage = not has_evidence or confidence < self.cls["confidence_threshold"]
        if has_evidence:
            why.append(f"category {top_code}: " + ", ".join(words[top_code]))
        category = self.cls["triage_category"] if triage else top_code
        cat = self.rules.categories[category]
        evidence_cat = self.rules.categories.get(top_code) if has_evidence else None

        # -- kind
        asp, asp_w = self._cue("aspiration", a)
        info, info_w = self._cue("information", a)
        complaint, _ = self._cue("complaint", a)
        hazard, hazard_w = self._cue("hazard", a, self.neg_hazard, why)
        urgency, _ = self._cue("urgency", a)
        resolved, resolved_w = self._cue("resolved", a)
        chronic, chronic_w = self._cue("chronic", a)
        c = self.rules.cues
        info_net = info - c["information"].get("complaint_weight", 0.5) * complaint
        emergency_cat = (evidence_cat or cat).emergency
        live_hazard = hazard >= c["hazard"]["upgrade_score"]
        is_resolved = emergency_cat and resolved >= c["resolved"]["min_score"] and not live_hazard
        if asp >= c["aspiration"]["min_score"] and asp >= info_net:
            kind = "ASPIRATION"
            why.append("kind ASPIRATION: " + ", ".join(asp_w))
        elif info_net >= c["information"]["min_score"]:
            kind = "INFORMATION_REQUEST"
            why.append("kind INFORMATION_REQUEST: " + ", ".join(info_w))
        elif is_resolved:
            kind = "COMPLAINT"
            why.append("kind COMPLAINT: over already: " + ", ".join(resolved_w))
        elif emergency_cat and chronic >= c["chronic"]["min_score"] and not live_hazard:
            kind = "COMPLAINT"
            why.append("kind COMPLAINT: recurring or past: " + ", ".join(chronic_w))
        elif emergency_cat or live_hazard:
            kind = "EMERGENCY"
        else:
            kind = "COMPLAINT"

        # -- priority
        priority = cat.priority
        if kind in ("ASPIRATION", "INFORMATION_REQUEST"):
            if live_hazard and urgency > 0:
                priority = "P1"
                why.append("priority P1: hazard " + ", ".join(hazard_w))
            else:
                priority = "P4"
        elif is_resolved:
            priority = c["resolved"]["priority"]
        elif live_hazard:
            if priority != "P1":
                why.append("priority P1: hazard " + ", ".join(hazard_w))
            priority, kind = "P1", "EMERGENCY"

        # -- agency
        support: list[str] = []
        if triage:
            agency = self.cls["triage_agency"]
            why.append(f"agency {agency}: triage (confidence {confidence:.2f} below "
                       f"{self.cls['confidence_threshold']:g}); suggestions " +
                       ", ".join(f"{s[0]}={s[1]:g}" for s in suggestions))
        else:
            agency = cat.agency
            support.extend(self.rules.support.get(category, ()))
            local = parse_time(received_at)
            minute = None
            if local is not None:
                local = local.astimezone(WIB)
                minute = local.hour * 60 + local.minute
            chosen = None
            for ov, seqs in zip(self.rules.overrides, self.override_terms):
                if ov.category != category:
                    continue
                if ov.kecamatan and loc.kecamatan not in ov.kecamatan:
                    continue
                if ov.kelurahan and not ({loc.kelurahan, loc.kelurahan_code} & ov.kelurahan):
                    continue
                if ov.hours is not None:
                    start, end = ov.hours
                    inside = minute is not None and (start <= minute < end if start <= end
                                                     else minute >= start or minute < end)
                    if not inside:
                        continue
                if seqs and self._has_term(seqs, a) is None:
                    continue
                if ov.agency and chosen is None:
                    chosen = ov
                    agency = ov.agency
                support.extend(ov.support)
                why.append(f"rule '{ov.name}'" + (f": agency {ov.agency}" if ov.agency and ov is chosen else "")
                           + (f" support {', '.join(ov.support)}" if ov.support else ""))
            by_kind = self.rules.by_kind.get(kind)
            if by_kind and by_kind != agency and chosen is None:
                support.insert(0, agency)
                agency = by_kind
                why.append(f"agency {agency}: {kind} is answered by {agency}")
        support = [s for s in dict.fromkeys(support) if s != agency]
        return Classification(
            True, kind, category, agency, priority, confidence=round(confidence, 3),
            support_agencies=tuple(support), suggestions=suggestions, explanation=tuple(why),
            normalised_text=a.text, **location)


def _location_fields(loc: Location) -> dict[str, Any]:
    return dict(kecamatan=loc.kecamatan, kelurahan=loc.kelurahan, kelurahan_code=loc.kelurahan_code,
                outside_city=loc.outside_city, location_source=loc.source, street=loc.street, rt=loc.rt, rw=loc.rw)
