"""The staging inbox (ingest/staging.py): a crash of the drain loses nothing and doubles nothing, a
citizen's messages keep their order inside a batch, bad payloads and failing rows end as dead letters."""
from __future__ import annotations

import pytest
from sqlalchemy import func, insert, select, update

from domain.models import DeadLetter, InboundMessage, Message, OutboxMessage, Report
from ingest.staging import Drainer
from tests.adapters.helpers import channel_config, ingest_app, twilio_post, whatsapp_form

PATH = "/webhooks/twilio/whatsapp"


class WorkerKilled(BaseException):
    """Stands for the worker process dying (BaseException: nothing in the drain may catch it)."""


class DyingDrainer(Drainer):
    """A drain whose process dies when it starts its batch number `dies_at` (1-based)."""

    def __init__(self, channels, dies_at: int, **kwargs):
        super().__init__(channels, **kwargs)
        self.dies_at, self.started = dies_at, 0

    def _batch(self, rows, stats):
        self.started += 1
        if self.started == self.dies_at:
            raise WorkerKilled()
        super()._batch(rows, stats)


class BrokenForOneSid(Drainer):
    """A drain with a bug that only one message triggers."""

    def _whatsapp(self, row, *args):
        if b"SM-bug" in row.raw:
            raise RuntimeError("bug in the adapter")
        super()._whatsapp(row, *args)


class RefusedForOneSid(Drainer):
    """A drain with a bug that, for one message, writes a row the database refuses (a real IntegrityError)."""

    def _whatsapp(self, row, *args):
        if b"SM-refused" in row.raw:
            with self.sessions.begin() as s:
                s.execute(insert(DeadLetter.__table__).values(channel=None))  # NOT NULL: refused
        super()._whatsapp(row, *args)


@pytest.fixture
def app(services):
    server, channels = ingest_app(services, channel_config())
    return server.test_client(), channels


def count(services, model, *where):
    with services.sessions() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def stage_messages(client, n: int, prefix: str = "SM-c") -> None:
    for i in range(n):
        form = whatsapp_form(f"{prefix}{i}", f"jalan rusak nomor {i}", phone=f"+62812000{i:05d}")
        assert twilio_post(client, PATH, form).status_code == 200


def test_a_worker_killed_between_batches_loses_nothing_and_the_next_one_doubles_nothing(app, services):
    client, channels = app
    stage_messages(client, 7)
    with pytest.raises(WorkerKilled):
        DyingDrainer(channels, dies_at=2, batch_size=3).drain()
    assert count(services, Report) == 3
    assert count(services, InboundMessage, InboundMessage.state == "pending") == 4
    stats = Drainer(channels, batch_size=3).drain()  # the standby worker takes over
    assert stats.outcomes == {"created": 4}
    assert count(services, Report) == 7
    assert count(services, OutboxMessage) == 7  # one acknowledgement each, none twice
    assert count(services, InboundMessage, InboundMessage.state == "done") == 7
    with services.sessions() as s:
        assert sorted(s.scalars(select(Report.external_id))) == sorted(f"SM-c{i}" for i in range(7))


def test_a_row_whose_mark_did_not_commit_is_processed_again_as_a_duplicate(app, services):
    client, channels = app
    stage_messages(client, 2)
    twilio_post(client, PATH, whatsapp_form("SM-f", "sudah 2 hari", phone="+6281200000000"))  # follow-up of SM-c0
    channels.drainer.drain()
    assert (count(services, Report), count(services, Message, Message.direction == "in")) == (2, 1)
    # A crash after each effect committed but before its mark: the rows are pending again.
    with services.sessions.begin() as s:
        s.execute(update(InboundMessage).values(state="pending", outcome=None))
    stats = channels.drainer.drain()
    assert stats.outcomes == {"duplicate": 3}
    assert (count(services, Report), count(services, Message, Message.direction == "in")) == (2, 1)
    assert count(services, OutboxMessage) == 2


def test_a_follow_up_staged_in_the_same_batch_joins_the_new_report(app, services):
    client, channels = app
    twilio_post(client, PATH, whatsapp_form("SM-1", "banjir di Periuk"))
    twilio_post(client, PATH, whatsapp_form("SM-other", "lampu mati", phone="+6281299990000"))
    twilio_post(client, PATH, whatsapp_form("SM-2", "airnya sudah sepinggang"))
    twilio_post(client, PATH, whatsapp_form("SM-3", "ada lansia terjebak"))
    stats = channels.drainer.drain()
    assert stats.outcomes == {"created": 2, "followup": 2}
    with services.sessions() as s:
        first = s.scalar(select(Report).where(Report.external_id == "SM-1"))
        assert [m.body for m in s.scalars(select(Message).where(Message.report_id == first.id, Message.direction == "in")
                                          .order_by(Message.id))] == ["airnya sudah sepinggang", "ada lansia terjebak"]


def test_a_bad_payload_is_staged_then_dead_lettered_byte_for_byte(app, services):
    client, channels = app
    twilio_post(client, PATH, whatsapp_form("SM-nofrom", "x", From=""))
    twilio_post(client, PATH, {"Body": "no MessageSid at all", "From": "whatsapp:+6281234567890"})
    twilio_post(client, PATH, whatsapp_form("SM-good"))
    stats = channels.drainer.drain()
    assert stats.outcomes == {"dead_letter": 2, "created": 1}
    with services.sessions() as s:
        letters = s.scalars(select(DeadLetter).order_by(DeadLetter.id)).all()
        staged = s.scalars(select(InboundMessage).where(InboundMessage.state == "dead_letter")
                           .order_by(InboundMessage.id)).all()
        assert [l.reason for l in letters] == ["From missing", "MessageSid missing or too long"]
        assert [r.dead_letter_id for r in staged] == [l.id for l in letters]
        assert [l.raw for l in letters] == [r.raw for r in staged]
        assert staged[1].external_id.startswith("sha256:")


def test_a_row_that_keeps_failing_is_retried_then_dead_lettered_without_blocking_the_others(app, services):
    client, channels = app
    twilio_post(client, PATH, whatsapp_form("SM-bug", "pohon tumbang", phone="+6281311110000"))
    stage_messages(client, 2)
    drainer = BrokenForOneSid(channels, max_attempts=3)
    first = drainer.drain()
    assert (first.failed, first.outcomes) == (1, {"created": 2})
    assert count(services, InboundMessage, InboundMessage.state == "pending") == 1
    drainer.drain()
    assert count(services, DeadLetter) == 0
    drainer.drain()
    with services.sessions() as s:
        row = s.scalar(select(InboundMessage).where(InboundMessage.external_id == "SM-bug"))
        letter = s.get(DeadLetter, row.dead_letter_id)
        assert (row.state, row.attempts) == ("dead_letter", 3)
        assert "processing failed 3 times" in letter.reason and "bug in the adapter" in letter.reason


def test_drain_stops_when_the_database_goes_away_and_keeps_the_rows(app, services, tmp_path):
    client, channels = app
    stage_messages(client, 2)
    from app import Services
    from domain.config import Settings
    from ingest.channels import Channels
    down = Channels(Services(Settings(database_url="postgresql://postgres@127.0.0.1:1/nowhere",
                                      attachments_dir=tmp_path), clock=services.clock), channel_config())
    from sqlalchemy.exc import OperationalError
    with pytest.raises(OperationalError):
        down.drainer.drain()
    assert count(services, InboundMessage, InboundMessage.state == "pending") == 2
    assert channels.drainer.drain().outcomes == {"created": 2}


def test_processed_rows_are_purged_after_a_week_and_pending_ones_never(app, services, clock):
    client, channels = app
    stage_messages(client, 2)
    channels.drainer.drain()
    twilio_post(client, PATH, whatsapp_form("SM-late"))
    clock.advance(days=8)
    assert channels.drainer.purge() == 2
    assert count(services, InboundMessage) == 1


def test_the_worker_job_kicks_the_drain_thread_which_empties_the_inbox(app, services):
    import time

    from ingest.jobs import jobs
    client, _ = app
    stage_messages(client, 3)
    job = dict((job_id, fn) for job_id, fn, _ in jobs(services, channel_config()))["ingest-drain"]
    job()
    deadline = time.monotonic() + 10
    while count(services, InboundMessage, InboundMessage.state == "pending") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert count(services, Report) == 3


def test_the_drain_thread_stops_after_its_batch_once_the_kicks_stop(app, services):
    """The worker stops or lost its lock to another worker: the scheduler no longer kicks, and a drain of a
    long backlog stops after its current batch (never two drains at once; a stopping worker is not held up)."""
    from ingest.jobs import DrainThread

    client, channels = app
    stage_messages(client, 6)
    drainer = Drainer(channels, batch_size=2)
    thread = DrainThread(drainer)
    thread._kicked_at = -1e9  # the last kick is long past: only the batch in hand is finished
    stats = drainer.drain(keep_going=thread.kicked_recently)
    assert (stats.batches, stats.rows) == (1, 2)
    assert count(services, InboundMessage, InboundMessage.state == "pending") == 4
    thread.kick()  # the worker runs: the thread drains everything
    import time

    deadline = time.monotonic() + 10
    while count(services, InboundMessage, InboundMessage.state == "pending") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert count(services, Report) == 6


def test_a_row_the_database_refuses_is_set_aside_and_the_rows_behind_it_go_on(app, services):
    client, channels = app
    for sid, phone in (("SM-first", "+6281200000001"), ("SM-refused", "+6281200000002"), ("SM-last", "+6281200000003")):
        assert twilio_post(client, PATH, whatsapp_form(sid, f"got mampet {sid}", phone=phone)).status_code == 200
    drainer = RefusedForOneSid(channels, max_attempts=3)
    stats = drainer.drain()  # an error of one statement is no unreachable database: the drain goes on
    assert stats.failed == 1 and count(services, Report) == 2
    drainer.drain(), drainer.drain()
    with services.sessions() as s:
        refused = s.scalar(select(InboundMessage).where(InboundMessage.external_id == "SM-refused"))
        assert refused.state == "dead_letter" and "IntegrityError" in refused.last_error
        assert "processing failed 3 times" in s.get(DeadLetter, refused.dead_letter_id).reason
    assert drainer.pending() == 0
