"""The routing decision: actionable?, kind, category, priority, agency, location, confidence.

`Router.load(data_dir)` reads the rules once; `router.classify(text, ...)` is pure and returns a
frozen `Classification` whose `explanation` lists the words and rules that decided.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

from .automation import AutomationPolicy
from .boundaries import default_boundaries, merge as merge_boundaries
from .features import CHANNELS, CUE_FEATURES, ModelInput, PlaceMasker, model_input, place_names
from .location import Gazetteer, Location
from .normalise import Analysis, Normaliser, TermIndex, negated, raw_tokens
from .rules import Rules, load_rules
from .secondary import Candidate, SecondaryPolicy

WIB = timezone(timedelta(hours=7))  # Kota Tangerang local time, for hour-of-day rules
NONE_MIN_PROB = 0.5          # the model's "not actionable" at this probability wins (not over a live hazard)
_ACTIVE = object()


@dataclass(frozen=True)
class Signals:
    analysis: Analysis
    scores: dict[str, float]
    words: dict[str, list[str]]
    cues: dict[str, float]
    cue_words: dict[str, list[str]]


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
    automation: str = "triage"  # emergency | auto_forward | triage (see Router._automation)
    secondary_categories: tuple[str, ...] = ()
    model_version: int | None = None
    normalised_text: str = field(default="", repr=False)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["support_agencies"] = list(self.support_agencies)
        d["secondary_categories"] = list(self.secondary_categories)
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
        self.masker = PlaceMasker(place_names(rules))
        self.category_codes = sorted(rules.categories)
        self.automation = AutomationPolicy.load(rules.data_dir)
        self.secondary = SecondaryPolicy.load(rules.data_dir)
        self.model_source: Callable[[], Any] | None = None

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

    # ----------------------------------------------------------------- signals shared with the model
    def signals(self, text: str, notes: list[str] | None = None) -> Signals:
        """The normalised text and every rule score the decision and the model use (computed once)."""
        a = self.normaliser.analyse(text)
        scores, words = self._score(self.categories, a, self.neg_all, notes)
        cues: dict[str, float] = {}
        cue_words: dict[str, list[str]] = {}
        for group in CUE_FEATURES:
            negators = self.neg_hazard if group == "hazard" else None
            cues[group], cue_words[group] = self._cue(group, a, negators, notes if negators else None)
        return Signals(a, dict(scores), words, cues, cue_words)

    def model_input(self, sig: "Signals", channel: str | None = None) -> ModelInput:
        return model_input(self.masker, sig.analysis, self.category_codes, sig.scores, sig.cues, channel)

    def featurise(self, texts: Sequence[str], channels: Sequence[str | None] | None = None) -> list[ModelInput]:
        """Model inputs for training (the same path as classify)."""
        channels = channels or [None] * len(texts)
        return [self.model_input(self.signals(t), ch) for t, ch in zip(texts, channels)]

    @property
    def dense_names(self) -> list[str]:
        return [*self.category_codes, *CUE_FEATURES, *(f"channel={c}" for c in CHANNELS)]

    def use_model(self, source: Callable[[], Any] | None) -> "Router":
        """Attach the learned model: `source()` returns the active RoutingModel (or None: rules only).
        It is called on every classification, so it must be cheap (see routing/registry.py)."""
        self.model_source = source
        return self

    def current_model(self):
        return self.model_source() if self.model_source is not None else None

    # ----------------------------------------------------------------- decision
    def classify(self, text: str, lat: float | None = None, lon: float | None = None, channel: str | None = None,
                 received_at: Any = None, model: Any = _ACTIVE) -> Classification:
        """`model`: the RoutingModel to combine with the rules (default: the attached source's; None: rules only)."""
        if not isinstance(text, str):
            raise TypeError("text must be a string")
        why: list[str] = []
        sig = self.signals(text, why)
        a, scores, words = sig.analysis, sig.scores, sig.words
        loc = self.gazetteer.locate(a.tokens, lat, lon)
        if a.corrections:
            why.insert(0, "spelling: " + ", ".join(a.corrections[:8]))
        model = self.current_model() if model is _ACTIVE else model
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
                                  normalised_text=a.text, automation="triage", **location)

        if spam >= self.rules.non_actionable["spam_score"] and spam >= top:
            return not_actionable("promotion/spam: " + ", ".join(na_words["spam"]), min(1.0, spam / (spam + 2)))
        has_evidence = top >= self.cls["min_category_score"]
        courtesy = na.get("greeting", 0.0) + na.get("thanks", 0.0)
        pred = model.predict([self.model_input(sig, channel)])[0] if model is not None else None
        if not has_evidence or courtesy >= top:
            if a.word_count < self.cls["min_words"] and not courtesy:
                return not_actionable(f"too short ({a.word_count} words)", 0.8)
            # With the model, a long polite letter or an English message is not "greeting" or "gibberish"
            # unless the model also finds no request in it.
            model_says_none = pred is None or pred.none_prob >= NONE_MIN_PROB or a.word_count < self.cls["min_words"]
            if courtesy and model_says_none:
                said = na_words.get("greeting", []) + na_words.get("thanks", [])
                return not_actionable("greeting/thanks: " + ", ".join(said), 0.9)
            if a.known_share < self.cls["min_known_share"] and model_says_none:
                return not_actionable(f"gibberish ({a.known_share:.0%} known words)", 0.8)
        live = sig.cues["hazard"] >= self.rules.cues["hazard"]["upgrade_score"]
        if pred is not None and pred.none_prob >= NONE_MIN_PROB and not live:
            # Praise, thanks, chain hoaxes, tests: the model learnt them from the corpus even where a category
            # word appears ("terima kasih, taman makin rapi"). Never for a message with a live hazard.
            return not_actionable(f"model: no request in the message (p={pred.none_prob:.2f})", pred.none_prob)

        # -- category and confidence
        if has_evidence:
            why.append(f"category {top_code}: " + ", ".join(words[top_code]))
        if pred is not None:
            category, confidence = pred.category, pred.confidence
            suggestions = tuple((c, round(p, 3)) for c, p in pred.category_probs[: self.cls["suggestions"]])
            why.append(f"model: {category} p={pred.category_probs[0][1]:.2f}"
                       + (f" ({', '.join(pred.terms)})" if pred.terms else ""))
        else:
            sat, floor = self.cls["saturation"], self.cls["margin_floor"]
            confidence = top / (top + sat) * (floor + (1 - floor) * ((top - second) / top)) if top > 0 else 0.0
            category = top_code if has_evidence else self.cls["triage_category"]
        cat = self.rules.categories[category]
        secondary = self._secondary(category, sig, pred, why)

        # -- kind
        c = self.rules.cues
        cue = sig.cues
        info_net = cue["information"] - c["information"].get("complaint_weight", 0.5) * cue["complaint"]
        live_hazard = cue["hazard"] >= c["hazard"]["upgrade_score"]
        is_resolved = cat.emergency and cue["resolved"] >= c["resolved"]["min_score"] and not live_hazard
        if pred is not None:
            kind = pred.kind
            why.append(f"kind {kind}: model p={pred.kind_probs[0][1]:.2f}")
            if kind == "EMERGENCY" and not cat.emergency and not live_hazard:
                kind = "COMPLAINT"  # a non-emergency category is an emergency only with a live hazard
            is_resolved = is_resolved and kind == "COMPLAINT"
        else:
            kind = self._rules_kind(cat, cue, info_net, live_hazard, is_resolved, sig.cue_words, why)

        # -- priority
        priority = cat.priority
        if kind in ("ASPIRATION", "INFORMATION_REQUEST"):
            if live_hazard and cue["urgency"] > 0:
                priority = "P1"
                why.append("priority P1: hazard " + ", ".join(sig.cue_words["hazard"]))
            else:
                priority = "P4"
        elif is_resolved:
            priority = c["resolved"]["priority"]
        elif live_hazard:
            if priority != "P1":
                why.append("priority P1: hazard " + ", ".join(sig.cue_words["hazard"]))
            priority, kind = "P1", "EMERGENCY"
        elif kind == "EMERGENCY":
            priority = "P1"

        agency, support = self._agency(category, kind, loc, a, received_at, why)
        automation = self._automation(category, kind, priority, confidence, pred, model, why)
        return Classification(
            True, kind, category, agency, priority, confidence=round(confidence, 3),
            support_agencies=tuple(support), suggestions=suggestions, explanation=tuple(why),
            normalised_text=a.text, automation=automation, secondary_categories=secondary,
            model_version=(model.meta.get("version") if model is not None else None), **location)

    def _rules_kind(self, cat, cue, info_net, live_hazard, is_resolved, cue_words, why) -> str:
        c = self.rules.cues
        if cue["aspiration"] >= c["aspiration"]["min_score"] and cue["aspiration"] >= info_net:
            why.append("kind ASPIRATION: " + ", ".join(cue_words["aspiration"]))
            return "ASPIRATION"
        if info_net >= c["information"]["min_score"]:
            why.append("kind INFORMATION_REQUEST: " + ", ".join(cue_words["information"]))
            return "INFORMATION_REQUEST"
        if is_resolved:
            why.append("kind COMPLAINT: over already: " + ", ".join(cue_words["resolved"]))
            return "COMPLAINT"
        if cat.emergency and cue["chronic"] >= c["chronic"]["min_score"] and not live_hazard:
            why.append("kind COMPLAINT: recurring or past: " + ", ".join(cue_words["chronic"]))
            return "COMPLAINT"
        return "EMERGENCY" if cat.emergency or live_hazard else "COMPLAINT"

    def secondary_candidates(self, category: str, sig: Signals, pred, floor: float | None = None) -> list[Candidate]:
        """Other problems the message may name besides `category` with an "also names it" margin of at least
        `floor` (default: the lowest secondary.yaml accepts), strongest first (routing/secondary.py). Empty
        without a model that learnt secondary categories; most reports stop here (no clause scoring)."""
        if floor is None:
            floor = min(self.secondary.min_margin, self.secondary.marked_min_margin)
        if pred is None or not pred.secondary or pred.secondary[0][1] < floor:
            return []
        a = sig.analysis
        clause: dict[str, float] = {}
        marked: dict[str, float] = {}
        if len(set(a.clauses)) > 1:
            per: dict[int, dict[str, float]] = defaultdict(lambda: defaultdict(float))
            negs = self.neg_all.find(a)
            for m in self.categories.find(a):
                if negs and negated(m, negs, a.clauses, self.rules.negation["window"]) is not None:
                    continue
                for label, weight in m.weights:
                    per[a.clauses[m.start]][label] += weight
            markers = self.secondary.markers
            with_marker = {c for t, c in zip(a.tokens, a.clauses) if t in markers} if markers else set()
            for number, scores in per.items():
                own = scores.get(category, 0.0)
                for code, value in scores.items():
                    if value > own:
                        clause[code] = max(clause.get(code, 0.0), value)
                        if number in with_marker:
                            marked[code] = max(marked.get(code, 0.0), value)
        triage = self.cls["triage_category"]
        return [Candidate(code, margin, sig.scores.get(code, 0.0), clause.get(code, 0.0), marked.get(code, 0.0))
                for code, margin in pred.secondary if margin >= floor and code not in (category, triage)]

    def _secondary(self, category: str, sig: Signals, pred, why: list[str]) -> tuple[str, ...]:
        """A second problem is listed only when the evidence agrees (precision over recall: a wrong second
        problem is noise for the agencies): data/routing/secondary.yaml, measured leave-one-file-out on the
        corpus by bench/bench_secondary.py."""
        return self.secondary.choose(self.secondary_candidates(category, sig, pred), why)

    def _agency(self, category: str, kind: str, loc: Location, a: Analysis, received_at: Any,
                why: list[str]) -> tuple[str, list[str]]:
        cat = self.rules.categories[category]
        agency = cat.agency
        support: list[str] = list(self.rules.support.get(category, ()))
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
        return agency, [s for s in dict.fromkeys(support) if s != agency]

    def _automation(self, category: str, kind: str, priority: str, confidence: float, pred, model,
                    why: list[str]) -> str:
        """emergency: a person at once; auto_forward: confident enough to verify and forward without one;
        triage: an operator decides (with the suggestions)."""
        if kind == "EMERGENCY" or priority == "P1":
            return "emergency"
        policy = self.automation
        if pred is None or not policy.enabled or category == self.cls["triage_category"]:
            if pred is None and confidence < self.cls["confidence_threshold"]:
                why.append(f"triage: confidence {confidence:.2f} below {self.cls['confidence_threshold']:g}")
            return "triage"
        threshold = model.threshold(category, policy.target_precision, policy.min_support)
        if confidence >= threshold:
            why.append(f"auto-forward: confidence {confidence:.2f} >= {threshold:.2f} "
                       f"({policy.target_precision:.0%} precision for {category})")
            return "auto_forward"
        why.append(f"triage: confidence {confidence:.2f} below {min(threshold, 1):.2f} for {category}")
        return "triage"


def _location_fields(loc: Location) -> dict[str, Any]:
    return dict(kecamatan=loc.kecamatan, kelurahan=loc.kelurahan, kelurahan_code=loc.kelurahan_code,
                outside_city=loc.outside_city, location_source=loc.source, street=loc.street, rt=loc.rt, rw=loc.rw)
