"""The 112 line through Twilio Voice.

    POST /webhooks/twilio/voice                 incoming call: an EMERGENCY report at once, TwiML that
                                                connects the caller to the call-takers and records
    POST /webhooks/twilio/voice/dial            <Dial action>: answered or not (unanswered -> call-back)
    POST /webhooks/twilio/voice/status          call status callback: final status and duration
    POST /webhooks/twilio/voice/recording       recordingStatusCallback: attach the recording
    POST /webhooks/twilio/voice/transcription   transcription text into the conversation

The call's own state (in progress, answered, unanswered, flags) lives in the `calls` table; the report
follows the normal lifecycle. Repeated calls from one number within 10 minutes join the same report.
"""
from __future__ import annotations

import logging
import re
from datetime import timedelta
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape, quoteattr

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from domain.actors import SYSTEM
from domain.clock import isoformat
from domain.events import record
from domain.intake import IncomingReport, normalise_phone
from domain.lifecycle import OPEN_STATUSES, Kind, ValidationError
from domain.models import Attachment, Call, Message, Report
from ingest.base import reply_route
from ingest.inbox import Outcome

log = logging.getLogger("ingest.voice112")

REPEAT_WINDOW = timedelta(minutes=10)
PRANK_MAX_SECONDS = 5  # answered calls shorter than this, with nothing recorded, are likely pranks
UNANSWERED = {"no-answer", "busy", "failed", "canceled"}
SID_SHAPE = re.compile(r"[A-Za-z0-9]{1,64}")  # Twilio's ids: two letters and 32 hex digits (calls.call_sid: 64)
MAX_SECONDS = 7 * 24 * 3600  # a duration beyond a week is no call's (and would overflow the INTEGER column)


def checked(form: dict) -> dict:
    """The webhook's form, or ValidationError naming the field: every *Sid an id of Twilio's shape, every
    *Duration a whole number of seconds up to MAX_SECONDS. (A 5,002-character CallSid or a duration of 400
    nines raised at the insert: a 500, which Twilio retries.)"""
    for key, value in form.items():
        if not value:
            continue
        if key.endswith("Sid") and not SID_SHAPE.fullmatch(value):
            raise ValidationError(key, f"is not a Twilio id ({len(value)} characters)")
        if key.endswith("Duration") and (not value.isascii() or not value.isdigit() or len(value) > 7
                                         or int(value) > MAX_SECONDS):
            raise ValidationError(key, f"must be whole seconds up to {MAX_SECONDS}")
    return form


def _int(value) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 0 <= number <= MAX_SECONDS else None


class Voice112:
    channel = "call112"

    def __init__(self, channels):
        self.channels = channels
        self.config = channels.config

    # ------------------------------------------------------------ incoming call
    def incoming(self, form: dict) -> str:
        form = checked(form)
        sid = (form.get("CallSid") or "").strip()
        if not sid:
            self.channels.inbox.dead_letter(self.channel, _raw(form), "CallSid missing")
            return self._twiml_connect()
        caller = self._caller(form)
        now = self.channels.clock()
        with self.channels.services.sessions() as s:
            known = s.scalar(select(Call.report_id).where(Call.call_sid == sid))
        if known is None:
            report_id = self._recent_report(caller, now)
            if report_id is None:
                ticket = self._new_report(sid, caller, form, now)
                with self.channels.services.sessions() as s:
                    report_id = s.scalar(select(Report.id).where(Report.ticket == ticket))
            self._add_call(sid, report_id, caller, now)
        return self._twiml_connect()

    def _caller(self, form: dict) -> str | None:
        raw = (form.get("From") or form.get("Caller") or "").strip()
        if not raw or raw.lower() in ("anonymous", "restricted", "unknown"):
            return None
        try:
            return normalise_phone(raw, "From")
        except ValidationError:
            return raw[:32]

    def _recent_report(self, caller: str | None, now) -> int | None:
        if not caller:
            return None
        with self.channels.services.sessions() as s:
            return s.scalar(select(Call.report_id).join(Report, Report.id == Call.report_id).where(
                Call.from_number == caller, Call.started_at >= now - REPEAT_WINDOW,
                Report.status.in_([st.value for st in OPEN_STATUSES]),
            ).order_by(Call.started_at.desc()).limit(1))

    def _new_report(self, sid: str, caller: str | None, form: dict, now) -> str:
        where = ", ".join(p for p in (form.get("FromCity"), form.get("FromState")) if p)
        data = {
            "channel": self.channel, "external_id": sid, "kind": Kind.EMERGENCY.value,
            "text": f"Panggilan 112 dari {caller or 'nomor tersembunyi'} (panggilan sedang berlangsung)"
                    + (f"; wilayah nomor: {where}" if where else ""),
            "received_at": isoformat(now),
            "citizen": {"phone": caller} if caller and caller.startswith("+") else None,
            "raw_payload": {"provider": form,
                            **({"reply": reply_route("sms", caller)} if caller and caller.startswith("+") else {})},
        }
        try:
            incoming = IncomingReport.from_dict(data)
        except ValidationError:
            data["citizen"] = None
            incoming = IncomingReport.from_dict(data)
        return self.channels.inbox.submit(incoming).ticket

    def _add_call(self, sid: str, report_id: int, caller: str | None, now) -> None:
        try:
            with self.channels.services.sessions.begin() as s:
                report = s.get(Report, report_id)
                s.add(Call(call_sid=sid, source="twilio", report_id=report_id, from_number=caller,
                           state="in_progress", started_at=now, updated_at=now))
                if report.external_id != sid:
                    s.add(Message(report_id=report_id, direction="in", channel=self.channel, external_id=sid,
                                  author=caller, body="Panggilan ulang ke 112 dari nomor yang sama", at=now))
                record(s, report, SYSTEM, "call_started", after={"call_sid": sid, "repeat": report.external_id != sid},
                       at=now)
        except IntegrityError:
            pass  # the same webhook again: the call is already recorded

    def _twiml_connect(self) -> str:
        target = self.config.call112_forward_to
        action = quoteattr(self.config.url("/webhooks/twilio/voice/dial"))
        recording = quoteattr(self.config.url("/webhooks/twilio/voice/recording"))
        if not target:
            return ('<?xml version="1.0" encoding="UTF-8"?><Response><Say language="id-ID">'
                    "Mohon maaf, layanan sedang sibuk. Petugas akan menghubungi Anda kembali.</Say></Response>")
        noun = (f"<Sip>{escape(target)}</Sip>" if target.lower().startswith("sip:")
                else f"<Number>{escape(target)}</Number>")
        return ('<?xml version="1.0" encoding="UTF-8"?><Response>'
                f'<Dial action={action} method="POST" timeout="{self.config.call112_ring_seconds}" '
                f'record="record-from-answer-dual" recordingStatusCallback={recording} '
                f'recordingStatusCallbackMethod="POST">{noun}</Dial></Response>')

    # ------------------------------------------------------------ callbacks
    def _call(self, s, form: dict) -> Call | None:
        return s.scalar(select(Call).where(Call.call_sid == (form.get("CallSid") or "")).with_for_update())

    def dial_finished(self, form: dict) -> str:
        form = checked(form)
        status = (form.get("DialCallStatus") or "").lower()
        now = self.channels.clock()
        with self.channels.services.sessions.begin() as s:
            call = self._call(s, form)
            if call is not None:
                call.dial_status = status[:16]
                call.updated_at = now
                if status == "completed":
                    call.state, call.answered_at = "answered", call.answered_at or now
                elif status in UNANSWERED:
                    call.state, call.flag = "unanswered", "callback"
                    record(s, s.get(Report, call.report_id), SYSTEM, "call_unanswered",
                           after={"call_sid": call.call_sid, "dial_status": status, "flag": "callback"}, at=now)
        if status in UNANSWERED:
            return ('<?xml version="1.0" encoding="UTF-8"?><Response><Say language="id-ID">'
                    "Semua petugas sedang melayani panggilan lain. Kami akan segera menghubungi Anda kembali."
                    "</Say><Hangup/></Response>")
        return '<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>'

    def call_status(self, form: dict) -> None:
        form = checked(form)
        status = (form.get("CallStatus") or "").lower()
        duration = _int(form.get("CallDuration"))
        now = self.channels.clock()
        with self.channels.services.sessions.begin() as s:
            call = self._call(s, form)
            if call is None or status not in ("completed", "busy", "no-answer", "failed", "canceled"):
                return
            call.ended_at, call.duration_seconds, call.outcome, call.updated_at = now, duration, status, now
            if call.state == "in_progress":
                call.state = "completed" if status == "completed" else "unanswered"
            if call.state == "unanswered" or status in UNANSWERED:
                call.flag = call.flag or "callback"
            elif (duration is not None and duration < PRANK_MAX_SECONDS and not call.recording_url
                  and call.dial_status != "completed"):
                call.flag = "likely_prank"
            record(s, s.get(Report, call.report_id), SYSTEM, "call_ended",
                   after={"call_sid": call.call_sid, "status": status, "duration": duration, "flag": call.flag},
                   at=now)

    def recording(self, form: dict) -> None:
        form = checked(form)
        url = form.get("RecordingUrl")
        if not url or (form.get("RecordingStatus") or "completed") != "completed":
            return
        now = self.channels.clock()
        with self.channels.services.sessions.begin() as s:
            call = self._call(s, form)
            if call is None or call.recording_url:
                return
            call.recording_url, call.recording_seconds = url, _int(form.get("RecordingDuration"))
            if call.flag == "likely_prank" and (call.recording_seconds or 0) >= PRANK_MAX_SECONDS:
                call.flag = None
            s.add(Attachment(report_id=call.report_id, filename=f"{form.get('RecordingSid') or call.call_sid}.mp3",
                             content_type="audio/mpeg", source_url=url + ".mp3", created_at=now))

    def transcription(self, form: dict) -> None:
        form = checked(form)
        text = (form.get("TranscriptionText") or "").strip()
        if not text:
            return
        now = self.channels.clock()
        with self.channels.services.sessions.begin() as s:
            call = self._call(s, form)
            if call is None or call.transcription:
                return
            call.transcription = text
            s.add(Message(report_id=call.report_id, direction="in", channel=self.channel,
                          external_id=form.get("TranscriptionSid") or f"tr-{call.call_sid}",
                          author="transkripsi", body=text, at=now))

    # ------------------------------------------------------------ operators
    def resolve_flag(self, call_sid: str, operator_name: str) -> None:
        """An operator called back, or confirmed or dismissed a likely prank (rejecting the report is
        the workflow's job)."""
        with self.channels.services.sessions.begin() as s:
            call = s.scalar(select(Call).where(Call.call_sid == call_sid))
            if call is None:
                raise LookupError(call_sid)
            record(s, s.get(Report, call.report_id), SYSTEM, "call_flag_resolved",
                   after={"call_sid": call_sid, "flag": call.flag, "by": operator_name}, at=self.channels.clock())
            call.flag_resolved_by = operator_name[:64]

    def reprocess(self, raw: bytes, headers: dict) -> Outcome:
        form = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        if not form.get("CallSid"):
            return Outcome("dead_letter")
        try:
            self.incoming(form)
        except ValidationError:
            return Outcome("dead_letter")
        with self.channels.services.sessions() as s:
            ticket = s.scalar(select(Report.ticket).join(Call, Call.report_id == Report.id)
                              .where(Call.call_sid == form["CallSid"]))
        return Outcome("created", ticket)


def _raw(form: dict) -> bytes:
    from urllib.parse import urlencode
    return urlencode(form).encode()
