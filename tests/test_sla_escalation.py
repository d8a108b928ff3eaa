"""The escalation ladder as data: loading, validation of bad files, timing and recipients (no database)."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import yaml
from hypothesis import given, settings, strategies as st

from domain.clock import UTC
from domain.config import DATA_DIR
from domain.escalation import Contact, EscalationLadder, describe_lateness
from domain.lifecycle import ValidationError
from domain.sla import Calendar, SlaBook, WorkdayCalendar

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def ladder() -> EscalationLadder:
    return EscalationLadder.load(DATA_DIR, resolve_ceiling_minutes=SlaBook.load(DATA_DIR).resolve_ceiling_minutes)


def raw_ladder() -> dict:
    return yaml.safe_load((DATA_DIR / "escalation.yaml").read_text(encoding="utf-8"))


def test_shipped_ladder(ladder):
    assert ladder.breach.notify == ("duty_officer", "control_room_supervisor")
    assert [(lv.name, lv.fraction, lv.notify, lv.ceiling_minutes) for lv in ladder.escalations] == [
        ("escalate_150", 1.5, ("agency_head",), None), ("escalate_200", 2.0, ("executive_panel",), 168 * 60)]
    assert ladder.control_room_agency == "UPT_PRK"
    agencies = {row.split(",")[0] for row in (DATA_DIR / "agencies.csv").read_text().splitlines()[1:]}
    assert agencies <= set(ladder.agency_contacts), "every agency needs sample contacts"


def test_times_are_shares_of_the_target_plus_extensions_and_pauses(ladder):
    times = ladder.escalation_times(Calendar(), T0, 60, extended_minutes=20, paused_seconds=600)
    assert [at for _, at in times] == [T0 + timedelta(minutes=130), T0 + timedelta(minutes=170)]


def test_ceiling_caps_the_top_level_and_pulls_lower_levels_along(ladder):
    due = T0 + timedelta(hours=120)
    times = ladder.escalation_times(Calendar(), T0, 120 * 60, due_at=due)
    # 150% = 180 h and 200% = 240 h, but the 168 h ceiling comes first
    assert [at for _, at in times] == [T0 + timedelta(hours=168)] * 2
    # a supervisor's extension moves the ceiling too
    times = ladder.escalation_times(Calendar(), T0, 120 * 60, extended_minutes=60 * 24, due_at=due)
    assert times[1][1] == T0 + timedelta(hours=192)


def test_times_follow_the_working_day_calendar(ladder):
    friday_noon_wib = datetime(2026, 11, 27, 5, 0, tzinfo=UTC)
    times = ladder.escalation_times(WorkdayCalendar(), friday_noon_wib, 24 * 60)
    # 36 working hours after Friday 12:00 WIB: Friday's 12 h, Monday's 24 h -> Tuesday 00:00 WIB
    assert times[0][1] == datetime(2026, 12, 1, 0, 0, tzinfo=UTC) - timedelta(hours=7)


def test_recipients_are_deduplicated_and_missing_contacts_reported(ladder):
    agency = ladder.contact_for("PUPR", Contact(phone="+6281300000000"))
    recipients, missing = ladder.recipients(ladder.breach, agency)
    assert [(r.role, r.channel, r.address) for r in recipients] == [
        ("duty_officer", "whatsapp", "+6281300000000"),
        ("duty_officer", "email", "piket.pupr@tangerangkota.example"),
        ("control_room_supervisor", "whatsapp", "+6281100000001"),
        ("control_room_supervisor", "email", "supervisor.ruangkendali@tangerangkota.example"),
    ]
    assert missing == []
    recipients, missing = ladder.recipients(ladder.escalations[0], ladder.contact_for("POLRES"))
    assert recipients == [] and missing == ["agency_head"]
    assert ladder.responsible_agency("acknowledge", "PUPR") == "UPT_PRK"
    assert ladder.responsible_agency("resolve", "PUPR") == "PUPR"


def test_messages_render_in_bahasa_indonesia(ladder):
    values = dict(ticket="TLR-2026-000001", stage="penyelesaian", level="breach", agency="DLH",
                  agency_name="Dinas Lingkungan Hidup", category="Sampah", priority="P2", location="Cipondoh",
                  due="23-11-2026 08:00", fell_due="23-11-2026 08:00", late=describe_lateness(timedelta(minutes=135)))
    message = ladder.render("breach", values)
    assert "TLR-2026-000001" in message.subject
    assert "terlambat 2 jam 15 menit" in message.body
    assert describe_lateness(timedelta(days=2, hours=3, minutes=5)) == "2 hari 3 jam"
    assert ladder.render("unknown_level", values).body.startswith("Laporan TLR-2026-000001")


@pytest.mark.parametrize("change, field", [
    (lambda r: r["escalations"][0].update(at="abc"), "escalations[0].at"),
    (lambda r: r["escalations"][0].update(at="90%"), "escalations[0].at"),
    (lambda r: r["escalations"][1].update(at="120%"), "escalations[1].at"),
    (lambda r: r["escalations"][0].update(level="breach"), "escalations[0].level"),
    (lambda r: r["escalations"][0].update(level="a_name_far_too_long"), "escalations[0].level"),
    (lambda r: r["escalations"][1].update(level="escalate_150"), "escalations[1].level"),
    (lambda r: r["escalations"][1].update(or_after="a week"), "escalations[1].or_after"),
    (lambda r: r["breach"].update(notify=["the_mayor"]), "breach.notify"),
    (lambda r: r["breach"].update(notify="duty_officer"), "breach.notify"),
    (lambda r: r["messages"]["breach"].update(body="{ticket} {citizen_phone}"), "messages.breach"),
    (lambda r: r["messages"]["breach"].update(body="{ticket"), "messages.breach"),
    (lambda r: r.update(escalations={"level": "x"}), "escalations"),
    (lambda r: r["contacts"]["agencies"].update(DLH="+62811"), "contacts.agencies.DLH"),
])
def test_a_broken_file_is_refused_with_the_field_named(change, field):
    raw = raw_ladder()
    change(raw)
    with pytest.raises(ValidationError) as info:
        EscalationLadder.from_dict(raw)
    assert info.value.field == field


def test_unreadable_file_is_a_validation_error(tmp_path):
    (tmp_path / "escalation.yaml").write_text("breach: [unclosed", encoding="utf-8")
    with pytest.raises(ValidationError, match="escalation.yaml"):
        EscalationLadder.load(tmp_path)
    with pytest.raises(ValidationError, match="escalation.yaml"):
        EscalationLadder.load(tmp_path / "missing")


yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(section=st.sampled_from(["warning", "breach", "escalations", "contacts", "messages", "stage_labels",
                                "control_room_agency"]), value=yaml_values)
def test_any_garbage_in_a_section_is_either_accepted_or_a_validation_error(section, value):
    raw = raw_ladder()
    raw[section] = value
    try:
        ladder = EscalationLadder.from_dict(raw)
    except ValidationError:
        return
    ladder.escalation_times(Calendar(), T0, 60)
