"""Fixtures of the email tests: one Dovecot and one SMTP sink per test module (each test gets a mailbox
of its own), the channels wired to them, and helpers to deliver mail and read what it became."""
from __future__ import annotations

import tempfile
import uuid
from datetime import datetime
from pathlib import Path

import pytest
from imap_tools import MailBoxUnencrypted
from sqlalchemy import select

from domain.models import Report
from ingest.channels import Channels
from ingest.config import ChannelConfig
from tests.adapters.email_samples import AUTHSERV_ID
from tests.adapters.peers import PASSWORD, dovecot_available, start_dovecot, start_smtp_sink
from tests.conftest import require_peer


@pytest.fixture(scope="module")
def dovecot():
    require_peer(dovecot_available(), "Dovecot (dovecot-imapd) is not installed; run scripts/install-test-peers.sh")
    server = start_dovecot(Path(tempfile.mkdtemp(prefix="tlr-dovecot-", dir="/tmp")))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def smtp():
    sink = start_smtp_sink()
    yield sink
    sink.controller.stop()


@pytest.fixture
def mail_config(dovecot, smtp):
    user = f"laporan-{uuid.uuid4().hex[:8]}"
    return ChannelConfig(public_base_url="https://laksa.example.go.id", imap_host="127.0.0.1",
                         imap_port=dovecot.port, imap_ssl=False, imap_user=user, imap_password=PASSWORD,
                         imap_batch=50, smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_starttls=False,
                         email_from="Tangerang Live Room <laporan@tangerangkota.go.id>",
                         email_max_attachment_bytes=50_000, email_authserv_ids=(AUTHSERV_ID,))


@pytest.fixture
def channels(services, mail_config):
    return Channels(services, mail_config)


def deliver(config: ChannelConfig, *messages: bytes, delivered_at: datetime | None = None) -> None:
    """APPEND each message to the mailbox's INBOX (its INTERNALDATE: `delivered_at`, default now)."""
    with MailBoxUnencrypted(config.imap_host, config.imap_port).login(config.imap_user, config.imap_password) as mb:
        for raw in messages:
            mb.append(raw, "INBOX", dt=delivered_at)


def reports(services) -> list[Report]:
    with services.sessions() as s:
        return list(s.scalars(select(Report).order_by(Report.id)))
