"""Hostile and automatic mail against a real Dovecot: a poison message does not hold up the mail behind
it, the sender's Date: never starts an SLA clock, a reused Message-ID is no duplicate, and bounces,
digests and auto-replies are kept once and never answered."""
from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import func, select

from domain.models import Attachment, Checkpoint, DeadLetter, Message, OutboxMessage, Report, SlaBreach, SlaClock
from domain.views import report_to_dict
from ingest.deadletters import reprocess
from routing.timers import sweep_for
from tests.adapters import email_samples as samples
from tests.adapters.mailbox import channels, deliver, dovecot, mail_config, reports, smtp  # noqa: F401 - fixtures


def count(services, model, *where) -> int:
    with services.sessions() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def letters(services) -> list[DeadLetter]:
    with services.sessions() as s:
        return list(s.scalars(select(DeadLetter).order_by(DeadLetter.id)))


def reset_uidvalidity(channels, services) -> None:
    """As if the folder had been rebuilt: the next poll reads the whole mailbox again."""
    with services.sessions.begin() as s:
        s.get(Checkpoint, channels.email.checkpoint_name).value = json.dumps({"uidvalidity": 1, "last_uid": 0})


def test_the_mail_behind_a_message_nested_1000_levels_deep_is_processed(channels, mail_config, services):
    poison = samples.nested("deep", 1000)
    assert 60_000 < len(poison) < 80_000
    deliver(mail_config, samples.plain("before"), poison, samples.plain("after", sender="warga2@example.org"))
    outcomes = channels.email.poll()
    assert [o.kind for o in outcomes] == ["created", "dead_letter", "created"]
    [letter] = letters(services)
    assert "nested more than" in letter.reason and letter.status == "open"
    assert letter.raw.replace(b"\r\n", b"\n") == poison.replace(b"\r\n", b"\n")
    with services.sessions() as s:
        assert json.loads(s.get(Checkpoint, channels.email.checkpoint_name).value)["last_uid"] == 3
    assert channels.email.poll() == []  # nothing waits, nothing is retried


def test_a_mail_whose_handling_fails_is_set_aside_and_processed_again_after_the_fix(
        channels, mail_config, services, settings):
    settings.attachments_dir.parent.mkdir(parents=True, exist_ok=True)
    settings.attachments_dir.write_bytes(b"")  # a broken mount: the attachments folder is a file
    photo = b"\xff\xd8\xff\xe0jpeg" * 50
    deliver(mail_config, samples.with_attachments("broken", photo, b"x"),
            samples.plain("text-only", "Lampu PJU mati di Jl. Sudirman", sender="warga3@example.org"))
    outcomes = channels.email.poll()
    assert [o.kind for o in outcomes] == ["dead_letter", "created"]  # the mail behind it is not held up
    [letter] = letters(services)
    assert letter.reason.startswith("could not be processed: ") and "Error" in letter.reason
    settings.attachments_dir.unlink()  # the operator fixes the mount, then processes the letter again
    assert reprocess(channels, letter.id) == "reprocessed"
    with services.sessions() as s:
        report = s.get(Report, s.get(DeadLetter, letter.id).report_id)
        att = s.scalar(select(Attachment).where(Attachment.report_id == report.id, Attachment.filename == "foto.jpg"))
    assert (settings.attachments_dir / att.path).read_bytes() == photo


def test_the_senders_date_is_only_the_claimed_time(channels, mail_config, services, clock):
    delivered = clock() - timedelta(minutes=1)  # when the city's mail server received it
    deliver(mail_config, samples.dated("past", "Tue, 01 Mar 2005 09:00:00 +0700"), delivered_at=delivered)
    deliver(mail_config, samples.dated("future", "Fri, 01 Jan 2099 09:00:00 +0700",
                                       "Lampu lalu lintas mati di simpang Cikokol."))  # delivered "now"
    assert [o.kind for o in channels.email.poll()] == ["created", "created"]
    past, future = reports(services)
    assert past.received_at == delivered and future.received_at == clock()
    assert past.claimed_at.isoformat() == "2005-03-01T02:00:00+00:00"
    assert future.claimed_at.isoformat() == "2099-01-01T02:00:00+00:00"
    with services.sessions() as s:
        for report in (past, future):
            clocks = {c.stage: c for c in s.scalars(select(SlaClock).where(SlaClock.report_id == report.id))}
            assert clocks["acknowledge"].started_at == report.received_at
            assert clocks["acknowledge"].due_at < clock() + timedelta(days=2)  # not in 2099
    swept = sweep_for(services).sweep()
    assert swept.recorded == 0 and count(services, SlaBreach) == 0  # no breach of 2005, no escalation
    assert count(services, OutboxMessage, OutboxMessage.template != "received") == 0
    shown = report_to_dict(services.queue.get(past.ticket))
    assert shown["received_at"] == "2026-11-23T00:59:00Z" and shown["claimed_at"] == "2005-03-01T02:00:00Z"


def test_a_reused_message_id_is_no_duplicate_but_a_dead_letter_with_the_reason(channels, mail_config, services):
    original = samples.plain("shared", "Saluran air mampet di Perumnas 1, Karawaci.", sender="asli@example.org")
    other_sender = samples.plain("shared", "Laporan palsu.", sender="penyusup@example.net")
    other_content = samples.plain("shared", "Isi lain dengan Message-ID yang sama.", sender="asli@example.org")
    deliver(mail_config, original, other_sender, original, other_content)
    assert [o.kind for o in channels.email.poll()] == ["created", "dead_letter", "duplicate", "dead_letter"]
    first, second = letters(services)
    assert "<citizen-shared@example.org> is already used by a mail from another sender" in first.reason
    assert "from asli@example.org was already used for a different message" in second.reason
    assert first.status == second.status == "open" and len(reports(services)) == 1
    # The operator decides they are messages of their own: each becomes its own report.
    assert reprocess(channels, first.id) == reprocess(channels, second.id) == "reprocessed"
    texts = sorted(r.text.split("\n\n")[-1] for r in reports(services))
    assert texts == ["Isi lain dengan Message-ID yang sama.", "Laporan palsu.",
                     "Saluran air mampet di Perumnas 1, Karawaci."]
    reset_uidvalidity(channels, services)  # reading it all again changes nothing
    assert {o.kind for o in channels.email.poll()} == {"duplicate"}
    assert len(reports(services)) == 3 and len(letters(services)) == 2


def test_bounces_digests_and_auto_replies_are_kept_once_and_never_answered(channels, mail_config, services):
    deliver(mail_config, samples.plain("ack", "Jalan berlubang di Jl. Veteran, Tangerang."))
    channels.email.poll()
    assert channels.deliverer.deliver_due().sent == 1  # our acknowledgement goes out, and bounces
    [report] = reports(services)
    with services.sessions() as s:
        our_id = s.scalar(select(OutboxMessage.payload)).get("message_id")
    automatic = [samples.postfix_dsn(1, our_id), samples.gmail_dsn(2), samples.relay_dsn(3),
                 samples.mailman_digest(4), samples.exchange_out_of_office(5, our_id),
                 samples.gmail_vacation(6, our_id)]
    human = samples.plain("words", "Undelivered Mail Returned to Sender? Bukan, saya warga: out of office "
                                   "saya kebanjiran di Periuk.", subject="Automatic reply: banjir",
                          sender="warga.banjir@example.org")
    deliver(mail_config, *automatic, human)
    outcomes = channels.email.poll()
    assert [o.kind for o in outcomes] == ["dead_letter"] * 6 + ["created"]
    kept = letters(services)
    assert [k.status for k in kept] == ["ignored"] * 6
    reasons = [k.reason for k in kept]
    assert "RFC 3834" in reasons[0] and "RFC 3464" in reasons[1] and "delivery-status part" in reasons[2]
    assert "mailing list" in reasons[3] and "X-Auto-Response-Suppress" in reasons[4] and "RFC 3834" in reasons[5]
    with services.sessions() as s:  # no report, no follow-up in the citizen's report, no answer to any of them
        assert s.scalar(select(func.count()).select_from(Message).where(
            Message.report_id == report.id, Message.direction == "in")) == 0
        recipients = set(s.scalars(select(OutboxMessage.recipient)))
    assert len(reports(services)) == 2 and recipients == {"warga1@example.org", "warga.banjir@example.org"}
    with services.sessions() as s:  # the bounce of our reply is on /ops: the citizen never got it
        ack = s.scalar(select(OutboxMessage).where(OutboxMessage.recipient == "warga1@example.org"))
    assert (ack.status, ack.delivery_status) == ("failed", "bounced")
    assert ack.last_error.startswith("bounced: warga.lama@example.org 5.1.1 smtp; 550 5.1.1")
    reset_uidvalidity(channels, services)  # a mailbox read again stores no second copy
    channels.email.poll()
    assert len(letters(services)) == 6 and len(reports(services)) == 2
