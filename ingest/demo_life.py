"""The life of each report of the demo history (ingest/demo_plan.py): the steps the control room, the
agencies, a supervisor and the citizen take, with each agency's pace (data/demo/history.yaml): verify and
forward, transfers and ping-pong, accept, start, an extension request on a long case and its decision,
resolve, a citizen's reopening, the worker's closing after 72 h, the citizen's rating.
"""
from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from domain.actors import SYSTEM, Actor
from domain.clock import WIB
from domain.lifecycle import Role
from ingest.demo import OPERATOR
from ingest.demo_cases import Step
from ingest.inbox import SURVEY_WINDOW, citizen_actor

if TYPE_CHECKING:
    from ingest.demo_plan import PlannedCase, _Arrival

SUPERVISOR = Actor("demo-supervisor", Role.SUPERVISOR)
TRANSFER_REASONS = ["bukan kewenangan kami, mohon dialihkan ke {agency}", "lokasi aset milik {agency}",
                    "sesuai tupoksi ditangani {agency}"]
EXTENSION_REASONS = [("waiting_material", "menunggu material aspal dari gudang"),
                     ("weather", "hujan terus, pengerjaan tidak bisa dilanjutkan"),
                     ("workload", "tim lapangan sedang menangani banjir"),
                     ("third_party", "menunggu izin pemilik lahan")]


class LifePlanner:
    """Part of HistoryPlanner: reads self.rnd, self.cfg and self.sla; fills each PlannedCase's steps."""

    def lifecycle(self, case: PlannedCase, a: _Arrival, author: str) -> None:
        rnd, f, cfg = self.rnd, case.fields, self.cfg
        steps, priority = case.steps, f["priority"]
        local_hour = f["received_at"].astimezone(WIB).hour
        median, sigma = cfg["control_room"]["verify_minutes"][priority]
        if local_hour >= 22 or local_hour < 6:
            median *= float(cfg["control_room"]["night_factor"])
        t = max(f["created_at"] + timedelta(seconds=5), f["received_at"] + lognormal(rnd, median, sigma))
        if a.reject is not None:
            steps.append(Step(t, "reject", OPERATOR, {"reason": a.reject}))
            return
        if case.duplicate_of is not None:
            steps.append(Step(t, "merge", OPERATOR, {"into": case.duplicate_of,
                                                     "reason": f"laporan sama dengan {case.duplicate_of}"}))
            return
        steps.append(Step(t, "verify", OPERATOR))
        steps.append(Step(t, "assign", OPERATOR))
        holder = f["agency_code"]
        outcomes = cfg["outcomes"]
        other = (cfg.get("transfer_to") or {}).get(f["category_code"])
        roll = rnd.random()
        if other and other != holder and roll < outcomes["ping_pong"]:
            for _ in range(3):
                t += lognormal(rnd, *self._profile(holder)["accept"])
                target = other if holder != other else f["agency_code"]
                steps.append(self._transfer(t, holder, target))
                holder = target
        elif other and other != holder and roll < outcomes["ping_pong"] + outcomes["transfer"]:
            t += lognormal(rnd, *self._profile(holder)["accept"])
            steps.append(self._transfer(t, holder, other))
            holder = other
        t = self._work(case, t, holder, a.storm)
        if t is None:
            return
        if case.reply is not None and rnd.random() < outcomes["reopen"]:
            t += timedelta(hours=rnd.uniform(2, 48))
            steps.append(Step(t, "citizen_reopen", citizen_actor(author), {
                "reason": "masih belum beres, tolong dicek lagi", "author": author,
                "message_id": f"{f['external_id']}-buka"}))
            t = self._work(case, t, holder, a.storm, again=True)
            if t is None:
                return
        t += timedelta(hours=72, minutes=rnd.uniform(0, 5))  # the worker's close_resolved job
        steps.append(Step(t, "close", SYSTEM))
        if case.reply is not None and rnd.random() < outcomes["rating"]:
            late = self._late(case)
            score = rnd.choice([1, 2, 2, 3, 3, 4] if late else [3, 4, 4, 5, 5, 5])
            if any(s.action == "citizen_reopen" for s in steps):
                score = min(score, 3)
            steps.append(Step(t + timedelta(minutes=rnd.uniform(5, 30 * 60)), "rate", citizen_actor(author),
                              {"score": score, "author": author, "message_id": f"{f['external_id']}-rating"}))

    def _profile(self, agency: str) -> dict:
        return self.cfg["agencies"].get(agency) or {"accept": [120, 0.8], "resolve": [24, 0.8]}

    def _transfer(self, at: datetime, holder: str, target: str) -> Step:
        officer = Actor(f"demo-{holder.lower()}", Role.AGENCY_OFFICER, holder)
        return Step(at, "transfer", officer, {"agency": target,
                                              "reason": self.rnd.choice(TRANSFER_REASONS).format(agency=target)})

    def _work(self, case: PlannedCase, t: datetime, holder: str, storm: bool, again: bool = False):
        """Accept, start and resolve (with an extension request on a long case); the resolution time."""
        rnd, f, steps = self.rnd, case.fields, case.steps
        profile = self._profile(holder)
        officer = Actor(f"demo-{holder.lower()}", Role.AGENCY_OFFICER, holder)
        median, sigma = profile["accept"]
        t += lognormal(rnd, median / (2 if again else 1), sigma)
        steps.append(Step(t, "accept", officer))
        t += timedelta(minutes=rnd.uniform(1, 5) if f["priority"] == "P1" else rnd.uniform(10, 180))
        steps.append(Step(t, "start", officer, {"note": "tim menuju lokasi"}))
        median, sigma = profile["resolve"]
        hours = median * (2 if storm else 1) / (3 if again else 1) * math.exp(rnd.gauss(0, sigma))
        resolve_at = t + timedelta(hours=hours)
        target = self.sla.target_minutes(f["sla_policy_set"], f["priority"], "resolve")
        if not again and rnd.random() < profile.get("extension", 0) and resolve_at > f["received_at"] + \
                timedelta(minutes=target * 0.6):
            asked = max(t + timedelta(minutes=30), f["received_at"] + timedelta(minutes=target * rnd.uniform(0.55, 0.9)))
            decided = asked + timedelta(hours=rnd.uniform(1, 10))
            if asked < resolve_at and decided < resolve_at - timedelta(minutes=10):
                code, reason = rnd.choice(EXTENSION_REASONS)
                minutes = rnd.choice([2, 3, 4, 5]) * 24 * 60
                steps.append(Step(asked, "request_extension", officer, {"stage": "resolve", "minutes": minutes,
                                                                       "reason_code": code, "reason": reason}))
                approve = rnd.random() < 0.75
                steps.append(Step(decided, "decide_extension", SUPERVISOR, {
                    "approve": approve, "note": None if approve else "tambah personel, selesaikan sesuai SLA"}))
        notes = self.cfg["resolution_notes"]
        note = rnd.choice(notes.get(f["category_code"]) or notes["default"]) + " (demo)"
        steps.append(Step(resolve_at, "resolve", officer, {"note": note}))
        return resolve_at

    def _late(self, case: PlannedCase) -> bool:
        """Resolved after the resolve deadline (plus an approved extension): the citizen rates lower."""
        f = case.fields
        resolved = [s.at for s in case.steps if s.action == "resolve"][-1]
        approved = any(s.action == "decide_extension" and s.args["approve"] for s in case.steps)
        extra = sum(s.args["minutes"] for s in case.steps if s.action == "request_extension") if approved else 0
        target = self.sla.target_minutes(f["sla_policy_set"], f["priority"], "resolve") + extra
        return resolved > f["received_at"] + timedelta(minutes=target)

    def keep_valid_ratings(self, cases: list[PlannedCase]) -> None:
        """A rating answers the citizen's most recently closed, unrated report within the survey window
        (ingest.conversation._rate): drop a planned rating that the real conversation would give to another
        of the same citizen's reports."""
        closes: dict[tuple[str, str], list[tuple[datetime, PlannedCase]]] = {}
        for case in cases:
            for step in case.steps:
                if step.action == "close":
                    closes.setdefault(case.person, []).append((step.at, case))
        for case in cases:
            rate = next((s for s in case.steps if s.action == "rate"), None)
            if rate is None:
                continue
            window = [c for at, c in closes.get(case.person, []) if rate.at - SURVEY_WINDOW <= at <= rate.at]
            if window != [case]:
                case.steps.remove(rate)


def lognormal(rnd, median: float, sigma: float) -> timedelta:
    """A log-normal duration around `median` minutes."""
    return timedelta(minutes=float(median) * math.exp(rnd.gauss(0, float(sigma))))
