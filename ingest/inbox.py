"""Where every channel's payload lands: a new report, a message in an open report's conversation,
a citizen command (STATUS, BUKA, a 1-5 rating), or a dead letter. Idempotent per channel message id.
"""
from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from domain.actors import SYSTEM, Actor
from domain.events import record
from domain.intake import AttachmentInfo, IncomingReport
from domain.lifecycle import OPEN_STATUSES, DomainError, Role, Status
from domain.models import Attachment, CitizenIdentity, Citizen, DeadLetter, Message, Report

log = logging.getLogger("ingest.inbox")

STATUS_COMMAND = re.compile(r"^\s*(?:STATUS|CEK|STATUS\s*TIKET)\s+([A-Z]{2,5}-\d{4}-\d{1,9})\s*$", re.I)
REOPEN_COMMAND = re.compile(r"^\s*BUKA\s+([A-Z]{2,5}-\d{4}-\d{1,9})\b(.*)$", re.I | re.S)
RATING = re.compile(r"^\s*([1-5])\s*(?:/\s*5)?\s*[.!]?\s*$")
SURVEY_WINDOW = timedelta(days=7)


@dataclass(frozen=True)
class Outcome:
    kind: str  # created | duplicate | followup | command | dead_letter
    ticket: str | None = None
    dead_letter_id: int | None = None


def citizen_actor(identity: str) -> Actor:
    return Actor(f"citizen:{identity}"[:64], Role.CITIZEN)


class Inbox:
    def __init__(self, services):
        self.services = services
        self.queue = services.queue
        self.sessions = services.sessions

    @property
    def clock(self):
        return self.queue.clock

    # ------------------------------------------------------------ idempotency
    def seen(self, channel: str, external_id: str) -> Outcome | None:
        with self.sessions() as s:
            ticket = s.scalar(select(Report.ticket).where(Report.channel == channel,
                                                          Report.external_id == external_id))
            if ticket is None:
                ticket = s.scalar(select(Report.ticket).join(Message, Message.report_id == Report.id).where(
                    Message.channel == channel, Message.direction == "in", Message.external_id == external_id))
        return Outcome("duplicate", ticket) if ticket else None

    # ------------------------------------------------------------ new reports
    def submit(self, incoming: IncomingReport, actor: Actor = SYSTEM) -> Outcome:
        result = self.queue.submit(incoming, actor)
        return Outcome("created" if result.created else "duplicate", result.report.ticket)

    # ------------------------------------------------------------ conversations
    def citizen_of(self, kind: str, value: str) -> int | None:
        with self.sessions() as s:
            # the citizen this identity belongs to: vouched for by a channel, or typed into a form (the counter
            # gave this number: its owner answers the survey); domain/citizens.py never lets a typed identity
            # join or extend someone else's citizen, so a form cannot put a stranger's number here
            citizen_id = s.scalar(select(CitizenIdentity.citizen_id).where(
                CitizenIdentity.kind == kind, CitizenIdentity.value == value))
            for _ in range(5):  # follow merges
                merged = s.scalar(select(Citizen.merged_into_id).where(Citizen.id == citizen_id)) if citizen_id else None
                if not merged:
                    break
                citizen_id = merged
        return citizen_id

    def open_report(self, citizen_id: int | None, channel: str) -> Report | None:
        """The citizen's newest open report on this channel (a follow-up goes there)."""
        if citizen_id is None:
            return None
        with self.sessions() as s:
            return s.scalar(select(Report).where(
                Report.citizen_id == citizen_id, Report.channel == channel,
                Report.status.in_([st.value for st in OPEN_STATUSES]),
            ).order_by(Report.received_at.desc(), Report.id.desc()).limit(1))

    def add_followup(self, report_id: int, channel: str, external_id: str, author: str | None, body: str,
                     attachments: tuple[AttachmentInfo, ...] = ()) -> Outcome:
        """Add a citizen's message to a report's conversation (once per channel message id)."""
        now = self.clock()
        try:
            with self.sessions.begin() as s:
                report = s.get(Report, report_id)
                s.add(Message(report_id=report_id, direction="in", channel=channel, external_id=external_id,
                              author=author, body=body, at=now))
                for att in attachments:
                    s.add(Attachment(report_id=report_id, filename=att.filename, content_type=att.content_type,
                                     size=att.size, sha256=att.sha256, path=att.path, source_url=att.source_url,
                                     created_at=now))
                record(s, report, citizen_actor(author or channel), "citizen_message",
                       after={"channel": channel, "message_id": external_id, "attachments": len(attachments)},
                       at=now)
                ticket, waiting = report.ticket, report.status == Status.WAITING_CITIZEN.value
        except IntegrityError:
            return Outcome("duplicate", self.seen(channel, external_id).ticket
                           if self.seen(channel, external_id) else None)
        if waiting:
            try:
                self.services.workflow.citizen_replied(ticket)
            except DomainError:
                pass
        return Outcome("followup", ticket)

    @staticmethod
    def remember_command(s, report: Report | None, channel: str, external_id: str, author: str | None,
                         body: str, now) -> bool:
        """Keep a command message in the report's conversation, inside the caller's transaction;
        False when this channel message was handled before (a redelivered webhook)."""
        if report is None:
            return True
        try:
            with s.begin_nested():
                s.add(Message(report_id=report.id, direction="in", channel=channel, external_id=external_id,
                              author=author, body=body, at=now))
            return True
        except IntegrityError:
            return False

    # ------------------------------------------------------------ dead letters
    def dead_letter(self, channel: str, raw: bytes, reason: str, headers: dict | None = None,
                    session=None, received_at=None, status: str = "open") -> int:
        """Keep a payload that could not become a report, byte for byte, once per source message (its
        SHA-256: the same message read again, even after a UIDVALIDITY change, returns the stored letter);
        inside the caller's transaction when `session` is given. `status` "ignored" is for automatic mail."""
        if session is not None:
            return self._dead_letter(session, channel, raw, reason, headers, received_at or self.clock(), status)
        for attempt in range(2):
            try:
                with self.sessions.begin() as s:
                    return self._dead_letter(s, channel, raw, reason, headers, received_at or self.clock(), status)
            except IntegrityError:  # stored by a concurrent writer a moment ago: read it
                if attempt:
                    raise
        raise AssertionError("unreachable")

    @staticmethod
    def _dead_letter(s, channel: str, raw: bytes, reason: str, headers: dict | None, now, status: str) -> int:
        key = "sha256:" + hashlib.sha256(raw).hexdigest()
        reason = reason.replace("\x00", "")[:2000]
        existing = s.scalar(select(DeadLetter).where(DeadLetter.channel == channel, DeadLetter.source_key == key))
        if existing is not None:
            if existing.status in ("open", "retrying"):
                existing.reason = reason  # the newest reason (a re-processing after a fix may change it)
            return existing.id
        row = DeadLetter(channel=channel, received_at=now, reason=reason, raw=raw, headers=headers or {},
                         status=status, attempts=0, source_key=key)
        s.add(row)
        s.flush()
        log.warning("dead letter %s on %s (%s): %s", row.id, channel, status, reason[:200])
        return row.id


Reprocessor = Callable[[bytes, dict], Outcome]
