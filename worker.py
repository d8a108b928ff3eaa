"""The scheduler (APScheduler 3.x): every periodic job of the platform, registered in one place, run by
exactly one active worker at a time.

Jobs are plain functions of the services; each job opens and commits its own transactions.

Single active worker: a process runs the jobs only while it holds the worker lock: a PostgreSQL
session-level advisory lock (per database schema) or, on SQLite, an OS file lock (filelock) next to
the database file. Both die with their process, so when the active worker is killed a standby
(`python app.py worker` started a second time) takes over within a second or two. On becoming active
a worker first records what fell due while no worker ran (the SLA catch-up), then starts the jobs.

A worker that does not get the lock says why, once per change: "standing by: another worker is active"
when another worker holds it, "cannot reach the database" when the lock could not be asked for at all
(PostgreSQL down, or the SQLite database cannot be opened); `ActiveWorker.state` says the same.
"""
from __future__ import annotations

import logging
import os
import signal
import threading
import time
from pathlib import Path

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

log = logging.getLogger("worker")
POLL_SECONDS = 0.5  # a standby tries the lock this often; the active worker checks it still holds it
ADVISORY_LOCK_CLASS = 0x544C52  # "TLR": first key of the two-key advisory lock; the second is the schema


def _safe(job):
    """A failing job logs and waits for its next run; it never stops the scheduler."""

    def run():
        try:
            job()
        except Exception:  # noqa: BLE001 - the scheduler must keep running at 3 a.m.
            log.exception("job %s failed", getattr(job, "__name__", job))

    run.__name__ = getattr(job, "__name__", "job")
    return run


# ---------------------------------------------------------------- the jobs
def build_job_scheduler(services, *, demo: bool = False) -> BackgroundScheduler:
    """The scheduler with every job; run it only while holding the worker lock (see ActiveWorker)."""
    scheduler = BackgroundScheduler(timezone="UTC", executors={"default": ThreadPoolExecutor(4)},
                                    job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30})
    workflow = services.workflow
    from domain import heartbeat
    from domain.clock import utcnow

    started_at = services.queue.clock()
    beat = _safe(lambda: heartbeat.beat(services.sessions, services.queue.clock(), started_at))
    scheduler.add_job(beat, "interval", seconds=heartbeat.BEAT_SECONDS, id="heartbeat", next_run_time=utcnow())
    scheduler.add_job(_safe(workflow.expire_waiting), "interval", minutes=1, id="expire-waiting")
    scheduler.add_job(_safe(workflow.close_resolved), "interval", minutes=5, id="close-resolved")
    for job_id, job, seconds in extra_jobs(services):
        scheduler.add_job(_safe(job), "interval", seconds=seconds, id=job_id)
    if demo:
        from ingest.demo import DemoFeed

        feed = DemoFeed(services.queue, services.workflow, rate_per_minute=services.settings.demo_rate_per_minute)
        feed.backfill(60)
        scheduler.add_job(_safe(feed.tick), "interval", seconds=5, id="demo-feed")
    return scheduler


def extra_jobs(services):
    """Jobs contributed by the SLA engine, the pollers and the outbox, the executive panel's rollup and the
    routing model's retraining from corrections, where they are installed."""
    jobs = []
    for module_name in ("routing.timers", "ingest.jobs", "dashboard.rollup", "routing.learning"):
        try:
            module = __import__(module_name, fromlist=["jobs"])
        except ImportError:
            continue
        jobs.extend(module.jobs(services))
    return jobs


def catch_up(services) -> None:
    """Record the SLA levels that fell due while no worker was active, before the jobs start."""
    try:
        from routing.timers import catch_up as sla_catch_up
    except ImportError:
        return
    sla_catch_up(services)


def check_configuration(services) -> None:
    """Refuse to start with a broken escalation ladder (data/escalation.yaml): say which field."""
    from domain.lifecycle import DomainError

    try:
        from routing.timers import sweep_for
    except ImportError:
        return
    try:
        sweep_for(services)
    except DomainError as exc:
        log.critical("cannot start the worker: %s", exc)
        raise SystemExit(f"error: {exc}") from None


# ---------------------------------------------------------------- the worker lock
class PostgresWorkerLock:
    """A session-level advisory lock on a connection of its own; the server frees it when the
    connection dies (the process was killed, or the network went away)."""

    def __init__(self, database_url: str):
        from domain.db import make_engine

        self.engine = make_engine(database_url, poolclass=NullPool)
        self.connection = None
        self.held = False
        self.unreachable: str | None = None  # why the last try could not ask for the lock at all

    def try_acquire(self) -> bool:
        if self.held:  # advisory locks stack within a session: never take it twice
            return self.still_held()
        try:
            if self.connection is None:
                self.connection = self.engine.connect()
            got = self.connection.execute(
                text("SELECT pg_try_advisory_lock(:cls, hashtext(current_schema()))"),
                {"cls": ADVISORY_LOCK_CLASS}).scalar()
            self.connection.commit()
        except Exception as exc:  # noqa: BLE001 - the database is away: stay on standby and retry
            self.unreachable = _one_line(exc)
            self._drop()
            return False
        self.unreachable = None
        self.held = bool(got)
        return self.held

    def still_held(self) -> bool:
        """The lock lives as long as its session: a working round trip on that connection proves it."""
        if not self.held or self.connection is None:
            return False
        try:
            self.connection.execute(text("SELECT 1"))
            self.connection.commit()
            return True
        except Exception as exc:  # noqa: BLE001
            log.error("lost the worker lock's database session: %s", exc)
            self._drop()
            return False

    def release(self) -> None:
        if self.connection is not None and self.held:
            try:
                self.connection.execute(text("SELECT pg_advisory_unlock(:cls, hashtext(current_schema()))"),
                                        {"cls": ADVISORY_LOCK_CLASS})
                self.connection.commit()
            except Exception:  # noqa: BLE001 - closing the session frees it anyway
                pass
        self._drop()

    def _drop(self) -> None:
        self.held = False
        if self.connection is not None:
            try:
                self.connection.invalidate()
                self.connection.close()
            except Exception:  # noqa: BLE001
                pass
        self.connection = None


class FileWorkerLock:
    """An OS lock on a file (flock); the kernel frees it when the process dies. With `database_url`, the
    lock is only taken while that database answers (a worker that cannot use its database must not
    hold the lock a working one needs, and must say that the database, not another worker, is the cause)."""

    def __init__(self, path: Path, database_url: str | None = None):
        from filelock import FileLock

        self.path = Path(path)
        self.lock = FileLock(str(self.path), thread_local=False)
        self.database_url = database_url
        self.unreachable: str | None = None

    def try_acquire(self) -> bool:
        from filelock import Timeout

        if self.lock.is_locked:
            return True
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.lock.acquire(timeout=0)
        except Timeout:
            self.unreachable = None
            return False
        except OSError as exc:  # the lock file's folder is not there or not writable
            self.unreachable = _one_line(exc)
            return False
        problem = self._probe()
        if problem is not None:
            self.lock.release(force=True)
            self.unreachable = problem
            return False
        self.unreachable = None
        return True

    def _probe(self) -> str | None:
        """None when the database answers, else why not."""
        if not self.database_url:
            return None
        from domain.db import make_engine

        try:
            engine = make_engine(self.database_url, poolclass=NullPool)
            try:
                with engine.connect() as conn:
                    conn.execute(text("SELECT 1"))
            finally:
                engine.dispose()
        except Exception as exc:  # noqa: BLE001 - any failure to open the database
            return _one_line(exc)
        return None

    def still_held(self) -> bool:
        return self.lock.is_locked

    def release(self) -> None:
        if self.lock.is_locked:
            self.lock.release(force=True)


def worker_lock_for(settings):
    """The lock that elects the active worker for this database."""
    url = make_url(settings.database_url)
    if url.get_backend_name() == "postgresql":
        return PostgresWorkerLock(settings.database_url)
    if url.database and url.database != ":memory:":
        return FileWorkerLock(Path(f"{url.database}.worker.lock"), settings.database_url)
    return FileWorkerLock(Path(settings.data_dir) / "worker.lock")


def _one_line(exc: BaseException) -> str:
    text_ = " ".join(str(getattr(exc, "orig", None) or exc).split())
    return f"{type(getattr(exc, 'orig', None) or exc).__name__}: {text_}"[:300]


# ---------------------------------------------------------------- the active worker
class ActiveWorker:
    """Stands by until it holds the worker lock, then catches up and runs the jobs until it stops or
    loses the lock (then it stops the jobs and stands by again). Offers start() and shutdown() like an
    APScheduler scheduler, so app.py runs it like one."""

    def __init__(self, services, *, demo: bool = False, blocking: bool = False, lock=None,
                 poll_seconds: float = POLL_SECONDS):
        self.services = services
        self.demo = demo
        self.blocking = blocking
        self.lock = lock or worker_lock_for(services.settings)
        self.poll_seconds = poll_seconds
        self.stopping = threading.Event()
        self.active = threading.Event()
        self.activations = 0  # how many times this process became the active worker
        self.state = "starting"  # active | standby (another worker holds the lock) | unreachable | stopped
        self.scheduler: BackgroundScheduler | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        check_configuration(self.services)
        if self.blocking:
            _log_to_stderr()
            if threading.current_thread() is threading.main_thread():
                for signum in (signal.SIGTERM, signal.SIGINT):
                    signal.signal(signum, lambda *_: self.stopping.set())
            self.run()
        else:
            self._thread = threading.Thread(target=self.run, name="active-worker", daemon=True)
            self._thread.start()

    def shutdown(self, wait: bool = True) -> None:
        self.stopping.set()
        if wait and self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)

    @property
    def running(self) -> bool:
        return self.active.is_set()

    def run(self) -> None:
        announced = None  # the (state, reason) last logged: say it once per change, not every half second
        try:
            while not self.stopping.is_set():
                if not self.lock.try_acquire():
                    problem = getattr(self.lock, "unreachable", None)
                    self.state = "unreachable" if problem else "standby"
                    if announced != (self.state, problem):
                        if problem:
                            log.warning("worker %s cannot reach the database (%s): not running the jobs, "
                                        "trying again every %.1f s", os.getpid(), problem, self.poll_seconds)
                        else:
                            log.info("worker %s standing by: another worker is active", os.getpid())
                        announced = (self.state, problem)
                    self.stopping.wait(self.poll_seconds)
                    continue
                announced = None
                self._act()
        finally:
            self.lock.release()
            self.state = "stopped"
            log.info("worker %s stopped", os.getpid())

    def _act(self) -> None:
        started = time.monotonic()
        log.info("worker %s active", os.getpid())
        try:
            catch_up(self.services)
            self.scheduler = build_job_scheduler(self.services, demo=self.demo)
            self.scheduler.start()
            self.activations += 1
            self.state = "active"
            self.active.set()
            log.info("worker %s running the jobs (ready in %.2f s)", os.getpid(), time.monotonic() - started)
            while not self.stopping.wait(self.poll_seconds):
                if not self.lock.still_held():
                    log.error("worker %s lost the worker lock: stopping the jobs", os.getpid())
                    break
        except Exception:  # noqa: BLE001 - e.g. the database went away during the catch-up
            log.exception("worker %s could not run the jobs; standing by", os.getpid())
            self.stopping.wait(self.poll_seconds)
        finally:
            self.active.clear()
            if self.scheduler is not None:
                self.scheduler.shutdown(wait=True)
                self.scheduler = None
            self.lock.release()


def build_scheduler(services, *, demo: bool = False, blocking: bool = False) -> ActiveWorker:
    """What app.py starts: the jobs, run only while this process is the active worker."""
    return ActiveWorker(services, demo=demo, blocking=blocking)


def _log_to_stderr() -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
