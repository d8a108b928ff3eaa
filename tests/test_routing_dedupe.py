"""Duplicate detection: pairwise score with reasons, and the stream deduper."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from routing.dedupe import DedupeItem, StreamDeduper, duplicate_score

T0 = datetime(2025, 3, 3, 8, 0, tzinfo=timezone(timedelta(hours=7)))


def item(i, category="FIRE", minutes=0, text="kebakaran rumah di cimone asap tebal", **kw):
    kw.setdefault("kelurahan_code", "36.71.07.1005")
    kw.setdefault("kecamatan", "Karawaci")
    return DedupeItem(id=i, category=category, received_at=T0 + timedelta(minutes=minutes), text=text,
                      emergency=category in ("FIRE", "FLOOD"), **kw)


def test_same_incident_scores_high_with_reasons():
    score, reasons = duplicate_score(item("a"), item("b", minutes=10, text="rumah kebakaran di cimone"))
    assert score >= 0.65
    assert "same category FIRE" in reasons and "same kelurahan" in reasons


def test_different_category_is_zero():
    score, reasons = duplicate_score(item("a"), item("b", category="FLOOD"))
    assert score == 0 and reasons == ["different category"]


def test_outside_time_window_is_zero():
    score, reasons = duplicate_score(item("a"), item("b", minutes=7 * 60))
    assert score == 0 and "window" in reasons[-1]
    # non-emergencies have a longer window
    score, _ = duplicate_score(item("a", category="WASTE", text="sampah"), item("b", "WASTE", 7 * 60, "sampah"))
    assert score > 0


def test_different_kelurahan_is_zero_even_with_identical_text():
    score, reasons = duplicate_score(item("a"), item("b", kelurahan_code="36.71.07.1001"))
    assert score == 0 and "different kelurahan" in reasons


def test_coordinates_distance():
    near = duplicate_score(item("a", lat=-6.19, lon=106.61), item("b", minutes=5, lat=-6.1905, lon=106.6102))[0]
    far = duplicate_score(item("a", lat=-6.19, lon=106.61), item("b", minutes=5, lat=-6.23, lon=106.70,
                                                                  kelurahan_code="x"))[0]
    assert near >= 0.65 and far == 0


def test_same_citizen_adds_weight():
    a = item("a", category="STREETLIGHT", text="pju mati", kelurahan_code=None, kecamatan="Ciledug")
    b = item("b", category="STREETLIGHT", minutes=60, text="lampu masih mati", kelurahan_code=None,
             kecamatan="Ciledug")
    without = duplicate_score(a, b)[0]
    with_citizen = duplicate_score(DedupeItem(**{**a.__dict__, "citizen": "0812"}),
                                   DedupeItem(**{**b.__dict__, "citizen": "0812"}))
    assert with_citizen[0] > without and "same citizen" in with_citizen[1]


def test_no_common_place_needs_more_than_similar_words():
    a = item("a", category="ROAD", text="jalan rusak parah", kelurahan_code=None, kecamatan=None)
    b = item("b", category="ROAD", minutes=30, text="jalan rusak parah di depan", kelurahan_code=None, kecamatan="Periuk")
    assert duplicate_score(a, b)[0] < 0.65


def test_stream_deduper_points_to_first_report():
    d = StreamDeduper()
    assert d.add(item("r1")) is None
    assert d.add(item("r2", minutes=5, text="kebakaran di cimone")) == "r1"
    assert d.add(item("r3", minutes=9, text="asap tebal kebakaran cimone")) == "r1"
    assert d.add(item("r4", category="FLOOD", minutes=10, text="banjir")) is None
    assert d.add(item("r5", minutes=600)) is None  # a new fire, hours later
    assert d.add(DedupeItem(id="r6", category=None)) is None
