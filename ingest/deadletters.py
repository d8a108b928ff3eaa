"""The dead-letter store, for operators: list what could not become a report, re-process it after a
fix (the channel's adapter runs again on the stored bytes), or discard it with a reason."""
from __future__ import annotations

import logging

from sqlalchemy import select

from domain.models import DeadLetter, Report

log = logging.getLogger("ingest.deadletters")


def open_letters(sessions, channel: str | None = None, limit: int = 200) -> list[DeadLetter]:
    with sessions() as s:
        query = select(DeadLetter).where(DeadLetter.status == "open")
        if channel:
            query = query.where(DeadLetter.channel == channel)
        return list(s.scalars(query.order_by(DeadLetter.id.desc()).limit(limit)))


def reprocess(channels, dead_letter_id: int) -> str:
    """Run the channel's adapter again on a dead letter's bytes; returns the new state
    ("reprocessed" with the report linked, or "open" with the new reason)."""
    sessions = channels.services.sessions
    with sessions() as s:
        letter = s.get(DeadLetter, dead_letter_id)
        if letter is None:
            raise LookupError(f"no dead letter {dead_letter_id}")
        if letter.status != "open":
            return letter.status
        raw, headers, channel = letter.raw, dict(letter.headers or {}), letter.channel
    handler = channels.reprocessors.get(channel)
    if handler is None:
        reason, outcome = f"no re-processor for channel {channel!r}", None
    else:
        # Re-processing must not find the letter itself as a duplicate: mark it in progress first.
        with sessions.begin() as s:
            s.get(DeadLetter, dead_letter_id).status = "retrying"
        try:
            outcome = handler(raw, headers)
            reason = None
        except Exception as exc:  # noqa: BLE001 - the operator sees the reason
            outcome, reason = None, f"{type(exc).__name__}: {exc}"
            log.exception("re-processing dead letter %s failed", dead_letter_id)
    with sessions.begin() as s:
        letter = s.get(DeadLetter, dead_letter_id)
        letter.attempts += 1
        if outcome is not None and outcome.kind != "dead_letter":
            letter.status = "reprocessed"
            if outcome.ticket:
                letter.report_id = s.scalar(select(Report.id).where(Report.ticket == outcome.ticket))
        else:
            letter.status = "open"
            if outcome is not None and outcome.dead_letter_id and outcome.dead_letter_id != dead_letter_id:
                # The adapter refused it again and stored a fresh letter: keep one, with the newest reason.
                again = s.get(DeadLetter, outcome.dead_letter_id)
                letter.reason = again.reason
                s.delete(again)
            elif reason:
                letter.reason = reason[:2000]
        return letter.status


def discard(sessions, dead_letter_id: int, actor_name: str, reason: str) -> None:
    with sessions.begin() as s:
        letter = s.get(DeadLetter, dead_letter_id)
        if letter is None:
            raise LookupError(f"no dead letter {dead_letter_id}")
        letter.status = "discarded"
        letter.reason = f"{letter.reason}\n[discarded by {actor_name}: {reason}]"[:4000]
