"""Routing rules: the reference CSVs plus data/routing/*.yaml, loaded and validated.

Every error raises `RulesError` naming the file and line. The engine never reads files itself:
`load_rules(data_dir)` returns one immutable-by-convention `Rules` object.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .yamlsrc import LocatedDict, LocatedList, RulesError, load_yaml

KINDS = ("EMERGENCY", "COMPLAINT", "ASPIRATION", "INFORMATION_REQUEST")
PRIORITIES = ("P1", "P2", "P3", "P4")
RULE_FILES = ("categories.yaml", "cues.yaml", "slang.yaml", "agencies.yaml", "places.yaml", "thresholds.yaml")
_HOURS_RE = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")

# Every tunable number: section -> key -> (type, min, max).
THRESHOLDS = {
    "classification": {
        "confidence_threshold": (float, 0, 1), "triage_agency": (str, None, None),
        "triage_category": (str, None, None), "suggestions": (int, 1, 10), "min_category_score": (float, 0, 100),
        "saturation": (float, 0.01, 100), "margin_floor": (float, 0, 1), "min_known_share": (float, 0, 1),
        "min_words": (int, 1, 50),
    },
    "text": {"fuzzy_min_length": (int, 3, 20), "fuzzy_cutoff": (float, 50, 100)},
    "location": {
        "min_lat": (float, -90, 90), "max_lat": (float, -90, 90), "min_lon": (float, -180, 180),
        "max_lon": (float, -180, 180), "box_margin": (float, 0, 5), "max_nearest_km": (float, 0, 100),
    },
    "dedupe": {
        "threshold": (float, 0, 1), "window_hours_emergency": (float, 0, 10_000),
        "window_hours_default": (float, 0, 10_000), "near_m": (float, 0, 100_000), "far_m": (float, 0, 100_000),
        "merge_at": (float, 0, 1), "kinds": (list, None, None), "text_char_share": (float, 0, 1),
        "no_place_text_factor": (float, 0, 2), "rare_share": (float, 0, 1), "rare_words_full": (float, 1, 10),
        "weights": (dict, ("category", "place", "time", "text", "citizen", "rare_words"), None),
        "place_scores": (dict, ("same_kelurahan", "same_kelurahan_street", "same_kecamatan", "same_kecamatan_street",
                                "same_street", "different_street"), None),
    },
}
DEDUPE_WEIGHTS = THRESHOLDS["dedupe"]["weights"][1]
CUE_GROUPS = {  # group -> optional numeric settings besides `terms`
    "aspiration": ("min_score",), "information": ("min_score", "complaint_weight"), "complaint": (),
    "hazard": ("upgrade_score",), "urgency": (), "resolved": ("min_score", "priority"),
    "chronic": ("min_score",),
}


@dataclass(frozen=True)
class Category:
    code: str
    label: str
    agency: str
    priority: str
    emergency: bool


@dataclass(frozen=True)
class Area:
    code: str
    kecamatan: str
    kelurahan: str
    postal_code: str
    lat: float
    lon: float
    aliases: tuple[str, ...]


@dataclass(frozen=True)
class Override:
    name: str
    category: str
    agency: str | None
    support: tuple[str, ...]
    terms: tuple[str, ...] = ()
    kecamatan: frozenset[str] = frozenset()
    kelurahan: frozenset[str] = frozenset()
    hours: tuple[int, int] | None = None  # minutes after midnight, [start, end)


@dataclass
class Rules:
    data_dir: Path
    categories: dict[str, Category]
    agencies: dict[str, str]
    areas: list[Area]
    category_terms: dict[str, dict[str, float]]
    cues: dict[str, dict[str, Any]]
    negation: dict[str, Any]
    non_actionable: dict[str, Any]
    slang: dict[str, str]
    by_kind: dict[str, str]
    support: dict[str, tuple[str, ...]]
    overrides: list[Override]
    places: dict[str, Any]
    thresholds: dict[str, dict[str, Any]]
    sources: dict[str, str] = field(default_factory=dict)


class _Checker:
    """Validation helpers bound to one file, so every message carries its name and a line."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, line: int | None, message: str):
        raise RulesError(self.source, line, message)

    def mapping(self, value: Any, line: int, what: str) -> LocatedDict:
        if not isinstance(value, dict):
            self.fail(line, f"{what} must be a mapping, got {type(value).__name__}")
        return value

    def seq(self, value: Any, line: int, what: str) -> LocatedList:
        if not isinstance(value, list):
            self.fail(line, f"{what} must be a list, got {type(value).__name__}")
        return value

    def text(self, value: Any, line: int, what: str) -> str:
        if not isinstance(value, str) or not value.strip():
            self.fail(line, f"{what} must be a non-empty string, got {value!r}")
        return value.strip()

    def strings(self, value: Any, line: int, what: str) -> tuple[str, ...]:
        items = self.seq(value, line, what)
        return tuple(self.text(v, items.line_of(i), f"{what}[{i}]") for i, v in enumerate(items))

    def number(self, value: Any, line: int, what: str, lo: float | None, hi: float | None, kind=float):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)):
            self.fail(line, f"{what} must be {'an integer' if kind is int else 'a number'}, got {value!r}")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            self.fail(line, f"{what} must lie in [{lo}, {hi}], got {value!r}")
        return kind(value)

    def terms(self, value: Any, line: int, what: str) -> dict[str, float]:
        terms = self.mapping(value, line, what)
        out: dict[str, float] = {}
        for term, weight in terms.items():
            at = terms.line_of(term)
            if not isinstance(term, str) or not term.strip():
                self.fail(at, f"{what}: a term must be a non-empty string, got {term!r}")
            out[term.strip().lower()] = self.number(weight, at, f"{what}: weight of {term!r}", 0.1, 10)
        return out

    def keys(self, mapping: LocatedDict, allowed, what: str) -> None:
        for key in mapping:
            if key not in allowed:
                self.fail(mapping.line_of(key), f"{what}: unknown key {key!r} (allowed: {', '.join(allowed)})")

    def code(self, value: Any, line: int, what: str, known) -> str:
        value = self.text(value, line, what)
        if value not in known:
            self.fail(line, f"{what}: unknown code {value!r}")
        return value


def _read_csv(path: Path, required: tuple[str, ...]) -> list[dict[str, str]]:
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in required if c not in (reader.fieldnames or [])]
            if missing:
                raise RulesError(str(path), 1, f"missing columns: {', '.join(missing)}")
            return [dict(row, _line=str(reader.line_num)) for row in reader]
    except FileNotFoundError:
        raise RulesError(str(path), None, "file not found") from None


def _reference(data_dir: Path):
    cats: dict[str, Category] = {}
    for row in _read_csv(data_dir / "categories.csv", ("code", "label_id", "agency", "priority", "emergency")):
        cats[row["code"]] = Category(row["code"], row["label_id"], row["agency"], row["priority"],
                                     row["emergency"].strip().lower() == "true")
    agencies = {row["code"]: row["name"] for row in _read_csv(data_dir / "agencies.csv", ("code", "name"))}
    areas: list[Area] = []
    src = str(data_dir / "areas.csv")
    for row in _read_csv(data_dir / "areas.csv", ("kode", "kecamatan", "kelurahan", "postal_code", "lat", "lon")):
        try:
            lat, lon = float(row["lat"]), float(row["lon"])
        except ValueError:
            raise RulesError(src, int(row["_line"]), "lat/lon must be numbers") from None
        aliases = tuple(a.strip() for a in (row.get("aliases") or "").split(";") if a.strip())
        areas.append(Area(row["kode"], row["kecamatan"], row["kelurahan"], row["postal_code"].strip(), lat, lon, aliases))
    for c in cats.values():
        if c.agency not in agencies:
            raise RulesError(str(data_dir / "categories.csv"), None, f"category {c.code}: unknown agency {c.agency}")
    return cats, agencies, areas


def _hours(chk: _Checker, value: Any, line: int) -> tuple[int, int]:
    m = _HOURS_RE.match(chk.text(value, line, "hours").replace(" ", ""))
    if not m:
        chk.fail(line, f"hours must look like '22:00-05:00', got {value!r}")
    h1, m1, h2, m2 = map(int, m.groups())
    if h1 > 24 or h2 > 24 or m1 > 59 or m2 > 59:
        chk.fail(line, f"hours out of range: {value!r}")
    return h1 * 60 + m1, h2 * 60 + m2


def load_rules(data_dir: Path) -> Rules:
    """Load and validate the reference CSVs and data/routing/*.yaml under `data_dir`."""
    data_dir = Path(data_dir)
    cats, agencies, areas = _reference(data_dir)
    docs: dict[str, Any] = {}
    for name in RULE_FILES:
        path = data_dir / "routing" / name
        docs[name] = (load_yaml(path, str(path)), _Checker(str(path)))

    doc, chk = docs["categories.yaml"]
    doc = chk.mapping(doc, 1, "categories.yaml")
    category_terms: dict[str, dict[str, float]] = {}
    for code, body in doc.items():
        line = doc.line_of(code)
        chk.code(code, line, "category", cats)
        body = chk.mapping(body, line, f"category {code}")
        chk.keys(body, ("terms",), f"category {code}")
        category_terms[code] = chk.terms(body.get("terms", {}), body.line_of("terms"), f"category {code}")

    doc, chk = docs["cues.yaml"]
    doc = chk.mapping(doc, 1, "cues.yaml")
    chk.keys(doc, (*CUE_GROUPS, "negation", "non_actionable"), "cues.yaml")
    cues: dict[str, dict[str, Any]] = {}
    for group, settings in CUE_GROUPS.items():
        if group not in doc:
            chk.fail(doc.line, f"missing section {group!r}")
        body = chk.mapping(doc[group], doc.line_of(group), group)
        chk.keys(body, ("terms", *settings), group)
        entry: dict[str, Any] = {"terms": chk.terms(body.get("terms", {}), body.line_of("terms"), group)}
        for key in settings:
            if key == "priority":
                entry[key] = chk.code(body.get(key, "P3"), body.line_of(key), f"{group}.priority", PRIORITIES)
            elif key in body:
                entry[key] = chk.number(body[key], body.line_of(key), f"{group}.{key}", 0, 100)
        cues[group] = entry
    neg = chk.mapping(doc.get("negation", LocatedDict()), doc.line_of("negation"), "negation")
    chk.keys(neg, ("window", "terms", "hazard_only"), "negation")
    negation = {
        "window": chk.number(neg.get("window", 3), neg.line_of("window"), "negation.window", 1, 10, int),
        "terms": chk.strings(neg.get("terms", LocatedList()), neg.line_of("terms"), "negation.terms"),
        "hazard_only": chk.strings(neg.get("hazard_only", LocatedList()), neg.line_of("hazard_only"),
                                   "negation.hazard_only"),
    }
    na = chk.mapping(doc.get("non_actionable", LocatedDict()), doc.line_of("non_actionable"), "non_actionable")
    chk.keys(na, ("spam_score", "greeting", "thanks", "spam"), "non_actionable")
    non_actionable = {"spam_score": chk.number(na.get("spam_score", 4), na.line_of("spam_score"), "spam_score", 0, 100)}
    for group in ("greeting", "thanks", "spam"):
        non_actionable[group] = chk.terms(na.get(group, LocatedDict()), na.line_of(group), f"non_actionable.{group}")

    doc, chk = docs["slang.yaml"]
    doc = chk.mapping(doc, 1, "slang.yaml")
    slang = {}
    for key, value in doc.items():
        line = doc.line_of(key)
        if not isinstance(key, str) or not re.fullmatch(r"[a-z0-9']+", key):
            chk.fail(line, f"slang key must be one lower-case word, got {key!r}")
        slang[key.replace("'", "")] = chk.text(value, line, f"slang {key!r}").lower()

    doc, chk = docs["agencies.yaml"]
    doc = chk.mapping(doc, 1, "agencies.yaml")
    chk.keys(doc, ("by_kind", "support", "overrides"), "agencies.yaml")
    by_kind_doc = chk.mapping(doc.get("by_kind", LocatedDict()), doc.line_of("by_kind"), "by_kind")
    by_kind = {chk.code(k, by_kind_doc.line_of(k), "by_kind", KINDS):
               chk.code(v, by_kind_doc.line_of(k), f"by_kind {k}", agencies) for k, v in by_kind_doc.items()}
    support_doc = chk.mapping(doc.get("support", LocatedDict()), doc.line_of("support"), "support")
    support = {}
    for code, lst in support_doc.items():
        line = support_doc.line_of(code)
        chk.code(code, line, "support", cats)
        items = chk.seq(lst, line, f"support {code}")
        support[code] = tuple(chk.code(a, items.line_of(i), f"support {code}", agencies) for i, a in enumerate(items))
    overrides = []
    kecamatans = {a.kecamatan for a in areas}
    kelurahans = {a.kelurahan for a in areas} | {a.code for a in areas}
    ov_list = chk.seq(doc.get("overrides", LocatedList()), doc.line_of("overrides"), "overrides")
    for i, ov in enumerate(ov_list):
        line = ov_list.line_of(i)
        ov = chk.mapping(ov, line, f"override #{i + 1}")
        chk.keys(ov, ("name", "category", "agency", "support", "terms", "kecamatan", "kelurahan", "hours"),
                 f"override #{i + 1}")
        name = chk.text(ov.get("name", f"override #{i + 1}"), ov.line_of("name"), "override name")
        if "category" not in ov:
            chk.fail(line, f"override {name!r}: missing 'category'")
        if "agency" not in ov and "support" not in ov:
            chk.fail(line, f"override {name!r}: needs 'agency' or 'support'")
        if not any(k in ov for k in ("terms", "kecamatan", "kelurahan", "hours")):
            chk.fail(line, f"override {name!r}: needs a condition (terms, kecamatan, kelurahan or hours)")
        sup = chk.seq(ov.get("support", LocatedList()), ov.line_of("support"), "support")
        kec = chk.strings(ov["kecamatan"], ov.line_of("kecamatan"), "kecamatan") if "kecamatan" in ov else ()
        for k in kec:
            if k not in kecamatans:
                chk.fail(ov.line_of("kecamatan"), f"override {name!r}: unknown kecamatan {k!r}")
        kel = chk.strings(ov["kelurahan"], ov.line_of("kelurahan"), "kelurahan") if "kelurahan" in ov else ()
        for k in kel:
            if k not in kelurahans:
                chk.fail(ov.line_of("kelurahan"), f"override {name!r}: unknown kelurahan {k!r}")
        overrides.append(Override(
            name=name,
            category=chk.code(ov["category"], ov.line_of("category"), f"override {name!r} category", cats),
            agency=chk.code(ov["agency"], ov.line_of("agency"), f"override {name!r} agency", agencies)
            if "agency" in ov else None,
            support=tuple(chk.code(a, sup.line_of(j), f"override {name!r} support", agencies) for j, a in enumerate(sup)),
            terms=tuple(t.lower() for t in chk.strings(ov["terms"], ov.line_of("terms"), "terms")) if "terms" in ov else (),
            kecamatan=frozenset(kec), kelurahan=frozenset(kel),
            hours=_hours(chk, ov["hours"], ov.line_of("hours")) if "hours" in ov else None,
        ))

    doc, chk = docs["places.yaml"]
    places = _places(chk, chk.mapping(doc, 1, "places.yaml"), areas)

    doc, chk = docs["thresholds.yaml"]
    doc = chk.mapping(doc, 1, "thresholds.yaml")
    chk.keys(doc, tuple(THRESHOLDS), "thresholds.yaml")
    thresholds: dict[str, dict[str, Any]] = {}
    for section, spec in THRESHOLDS.items():
        if section not in doc:
            chk.fail(doc.line, f"missing section {section!r}")
        body = chk.mapping(doc[section], doc.line_of(section), section)
        chk.keys(body, tuple(spec), section)
        values = {}
        for key, (kind, lo, hi) in spec.items():
            if key not in body:
                chk.fail(body.line, f"{section}: missing {key!r}")
            line = body.line_of(key)
            if kind is str:
                values[key] = chk.text(body[key], line, f"{section}.{key}")
            elif kind is dict:
                w = chk.mapping(body[key], line, f"{section}.{key}")
                chk.keys(w, lo, f"{section}.{key}")
                values[key] = {k: chk.number(w.get(k, 0), w.line_of(k), f"{key} {k}", 0, 1) for k in lo}
            elif kind is list:
                values[key] = list(chk.strings(body[key], line, f"{section}.{key}"))
            else:
                values[key] = chk.number(body[key], line, f"{section}.{key}", lo, hi, kind)
        thresholds[section] = values
    cls = doc["classification"]
    chk.code(thresholds["classification"]["triage_agency"], cls.line_of("triage_agency"), "triage_agency", agencies)
    chk.code(thresholds["classification"]["triage_category"], cls.line_of("triage_category"), "triage_category", cats)

    return Rules(data_dir, cats, agencies, areas, category_terms, cues, negation, non_actionable, slang, by_kind,
                 support, overrides, places, thresholds, {n: str(data_dir / "routing" / n) for n in RULE_FILES})


def _places(chk: _Checker, doc: LocatedDict, areas: list[Area]) -> dict[str, Any]:
    allowed = ("kecamatan_aliases", "kelurahan_aliases", "landmarks", "ambiguous", "markers", "street_markers",
               "city_names", "outside", "unclaimed", "facilities", "routes", "directions", "origins", "comparisons")
    chk.keys(doc, allowed, "places.yaml")
    kecamatans = {a.kecamatan for a in areas}
    by_name = {a.kelurahan: a for a in areas}
    codes = {a.code for a in areas}
    out: dict[str, Any] = {}
    ka = chk.mapping(doc.get("kecamatan_aliases", LocatedDict()), doc.line_of("kecamatan_aliases"), "kecamatan_aliases")
    out["kecamatan_aliases"] = {}
    for kec, names in ka.items():
        if kec not in kecamatans:
            chk.fail(ka.line_of(kec), f"unknown kecamatan {kec!r}")
        out["kecamatan_aliases"][kec] = chk.strings(names, ka.line_of(kec), f"aliases of {kec}")
    kl = chk.mapping(doc.get("kelurahan_aliases", LocatedDict()), doc.line_of("kelurahan_aliases"), "kelurahan_aliases")
    out["kelurahan_aliases"] = {}
    for code, names in kl.items():
        if str(code) not in codes:
            chk.fail(kl.line_of(code), f"unknown kelurahan code {code!r}")
        out["kelurahan_aliases"][str(code)] = chk.strings(names, kl.line_of(code), f"aliases of {code}")
    lm = chk.mapping(doc.get("landmarks", LocatedDict()), doc.line_of("landmarks"), "landmarks")
    out["landmarks"] = {}
    for name, where in lm.items():
        line = lm.line_of(name)
        where = chk.mapping(where, line, f"landmark {name!r}")
        chk.keys(where, ("kecamatan", "kelurahan"), f"landmark {name!r}")
        kec = chk.text(where.get("kecamatan"), line, f"landmark {name!r} kecamatan")
        if kec not in kecamatans:
            chk.fail(line, f"landmark {name!r}: unknown kecamatan {kec!r}")
        kel = where.get("kelurahan")
        if kel is not None and (kel not in by_name or by_name[kel].kecamatan != kec):
            chk.fail(line, f"landmark {name!r}: {kel!r} is not a kelurahan of {kec}")
        out["landmarks"][chk.text(name, line, "landmark")] = (kec, kel)
    for key in ("ambiguous", "markers", "street_markers", "city_names", "outside", "unclaimed", "facilities", "routes",
                "directions", "origins", "comparisons"):
        out[key] = tuple(s.lower() for s in chk.strings(doc.get(key, LocatedList()), doc.line_of(key), key))
    return out
