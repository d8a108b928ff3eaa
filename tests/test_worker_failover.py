"""Real worker processes (`python app.py worker`) on the test database: kill -9 the active one, the
standby takes over within 5 s, and no SLA level is lost or recorded twice; a worker started after a
downtime records what fell due meanwhile at its true time."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from domain.clock import utcnow
from domain.models import Event, OutboxMessage, SlaBreach, SlaClock
from routing.timers import sweep_for
from tests.helpers import incoming

PROJECT_ROOT = Path(__file__).resolve().parent.parent
P1_ACKNOWLEDGE = timedelta(minutes=5)


class WorkerProcess:
    """`python app.py worker` in its own process group, its log in a file."""

    def __init__(self, name: str, database_url: str, tmp_path: Path):
        self.name = name
        self.log_path = tmp_path / f"worker-{name}.log"
        env = {**os.environ, "DATABASE_URL": database_url, "PYTHONUNBUFFERED": "1"}
        for key in ("TWILIO_AUTH_TOKEN", "IMAP_HOST", "META_APP_SECRET", "X_BEARER_TOKEN", "DEMO"):
            env.pop(key, None)
        self.log = self.log_path.open("wb")
        self.process = subprocess.Popen([sys.executable, "app.py", "worker"], cwd=PROJECT_ROOT, env=env,
                                        stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_for(self, needle: str, timeout: float) -> float:
        """Monotonic time at which `needle` appeared in the log."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.text():
                return time.monotonic()
            if self.process.poll() is not None:
                pytest.fail(f"worker {self.name} exited with {self.process.returncode}:\n{self.text()[-3000:]}")
            time.sleep(0.05)
        pytest.fail(f"worker {self.name}: no {needle!r} within {timeout} s:\n{self.text()[-3000:]}")

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


@pytest.fixture
def workers(services, tmp_path):
    started: list[WorkerProcess] = []

    def start(name: str) -> WorkerProcess:
        worker = WorkerProcess(name, services.settings.database_url, tmp_path)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def submit_due_at(services, dues: list[datetime]) -> None:
    """P1 reports whose acknowledge deadline is each of `dues` (real time)."""
    services.queue.submit_many([incoming(priority="P1", received_at=due - P1_ACKNOWLEDGE) for due in dues])


def expected_levels(services, until: datetime) -> dict[tuple[int, str, str], datetime]:
    """Every (report, stage, level) that fell due before `until`, with its true time."""
    ladder = sweep_for(services).ladder
    expected = {}
    with services.sessions() as s:
        for c in s.scalars(select(SlaClock)):
            calendar = services.sla.calendars[c.calendar]
            levels = [("warning", c.warn_at), ("breach", c.due_at)] + [
                (level.name, at) for level, at in ladder.escalation_times(
                    calendar, c.started_at, c.target_minutes, due_at=c.due_at)]
            for name, at in levels:
                if at < until:
                    expected[(c.report_id, c.stage, name)] = at
    return expected


def recorded(services):
    with services.sessions() as s:
        rows = {(b.report_id, b.stage, b.level): (b.fell_due_at, b.recorded_at) for b in s.scalars(select(SlaBreach))}
        events = Counter((e.report_id, e.after["stage"], e.after["level"]) for e in s.scalars(
            select(Event).where(Event.type.in_(["sla_warning", "sla_breached", "sla_escalated"]))))
        messages = Counter((m.report_id, m.payload["stage"], m.payload["level"], m.channel, m.recipient)
                           for m in s.scalars(select(OutboxMessage)) if (m.payload or {}).get("kind") == "sla")
    return rows, events, messages


def wait_for_records(services, until: datetime, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if set(expected_levels(services, until)) <= set(recorded(services)[0]):
            return
        time.sleep(0.2)


def assert_exactly_once(services, until: datetime) -> dict:
    expected = expected_levels(services, until)
    rows, events, messages = recorded(services)
    missing = set(expected) - set(rows)
    assert not missing, f"{len(missing)} levels lost, e.g. {sorted(missing)[:3]}"
    assert all(rows[key][0] == at for key, at in expected.items()), "fell_due_at must be the true time"
    assert all(fell <= rec for fell, rec in rows.values()), "nothing recorded before it fell due"
    assert set(events) == set(rows) and set(events.values()) == {1}, "one event per level"
    doubled = [key for key, n in messages.items() if n > 1]
    assert not doubled, f"notifications doubled: {doubled[:3]}"
    return rows


def test_kill_the_active_worker_and_the_standby_takes_over(services, workers):
    started = utcnow()
    submit_due_at(services, [started - timedelta(seconds=200 - 10 * i) for i in range(5)])  # for the catch-up
    a = workers("a")
    a.wait_for("running the jobs", timeout=20)
    b = workers("b")
    b.wait_for("standing by", timeout=20)
    assert "active" not in b.text().replace("another worker is active", "")

    # deadlines while A runs, around the kill, during the takeover and after it
    now = utcnow()
    dues = [now + timedelta(seconds=1 + 0.2 * i) for i in range(50)]  # until now + 10.8 s
    submit_due_at(services, dues)
    while utcnow() < now + timedelta(seconds=4):
        time.sleep(0.05)
    killed_at_wall = utcnow()
    killed = time.monotonic()
    a.kill()
    took_over = b.wait_for("running the jobs", timeout=10)
    assert took_over - killed < 5, f"takeover took {took_over - killed:.1f} s"

    until = max(utcnow(), dues[-1] + timedelta(seconds=1.5))
    wait_for_records(services, until, timeout=10)
    b.stop()
    rows = assert_exactly_once(services, until)

    before_kill = [k for k, (fell, rec) in rows.items() if k[2] == "breach" and rec < killed_at_wall]
    after_takeover = [(fell, rec) for k, (fell, rec) in rows.items()
                      if k[2] == "breach" and fell > killed_at_wall + timedelta(seconds=5)]
    assert before_kill, "worker A recorded breaches before it was killed"
    assert after_takeover, "worker B recorded breaches after the takeover"
    assert max(rec - fell for fell, rec in after_takeover) < timedelta(seconds=1.5)


def test_a_worker_started_after_downtime_records_what_fell_due_with_its_true_time(services, workers):
    first = workers("first")
    first.wait_for("running the jobs", timeout=20)
    now = utcnow()
    dues = [now + timedelta(seconds=1 + 0.5 * i) for i in range(24)]
    submit_due_at(services, dues)
    while utcnow() < now + timedelta(seconds=2):
        time.sleep(0.05)
    first.kill()
    down_from = utcnow()
    time.sleep(max(0.0, (now + timedelta(seconds=7) - utcnow()).total_seconds()))  # deadlines pass: nobody runs

    second = workers("second")
    second.wait_for("running the jobs", timeout=20)
    restarted = utcnow()
    until = max(utcnow(), dues[-1] + timedelta(seconds=1.5))
    wait_for_records(services, until, timeout=10)
    second.stop()
    rows = assert_exactly_once(services, until)
    during_downtime = [(k, fell, rec) for k, (fell, rec) in rows.items()
                       if k[2] == "breach" and down_from < fell < restarted - timedelta(seconds=2)]
    assert during_downtime, "some deadlines fell while no worker ran"
    for _, fell, rec in during_downtime:
        assert rec >= down_from and rec - fell > timedelta(seconds=1)  # recorded late, at its true time
    assert "catch-up recorded" in second.text()


def test_a_broken_escalation_ladder_stops_the_worker_with_the_field_named(services, tmp_path):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(services.settings.data_dir, data, ignore=shutil.ignore_patterns("*.db*", "attachments"))
    text_ = (data / "escalation.yaml").read_text(encoding="utf-8").replace("at: 150%", "at: lots")
    (data / "escalation.yaml").write_text(text_, encoding="utf-8")
    env = {**os.environ, "DATABASE_URL": services.settings.database_url, "DATA_DIR": str(data)}
    done = subprocess.run([sys.executable, "app.py", "worker"], cwd=PROJECT_ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode != 0
    assert "escalations[0].at" in done.stderr and "Traceback" not in done.stderr
