"""The plan of the demo history (ingest/demo_history.py): months of reports as the city's control room
lived them, each as the steps of its life.

What a supervisor recognises (data/demo/history.yaml holds the numbers): about 40 reports a day with
Monday peaks and quiet nights; the rainy season growing towards December, with storm days that flood
the low kelurahan (bursts of reports: incident alerts and duplicates the operator merges); agencies that
differ (DAMKAR in minutes, PUPR chronically late, so breaches, escalations and extension requests);
transfers and ping-pong; citizens reopening and rating. Texts come from the live demo feed, the history
file and the labelled corpus (data/routing/corpus/*.jsonl, else tests/data/labelled_reports.jsonl).

The plan is a list of steps per report (PlannedCase), deterministic for a seed; ingest/demo_cases.py
plays each as the workflow and the SLA sweep would have.
"""
from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import yaml

from domain.clock import UTC, WIB
from domain.intake import HANDLE_KINDS, CitizenInfo
from domain.lifecycle import Kind
from domain.models import Category
from ingest.demo import CHANNELS, NAMES, TEMPLATES
from ingest.demo_cases import Step
from ingest.demo_life import LifePlanner

PHONE_CHANNELS = ("whatsapp", "call112", "app", "walk_in")
CORPUS_CHANNELS = {"social": ("instagram", "x", "facebook")}
MORE_NAMES = ["Wahyu", "Sri", "Dian", "Eko", "Ratna", "Bambang", "Indah", "Rudi", "Mega", "Teguh", "Ayu", "Iwan",
              "Putri", "Hadi", "Wati", "Andi", "Nanda", "Slamet", "Tuti", "Yusuf"]
REJECTS = [("spam", 0.4), ("prank", 0.2), ("outside_authority", 0.2), ("incomplete", 0.2)]
PRANKS = ["ADA KEBAKARAN DI {kel} CEPET DATENG!!!", "tolong ada yg tenggelam di kali {kel}"]
SPAM = ["halo min", "tes", "assalamualaikum", "promo pinjaman cepat cair hubungi wa ini", "p", "min?"]


def load_config(data_dir: Path) -> dict:
    return yaml.safe_load((Path(data_dir) / "demo" / "history.yaml").read_text(encoding="utf-8"))


def corpus_paths(data_dir: Path) -> list[Path]:
    """The labelled reports to borrow texts from: the routing corpus once it ships, else the test set."""
    shipped = sorted((Path(data_dir) / "routing" / "corpus").glob("*.jsonl"))
    fallback = Path(data_dir).resolve().parent / "tests" / "data" / "labelled_reports.jsonl"
    return shipped or ([fallback] if fallback.exists() else [])


@dataclass
class PlannedCase:
    """One report of the history: its columns at intake (`fields`, with `key`), its steps, its citizen."""

    fields: dict
    steps: list[Step] = field(default_factory=list)
    citizen: CitizenInfo | None = None
    reply: dict | None = None  # the citizen's route, for answers to a rating or a BUKA
    duplicate_of: str | None = None  # the ticket it is merged into
    person: tuple[str, str] | None = None  # the citizen's identity (kind, value): who this report's citizen is


@dataclass(frozen=True)
class _Person:
    """A demo citizen: the same person writes on several channels, each giving one identity."""

    name: str
    phone: str
    email: str
    handle: str


@dataclass
class _Arrival:
    at: datetime
    category: str | None
    area: dict | None = None
    storm: bool = False
    duplicate_of: "_Arrival | None" = None
    reject: str | None = None
    ticket: str = ""


class HistoryPlanner(LifePlanner):
    """Plans `days` days of reports ending at `now` (deterministic for a seed); each report's steps are
    ingest/demo_life.py's."""

    def __init__(self, config: dict, areas: list[dict], categories: dict[str, Category], sla, *,
                 corpus: list[dict] = (), seed: int = 11):
        self.cfg, self.areas, self.categories, self.sla = config, areas, categories, sla
        self.rnd = random.Random(seed)
        self.seed = seed
        self.by_name = {a["kelurahan"].lower(): a for a in areas}
        self.by_kecamatan: dict[str, list[dict]] = {}
        for a in areas:
            self.by_kecamatan.setdefault(a["kecamatan"].lower(), []).append(a)
        self.flood_prone = [self.by_name[n.lower()] for n in config["rainy_season"]["flood_prone"]
                            if n.lower() in self.by_name]
        self.corpus: dict[str | None, list[dict]] = {}
        for row in corpus:
            expected = row.get("expected") or {}
            key = "outside" if expected.get("outside_city") else expected.get("category")
            self.corpus.setdefault(key if expected.get("actionable", True) else None, []).append(row)
        self.texts = {c: list(TEMPLATES.get(c, [])) + list((config.get("texts") or {}).get(c, []))
                      for c in categories}
        self.citizens: list[_Person] = []
        self.regulars: list[int] = []
        self._infos: dict[tuple[int, str], CitizenInfo] = {}

    # ------------------------------------------------------------ arrivals
    def plan(self, now: datetime, days: int, per_day: float, ticket_for) -> list[PlannedCase]:
        """Every case of the period, in received order; `ticket_for(i, created_at)` numbers them."""
        arrivals = self._arrivals(now, days, per_day)
        arrivals.sort(key=lambda a: a.at)
        cases = []
        for i, arrival in enumerate(arrivals):
            created = arrival.at + timedelta(seconds=self.rnd.uniform(1, 20))
            arrival.ticket = ticket_for(i, created)
            cases.append(self._case(i + 1, arrival, created))
        self.keep_valid_ratings(cases)
        return cases

    def _arrivals(self, now: datetime, days: int, per_day: float) -> list[_Arrival]:
        cfg, rnd = self.cfg, self.rnd
        weekday = {int(k): float(v) for k, v in cfg["weekday_factor"].items()}
        mean_weekday = sum(weekday.values()) / 7
        hours = [float(h) for h in cfg["hour_weight"]]
        season = cfg["rainy_season"]
        months = {int(k): float(v) for k, v in season["month_factor"].items()}
        weather = set(season["categories"])
        codes = list(cfg["category_weight"])
        outcomes = cfg["outcomes"]
        base = per_day * (1 - outcomes["duplicate"])
        today = now.astimezone(WIB).date()
        out: list[_Arrival] = []
        for back in range(days, -1, -1):
            day = today - timedelta(days=back)
            factor = months.get(day.month, 1.0)
            weights = [float(cfg["category_weight"][c]) * (factor if c in weather else 1.0) for c in codes]
            count = _poisson(rnd, base * weekday[day.isoweekday()] / mean_weekday)
            for _ in range(count):
                at = _moment(rnd, day, rnd.choices(range(24), hours)[0])
                if at >= now:
                    continue
                if rnd.random() < outcomes["reject"]:
                    out.append(_Arrival(at, None, reject=_weighted(rnd, REJECTS)))
                    continue
                category = rnd.choices(codes, weights)[0]
                out.append(_Arrival(at, category, self._area(category)))
            if factor >= 1 and rnd.random() < season["storm_days_per_30"] / 30:
                out += self._storm(day, now)
            if rnd.random() < cfg["incidents"]["per_30_days"] / 30:
                out += self._incident(day, now)
        for original in list(out):
            if original.reject is None and original.duplicate_of is None and original.category not in ("OTHER", None) \
                    and rnd.random() < outcomes["duplicate"]:
                at = original.at + timedelta(minutes=rnd.uniform(10, 180))
                if at < now:
                    out.append(_Arrival(at, original.category, original.area, duplicate_of=original))
        return out

    def _storm(self, day, now: datetime) -> list[_Arrival]:
        """A storm day: flood and drainage reports from a few low kelurahan within a few hours."""
        rnd = self.rnd
        low, high = self.cfg["rainy_season"]["storm_reports"]
        places = rnd.sample(self.flood_prone, k=min(len(self.flood_prone), rnd.randint(2, 4)))
        start = _moment(rnd, day, rnd.choice([14, 15, 16, 17, 18, 19]))
        out, firsts = [], {}
        for _ in range(rnd.randint(low, high)):
            area = rnd.choice(places)
            at = start + timedelta(minutes=rnd.uniform(0, 150) * (0.5 if area is places[0] else 1))
            if at >= now:
                continue
            category = "FLOOD" if rnd.random() < 0.75 else "DRAINAGE"
            first = firsts.get((category, area["kode"]))
            duplicate = first if first is not None and at - first.at < timedelta(hours=2) and rnd.random() < 0.5 \
                and first.at < at else None
            arrival = _Arrival(at, category, area, storm=True, duplicate_of=duplicate)
            if first is None or at < first.at:
                firsts[(category, area["kode"])] = arrival
            out.append(arrival)
        return out

    def _incident(self, day, now: datetime) -> list[_Arrival]:
        """Several citizens report one emergency within the hour; the operator merges most into the first."""
        rnd, cfg = self.rnd, self.cfg["incidents"]
        category, area = rnd.choice(cfg["categories"]), rnd.choice(self.areas)
        first = _Arrival(_moment(rnd, day, rnd.choice(range(7, 23))), category, area)
        out = [first]
        for _ in range(rnd.randint(*cfg["reports"]) - 1):
            at = first.at + timedelta(minutes=rnd.uniform(2, 40))
            out.append(_Arrival(at, category, area, duplicate_of=first if rnd.random() < 0.7 else None))
        return [a for a in out if a.at < now] if first.at < now else []

    def _area(self, category: str | None) -> dict:
        if category in ("FLOOD", "DRAINAGE") and self.flood_prone and self.rnd.random() < 0.6:
            return self.rnd.choice(self.flood_prone)
        return self.rnd.choice(self.areas)

    # ------------------------------------------------------------ one case
    def _case(self, key: int, a: _Arrival, created: datetime) -> PlannedCase:
        rnd = self.rnd
        text, area, kind, priority, channel, category, point = self._content(a)
        cat = self.categories.get(category) if category else None
        agency = "UPT_PRK" if cat is None else cat.agency_code
        priority = priority or (cat.priority if cat else "P3")
        kind = kind or (Kind.EMERGENCY.value if cat is not None and cat.emergency else Kind.COMPLAINT.value)
        if category == "OTHER" and kind == Kind.COMPLAINT.value:
            kind, priority = Kind.ASPIRATION.value, "P4"
        citizen, reply, author = self._citizen(channel)
        # one citizen per identity, as domain.citizens resolves them; without one, a citizen per report
        person = citizen.identities()[0] if citizen.identities() else ("report", str(key))
        lat, lon = point if point else (None, None)
        fields = dict(
            key=key, ticket=a.ticket, channel=channel, external_id=f"demo-history-{self.seed}-{key:06d}",
            kind=kind, category_code=category, priority=priority, agency_code=agency, status="NEW", text=text,
            location_text=f"{area['kelurahan']}, {area['kecamatan']}" if area else None, lat=lat, lon=lon,
            kelurahan_code=area["kode"] if area else None, kecamatan=area["kecamatan"] if area else None,
            raw_payload={"demo": True, "history": True, "text": text}, citizen_id=None,
            sla_policy_set=self.sla.policy_set_for(channel), received_at=a.at, created_at=created,
            updated_at=created, transfer_count=0, needs_supervisor=False, is_demo=True,
            routing={"source": "demo-history", "confidence": round(rnd.uniform(0.55, 0.97), 2),
                     "proposed": {"category": category, "agency": agency, "priority": priority, "kind": kind,
                                  "kelurahan_code": area["kode"] if area else None,
                                  "kecamatan": area["kecamatan"] if area else None}},
        )
        case = PlannedCase(fields, citizen=citizen, reply=reply, person=person,
                           duplicate_of=a.duplicate_of.ticket if a.duplicate_of else None)
        self.lifecycle(case, a, author)
        return case

    def _content(self, a: _Arrival):
        """(text, area, kind, priority, channel, category, (lat, lon)) of an arrival."""
        rnd = self.rnd
        channel = rnd.choice(CHANNELS)
        if a.reject is not None:
            pool = self.corpus.get("outside" if a.reject == "outside_authority" else None) or []
            if a.reject == "prank":
                area = rnd.choice(self.areas)
                return rnd.choice(PRANKS).format(kel=area["kelurahan"]), area, None, None, "call112", "FIRE", None
            if pool and rnd.random() < 0.7:
                row = rnd.choice(pool)
                return row["text"], None, None, None, self._channel(row), None, None
            return rnd.choice(SPAM), None, None, None, channel, None, None
        if a.duplicate_of is not None and rnd.random() < 0.5:
            return ("ini jg sama, " + self._template(a.category, a.area), a.area, None, None, channel, a.category,
                    self._point(a.area))
        rows = [r for r in self.corpus.get(a.category, []) if not a.storm]
        if rows and rnd.random() < 0.45:
            row = rnd.choice(rows)
            expected = row["expected"]
            area = self._corpus_area(expected)
            point = (row["lat"], row["lon"]) if row.get("lat") is not None and row.get("lon") is not None else None
            return (row["text"], area, expected.get("kind"), expected.get("priority"), self._channel(row),
                    a.category, point or self._point(area))
        return self._template(a.category, a.area), a.area, None, None, channel, a.category, self._point(a.area)

    def _template(self, category: str, area: dict) -> str:
        text = self.rnd.choice(self.texts.get(category) or self.texts["OTHER"])
        return text.format(kel=area["kelurahan"], kec=area["kecamatan"])

    def _corpus_area(self, expected: dict) -> dict | None:
        if expected.get("kelurahan") and expected["kelurahan"].lower() in self.by_name:
            return self.by_name[expected["kelurahan"].lower()]
        options = self.by_kecamatan.get((expected.get("kecamatan") or "").lower())
        if not options and self.rnd.random() < 0.7:  # the operator found out where it was
            options = self.areas
        return self.rnd.choice(options) if options else None

    def _channel(self, row: dict) -> str:
        channel = row.get("channel") or "whatsapp"
        return self.rnd.choice(CORPUS_CHANNELS[channel]) if channel in CORPUS_CHANNELS else channel

    def _point(self, area: dict | None):
        if area is None or self.rnd.random() >= 0.6:
            return None
        jitter = lambda: self.rnd.uniform(-0.004, 0.004)  # noqa: E731
        return float(area["lat"]) + jitter(), float(area["lon"]) + jitter()

    def _citizen(self, channel: str) -> tuple[CitizenInfo, dict | None, str]:
        """A citizen (a fifth of the reports come from regulars who write again), their reply route, author."""
        rnd = self.rnd
        if self.regulars and rnd.random() < 0.2:
            index = rnd.choice(self.regulars)
        else:
            index = len(self.citizens)
            name = f"{rnd.choice(NAMES + MORE_NAMES)} (demo)"
            self.citizens.append(_Person(name, f"+62813{self.seed % 10}{index:07d}", f"warga.demo{index}@example.org",
                                         f"warga_demo_{index}"))
            if rnd.random() < 0.05:
                self.regulars.append(index)
        person = self.citizens[index]
        door = "phone" if channel in PHONE_CHANNELS else channel  # which identity this channel gives
        info = self._infos.get((index, door))
        if info is None:  # built once per citizen and door (normalising a phone number is slow)
            info = self._infos[(index, door)] = CitizenInfo(
                name=person.name, phone=person.phone if door == "phone" else None,
                email=person.email if door == "email" else None,
                handle=person.handle if channel in HANDLE_KINDS else None, handle_kind=HANDLE_KINDS.get(channel))
        # the citizen answers a survey or writes BUKA on a two-way channel: WhatsApp or email here
        reply = ({"channel": "whatsapp", "to": f"whatsapp:{person.phone}", "thread": {}} if channel == "whatsapp"
                 else {"channel": "email", "to": person.email, "thread": {}} if channel == "email" else None)
        return info, reply, person.name


def _poisson(rnd: random.Random, mean: float) -> int:
    return max(0, int(round(rnd.gauss(mean, math.sqrt(mean)))))


def _moment(rnd: random.Random, day, hour: int) -> datetime:
    """A random instant of one hour of a WIB day, in UTC."""
    local = datetime(day.year, day.month, day.day, hour, tzinfo=WIB) + timedelta(seconds=rnd.uniform(0, 3600))
    return local.astimezone(UTC)


def _weighted(rnd: random.Random, pairs) -> str:
    return rnd.choices([p for p, _ in pairs], [w for _, w in pairs])[0]


def read_corpus(data_dir: Path) -> list[dict]:
    rows = []
    for path in corpus_paths(data_dir):
        with path.open(encoding="utf-8") as fh:
            rows += [json.loads(line) for line in fh if line.strip()]
    return rows
