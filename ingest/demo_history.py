"""The demo history: on a fresh demo database, months of reports as the city's control room lived them,
written before the live demo feed starts (app.py `serve` and `worker --demo` call `ensure_history`).

    plan   ingest/demo_plan.py   what happens: volumes, texts, places, each report's steps (data/demo/history.yaml)
    play   ingest/demo_cases.py  each report's rows as the workflow, the SLA sweep and the conversation write them
    write  here                  incident alerts across reports (routing/incidents.py's rule), then every table
                                 in set-based inserts (executemany), in one transaction, with a progress bar

Everything is is_demo (reports, citizens) and labelled so on the pages; messages are marked sent and
never sent. The rollup of the executive panel is built from these rows like from any others.
"""
from __future__ import annotations

import sys
import time
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from domain import tracking
from domain.actors import SYSTEM
from domain.clock import WIB, isoformat
from domain.escalation import Contact, EscalationLadder
from domain.models import (
    Agency,
    Area,
    Assignment,
    Category,
    Citizen,
    CitizenIdentity,
    Event,
    ExtensionRequest,
    IncidentAlert,
    Message,
    OutboxMessage,
    Report,
    RoutingCorrection,
    SlaBreach,
    SlaClock,
)
from ingest.demo_cases import CasePlayer, Played, Reference
from ingest.demo_plan import HistoryPlanner, PlannedCase, load_config, read_corpus
from ingest.templates import Templates

CHUNK = 2000


@dataclass(frozen=True)
class HistoryResult:
    reports: int
    events: int
    first: datetime
    last: datetime
    seconds: float


def ensure_history(services, *, days: int | None = None, per_day: float | None = None, seed: int = 11,
                   progress: bool = False) -> HistoryResult | None:
    """On a database without any report: write the demo history (None: there were reports already).
    The external ids are fixed per seed, so two processes starting at once cannot write it twice."""
    with services.sessions() as s:
        if s.scalar(select(Report.id).limit(1)) is not None:
            return None
    try:
        return build_history(services, days=days, per_day=per_day, seed=seed, progress=progress)
    except IntegrityError:  # another process wrote it first (its transaction committed, ours rolled back)
        return None


def reference(services) -> Reference:
    data_dir = services.settings.data_dir
    ladder = EscalationLadder.load(data_dir, resolve_ceiling_minutes=services.sla.resolve_ceiling_minutes)
    with services.sessions() as s:
        agencies = {a.code: (a.name, Contact(phone=a.duty_phone, email=a.duty_email, head_email=a.head_email))
                    for a in s.scalars(select(Agency))}
        categories = dict(s.execute(select(Category.code, Category.label_id)).all())
    return Reference(services.sla, ladder, agencies, categories, Templates.load(data_dir))


def plan_history(services, now: datetime, *, days: int | None = None, per_day: float | None = None,
                 seed: int = 11, config: dict | None = None) -> list[PlannedCase]:
    """The cases of the history ending at `now`, numbered from ticket 1 of each year (see _number);
    `config` replaces data/demo/history.yaml."""
    data_dir = services.settings.data_dir
    config = config or load_config(data_dir)
    with services.sessions() as s:
        areas = [{"kode": a.kode, "kecamatan": a.kecamatan, "kelurahan": a.kelurahan, "lat": a.lat, "lon": a.lon}
                 for a in s.scalars(select(Area).order_by(Area.kode))]
    planner = HistoryPlanner(config, areas, services.queue.categories, services.sla,
                             corpus=read_corpus(data_dir), seed=seed)
    counters: dict[int, int] = {}

    def ticket_for(_index: int, created: datetime) -> str:
        year = created.astimezone(WIB).year
        counters[year] = counters.get(year, 0) + 1
        return f"{services.queue.ticket_prefix}-{year}-{counters[year]:06d}"

    return planner.plan(now, config["days"] if days is None else days,
                        config["reports_per_day"] if per_day is None else per_day, ticket_for)


def play_history(ref: Reference, cases: list[PlannedCase], now: datetime, bar=None) -> list[Played]:
    player = CasePlayer(ref)
    keys = {c.fields["ticket"]: c.fields["key"] for c in cases}
    played = []
    for case in cases:
        played.append(player.play(case.fields, case.steps, now, keys, case.reply))
        if bar is not None:
            bar.update(1)
    return played


def build_history(services, *, days: int | None = None, per_day: float | None = None, seed: int = 11,
                  now: datetime | None = None, progress: bool = False, config: dict | None = None) -> HistoryResult:
    """Plan, play and write the history ending at `now` (default: the services' clock) in one transaction."""
    started = time.monotonic()
    now = now or services.queue.clock()
    cases = plan_history(services, now, days=days, per_day=per_day, seed=seed, config=config)
    return write_history(services, cases, now, seed=seed, progress=progress, started=started)


def write_history(services, cases: list[PlannedCase], now: datetime, *, seed: int = 11, progress: bool = False,
                  started: float | None = None) -> HistoryResult:
    """Play planned cases and write their rows (and the incident alerts) in one transaction."""
    started = started or time.monotonic()
    ref = reference(services)
    with _bar(progress, len(cases) * 2, "Demo history") as bar, services.sessions.begin() as s:
        _number(s, services.queue, cases)
        played = play_history(ref, cases, now, bar)
        alerts = incident_alerts(cases, played)
        events = _write(s, cases, played, alerts, seed, bar)
    return HistoryResult(len(cases), events, cases[0].fields["received_at"] if cases else now,
                         cases[-1].fields["received_at"] if cases else now, time.monotonic() - started)


# ---------------------------------------------------------------- tickets
def _number(s, queue, cases: list[PlannedCase]) -> None:
    """Take each year's numbers from the ticket counter (one upsert per year, like the submit path) and
    put them on the cases, their merges included."""
    years: dict[str, list[PlannedCase]] = {}
    for case in cases:
        years.setdefault(case.fields["ticket"].rsplit("-", 2)[1], []).append(case)
    renamed = {}
    for mine in years.values():
        tickets = queue._allocate_tickets(s, mine[0].fields["created_at"], len(mine))
        for case, ticket in zip(mine, tickets):
            renamed[case.fields["ticket"]] = ticket
            case.fields["ticket"] = ticket
    for case in cases:
        if case.duplicate_of is not None:
            case.duplicate_of = renamed[case.duplicate_of]
        for step in case.steps:
            if step.action == "merge":
                step.args["into"] = renamed[step.args["into"]]


# ---------------------------------------------------------------- incident alerts (routing/incidents.py)
def incident_alerts(cases: list[PlannedCase], played: list[Played], rules=None) -> list[dict]:
    """The alerts the routing listener would have opened as these reports came in (one submit each, in
    the order they were stored): at `min_reports` of one category in one kelurahan within `window`; an
    open alert takes the pair's further reports until it has been quiet for `quiet`. Each opening adds
    its "incident_alert" event to the report that opened it."""
    try:
        from routing.incidents import IncidentRules
    except ImportError:  # without the routing engine there are no incident alerts
        return []
    rules = rules or IncidentRules()
    order = sorted(range(len(cases)), key=lambda i: (cases[i].fields["created_at"], cases[i].fields["key"]))
    rejected_at = {c.fields["key"]: next((s.at for s in c.steps if s.action == "reject"), None) for c in cases}
    evidence: dict[tuple[str, str], list[dict]] = {}
    alerts: list[dict] = []
    open_alerts: dict[tuple[str, str], dict] = {}
    for i in order:
        f, now = cases[i].fields, cases[i].fields["created_at"]
        for pair, alert in list(open_alerts.items()):  # close_quiet, at the start of every submit
            if alert["last_at"] < now - rules.quiet:
                alert.update(status="closed", closed_at=now)
                del open_alerts[pair]
        if not (f["category_code"] and f["category_code"] != rules.triage_category and f["kelurahan_code"]):
            continue
        pair = (f["category_code"], f["kelurahan_code"])
        evidence.setdefault(pair, []).append(f)
        alert = open_alerts.get(pair)
        if alert is not None:
            if f["received_at"] < alert["first_at"] - rules.window:
                continue
            alert["report_count"] += 1
            alert["first_at"] = min(alert["first_at"], f["received_at"])
            alert["last_at"] = max(alert["last_at"], f["received_at"])
            alert["priority"] = min(alert["priority"], f["priority"])
            continue
        t = f["received_at"]
        rows = sorted((r for r in evidence[pair] if t - rules.window < r["received_at"] <= t
                       and not (rejected_at[r["key"]] is not None and rejected_at[r["key"]] <= now)),
                      key=lambda r: (r["received_at"], r["key"]))
        if len(rows) < rules.min_reports:
            continue
        alert = dict(key=len(alerts) + 1, category_code=pair[0], kelurahan_code=pair[1], kecamatan=f["kecamatan"],
                     first_at=rows[0]["received_at"], last_at=max(r["received_at"] for r in rows),
                     report_count=len(rows), priority=min(r["priority"] for r in rows), status="open",
                     first_report_key=rows[0]["key"], created_at=now, closed_at=None)
        alerts.append(alert)
        open_alerts[pair] = alert
        played[i].events.insert(1, dict(
            at=now, report_key=f["key"], citizen_key=f.get("citizen_id"), actor=SYSTEM.name,
            actor_role=SYSTEM.role.value, type="incident_alert", before=None, reason=(
                f"{len(rows)} reports of {pair[0]} in {pair[1]} within {int(rules.window.total_seconds() // 60)} min"),
            after={"alert_key": alert["key"], "category": pair[0], "kelurahan_code": pair[1],
                   "report_count": len(rows), "first_at": isoformat(alert["first_at"])}))
    return alerts


# ---------------------------------------------------------------- writing
def _write(s, cases: list[PlannedCase], played: list[Played], alerts: list[dict], seed: int, bar) -> int:
    """Every row in set-based inserts; returns the number of events written."""
    import random

    rnd = random.Random(seed)
    citizens: dict[tuple[str, str], dict] = {}
    of_case: list[dict | None] = []
    for case in cases:
        info = case.citizen
        if info is None or not (info.identities() or info.name):
            of_case.append(None)
            continue
        person = citizens.get(case.person)
        if person is None:
            person = citizens[case.person] = dict(
                public_id=uuid.UUID(int=rnd.getrandbits(128)).hex, name=info.name,
                created_at=case.fields["created_at"], is_demo=True,
                identities=[dict(kind=k, value=v, created_at=case.fields["created_at"]) for k, v in info.identities()])
        of_case.append(person)
    people = list(citizens.values())
    total = sum(len(getattr(p, a)) for p in played for a in ("clocks", "events", "assignments", "breaches", "outbox",
                                                                "extensions", "messages", "corrections"))
    bar = _Share(bar, len(cases), total + 2 * len(cases))
    _insert(s, Citizen, [{k: v for k, v in p.items() if k != "identities"} for p in people], bar)
    ids = {}
    for i in range(0, len(people), 500):
        ids.update(s.execute(select(Citizen.public_id, Citizen.id).where(
            Citizen.public_id.in_([p["public_id"] for p in people[i:i + 500]]))).all())
    _insert(s, CitizenIdentity, [dict(citizen_id=ids[p["public_id"]], **i) for p in people for i in p["identities"]],
            bar)
    citizen_of = {c.fields["key"]: (ids[p["public_id"]] if p else None) for c, p in zip(cases, of_case)}

    rows = []
    for p in played:
        row = {k: v for k, v in p.report.items() if k != "key"}
        row["citizen_id"] = citizen_of[p.report["key"]]
        row["merged_into_id"] = None  # set below, once the other report's id is known
        row["tracking_code"] = row.get("tracking_code") or tracking.new_code()  # every report has its link
        rows.append(row)
    _insert(s, Report, rows, bar)
    tickets = [r["ticket"] for r in rows]
    by_ticket = {}
    for i in range(0, len(tickets), 500):
        by_ticket.update(s.execute(select(Report.ticket, Report.id).where(Report.ticket.in_(tickets[i:i + 500]))).all())
    report_id = {p.report["key"]: by_ticket[p.report["ticket"]] for p in played}
    merged = [{"rid": report_id[p.report["key"]], "target": report_id[p.report["merged_into_id"]]}
              for p in played if p.report["merged_into_id"]]
    if merged:  # executemany
        s.execute(update(Report.__table__).where(Report.id == bindparam("rid"))
                  .values(merged_into_id=bindparam("target")), merged)

    def rows_of(attribute: str) -> list[dict]:
        out = []
        for p in played:
            for row in getattr(p, attribute):
                row = dict(row)
                row["report_id"] = report_id[row.pop("report_key")]
                out.append(row)
        return out

    _insert(s, SlaClock, [dict(c, report_id=report_id[p.report["key"]]) for p in played for c in p.clocks], bar)
    for model, attribute in ((Assignment, "assignments"), (SlaBreach, "breaches"), (ExtensionRequest, "extensions"),
                             (Message, "messages"), (RoutingCorrection, "corrections"), (OutboxMessage, "outbox")):
        _insert(s, model, rows_of(attribute), bar)
    alert_id = {}
    for alert in alerts:  # a few dozen: one INSERT ... RETURNING each
        values = {k: v for k, v in alert.items() if k not in ("key", "first_report_key")}
        values["first_report_id"] = report_id[alert["first_report_key"]]
        alert_id[alert["key"]] = s.execute(insert(IncidentAlert).values(**values).returning(IncidentAlert.id)).scalar()

    events = [(e["at"], e["report_key"], n, e) for p in played for n, e in enumerate(p.events)]
    events.sort(key=lambda item: item[:3])  # the log is in time order: ids grow with `at`
    out = []
    for _, _, _, e in events:
        e = dict(e)
        key = e.pop("report_key")
        e.pop("citizen_key", None)
        e["report_id"], e["citizen_id"] = report_id[key], citizen_of[key]
        if e["type"] == "merge" and e["after"] and e["after"].get("merged_into_id"):
            e["after"] = dict(e["after"], merged_into_id=report_id[e["after"]["merged_into_id"]])
        if e["type"] == "incident_alert":
            after = dict(e["after"])
            e["after"] = {"alert_id": alert_id[after.pop("alert_key")], **after}
        out.append(e)
    _insert(s, Event, out, bar)
    return len(out)


def _insert(s, model, rows: list[dict], bar) -> None:
    """executemany in chunks (one INSERT with many parameter sets per chunk)."""
    table = model.__table__
    for i in range(0, len(rows), CHUNK):
        chunk = rows[i:i + CHUNK]
        s.execute(insert(table), chunk)
        bar.update(len(chunk))


class _Share:
    """The writing's share of the progress bar: `steps` of it spread over `total` rows."""

    def __init__(self, bar, steps: int, total: int):
        self.bar, self.steps, self.total, self.done, self.shown = bar, steps, max(1, total), 0, 0

    def update(self, rows: int) -> None:
        self.done += rows
        step = min(self.steps, self.steps * self.done // self.total)
        if self.bar is not None and step > self.shown:
            self.bar.update(step - self.shown)
        self.shown = max(self.shown, step)


class _bar:
    """click's progress bar on stderr (or nothing)."""

    def __init__(self, enabled: bool, length: int, label: str):
        self.enabled, self.length, self.label, self.bar = enabled, length, label, None

    def __enter__(self):
        if not self.enabled:
            return None
        import click

        self.bar = click.progressbar(length=max(1, self.length), label=self.label, file=sys.stderr,
                                     show_eta=False, show_percent=True)
        return self.bar.__enter__()

    def __exit__(self, *exc):
        if self.bar is not None:
            if exc[0] is None:
                self.bar.update(self.length)
            self.bar.__exit__(*exc)
        return False
