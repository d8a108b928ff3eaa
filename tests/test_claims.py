"""Claiming the next report to triage: two operators in two processes never get the same report."""
from __future__ import annotations

import multiprocessing as mp
from datetime import timedelta

from domain.actors import Actor
from domain.lifecycle import Role
from tests.helpers import OPERATOR, incoming

N_REPORTS = 40


def _claim_all(database_url: str, name: str, out) -> None:
    from domain.config import DATA_DIR
    from domain.db import make_engine, session_factory
    from domain.queue import QueueService
    from domain.sla import SlaBook

    engine = make_engine(database_url)
    queue = QueueService(session_factory(engine), SlaBook.load(DATA_DIR))
    operator = Actor(name, Role.OPERATOR)
    got = []
    while (report := queue.claim_next(operator)) is not None:
        got.append(report.ticket)
    out.put((name, got))
    engine.dispose()


def test_two_processes_never_claim_the_same_report(queue, database_url):
    queue.submit_many([incoming() for _ in range(N_REPORTS)])
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_claim_all, args=(database_url, f"op-{i}", out)) for i in range(2)]
    for p in procs:
        p.start()
    results = dict(out.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=30)
    claimed = [t for tickets in results.values() for t in tickets]
    assert len(claimed) == len(set(claimed)) == N_REPORTS, "each report handed to exactly one operator"


def test_claims_follow_sla_urgency_and_expire(queue, clock):
    late = queue.submit(incoming(priority="P3")).report
    urgent = queue.submit(incoming(priority="P1")).report
    assert queue.claim_next(OPERATOR).ticket == urgent.ticket
    other = Actor("ops-2", Role.OPERATOR)
    assert queue.claim_next(other).ticket == late.ticket
    assert queue.claim_next(other) is None
    clock.advance(minutes=11)  # leases run out: the reports return to the pool
    assert queue.claim_next(other, lease=timedelta(minutes=5)).ticket == urgent.ticket
