"""The demo history: what its bulk insert writes is what the real services write for the same steps, it keeps
the invariants the workflow guarantees, and the executive rollup built from it is right (also after a live
reopening or transfer). The volume and the patterns of the default plan are checked on the plan alone."""
from __future__ import annotations

import heapq
import shutil
import statistics
import uuid
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select, text
from sqlalchemy.exc import IntegrityError

from dashboard import actions, context, rollup
from domain.actors import Actor
from domain.clock import WIB, FrozenClock
from domain.db import make_engine, migrate
from domain.intake import IncomingReport, LocationInfo
from domain.lifecycle import PING_PONG_TRANSFERS, Role
from domain.models import (
    Assignment,
    Citizen,
    CitizenIdentity,
    DashboardRollup,
    DashboardRollupState,
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
from domain.queue import QueueService, RoutingDecision
from domain.sweep import build_sweep
from ingest.demo_sweep import TICK, WAKE
from ingest.demo_history import build_history, ensure_history, plan_history, write_history
from ingest.demo_plan import load_config
from tests.conftest import TEST_DATABASE_URL

SMALL = dict(days=6, per_day=11, seed=1)  # about 120 reports
REPLAY = dict(days=4, per_day=12, seed=24)  # 39 reports, every kind of step among them
# The steps after which something may already be due (a reopened resolve clock, a moved deadline): the
# worker's next one-second sweep records it. Any other step only starts clocks that fall due later.
MAY_MAKE_DUE = ("citizen_reopen", "decide_extension", "transfer")


def _busy_config(data_dir):
    """The shipped plan with every kind of life made common, so a small history holds each of them."""
    config = load_config(data_dir)
    config["outcomes"].update(reject=0.08, duplicate=0.12, transfer=0.12, ping_pong=0.08, reopen=0.35, rating=0.9)
    config["agencies"]["PUPR"]["extension"] = 0.9
    config["agencies"]["PERKIM"]["extension"] = 0.9
    config["incidents"]["per_30_days"] = 20
    return config


@pytest.fixture
def second_database(tmp_path, _pg_schema, _sqlite_template):
    """A second migrated, empty database on the same backend."""
    if not _pg_schema:
        path = tmp_path / "second.db"
        shutil.copy(_sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    schema = f"tlr_test_{uuid.uuid4().hex[:10]}"
    admin = make_engine(TEST_DATABASE_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in TEST_DATABASE_URL else "?"
    url = f"{TEST_DATABASE_URL}{sep}options=-csearch_path%3D{schema}"
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    yield url
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


# ---------------------------------------------------------------- the real services, step by step
class PlannedRouting:
    """The classifier port answering what the plan decided (kind and place), as the routing engine did."""

    def __init__(self, cases):
        self.fields = {c.fields["external_id"]: c.fields for c in cases}

    def route(self, incoming):
        f = self.fields[incoming.external_id]
        return RoutingDecision(kind=f["kind"], kelurahan_code=f["kelurahan_code"], kecamatan=f["kecamatan"])


def _replay(settings, cases, now):
    """Submit and change every planned report through QueueService, Workflow, the SLA sweep, the supervisor's
    actions and the citizen's conversation, in time order, the sweep running as the worker runs it."""
    from app import Services
    from ingest.channels import Channels
    from ingest.conversation import InboundMessage, handle

    start = min(c.fields["received_at"] for c in cases)
    clock = FrozenClock(start)
    services = Services(settings, clock=clock)
    services.__dict__["queue"] = QueueService(services.sessions, services.sla, clock=clock,
                                              ticket_prefix=settings.ticket_prefix, classifier=PlannedRouting(cases))
    services.init_db()
    sweep = build_sweep(services.sessions, services.sla, settings.data_dir, clock=clock)
    channels = Channels(services)
    previous = context._services
    context.set_services(services)
    items = [(c.fields["created_at"], i, -1, None) for i, c in enumerate(cases)]
    items += [(s.at, i, j, s) for i, c in enumerate(cases) for j, s in enumerate(c.steps) if s.at < now]
    items.sort(key=lambda item: item[:3])
    ticks: list = []

    def sweep_before(moment):
        while True:
            due = sweep.next_due(clock.now)
            wake = [t for t in ((due + WAKE) if due else None, ticks[0] if ticks else None) if t is not None]
            if not wake or min(wake) >= moment:
                return
            if ticks and ticks[0] == min(wake):
                heapq.heappop(ticks)
            clock.now = max(clock.now, min(wake))
            sweep.sweep()

    def say(case, step, body):
        reply = case.reply
        identity = ("phone", case.citizen.phone) if reply["channel"] == "whatsapp" else ("email", case.citizen.email)
        message = InboundMessage(channel=reply["channel"], external_id=step.args["message_id"], identity=identity,
                                 author=step.args["author"], text=body, reply=reply, build_report=lambda: None)
        assert handle(channels, message).kind == "command"

    try:
        for at, i, _, step in items:
            sweep_before(at)
            clock.now = at
            case, f = cases[i], cases[i].fields
            ticket, wf = f["ticket"], services.workflow
            if step is None:
                location = LocationInfo(f["location_text"], f["lat"], f["lon"]) \
                    if f["location_text"] or f["lat"] is not None else None
                services.queue.submit(IncomingReport(
                    channel=f["channel"], external_id=f["external_id"], text=f["text"], received_at=f["received_at"],
                    citizen=case.citizen, location=location, category=f["category_code"], priority=f["priority"],
                    agency=f["agency_code"], raw_payload=f["raw_payload"], is_demo=True))
            else:
                a, who = step.args, step.actor
                if step.action in ("verify", "accept", "close"):
                    getattr(wf, step.action)(ticket, who)
                elif step.action == "assign":
                    wf.assign(ticket, who, a.get("agency"), a.get("reason"))
                elif step.action == "start":
                    wf.start(ticket, who, a.get("note"))
                elif step.action == "resolve":
                    wf.resolve(ticket, who, a["note"])
                elif step.action == "reject":
                    wf.reject(ticket, who, a["reason"])
                elif step.action == "merge":
                    wf.merge(ticket, who, a["into"], a.get("reason"))
                elif step.action == "transfer":
                    wf.transfer(ticket, who, a["agency"], a["reason"])
                elif step.action == "request_extension":
                    actions.request_extension(who, ticket, a["stage"], a["minutes"], a["reason_code"], a["reason"])
                elif step.action == "decide_extension":
                    with services.sessions() as s:
                        request_id = s.scalar(select(ExtensionRequest.id).join(Report).where(
                            Report.ticket == ticket, ExtensionRequest.status == "pending"))
                    actions.decide_extension(who, request_id, a["approve"], a.get("note"))
                elif step.action == "citizen_reopen":
                    say(case, step, f"BUKA {ticket} {a['reason']}")
                elif step.action == "rate":
                    say(case, step, str(a["score"]))
                else:
                    raise AssertionError(step.action)
            if step is not None and step.action in MAY_MAKE_DUE:
                heapq.heappush(ticks, at + TICK)
        sweep_before(now)
    finally:
        context._services = previous
    return services




def _dump(services) -> dict:
    """Every row of the history per ticket, without database ids (other reports are named by ticket)."""
    out: dict[str, dict] = {}
    with services.sessions() as s:
        tickets = dict(s.execute(select(Report.id, Report.ticket)).all())
        for r in s.scalars(select(Report)):
            row = {c.key: getattr(r, c.key) for c in Report.__table__.columns
                   if c.key not in ("id", "citizen_id", "routing", "tracking_code")}
            row["has_tracking_code"] = bool(r.tracking_code)  # random: only that there is one
            row["merged_into_id"] = tickets.get(r.merged_into_id)
            citizen = s.get(Citizen, r.citizen_id) if r.citizen_id else None
            row["citizen"] = None if citizen is None else (
                citizen.name, citizen.created_at, citizen.is_demo, sorted(s.execute(
                    select(CitizenIdentity.kind, CitizenIdentity.value).where(
                        CitizenIdentity.citizen_id == citizen.id)).all()))
            out[r.ticket] = {"report": row, "clocks": {}, "events": [], "assignments": [], "breaches": [],
                             "outbox": [], "extensions": [], "messages": []}
        for c in s.scalars(select(SlaClock)):
            out[tickets[c.report_id]]["clocks"][c.stage] = {k.key: getattr(c, k.key) for k in SlaClock.__table__.columns
                                                            if k.key not in ("id", "report_id")}
        for e in s.scalars(select(Event).where(Event.report_id.is_not(None)).order_by(Event.id)):
            if e.type == "incident_alert":
                continue  # the routing listener's: see test_incident_alerts_follow_the_routing_rule
            after = dict(e.after) if isinstance(e.after, dict) else e.after
            if e.type == "merge":
                after["merged_into_id"] = tickets[after["merged_into_id"]]
            out[tickets[e.report_id]]["events"].append((e.at, e.type, e.actor, e.actor_role, e.before, after, e.reason))
        for table, key in ((Assignment, "assignments"), (SlaBreach, "breaches"), (ExtensionRequest, "extensions"),
                           (Message, "messages"), (OutboxMessage, "outbox")):
            for row in s.scalars(select(table).order_by(table.id)):
                values = {c.key: getattr(row, c.key) for c in table.__table__.columns if c.key not in ("id", "report_id")}
                if table in (Message, OutboxMessage) and values.get("channel") == "email":
                    values.pop("external_id", None)  # email Message-IDs are random
                    if isinstance(values.get("payload"), dict):
                        values["payload"] = {k: v for k, v in values["payload"].items() if k != "message_id"}
                if table is OutboxMessage:  # the replay's are pending: the demo's are marked sent
                    for k in ("status", "attempts", "sent_at"):
                        values.pop(k)
                out[tickets[row.report_id]][key].append(values)
    return out


def test_the_bulk_history_is_what_the_real_services_write(services, settings, second_database, clock):
    now = clock()
    wanted = ("reject", "merge", "transfer", "citizen_reopen", "request_extension", "decide_extension", "rate")
    # the first seed from REPLAY's whose small history holds every kind of step (the plan borrows texts from
    # the shipped corpus, so which seed that is may move when the corpus grows)
    for seed in range(REPLAY["seed"], REPLAY["seed"] + 40):
        cases = plan_history(services, now, config=_busy_config(settings.data_dir), **{**REPLAY, "seed": seed})
        actions_seen = Counter(s.action for c in cases for s in c.steps if s.at < now)
        decisions = {s.args.get("approve") for c in cases for s in c.steps if s.at < now and s.action == "decide_extension"}
        if all(actions_seen[a] for a in wanted) and decisions == {True, False}:
            break
    else:
        raise AssertionError(f"no seed gives a small history with every kind of step: {actions_seen}")
    write_history(services, cases, now, seed=seed)
    replayed = _replay(type(settings)(**{**settings.__dict__, "database_url": second_database}), cases, now)
    bulk, real = _dump(services), _dump(replayed)
    replayed.engine.dispose()
    assert sorted(bulk) == sorted(real)
    kinds = Counter()
    for ticket in bulk:
        for part in ("report", "clocks", "events", "assignments", "breaches", "outbox", "extensions", "messages"):
            assert bulk[ticket][part] == real[ticket][part], (ticket, part)
            kinds[part] += len(bulk[ticket][part]) if isinstance(bulk[ticket][part], list) else 1
        kinds.update(e[1] for e in bulk[ticket]["events"])
    for kind in ("sla_warning", "sla_breached", "sla_escalated", "deadline_extended", "extension_refused", "reopen",
                 "satisfaction_rated", "outbox", "breaches"):
        assert kinds[kind], f"nothing of {kind} was compared"


# ---------------------------------------------------------------- invariants of a bulk history
@pytest.fixture
def history(services, settings, clock):
    result = build_history(services, config=_busy_config(settings.data_dir), now=clock(), **SMALL)
    context.set_services(services)
    return result


def test_history_keeps_the_workflows_invariants(services, history, clock):
    now = clock()
    assert history.reports > 80
    with services.sessions() as s:
        assert s.scalar(select(Report.id).where(Report.is_demo.is_(False))) is None
        assert s.scalar(select(Citizen.id).where(Citizen.is_demo.is_(False))) is None
        reports = {r.id: r for r in s.scalars(select(Report))}
        events = list(s.scalars(select(Event).order_by(Event.id)))
        assert [e.at for e in events] == sorted(e.at for e in events), "the log is in time order"
        last_status = {}
        for e in events:
            if e.report_id and isinstance(e.after, dict) and "status" in e.after:
                last_status[e.report_id] = e.after["status"]
        assert all(r.status == last_status[r.id] for r in reports.values())
        breached_events = {(e.report_id, e.after["stage"]): e.at for e in events if e.type == "sla_breached"}
        for c in s.scalars(select(SlaClock)):
            # A clock that ended (or is still open) after its deadline was breached, at a time before it ended;
            # an extension may move the deadline of a breached clock later, never its breach.
            ended = c.met_at or c.cancelled_at or now
            where = (reports[c.report_id].ticket, c.stage)
            if ended > c.due_at:
                assert c.breached_at is not None, where
            if c.breached_at is not None:
                assert c.breached_at < ended and c.breached_at <= c.due_at, where
                assert c.breached_at <= breached_events[(c.report_id, c.stage)] < ended, where
                assert s.scalar(select(SlaBreach.id).where(SlaBreach.report_id == c.report_id,
                                                           SlaBreach.stage == c.stage, SlaBreach.level == "breach"))
        ping_pong = [r for r in reports.values() if r.transfer_count > PING_PONG_TRANSFERS]
        assert ping_pong and all(r.needs_supervisor for r in ping_pong)
        for r in ping_pong:
            holders = [a for (a,) in s.execute(select(Assignment.agency_code).where(
                Assignment.report_id == r.id, Assignment.kind != "reopen").order_by(Assignment.id))]
            assert len(set(holders)) == 2 and all(x != y for x, y in zip(holders, holders[1:])), holders
            assert s.scalar(select(RoutingCorrection.id).where(RoutingCorrection.report_id == r.id))
        outbox = list(s.scalars(select(OutboxMessage)))
        assert outbox and all(m.status == "sent" and m.sent_at is not None for m in outbox)
        rated = [r for r in reports.values() if r.satisfaction is not None]
        assert rated and all(r.status == "CLOSED" and 1 <= r.satisfaction <= 5 for r in rated)
        assert {r.status for r in s.scalars(select(ExtensionRequest))} >= {"approved", "refused"}
    # the running worker's sweep finds nothing the history did not already record
    result = build_sweep(services.sessions, services.sla, services.settings.data_dir, clock=clock).sweep()
    assert result.recorded == 0, result
    assert ensure_history(services) is None, "a database with reports gets no second history"


def test_incident_alerts_follow_the_routing_rule(services, history):
    from routing.incidents import IncidentRules

    rules = IncidentRules()
    with services.sessions() as s:
        alerts = list(s.scalars(select(IncidentAlert)))
        assert alerts
        for alert in alerts:
            first = s.get(Report, alert.first_report_id)
            assert (first.category_code, first.kelurahan_code, first.received_at) == \
                (alert.category_code, alert.kelurahan_code, alert.first_at)
            pair = list(s.scalars(select(Report).where(
                Report.category_code == alert.category_code, Report.kelurahan_code == alert.kelurahan_code,
                Report.received_at >= alert.first_at, Report.received_at <= alert.last_at)))
            assert alert.report_count >= rules.min_reports and len(pair) >= alert.report_count
            opened = s.scalar(select(Event).where(Event.type == "incident_alert",
                                                  Event.after["alert_id"].as_integer() == alert.id))
            assert opened is not None and opened.at == alert.created_at
            if alert.closed_at is not None:
                assert alert.closed_at - alert.last_at >= rules.quiet


def _rollup_rows(services):
    with services.sessions() as s:
        return sorted(tuple(getattr(r, c.key) for c in DashboardRollup.__table__.columns if c.key != "id")
                      for r in s.scalars(select(DashboardRollup)))


def _fresh_recompute(services, moment):
    with services.sessions.begin() as s:
        s.execute(delete(DashboardRollup))
        s.execute(delete(DashboardRollupState))
    rollup.catch_up(services.sessions, moment)
    return _rollup_rows(services)


def test_the_rollup_of_the_history_is_a_fresh_recompute_also_after_a_reopening_and_a_transfer(
        services, history, clock):
    rollup.catch_up(services.sessions, clock())
    built = _rollup_rows(services)
    assert built and built == _fresh_recompute(services, clock())
    days = {row[0] for row in built}
    assert len(days) >= SMALL["days"]
    with services.sessions() as s:
        resolved = s.scalar(select(Report).where(Report.status == "RESOLVED").order_by(Report.resolved_at))
        moving = s.scalar(select(Report).where(Report.status.in_(("ASSIGNED", "ACCEPTED", "IN_PROGRESS")),
                                               Report.received_at < clock() - timedelta(days=1))
                          .order_by(Report.received_at))
    assert resolved is not None and moving is not None
    clock.advance(minutes=5)
    services.workflow.reopen(resolved.ticket, Actor("citizen:demo", Role.CITIZEN), "belum beres")
    target = "PERKIM" if moving.agency_code != "PERKIM" else "PUPR"
    services.workflow.transfer(moving.ticket, Actor("spv", Role.SUPERVISOR), target, "bukan kewenangan")
    rollup.catch_up(services.sessions, clock())
    kept = _rollup_rows(services)
    assert kept != built and kept == _fresh_recompute(services, clock())


# ---------------------------------------------------------------- the default plan: volume and patterns
def test_the_default_plan_has_ninety_days_of_tangerangs_volume_and_its_patterns(services, clock):
    now = clock()  # a Monday late in November: the rainy season has started
    cases = plan_history(services, now)
    received = [c.fields["received_at"] for c in cases]
    assert len(cases) >= 3000 and now - min(received) >= timedelta(days=89)
    local = [r.astimezone(WIB) for r in received]
    weekdays = Counter(t.isoweekday() for t in local)
    assert weekdays[1] > 1.2 * statistics.mean(weekdays[d] for d in (2, 3, 4, 5)) > weekdays[7]
    hours = Counter(t.hour for t in local)
    assert sum(hours[h] for h in range(0, 5)) * 5 < sum(hours[h] for h in range(8, 13))
    floods = Counter(t.month for t, c in zip(local, cases) if c.fields["category_code"] == "FLOOD")
    assert floods[11] > 3 * floods[9]
    actions = Counter(s.action for c in cases for s in c.steps)
    assert actions["merge"] > 60 and actions["transfer"] > 60 and actions["reject"] > 60
    assert actions["request_extension"] > 20 and actions["rate"] > 300 and actions["citizen_reopen"] > 10
    ping_pong = [c for c in cases if sum(s.action == "transfer" for s in c.steps) > PING_PONG_TRANSFERS]
    assert len(ping_pong) > 10
    accept = {}
    for c in cases:
        assigned = next((s.at for s in c.steps if s.action == "assign"), None)
        accepted = next((s.at for s in c.steps if s.action == "accept"), None)
        if assigned and accepted and not any(s.action == "transfer" for s in c.steps):
            accept.setdefault(c.fields["agency_code"], []).append((accepted - assigned).total_seconds() / 60)
    medians = {a: statistics.median(v) for a, v in accept.items() if len(v) > 10}
    assert medians["DAMKAR"] < 10 < 12 * 60 < medians["PUPR"], medians
    assert len({round(m / 5) for m in medians.values()}) >= 10, f"agencies differ: {medians}"


def test_serve_writes_the_history_once_with_the_rollup_and_not_when_switched_off(settings, clock, capsys):
    import app
    from domain.models import DashboardRollupState

    off = app.Services(type(settings)(**{**settings.__dict__, "demo_history_days": 0}), clock=clock)
    off.init_db()
    app._demo_history(off)
    with off.sessions() as s:
        assert s.scalar(select(Report.id).limit(1)) is None
    on = app.Services(type(settings)(**{**settings.__dict__, "demo_history_days": 3}), clock=clock)
    app._demo_history(on)
    assert "Demo history:" in capsys.readouterr().err
    with on.sessions() as s:
        reports = s.scalar(select(func.count()).select_from(Report))
        assert reports > 50 and s.get(DashboardRollupState, rollup.STATE_NAME) is not None
    app._demo_history(on)
    with pytest.raises(IntegrityError):  # a second writer racing past the emptiness check writes nothing
        build_history(on, days=3)
    with on.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Report)) == reports
    off.engine.dispose()
    on.engine.dispose()
