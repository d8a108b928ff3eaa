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


# ---------------------------------------------------------------- reworded reports across channels (issue 9)
def other_city(i, minutes, text, channel_kind="EMERGENCY", category="FIRE"):
    """A report from a city the gazetteer does not know: no kelurahan, no kecamatan, only the words."""
    return DedupeItem(id=i, category=category, received_at=T0 + timedelta(minutes=minutes), text=text,
                      emergency=category == "FIRE", kind=channel_kind)


def test_reworded_reports_of_one_fire_in_an_unknown_city_are_found():
    call = other_city("112", 0, "penelepon melaporkan kebakaran rumah semi permanen di kawasan kedung cowek "
                                "kecamatan bulak api masih membesar dan merambat ke rumah sebelah")
    tweet = other_city("x", 8, "min tolong itu di kedung cowek ada kebakaran asap hitam banget kelihatan "
                               "dari jembatan cepat kirim damkar")
    score, reasons = duplicate_score(call, tweet)
    assert score >= 0.6, reasons
    assert any("rare word" in r for r in reasons)
    d = StreamDeduper()
    assert d.add(call) is None and d.add(tweet) == "112"


def test_two_fires_at_two_places_of_an_unknown_city_are_not_one_incident():
    a = other_city("a", 0, "kebakaran rumah di kedung cowek api masih membesar tolong kirim damkar")
    b = other_city("b", 20, "ada kebakaran gudang di tambak lorok asapnya tebal sekali warga panik")
    assert duplicate_score(a, b)[0] < 0.6


def test_different_streets_in_one_kecamatan_are_different_potholes():
    a = item("a", category="ROAD", text="jalan berlubang besar di jalan imam bonjol depan sekolah",
             kelurahan_code=None, kecamatan="Karawaci", street="imam bonjol")
    b = item("b", category="ROAD", minutes=90, text="jalan berlubang besar di jalan veteran depan masjid",
             kelurahan_code=None, kecamatan="Karawaci", street="veteran")
    assert duplicate_score(a, b)[0] < 0.6


def test_an_aspiration_or_a_question_is_never_a_duplicate():
    complaint = DedupeItem(id="a", category="ROAD", received_at=T0, text="jalan di cikokol berlubang parah",
                           kecamatan="Tangerang", kind="COMPLAINT")
    question = DedupeItem(id="b", category="ROAD", received_at=T0 + timedelta(hours=1),
                          text="kapan perbaikan jalan di cikokol selesai", kecamatan="Tangerang",
                          kind="INFORMATION_REQUEST")
    score, reasons = duplicate_score(complaint, question)
    assert score == 0 and "information request is no incident" in reasons


def test_the_batch_scorer_gives_the_pairwise_score():
    from routing.dedupe import DuplicateScorer, shipped_similarity

    scorer = DuplicateScorer(None, shipped_similarity())
    news = [item("n1", minutes=5, text="rumah kebakaran di cimone"), item("n2", minutes=7, text="asap tebal di cimone")]
    olds = [item("o1"), item("o2", category="FLOOD", text="banjir di cimone")]
    found = scorer.score_many(news, olds, at_least=0.0)
    for i, new in enumerate(news):
        for j, value, _ in found[i]:
            assert value == scorer.score(new, olds[j])[0]
    assert [j for j, _, _ in found[0]] == [0]  # the flood is another category
