"""The executive panel's rollup: the same figures as the raw SQL aggregates over the reports, kept up to
date when an old report changes and when a day ends; approximate medians from the duration histograms."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from dashboard import analytics, context, executive_data, rollup
from domain.actors import Actor
from domain.intake import IncomingReport
from domain.models import DashboardRollup

OPERATOR = Actor("op", "operator")
AGENCIES = ["PUPR", "DLH", "DISHUB"]
CATEGORIES = ["ROAD", "WASTE", "TRAFFIC"]
CHANNELS = ["web", "app", "email"]
WORDS = ["jalan rusak berlubang", "sampah menumpuk di pinggir", "lampu lalu lintas mati"]


def _submit(queue, n):
    words = ["jalan", "sampah", "macet", "lampu", "banjir", "pohon", "parkir", "air", "trotoar", "kabel"]
    text = f"{WORDS[n % 3]} {words[n % 10]} {words[(n * 7) % 10]} nomor {n * 37}"
    data = {"channel": CHANNELS[n % 3], "external_id": f"exec-{n}", "text": text,
            "received_at": queue.clock().isoformat(), "category": CATEGORIES[n % 3], "agency": AGENCIES[n % 3],
            "location": {"lat": -6.17 - 0.01 * (n % 3), "lon": 106.63 + 0.01 * (n % 3)}}
    return queue.submit(IncomingReport.from_dict(data)).report


def _history(queue, workflow, clock) -> list[str]:
    """30 reports over nine days: some verified and assigned, accepted after a while, resolved and closed."""
    end = clock()
    tickets = []
    for i in range(30):
        clock.now = end - timedelta(days=9) + timedelta(hours=7 * i)
        report = _submit(queue, i)
        ticket = report.ticket
        tickets.append(ticket)
        if report.status == "MERGED":  # a duplicate of an earlier report at the same place
            continue
        if i % 2 == 0:
            clock.advance(minutes=10 + i)
            workflow.verify_and_assign(ticket, OPERATOR)
        if i % 4 == 0:
            agency = AGENCIES[i % 3]
            clock.advance(minutes=30 * i)
            workflow.accept(ticket, Actor("officer", "agency_officer", agency))
            if i % 8 == 0:
                clock.advance(hours=i)
                workflow.resolve(ticket, Actor("officer", "agency_officer", agency), "selesai")
                workflow.close(ticket, OPERATOR, satisfaction=1 + i % 5)
    clock.now = end
    return tickets


def _assert_same_as_raw(clock, period="30d", catch_up=True):
    if catch_up:
        rollup.catch_up(context.services().sessions, clock())
    start = analytics.period_start(period, clock())
    data = executive_data.figures(start, clock())
    assert data["daily"] == analytics.daily(start)
    for name in ("channel", "category_code", "kecamatan"):
        assert dict(data[name]) == dict(analytics.counts_by(name, start)), name
    assert data["heatmap"] == analytics.heatmap(start)
    assert data["compliance"] == analytics.compliance(start)
    assert data["satisfaction"] == analytics.satisfaction(start)
    raw = {r["agency"]: (r["reports"], r["open"], r["compliance"], r["satisfaction"]) for r in analytics.league(start)}
    assert {r["agency"]: (r["reports"], r["open"], r["compliance"], r["satisfaction"]) for r in data["league"]} == raw
    assert {(r["category"], r["place"], r["reports"]) for r in data["recurring"]} == \
        {(r["category"], r["place"], r["reports"]) for r in analytics.recurring(start)}
    return data


def test_rollup_matches_the_raw_aggregates_and_follows_changes(services, queue, workflow, clock):
    context.set_services(services)
    tickets = _history(queue, workflow, clock)
    data = _assert_same_as_raw(clock)
    assert sum(r["reports"] for r in data["league"]) == 30 and data["recurring"]
    today = rollup.wib_day(clock())
    with services.sessions() as s:
        stored_days = s.scalar(select(func.count(func.distinct(DashboardRollup.day))))
        assert s.scalar(select(func.max(DashboardRollup.day))) < today  # the current day is never stored
    assert stored_days >= 8
    # an old report changes: its day is rolled up again on the next read
    still_new = [t for t in tickets[:12] if queue.get(t).status == "NEW"]
    workflow.verify_and_assign(still_new[0], OPERATOR)
    workflow.reject(still_new[1], OPERATOR, "spam")
    before_open = sum(r["open"] for r in data["league"])
    data = _assert_same_as_raw(clock)
    assert sum(r["open"] for r in data["league"]) == before_open - 1
    assert rollup.catch_up(services.sessions, clock()) == 0  # nothing changed since: nothing recomputed
    # the day ends: before the catch-up runs, yesterday is rolled up live; after it, it is stored
    clock.advance(days=1)
    _assert_same_as_raw(clock, catch_up=False)
    with services.sessions() as s:
        assert s.scalar(select(func.max(DashboardRollup.day))) < today
    _assert_same_as_raw(clock)
    _assert_same_as_raw(clock, "7d")
    with services.sessions() as s:
        assert s.scalar(select(func.max(DashboardRollup.day))) == today


def test_approximate_median_lies_in_the_bucket_of_the_exact_median():
    minutes = [3, 7, 8, 40, 41, 42, 50, 200, 1500, 90_000]
    histogram = [0] * (len(rollup.BUCKETS) + 1)
    for m in minutes:
        histogram[rollup.bucket(m)] += 1
    approx = rollup.approximate_median(histogram)
    exact = (41 + 42) / 2
    assert rollup.bucket(approx) == rollup.bucket(exact)
    assert rollup.approximate_median([0] * len(histogram)) is None
    only_long = [0] * len(histogram)
    only_long[-1] = 3
    assert rollup.approximate_median(only_long) == rollup.BUCKETS[-1]


def test_a_reopening_rolls_up_again_the_days_it_undoes(services, queue, workflow, clock):
    """Received four days ago, accepted three days ago, resolved two days ago, reopened today: the day that
    counted the acceptance is rolled up again although the report no longer carries that time."""
    context.set_services(services)
    end = clock()
    clock.now = end - timedelta(days=4)
    report = _submit(queue, 1)
    workflow.verify_and_assign(report.ticket, OPERATOR)
    officer = Actor("officer", "agency_officer", queue.get(report.ticket).agency_code)
    clock.now = end - timedelta(days=3)
    workflow.accept(report.ticket, officer)
    clock.now = end - timedelta(days=2)
    workflow.resolve(report.ticket, officer, "selesai")
    clock.now = end
    rollup.catch_up(services.sessions, clock())
    assert _stored_days(services) == _recomputed_days(services, clock)
    met_day = rollup.wib_day(end - timedelta(days=3))
    assert _stored_days(services)[("sla", met_day, "")]["sla_met"] == 1
    workflow.reopen(report.ticket, OPERATOR, "warga: jalan masih berlubang")
    rollup.catch_up(services.sessions, clock())
    assert _stored_days(services) == _recomputed_days(services, clock)
    assert ("sla", met_day, "") not in _stored_days(services)  # the dispatch clock runs again
    _assert_same_as_raw(clock)


COUNTED = rollup.COUNTERS + rollup.HISTOGRAMS


def _stored_days(services) -> dict:
    with services.sessions() as s:
        return {(r.measure, r.day, r.key): {c: getattr(r, c) for c in COUNTED} for r in s.scalars(select(DashboardRollup))}


def _recomputed_days(services, clock) -> dict:
    today = rollup.wib_day(clock())
    with services.sessions() as s:
        first = s.scalar(select(func.min(DashboardRollup.day)))
        rows = rollup.aggregate(s, rollup.day_start(first), rollup.day_start(today)).rows
    return {k: {c: v[c] for c in COUNTED} for k, v in rows.items()}


def test_the_rollup_is_a_job_of_the_single_worker(services, monkeypatch):
    from worker import extra_jobs

    assert "dashboard_rollup" in [job_id for job_id, _, _ in extra_jobs(services)]
    monkeypatch.setenv("DASHBOARD_ROLLUP_SECONDS", "0")
    assert "dashboard_rollup" not in [job_id for job_id, _, _ in extra_jobs(services)]


def test_public_figures_come_from_the_rollup_and_are_shared_for_a_minute(services, queue, workflow, clock):
    """/public (no login) reads the rollup, not the reports: the same totals as the raw aggregates, and a
    second visitor within max_age gets the first one's figures without a query."""
    context.set_services(services)
    _history(queue, workflow, clock)
    first = executive_data.shared_figures("30d", max_age=60)
    start = analytics.period_start("30d", clock())
    assert dict(first["kecamatan"]) == dict(analytics.counts_by("kecamatan", start))
    assert {r["agency"]: r["reports"] for r in first["league"]} == dict(analytics.counts_by("agency_code", start))
    assert first["compliance"] == analytics.compliance(start)
    _submit(queue, 99)
    assert executive_data.shared_figures("30d", max_age=60) is first
    fresh = executive_data.shared_figures("30d", max_age=0)
    assert sum(r["reports"] for r in fresh["league"]) == sum(r["reports"] for r in first["league"]) + 1
