"""The 112 line through Twilio Voice, and call logs imported from CSV."""
from __future__ import annotations

from sqlalchemy import select

from domain.models import Attachment, Call, DeadLetter, Message, OutboxMessage, Report
from ingest.call_log import import_call_log
from tests.adapters.helpers import TWILIO_SID, channel_config, ingest_app, twilio_post


def call_form(sid: str, caller: str = "+6281311112222", **extra) -> dict:
    form = {"CallSid": sid, "AccountSid": TWILIO_SID, "From": caller, "To": "112", "CallStatus": "ringing",
            "Direction": "inbound", "ApiVersion": "2010-04-01"}
    form.update(extra)
    return form


def test_incoming_call_creates_emergency_report_and_connects_with_recording(services, clock):
    server, _ = ingest_app(services, channel_config(call112_forward_to="sip:calltakers@pbx.tangerangkota.go.id"))
    client = server.test_client()
    response = twilio_post(client, "/webhooks/twilio/voice", call_form("CA1"))
    assert response.status_code == 200 and response.mimetype == "text/xml"
    xml = response.data.decode()
    assert "<Sip>sip:calltakers@pbx.tangerangkota.go.id</Sip>" in xml
    assert 'record="record-from-answer-dual"' in xml
    assert 'action="https://laksa.example.go.id/webhooks/twilio/voice/dial"' in xml
    twilio_post(client, "/webhooks/twilio/voice", call_form("CA1"))  # redelivered
    with services.sessions() as s:
        report = s.scalar(select(Report))
        call = s.scalar(select(Call))
        assert report.kind == "EMERGENCY" and report.channel == "call112" and "sedang berlangsung" in report.text
        assert (call.state, call.from_number, call.started_at) == ("in_progress", "+6281311112222", clock())
        assert s.scalar(select(OutboxMessage)) is None  # no SMS receipt to someone on the line
    clock.advance(seconds=95)
    twilio_post(client, "/webhooks/twilio/voice/dial", call_form("CA1", DialCallStatus="completed",
                                                                  DialCallDuration="80"))
    twilio_post(client, "/webhooks/twilio/voice/recording", call_form(
        "CA1", RecordingUrl="https://api.twilio.com/2010-04-01/Accounts/AC/Recordings/RE1", RecordingSid="RE1",
        RecordingDuration="80", RecordingStatus="completed"))
    twilio_post(client, "/webhooks/twilio/voice/transcription", call_form(
        "CA1", TranscriptionText="rumah terbakar di Jl. Moh. Toha", TranscriptionSid="TR1"))
    twilio_post(client, "/webhooks/twilio/voice/status", call_form("CA1", CallStatus="completed", CallDuration="95"))
    with services.sessions() as s:
        call = s.scalar(select(Call))
        assert (call.state, call.duration_seconds, call.flag, call.outcome) == ("answered", 95, None, "completed")
        assert s.scalar(select(Attachment.source_url)).endswith("/Recordings/RE1.mp3")
        assert s.scalar(select(Message.body).where(Message.author == "transkripsi")) == "rumah terbakar di Jl. Moh. Toha"


def test_unanswered_calls_are_flagged_for_call_back_and_repeats_join_one_report(services, clock):
    client = ingest_app(services, channel_config())[0].test_client()
    twilio_post(client, "/webhooks/twilio/voice", call_form("CA2"))
    answer = twilio_post(client, "/webhooks/twilio/voice/dial", call_form("CA2", DialCallStatus="no-answer"))
    assert "<Say" in answer.data.decode()
    twilio_post(client, "/webhooks/twilio/voice/status", call_form("CA2", CallStatus="completed", CallDuration="30"))
    clock.advance(minutes=4)
    twilio_post(client, "/webhooks/twilio/voice", call_form("CA3"))  # calls again within 10 minutes
    clock.advance(minutes=11)
    twilio_post(client, "/webhooks/twilio/voice", call_form("CA4"))  # 11 minutes after the last call
    with services.sessions() as s:
        calls = {c.call_sid: c for c in s.scalars(select(Call))}
        assert calls["CA2"].flag == "callback" and calls["CA2"].state == "unanswered"
        assert calls["CA3"].report_id == calls["CA2"].report_id
        assert calls["CA4"].report_id != calls["CA2"].report_id
        assert s.scalar(select(Report).where(Report.id == calls["CA2"].report_id)).external_id == "CA2"


def test_very_short_silent_call_is_flagged_as_likely_prank(services):
    client = ingest_app(services, channel_config())[0].test_client()
    twilio_post(client, "/webhooks/twilio/voice", call_form("CA5", caller="+6281399998888"))
    twilio_post(client, "/webhooks/twilio/voice/status", call_form("CA5", CallStatus="completed", CallDuration="2"))
    with services.sessions() as s:
        assert s.scalar(select(Call.flag)) == "likely_prank"


def test_voice_webhooks_are_signed(services):
    client = ingest_app(services, channel_config())[0].test_client()
    assert client.post("/webhooks/twilio/voice", data=call_form("CA6")).status_code == 403
    assert twilio_post(client, "/webhooks/twilio/voice", call_form("CA6"), tamper={"From": "+6281"}).status_code == 403
    with services.sessions() as s:
        assert s.scalar(select(Report)) is None


CSV = """call_id,started_at,caller_number,duration_seconds,outcome,category,summary,location_text,lat,lon,call_taker
P-1,2026-11-23T07:10:00+07:00,081288887777,120,answered,FIRE,Kebakaran gudang,Jl. Gatot Subroto,-6.19,106.61,ani
P-2,2026-11-23T07:12:00+07:00,+6281288886666,0,unanswered,,,,,,
P-3,kemarin,0812,5,answered,,x,,,,
P-4,2026-11-23T07:20:00+07:00,,3,teleport,,,,,,
"""


def test_csv_call_log_import_is_idempotent_and_dead_letters_bad_rows(services):
    _, channels = ingest_app(services, channel_config())
    first = import_call_log(channels, CSV.encode())
    assert (first.created, first.duplicates, first.dead_letters) == (2, 0, 2)
    again = import_call_log(channels, CSV.encode())
    assert (again.created, again.duplicates) == (0, 2)
    with services.sessions() as s:
        fire = s.scalar(select(Report).where(Report.external_id == "log:P-1"))
        assert (fire.category_code, fire.kind, fire.lat) == ("FIRE", "EMERGENCY", -6.19)
        assert s.scalar(select(Call.flag).where(Call.call_sid == "log:P-2")) == "callback"
        reasons = sorted(d.reason for d in s.scalars(select(DeadLetter)))
        assert "line 4" in reasons[0] and "line 5" in reasons[1] and "teleport" in reasons[1]
    assert import_call_log(channels, b"id,when\n1,2\n").dead_letters == 1


def test_an_oversized_call_sid_or_duration_is_a_400_and_writes_nothing(services):
    """Signed voice webhooks with a 5,002-character CallSid or a CallDuration of 400 nines: a 400 naming
    the field (they were 500s, which Twilio retries), and no row."""
    from sqlalchemy import func

    client = ingest_app(services, channel_config())[0].test_client()
    assert twilio_post(client, "/webhooks/twilio/voice", call_form("CA77")).status_code == 200

    def rows():
        with services.sessions() as s:
            return tuple(s.scalar(select(func.count()).select_from(m)) for m in (Report, Call, Message, DeadLetter))

    before = rows()
    answer = twilio_post(client, "/webhooks/twilio/voice", call_form("CA" + "f" * 5000))
    assert answer.status_code == 400 and "CallSid" in answer.get_data(as_text=True)
    for duration in ("9" * 400, "-5", "12.5", "99999999"):
        answer = twilio_post(client, "/webhooks/twilio/voice/status",
                             call_form("CA77", CallStatus="completed", CallDuration=duration))
        assert answer.status_code == 400 and "CallDuration" in answer.get_data(as_text=True), duration
    answer = twilio_post(client, "/webhooks/twilio/voice/recording",
                         call_form("CA77", RecordingUrl="https://api.twilio.com/r/RE1", RecordingDuration="9" * 30))
    assert answer.status_code == 400
    assert rows() == before
    with services.sessions() as s:
        assert s.scalar(select(Call.duration_seconds)) is None
    ok = twilio_post(client, "/webhooks/twilio/voice/status", call_form("CA77", CallStatus="completed",
                                                                         CallDuration="42"))
    assert ok.status_code == 204
    with services.sessions() as s:
        assert s.scalar(select(Call.duration_seconds)) == 42
