"""Email end to end against a real Dovecot IMAP server and an aiosmtpd SMTP sink."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from domain.models import Attachment, Checkpoint, DeadLetter, Message, OutboxMessage, Report
from ingest.channels import Channels
from ingest.config import ChannelConfig
from tests.adapters import email_samples as samples
from tests.adapters.mailbox import channels, deliver, dovecot, mail_config, reports, smtp  # noqa: F401 - fixtures

ROOT = Path(__file__).resolve().parent.parent


def test_mail_becomes_report_and_reply_is_threaded_by_smtp(channels, mail_config, services, smtp):
    deliver(mail_config, samples.plain(1))
    [outcome] = channels.email.poll()
    assert outcome.kind == "created"
    [report] = reports(services)
    assert report.channel == "email" and report.external_id == "<citizen-1@example.org> warga1@example.org"
    assert report.text.startswith("Laporan jalan rusak\n\nJalan rusak parah")
    assert channels.deliverer.deliver_due().sent == 1
    sent = [m for m in smtp.parsed() if m["To"] == "warga1@example.org"][-1]
    assert sent["In-Reply-To"] == "<citizen-1@example.org>"
    assert "<citizen-1@example.org>" in sent["References"]
    assert sent["Subject"] == f"Re: Laporan jalan rusak [{report.ticket}]"
    assert sent["Auto-Submitted"] == "auto-replied"
    assert report.ticket in sent.get_payload(decode=True).decode()
    with services.sessions() as s:
        out = s.scalar(select(OutboxMessage))
        assert out.status == "sent" and out.provider_id == sent["Message-ID"]


def test_replies_join_the_report_by_references_or_ticket_in_subject(channels, mail_config, services):
    deliver(mail_config, samples.plain(10))
    channels.email.poll()
    [report] = reports(services)
    with services.sessions() as s:
        our_id = s.scalar(select(OutboxMessage)).payload["message_id"]
    deliver(mail_config,
            samples.plain(11, "Masih rusak, tolong segera.", subject="Re: Laporan", In_Reply_To=our_id),
            samples.plain(12, "Tambahan: ada lubang kedua.", subject=f"Tambahan {report.ticket}"),
            samples.plain(13, "Ini laporan orang lain.", subject=f"Soal {report.ticket}",
                          sender="lain@example.org"))
    outcomes = channels.email.poll()
    assert [o.kind for o in outcomes] == ["followup", "followup", "created"]
    with services.sessions() as s:
        bodies = list(s.scalars(select(Message.body).where(Message.report_id == report.id, Message.direction == "in")
                                .order_by(Message.id)))
    assert bodies == ["Masih rusak, tolong segera.", "Tambahan: ada lubang kedua."]


def test_html_charsets_and_attachments(channels, mail_config, services):
    small, big = b"\xff\xd8jpeg" * 100, b"\x00" * 60_000
    deliver(mail_config, samples.html_latin1(20), samples.with_attachments(21, small, big))
    channels.email.poll()
    first, second = reports(services)
    assert "Sampah menumpuk di\nPasar Anyar" in first.text and "caf\xe9 tutup" in first.text
    assert "x()" not in first.text and first.text.startswith("Sampah menumpuk caf\xe9")
    with services.sessions() as s:
        assert s.get(Report, first.id).citizen.name == "Ren\xe9"
        [att] = s.scalars(select(Attachment).where(Attachment.report_id == second.id))
    assert att.filename == "foto.jpg" and att.size == len(small)
    assert (services.settings.attachments_dir / att.path).read_bytes() == small
    assert "video.mp4" in second.text and "terlalu besar" in second.text


@pytest.mark.parametrize("raw", [
    samples.bounce(30),
    samples.plain(31, "Saya sedang cuti.", Auto_Submitted="auto-replied"),
    samples.plain(32, "Newsletter", Precedence="bulk"),
    samples.plain(33, "Delivery failed", sender="postmaster@example.org"),
], ids=["bounce", "auto-submitted", "precedence-bulk", "postmaster"])
def test_bounces_and_auto_replies_never_create_reports(channels, mail_config, services, raw):
    deliver(mail_config, raw)
    [outcome] = channels.email.poll()
    assert outcome.kind == "dead_letter"
    assert reports(services) == []
    with services.sessions() as s:
        letter = s.scalar(select(DeadLetter))
        assert letter.status == "ignored" and letter.raw.replace(b"\r\n", b"\n") == raw.replace(b"\r\n", b"\n")
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_checkpoint_moves_only_forward_and_uidvalidity_change_rereads_without_duplicates(
        channels, mail_config, services):
    deliver(mail_config, samples.plain(40), samples.plain(41))
    assert len(channels.email.poll()) == 2
    assert channels.email.poll() == []
    with services.sessions.begin() as s:
        cp = s.get(Checkpoint, channels.email.checkpoint_name)
        assert json.loads(cp.value)["last_uid"] == 2
        cp.value = json.dumps({"uidvalidity": 1, "last_uid": 2})  # as if the folder had been rebuilt
    outcomes = channels.email.poll()
    assert [o.kind for o in outcomes] == ["duplicate", "duplicate"]
    assert len(reports(services)) == 2


CRASHING_POLLER = """
import os, sys
sys.path.insert(0, {root!r})
from app import Services
from domain.config import Settings
from ingest.channels import Channels
from ingest.config import ChannelConfig
settings = Settings(database_url={url!r}, attachments_dir={att!r})
services = Services(settings)
channels = Channels(services, ChannelConfig(**{config!r}))
crash_at, when = int(sys.argv[1]), sys.argv[2]
original, count = channels.inbox.submit, [0]
def submit(incoming, *args, **kwargs):
    count[0] += 1
    if count[0] == crash_at and when == "before-commit":
        os._exit(137)
    result = original(incoming, *args, **kwargs)
    if count[0] == crash_at and when == "after-commit":
        os._exit(137)  # killed between the commit and the checkpoint
    return result
channels.inbox.submit = submit
channels.email.poll()
"""


@pytest.mark.parametrize("when", ["before-commit", "after-commit"])
def test_worker_killed_mid_batch_then_restarted_makes_exactly_one_report_per_message(
        mail_config, services, settings, tmp_path, when):
    deliver(mail_config, *[samples.plain(f"k{i}", f"Laporan nomor {i}") for i in range(8)])
    config = {k: getattr(mail_config, k) for k in ("imap_host", "imap_port", "imap_ssl", "imap_user",
                                                    "imap_password", "imap_batch")}
    script = tmp_path / "poller.py"
    script.write_text(CRASHING_POLLER.format(root=str(ROOT), url=settings.database_url,
                                             att=str(settings.attachments_dir), config=config))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    crashed = subprocess.run([sys.executable, str(script), "4", when], env=env, capture_output=True, timeout=60)
    assert crashed.returncode == 137, crashed.stderr.decode()[-2000:]
    assert len(reports(services)) == (3 if when == "before-commit" else 4)
    finished = subprocess.run([sys.executable, str(script), "0", "never"], env=env, capture_output=True, timeout=60)
    assert finished.returncode == 0, finished.stderr.decode()[-2000:]
    texts = sorted(r.text.split("\n\n")[-1] for r in reports(services))
    assert texts == sorted(f"Laporan nomor {i}" for i in range(8))


def test_refused_recipient_fails_for_good_and_unreachable_smtp_is_retried(channels, mail_config, services, smtp):
    deliver(mail_config, samples.plain(50, "Lampu PJU mati di Jl. Hasyim Ashari", sender="ditolak@example.org"),
            samples.plain(51, "Got tersumbat di Perumnas 2, Cibodas", sender="ok@example.org"))
    channels.email.poll()
    smtp.refuse.add("ditolak@example.org")
    stats = channels.deliverer.deliver_due()
    assert (stats.sent, stats.failed) == (1, 1)
    with services.sessions() as s:
        failed = s.scalar(select(OutboxMessage).where(OutboxMessage.status == "failed"))
        assert failed.recipient == "ditolak@example.org" and "refused" in failed.last_error
    down = Channels(services, ChannelConfig(smtp_host="127.0.0.1", smtp_port=1, smtp_starttls=False))
    deliver(mail_config, samples.plain(52, "Parkir liar di depan Stasiun Tangerang", sender="nanti@example.org"))
    channels.email.poll()
    stats = down.deliverer.deliver_due()
    assert stats.retried == 1
    with services.sessions() as s:
        row = s.scalar(select(OutboxMessage).where(OutboxMessage.recipient == "nanti@example.org"))
        assert row.status == "pending" and row.attempts == 1 and row.next_attempt_at > services.clock()


def test_commands_by_mail_are_honoured_only_for_a_sender_our_server_vouched_for(channels, mail_config, services):
    """STATUS and BUKA by e-mail act on the sender's reports only when the city's receiving server wrote a
    passing DKIM/SPF verdict for the sender's domain; a forged From (no verdict, another server's verdict,
    a forged "pass" below our own "fail") gets the unknown-ticket answer and joins nothing."""
    deliver(mail_config, samples.plain(1))
    channels.email.poll()
    [report] = reports(services)
    ticket = report.ticket
    ours_failed = ("Authentication-Results: " + samples.verdict("warga1@example.org", "fail") + "\r\n").encode()
    deliver(mail_config,
            samples.plain(2, f"STATUS {ticket}", subject="cek", verified=False),
            samples.plain(3, f"STATUS {ticket}", subject="cek", verified=False,
                          Authentication_Results=samples.verdict("warga1@example.org", authserv_id="mx.evil.example")),
            ours_failed + samples.plain(4, f"STATUS {ticket}", subject="cek", verified=False,
                                        Authentication_Results=samples.verdict("warga1@example.org")),
            samples.plain(5, f"STATUS {ticket}", subject="cek", verified=False,
                          Authentication_Results=samples.verdict("warga1@example.org").replace(
                              "example.org", "elsewhere.example")),  # a pass for another domain
            samples.plain(6, "Masih rusak", subject=f"Re: Laporan jalan rusak [{ticket}]", verified=False),
            samples.plain(7, f"STATUS {ticket}", subject="cek"))
    outcomes = channels.email.poll()
    assert [o.kind for o in outcomes] == ["command"] * 4 + ["created", "command"]
    with services.sessions() as s:
        answers = s.scalars(select(OutboxMessage).where(OutboxMessage.template.like("status%"))
                            .order_by(OutboxMessage.id)).all()
        assert [a.template for a in answers] == ["status_unknown"] * 4 + ["status"]
        assert s.scalar(select(func.count()).select_from(Message).where(
            Message.report_id == report.id, Message.direction == "in")) == 1  # only the verified STATUS
    assert len(reports(services)) == 2  # the forged follow-up is a report of its own


def test_a_forged_sender_can_neither_rate_nor_reopen_the_citizens_report(channels, mail_config, services):
    """The survey answer and BUKA by e-mail count only with our server's verdict for the sender: a
    forged From with the victim's address becomes a report of its own, the victim's report is untouched."""
    from domain.actors import Actor
    from domain.lifecycle import Role

    deliver(mail_config, samples.plain(20, "Saluran tersumbat di Jl. Imam Bonjol"))
    channels.email.poll()
    [report] = reports(services)
    wf, officer = services.workflow, Actor("pupr1", Role.AGENCY_OFFICER, "PUPR")
    operator = Actor("op1", Role.OPERATOR)
    wf.verify_and_assign(report.ticket, operator, "PUPR")
    wf.accept(report.ticket, officer)
    wf.resolve(report.ticket, officer, "saluran sudah dibersihkan")
    deliver(mail_config, samples.plain(21, f"BUKA {report.ticket} masih mampet", subject="buka", verified=False))
    channels.email.poll()
    assert services.queue.get(report.ticket).status == "RESOLVED"
    wf.close(report.ticket, operator)
    deliver(mail_config, samples.plain(22, "1", subject="nilai", verified=False))
    channels.email.poll()
    assert services.queue.get(report.ticket).satisfaction is None
    deliver(mail_config, samples.plain(23, "5", subject="nilai"))  # the citizen, as our server saw them
    channels.email.poll()
    assert services.queue.get(report.ticket).satisfaction == 5
    assert len(reports(services)) == 3  # the two forged commands became reports of their own
