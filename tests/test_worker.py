"""The worker lock and the active worker, in one process: one worker acts, the other stands by and takes
over when the first stops; the catch-up runs before the jobs. (Real processes: test_worker_failover.py.)"""
from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from domain.models import SlaBreach
from tests.conftest import backend
from tests.helpers import incoming
from worker import ADVISORY_LOCK_CLASS, ActiveWorker, FileWorkerLock, PostgresWorkerLock, build_scheduler, worker_lock_for


def wait_until(predicate, timeout: float = 5.0, step: float = 0.05) -> float:
    """Seconds it took for predicate() to hold; fails after `timeout`."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(step)
    return time.monotonic() - started


def test_one_lock_holder_per_database(settings):
    first, second = worker_lock_for(settings), worker_lock_for(settings)
    expected = PostgresWorkerLock if backend() == "postgresql" else FileWorkerLock
    assert isinstance(first, expected)
    try:
        assert first.try_acquire() and first.try_acquire()  # asking again keeps it
        assert not second.try_acquire()
        assert first.still_held() and not second.still_held()
        first.release()
        assert second.try_acquire() and second.still_held()
        assert not first.try_acquire()
    finally:
        first.release()
        second.release()


@pytest.mark.skipif(backend() != "postgresql", reason="advisory locks are PostgreSQL's")
def test_advisory_lock_is_per_schema(settings):
    lock = worker_lock_for(settings)
    public = PostgresWorkerLock(settings.database_url.replace("search_path%3D", "search_path%3Dpublic,"))
    try:
        assert lock.try_acquire()
        with public.engine.connect() as conn:
            assert conn.scalar(text("SELECT current_schema()")) == "public"
        assert public.try_acquire(), "another installation (schema) has its own worker"
    finally:
        lock.release()
        public.release()


def test_the_standby_takes_over_and_only_the_active_worker_runs_jobs(services):
    first = ActiveWorker(services, poll_seconds=0.1)
    second = ActiveWorker(services, poll_seconds=0.1)
    try:
        first.start()
        wait_until(lambda: first.running)
        jobs = {job.id for job in first.scheduler.get_jobs()}
        assert {"sla-sweep", "expire-waiting", "close-resolved"} <= jobs
        second.start()
        time.sleep(0.5)
        assert not second.running and second.scheduler is None
        first.shutdown(wait=True)
        assert not first.running and first.scheduler is None
        took = wait_until(lambda: second.running, timeout=5)
        assert took < 5
    finally:
        first.shutdown()
        second.shutdown()


def test_becoming_active_records_what_fell_due_while_no_worker_ran(services, clock):
    t0 = clock()
    report = services.queue.submit(incoming(priority="P1", received_at=t0)).report
    clock.advance(minutes=20)  # nobody ran: warning, breach, 150% and 200% of acknowledge all fell due
    worker = build_scheduler(services)
    worker.poll_seconds = 0.1
    try:
        worker.start()
        wait_until(lambda: worker.running)
        with services.sessions() as s:
            rows = dict(s.execute(select(SlaBreach.level, SlaBreach.fell_due_at).where(
                SlaBreach.report_id == report.id, SlaBreach.stage == "acknowledge")).all())
            recorded = set(s.scalars(select(SlaBreach.recorded_at)))
    finally:
        worker.shutdown()
    assert rows == {"warning": t0 + timedelta(minutes=3.75), "breach": t0 + timedelta(minutes=5),
                    "escalate_150": t0 + timedelta(minutes=7.5), "escalate_200": t0 + timedelta(minutes=10)}
    assert recorded == {clock()}


@pytest.mark.skipif(backend() != "postgresql", reason="a lost database session is PostgreSQL's case")
def test_losing_the_lock_session_stops_the_jobs_until_the_lock_is_back(services):
    worker = ActiveWorker(services, poll_seconds=0.1)
    try:
        worker.start()
        wait_until(lambda: worker.running)
        with services.engine.begin() as conn:
            lock_pid = conn.scalar(text(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = :cls "
                "AND objid::bigint = (hashtext(current_schema())::bigint & 4294967295) "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"),
                {"cls": ADVISORY_LOCK_CLASS})
            assert lock_pid is not None
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": lock_pid})
        # it notices, stops the jobs, and (nobody else holding the lock) becomes active again
        wait_until(lambda: worker.activations == 2 and worker.running, timeout=5)
        with services.engine.connect() as conn:
            holders = conn.scalar(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"))
        assert holders >= 1
    finally:
        worker.shutdown()


def test_sweep_job_runs_every_second_on_the_active_worker(services, clock):
    """The scheduled sweep (not the catch-up) records a deadline that passes while the worker runs."""
    t0 = clock()
    services.queue.submit_many([incoming(priority="P1", received_at=t0) for _ in range(3)])
    worker = ActiveWorker(services, poll_seconds=0.1)
    try:
        worker.start()
        wait_until(lambda: worker.running)
        clock.advance(minutes=6)

        def breached():
            with services.sessions() as s:
                return s.scalar(select(func.count()).select_from(SlaBreach).where(SlaBreach.level == "breach")) == 3

        assert wait_until(breached, timeout=5) < 2.5
    finally:
        worker.shutdown()


def _standing_by(services, lock, caplog) -> tuple[str, str]:
    """Run a worker with `lock` until it has said why it does not run the jobs: (its state, the log)."""
    caplog.set_level("INFO", logger="worker")
    worker = ActiveWorker(services, lock=lock, poll_seconds=0.05)
    try:
        worker.start()
        wait_until(lambda: worker.state in ("standby", "unreachable"))
        time.sleep(0.3)  # several more tries: the line is said once, not on every try
        assert not worker.running
        return worker.state, caplog.text
    finally:
        worker.shutdown()


@pytest.mark.parametrize("database", ["postgresql", "sqlite"])
def test_a_worker_that_cannot_reach_its_database_says_so_not_that_another_is_active(
        services, caplog, tmp_path, database):
    if database == "postgresql":  # a server that is down: nothing listens on the port
        lock = PostgresWorkerLock("postgresql://postgres@127.0.0.1:1/test?connect_timeout=2")
    else:  # a database that cannot be opened (here: its path is a folder)
        (tmp_path / "gone.db").mkdir()
        lock = FileWorkerLock(tmp_path / "gone.db.worker.lock", f"sqlite:///{tmp_path / 'gone.db'}")
    state, logged = _standing_by(services, lock, caplog)
    assert state == "unreachable"
    assert "cannot reach the database" in logged and logged.count("cannot reach the database") == 1
    assert "another worker is active" not in logged


def test_a_worker_whose_lock_another_worker_holds_says_that(services, settings, caplog):
    holder = worker_lock_for(settings)
    assert holder.try_acquire()
    try:
        state, logged = _standing_by(services, worker_lock_for(settings), caplog)
    finally:
        holder.release()
    assert state == "standby" and "standing by: another worker is active" in logged
    assert "cannot reach the database" not in logged
