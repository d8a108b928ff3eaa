"""The executive panel's figures for a period: SQL sums over the stored rollup days plus the current
day rolled up live (dashboard/rollup.py). Medians of the times to accept and to resolve are approximate
(read from duration histograms)."""
from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import func, select

from dashboard import analytics, queries, rollup
from dashboard.context import services
from domain.models import DashboardRollup as R

RECURRING_MIN_REPORTS = 3
RECURRING_MAX_DAYS = 90  # recurring problems look at the last 90 days at most
SUMMED = rollup.COUNTERS + rollup.HISTOGRAMS


def shared_figures(period: str, max_age: float) -> dict:
    """`figures` for a named period (analytics.PERIODS), computed at most once per `max_age` seconds in this
    process: for pages anyone may open (/public), however many visitors arrive at once."""
    def compute():
        moment = services().queue.clock()
        return figures(analytics.period_start(period, moment), moment)
    return queries.kept(("figures", period), max_age, compute)


def figures(start: datetime, moment: datetime) -> dict:
    """Everything the panel shows for reports of [start, moment]: the days the rollup holds, summed in SQL,
    and the days after them (today; also yesterday until the catch-up has run since midnight) rolled up live.
    Changes to reports of stored days show once the background catch-up has run (dashboard.rollup)."""
    sessions = services().reads
    complete_before = rollup.complete_before(sessions)
    if complete_before is None:  # never built: build it now (once; the background job keeps it after)
        rollup.catch_up(services().sessions, moment)
        complete_before = rollup.complete_before(sessions)
    first = rollup.wib_day(start)
    today = min(complete_before, rollup.wib_day(moment))  # from this day on: live
    recurring_first = max(first, rollup.wib_day(moment - timedelta(days=RECURRING_MAX_DAYS)))
    with sessions() as s:
        live = rollup.aggregate(s, max(start, rollup.day_start(today)), moment + timedelta(seconds=1)).rows.values()
        stored = R.day >= first, R.day < today
        sums = {}
        for measure, key, *values in s.execute(
                select(R.measure, R.key, *[func.sum(getattr(R, c)) for c in rollup.COUNTERS])
                .where(R.measure.in_(("agency", "channel", "category", "kecamatan", "hour", "sla")), *stored)
                .group_by(R.measure, R.key)):
            sums[(measure, key)] = dict.fromkeys(rollup.HISTOGRAMS, 0)
            sums[(measure, key)].update(zip(rollup.COUNTERS, (int(v or 0) for v in values)))
        for key, *values in s.execute(  # the duration histograms live on the agency rows only
                select(R.key, *[func.sum(getattr(R, c)) for c in rollup.HISTOGRAMS])
                .where(R.measure == "agency", *stored).group_by(R.key)):
            sums[("agency", key)].update(zip(rollup.HISTOGRAMS, (int(v or 0) for v in values)))
        daily = {d: [int(a or 0), int(b or 0)] for d, a, b in s.execute(
            select(R.day, func.sum(R.received), func.sum(R.resolved)).where(R.measure == "agency", *stored)
            .group_by(R.day))}
        places = {k: int(n) for k, n in s.execute(
            select(R.key, func.sum(R.received)).where(R.measure == "place", R.day >= recurring_first, R.day < today)
            .group_by(R.key))}
    for row in live:
        measure, key = row["measure"], row["key"]
        if measure == "place":
            places[key] = places.get(key, 0) + row["received"]
            continue
        entry = sums.setdefault((measure, key), dict.fromkeys(SUMMED, 0))
        for c in SUMMED:
            entry[c] += row[c]
        if measure == "agency":
            day = daily.setdefault(row["day"], [0, 0])
            day[0] += row["received"]
            day[1] += row["resolved"]
    return _shape(sums, daily, places)


def totals(start: datetime, end: datetime) -> dict:
    """The KPI sums of an earlier period [start, end) for the comparison on the panel: reports, SLA
    compliance, satisfaction index and ratings. One SQL sum over the stored days; days the rollup does not
    hold yet (only right after midnight) are rolled up live."""
    sessions = services().reads
    complete_before = rollup.complete_before(sessions) or rollup.wib_day(end)
    first, last = rollup.wib_day(start), rollup.wib_day(end - timedelta(microseconds=1))
    stored_end = min(complete_before, (date.fromisoformat(last) + timedelta(days=1)).isoformat())
    with sessions() as s:
        received, sat_sum, sat_n = s.execute(
            select(func.sum(R.received), func.sum(R.satisfaction_sum), func.sum(R.satisfaction_count))
            .where(R.measure == "agency", R.day >= first, R.day < stored_end)).one()
        met, on_time = s.execute(select(func.sum(R.sla_met), func.sum(R.sla_on_time))
                                 .where(R.measure == "sla", R.day >= first, R.day < stored_end)).one()
        values = [int(v or 0) for v in (received, sat_sum, sat_n, met, on_time)]
        if stored_end <= last:
            for row in rollup.aggregate(s, max(start, rollup.day_start(stored_end)), end).rows.values():
                if row["measure"] == "agency":
                    values[0] += row["received"]
                    values[1] += row["satisfaction_sum"]
                    values[2] += row["satisfaction_count"]
                elif row["measure"] == "sla":
                    values[3] += row["sla_met"]
                    values[4] += row["sla_on_time"]
    received, sat_sum, sat_n, met, on_time = values
    return {"reports": received, "ratings": sat_n,
            "compliance": None if not met else round(100.0 * on_time / met, 1),
            "satisfaction": None if not sat_n else round(sat_sum / sat_n / 5 * 100, 1)}


def _shape(sums, daily, places) -> dict:
    def by(measure):
        return sorted(((k, v["received"]) for (m, k), v in sums.items() if m == measure and v["received"]),
                      key=lambda kv: -kv[1])

    league = []
    for (measure, code), v in sums.items():
        if measure != "agency" or not v["received"]:
            continue
        accept_median = rollup.approximate_median(rollup.histogram(v, "accept"))
        resolve_median = rollup.approximate_median(rollup.histogram(v, "resolve"))
        league.append({
            "agency": code, "reports": v["received"], "open": v["open"],
            "accept_min": None if accept_median is None else round(accept_median),
            "resolve_h": None if resolve_median is None else round(resolve_median / 60, 1),
            "compliance": None if not v["accepted"] else round(100.0 * v["accepted_on_time"] / v["accepted"], 1),
            "satisfaction": None if not v["satisfaction_count"] else round(v["satisfaction_sum"] / v["satisfaction_count"], 2),
        })
    league.sort(key=lambda r: (-(r["compliance"] or 0), -r["reports"]))
    agencies = [v for (m, _), v in sums.items() if m == "agency"]
    ratings = sum(v["satisfaction_count"] for v in agencies)
    sla = sums.get(("sla", ""), {})
    heat = {}
    for (measure, key), v in sums.items():
        if measure == "hour" and v["received"]:
            dow, hour = key.split("-")
            heat[(int(dow), int(hour))] = v["received"]
    recurring = sorted(((k, n) for k, n in places.items() if n >= RECURRING_MIN_REPORTS), key=lambda kv: -kv[1])[:10]
    return {
        "league": league,
        "compliance": None if not sla.get("sla_met") else round(100.0 * sla["sla_on_time"] / sla["sla_met"], 1),
        "satisfaction": {"ratings": ratings, "index": None if not ratings else
                         round(sum(v["satisfaction_sum"] for v in agencies) / ratings / 5 * 100, 1)},
        "daily": [(d, *daily[d]) for d in sorted(daily)],
        "heatmap": heat,
        "channel": by("channel")[:30], "category_code": by("category")[:30], "kecamatan": by("kecamatan")[:30],
        "recurring": [{"category": k.split("|", 1)[0], "place": k.split("|", 1)[1], "reports": n}
                      for k, n in recurring],
    }
