"""Where a report is: kelurahan and kecamatan from coordinates and from the text.

Coordinates resolve by point-in-polygon (routing/boundaries.py: the city's imported boundaries, else the
shipped default), else by the nearest kelurahan reference point in areas.csv, which is only an
approximation (worst near borders). Text resolves names, aliases and spacing variants, kel./kec.
markers, landmarks, RT/RW and postal codes (a hint only), recognises places outside the city, and
claims no place the text does not support (routes, directions, facilities and streets named after an
area, common words: see data/routing/places.yaml).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from .boundaries import BoundaryIndex, GeoJsonMatch, match_geojson_features, polygons_from_geojson  # noqa: F401
from .normalise import BOUNDARY, raw_tokens
from .rules import Area

_POSTAL_RE = re.compile(r"^15[1-9]\d\d$")
_RT_RE = re.compile(r"^(rt|rw)(\d{1,3})$")


def compact(name: str) -> str:
    """Lower case, letters and digits only: 'Karang Tengah' and 'Karangtengah' meet here."""
    return "".join(t for t in raw_tokens(name) if t != BOUNDARY)


@dataclass(frozen=True)
class Location:
    kecamatan: str | None = None
    kelurahan: str | None = None
    kelurahan_code: str | None = None
    outside_city: bool = False
    source: str | None = None  # text | polygon | nearest_point | text+nearest_point | coordinates
    rt: str | None = None
    rw: str | None = None
    postal_code: str | None = None
    street: str | None = None
    evidence: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class _Hit:
    kind: str  # kel | kec | landmark | outside | city | unclaimed
    kecamatan: str | None
    kelurahan: str | None
    code: str | None
    strength: int
    said: str
    weak: bool = False
    alternative: "_Hit | None" = None
    end: int = -1  # where the name ends in the tokens (set while reading a text)


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_000 * math.asin(math.sqrt(min(1.0, a)))


class Gazetteer:
    """Kecamatan and kelurahan of the city; `polygons` maps kelurahan code -> shapely geometry (earlier
    entries win where two overlap: routing.boundaries.merge puts the imported ones first)."""

    def __init__(self, areas: Sequence[Area], places: Mapping[str, Any] | None = None,
                 polygons: Mapping[str, Any] | None = None, box: Mapping[str, float] | None = None):
        places = places or {}
        self.areas = list(areas)
        self.by_code = {a.code: a for a in self.areas}
        self.box = dict(box or {"min_lat": -6.27, "max_lat": -6.10, "min_lon": 106.55, "max_lon": 106.76,
                                "box_margin": 0.01, "max_nearest_km": 3.0})
        self.boundaries = BoundaryIndex(polygons or {}, list(self.by_code))
        self.markers = frozenset(places.get("markers", ("di", "kelurahan", "kecamatan")))
        self.street_markers = frozenset(places.get("street_markers", ("jalan", "gang")))
        self.facilities = frozenset(places.get("facilities", ()))
        self.routes = frozenset(places.get("routes", ()))
        self.directions = frozenset(places.get("directions", ()))
        self.origins = frozenset(places.get("origins", ()))
        self.comparisons = frozenset(places.get("comparisons", ()))
        ambiguous = {compact(n) for n in places.get("ambiguous", ())}
        self.kec_names = {a.kecamatan for a in self.areas}
        index: dict[str, list[_Hit]] = {}

        def add(name: str, hit: _Hit) -> None:
            key = compact(name)
            if key and hit not in index.setdefault(key, []):
                index[key].append(hit)

        kel_aliases = places.get("kelurahan_aliases", {})
        for a in self.areas:
            for name in (a.kelurahan, *a.aliases, *kel_aliases.get(a.code, ())):
                add(name, _Hit("kel", a.kecamatan, a.kelurahan, a.code, 2, name, weak=compact(name) in ambiguous))
        kec_aliases = places.get("kecamatan_aliases", {})
        for kec in self.kec_names:
            for name in (kec, *kec_aliases.get(kec, ())):
                add(name, _Hit("kec", kec, None, None, 2, name, weak=compact(name) in ambiguous))
        for name, (kec, kel) in places.get("landmarks", {}).items():
            code = next((a.code for a in self.areas if a.kelurahan == kel and a.kecamatan == kec), None)
            add(name, _Hit("landmark", kec, kel, code, 2, name))
        for name in places.get("outside", ()):
            add(name, _Hit("outside", None, None, None, 2, name, weak=compact(name) in ambiguous))
        for name in places.get("city_names", ("kota tangerang",)):
            add(name, _Hit("city", None, None, None, 0, name))
        for name in places.get("unclaimed", ()):  # "Lippo Karawaci": straddles the city's border
            add(name, _Hit("unclaimed", None, None, None, 0, name))
        self.index = index
        self.max_len = max((len(raw_tokens(n)) for hits in index.values() for n in (h.said for h in hits)), default=1)
        self.max_len = max(self.max_len, 4)
        # Words that cannot start a street name ("jalan rusak" is not Jalan Rusak); the router adds its rule words.
        self.street_stopwords: set[str] = set(_FUNCTION_WORDS)
        self.postal: dict[str, list[Area]] = {}
        for a in self.areas:
            self.postal.setdefault(a.postal_code, []).append(a)
        # Words the spelling repair may correct towards ("neroktog" -> Nerogtog); not the names of places
        # outside the city ("majang" must not become Malang).
        self.name_words = frozenset(w for key_hits in index.values() for h in key_hits if h.kind != "outside"
                                    for w in raw_tokens(h.said) if w != BOUNDARY)

    # ----------------------------------------------------------------- coordinates
    def inside_box(self, lat: float, lon: float) -> bool:
        b, m = self.box, self.box["box_margin"]
        return b["min_lat"] - m <= lat <= b["max_lat"] + m and b["min_lon"] - m <= lon <= b["max_lon"] + m

    def locate_point(self, lat: float, lon: float) -> Location:
        """Kelurahan containing (lat, lon): by its boundary, else (where no boundary covers the whole city)
        the nearest reference point, an approximation. With boundaries for every kelurahan, a point in none
        of them lies outside the city."""
        if not (math.isfinite(lat) and math.isfinite(lon)) or not self.inside_box(lat, lon):
            return Location(outside_city=True, source="coordinates", evidence=("coordinates outside the city box",))
        code, metres = self.boundaries.locate(lat, lon)
        if code is not None:
            a = self.by_code[code]
            said = f"point in boundary of {a.kelurahan}" if metres == 0 else \
                f"point {metres:.0f} m from the boundary of {a.kelurahan}"
            return Location(a.kecamatan, a.kelurahan, a.code, source="polygon", evidence=(said,))
        if self.boundaries.complete:
            return Location(outside_city=True, source="polygon",
                            evidence=("coordinates outside every kelurahan boundary of the city",))
        best, dist = None, float("inf")
        for a in self.areas:
            d = haversine_m(lat, lon, a.lat, a.lon)
            if d < dist:
                best, dist = a, d
        if best is None or dist > self.box["max_nearest_km"] * 1000:
            return Location(source="coordinates", evidence=("no kelurahan reference point near the coordinates",))
        return Location(best.kecamatan, best.kelurahan, best.code, source="nearest_point",
                        evidence=(f"nearest reference point {best.kelurahan} ({dist:.0f} m, approximate)",))

    # ----------------------------------------------------------------- text
    def _scan(self, tokens: Sequence[str]) -> list[tuple[list[_Hit], int, int]]:
        """-> [(hits, start, end)] for each name found in tokens[start:end] (longest name first)."""
        found = []
        i, n = 0, len(tokens)
        while i < n:
            for size in range(min(self.max_len, n - i), 0, -1):
                part = tokens[i:i + size]
                if BOUNDARY in part or "?" in part:
                    continue
                hits = self.index.get("".join(part))
                if hits:
                    found.append((hits, i, i + size))
                    i += size
                    break
            else:
                i += 1
        return found

    def _use(self, tokens: Sequence[str], start: int, end: int) -> str | None:
        """How the name at tokens[start:end] is used, from the words around it in its clause: 'direction'
        ("arah Cikokol"), 'marker' ("di Cikokol"), 'facility' ("SDN Cipete 2", "Pasar Induk Tanah Tinggi"),
        'street' ("Jl. Raya Kunciran", "Jl. Ciledug Raya"), 'route' ("rute Poris - Cibodas", "dari Ciledug
        ke Poris") or None."""
        before, after = [], []
        for tok in reversed(tokens[max(0, start - 6):start]):
            if tok in (BOUNDARY, "?"):
                break
            before.append(tok)  # nearest first
        for tok in tokens[end:end + 5]:
            if tok in (BOUNDARY, "?"):
                break
            after.append(tok)
        prev = tokens[start - 1] if start else ""
        prev2 = before[1] if len(before) > 1 else ""
        if prev in self.directions or (prev == "ke" and prev2 in self.directions):
            return "direction"
        if after and after[0] == "raya":  # "di Ciledug Raya": the street
            return "street"
        if prev in self.markers:
            return "marker"
        if prev in self.facilities or (prev2 in self.facilities and prev not in self.street_markers) \
                or f"{prev2} {prev}" in self.facilities:
            return "facility"
        if prev in self.street_markers:
            return "street"
        if any(w in self.routes for w in before[:5]) or (prev == "dari" and "ke" in after[:4]) \
                or (prev == "ke" and "dari" in before[:5]):
            return "route"
        return None

    def locate_text(self, tokens: Sequence[str]) -> Location:
        """Location named in normalised tokens (see normalise.Analysis.tokens). A name claims its place only
        where the text supports it: never in a bus route or a direction; a facility named after an area claims
        its kecamatan only; a street named after a kecamatan nothing; two kecamatan named equally claim
        neither."""
        hits: list[_Hit] = []
        evidence: list[str] = []
        outside: list[str] = []
        toward: list[str] = []
        for options, start, end in self._scan(tokens):
            kind = options[0].kind
            if kind in ("city", "unclaimed"):
                continue
            use = self._use(tokens, start, end)
            prev = tokens[start - 1] if start else ""
            if kind == "outside":
                if options[0].weak and use != "marker":
                    continue  # "nasib malang": a word, not the city
                if use == "direction" or self.directions & set(tokens[max(0, start - 3):start]):
                    # "arah (Pasar) Kebayoran Lama": outside only when nothing in the city is named
                    toward.append(options[0].said)
                elif prev not in self.origins and use not in ("route", "facility") \
                        and not self.comparisons & set(tokens[max(0, start - 3):start]):
                    outside.append(options[0].said)
                    if hits and hits[-1].end >= start - 3:  # "Cipete Raya, Jakarta Selatan": that Cipete
                        evidence.append(f"'{hits[-1].said}' of {options[0].said}: not claimed")
                        hits.pop()
                continue
            if use in ("direction", "route"):
                evidence.append(f"'{options[0].said}' names a {use}, not the place: not claimed")
                continue
            kel_opts = [h for h in options if h.kind in ("kel", "landmark")]
            kec_opts = [h for h in options if h.kind == "kec"]
            weak = any(h.weak for h in options)
            if weak and use not in ("marker", "facility"):  # "Perumahan Periuk Damai" is no pot
                hit = (kec_opts or kel_opts)[0]
                hits.append(_Hit(hit.kind, hit.kecamatan, hit.kelurahan, hit.code, 0, hit.said, weak=True,
                                 alternative=kel_opts[0] if kec_opts and kel_opts else None, end=end))
                continue
            if kec_opts and kec_opts[0].kecamatan == "Tangerang" and not kel_opts and prev != "kecamatan":
                continue  # bare "Tangerang" (also "Stasiun Tangerang", "RSUD Tangerang") is the city
            if use == "street" and kec_opts:  # "Jl. Raya Ciledug" runs on into Jakarta
                evidence.append(f"'{options[0].said}' names a street: not claimed")
                continue
            if use == "facility" and not any(h.kind == "landmark" for h in options):
                # "Puskesmas Cipondoh": its kecamatan; "SDN Poris Plawad 2": the kecamatan of the kelurahan it
                # is named after, not the kelurahan itself
                hit = kec_opts[0] if kec_opts else kel_opts[0]
                hits.append(_Hit("kec", hit.kecamatan, None, None, 1, hit.said, end=end))
                continue
            strength = 1 if use == "street" else 3 if prev in ("kelurahan", "kecamatan", "desa") else 2
            if prev == "kecamatan" and kec_opts:
                choice, alt = kec_opts[0], None
            elif prev in ("kelurahan", "desa") and kel_opts:
                choice, alt = kel_opts[0], None
            elif kec_opts and kel_opts:
                # A bare name that is both: the kecamatan, unless context says the kelurahan.
                choice, alt = kec_opts[0], kel_opts[0]
            elif kec_opts:
                choice, alt = kec_opts[0], None
            else:
                choice, alt = kel_opts[0], (kel_opts[1] if len(kel_opts) > 1 else None)
            hits.append(_Hit(choice.kind, choice.kecamatan, choice.kelurahan, choice.code, strength, choice.said,
                             alternative=alt, end=end))
        rt, rw, postal, street_name = _extras(tokens, self.street_stopwords)
        extras = dict(rt=rt, rw=rw, postal_code=postal, street=street_name)
        strong = [h for h in hits if h.strength > 0]
        kecs = {h.kecamatan for h in strong}
        resolved: list[_Hit] = []
        for h in hits:
            if h.strength == 0:  # ambiguous word: keep only when its kecamatan is named elsewhere
                if h.kecamatan in kecs:
                    resolved.append(_Hit(h.kind, h.kecamatan, h.kelurahan, h.code, 2, h.said))
                continue
            if h.kind == "kec" and h.alternative is not None and h.alternative.kecamatan != h.kecamatan \
                    and h.alternative.kecamatan in kecs:
                # "Jatiuwung, Cibodas": the kelurahan Jatiuwung of kecamatan Cibodas
                a = h.alternative
                resolved.append(_Hit("kel", a.kecamatan, a.kelurahan, a.code, h.strength, h.said))
                continue
            resolved.append(h)
        if toward and not outside and not resolved:
            outside = toward
        best_outside = 2 if outside else 0
        if outside and (not resolved or max(h.strength for h in resolved) < best_outside):
            return Location(outside_city=True, source="text", evidence=tuple(f"outside the city: {o}" for o in outside),
                            **extras)
        if not resolved:
            return self._postal_only(postal, rt, rw, street_name, evidence)
        score: dict[str, float] = {}
        for h in resolved:
            score[h.kecamatan] = score.get(h.kecamatan, 0) + h.strength + (0.5 if h.kelurahan else 0)
        top = max(score.values())
        leaders = [k for k, v in score.items() if v == top]
        if len(leaders) > 1 and postal in self.postal:
            leaders = [k for k in leaders if any(a.kecamatan == k for a in self.postal[postal])] or leaders
        if len(leaders) > 1:  # "Karawaci ke Ciledug", "warga Benda & Neglasari": no one place is named
            return Location(evidence=tuple(evidence + [f"several kecamatan named equally ({', '.join(leaders)}): "
                                                       "none claimed"]), **extras)
        kec = leaders[0]
        kels = [h for h in resolved if h.kecamatan == kec and h.kelurahan]
        kel_hit = max(kels, key=lambda h: h.strength) if kels else None
        evidence.extend(f"{'kelurahan' if h.kelurahan else 'kecamatan'} {h.kelurahan or h.kecamatan} from '{h.said}'"
                        for h in resolved if h.kecamatan == kec)
        return Location(kec, kel_hit.kelurahan if kel_hit else None, kel_hit.code if kel_hit else None,
                        source="text", evidence=tuple(evidence), **extras)

    def _postal_only(self, postal, rt, rw, street, evidence=()) -> Location:
        areas = self.postal.get(postal or "", [])
        kecs = {a.kecamatan for a in areas}
        if len(kecs) == 1:
            kel = areas[0] if len(areas) == 1 else None
            return Location(areas[0].kecamatan, kel.kelurahan if kel else None, kel.code if kel else None,
                            source="postal_code", rt=rt, rw=rw, postal_code=postal, street=street,
                            evidence=(f"postal code {postal} (hint)",))
        return Location(rt=rt, rw=rw, postal_code=postal, street=street, evidence=tuple(evidence))

    # ----------------------------------------------------------------- both
    def locate(self, tokens: Sequence[str], lat: float | None = None, lon: float | None = None) -> Location:
        """Text names first (the citizen names the incident's place), then coordinates."""
        text = self.locate_text(tokens)
        if lat is None or lon is None:
            return text
        point = self.locate_point(lat, lon)
        extras = dict(rt=text.rt, rw=text.rw, postal_code=text.postal_code, street=text.street)
        if text.kelurahan or text.outside_city:
            return text
        if text.kecamatan:
            if point.kecamatan == text.kecamatan:
                return Location(point.kecamatan, point.kelurahan, point.kelurahan_code, source=f"text+{point.source}",
                                evidence=text.evidence + point.evidence, **extras)
            return text
        return Location(point.kecamatan, point.kelurahan, point.kelurahan_code, point.outside_city, point.source,
                        evidence=point.evidence, **extras)


_FUNCTION_WORDS = frozenset("di ke dari yang ini itu sini sana depan dekat belakang samping arah menuju masuk raya utama "
                            "kami saya rumah sudah tidak belum ada sangat banyak sepanjang".split())


def _extras(tokens: Sequence[str], stopwords=_FUNCTION_WORDS) -> tuple[str | None, str | None, str | None, str | None]:
    rt = rw = postal = street = None
    for i, tok in enumerate(tokens):
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        m = _RT_RE.match(tok)
        if m or (tok in ("rt", "rw") and nxt.isdigit() and len(nxt) <= 3):
            kind, num = (m.group(1), m.group(2)) if m else (tok, nxt)
            if kind == "rt" and rt is None:
                rt = num.zfill(3)
            elif kind == "rw" and rw is None:
                rw = num.zfill(3)
        elif postal is None and _POSTAL_RE.match(tok):
            postal = tok
        elif street is None and tok == "jalan" and nxt and nxt not in (BOUNDARY, "?") and not nxt.isdigit() \
                and nxt not in stopwords:
            words = [w for w in tokens[i + 1:i + 4] if w not in (BOUNDARY, "?")]
            cut = next((j for j, w in enumerate(words) if w in ("no", "nomor", "rt", "rw", "dekat", "depan", "di")),
                       len(words))
            street = " ".join(words[:max(cut, 1)][:2]) or None
    return rt, rw, postal, street
