"""Text understanding: normalisation, negation, kind, priority, agency rules, rules validation."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from routing.engine import Router
from routing.normalise import raw_tokens
from routing.rules import load_rules
from routing.yamlsrc import RulesError

DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.fixture(scope="module")
def router() -> Router:
    return Router.load(DATA)


def test_repeated_letters_slang_and_caps_are_normalised(router):
    a = router.normaliser.analyse("BANNJIIIRRR gk surut2, udh sepinggang")
    assert a.tokens[:4] == ("banjir", "tidak", "surut", ",")
    assert "sudah" in a.tokens


def test_abbreviation_dot_is_not_a_clause_boundary():
    assert raw_tokens("kel. benda") == ["kel", "benda"]
    assert raw_tokens("rusak. benda") == ["rusak", ",", "benda"]


def test_typo_is_repaired_with_rapidfuzz(router):
    result = router.classify("sampha menumpk di depan rumah sudah seminggu")
    assert result.category == "WASTE"
    assert any("sampha" in line for line in result.explanation)


@pytest.mark.parametrize("text, category, agency", [
    ("kebakaran rumah di cimone, apinya besar", "FIRE", "DAMKAR"),
    ("tabrakan motor di jl daan mogot, pengendara luka", "ACCIDENT", "POLRES"),
    ("lampu pju di depan gang mati", "STREETLIGHT", "PERKIM"),
    ("air pdam tidak mengalir sejak pagi", "WATER", "TIRTA_BENTENG"),
    ("ada ODGJ mengamuk di pasar", "SOCIAL", "DINSOS"),
    ("The road is full of potholes", "ROAD", "PUPR"),
])
def test_category_and_default_agency(router, text, category, agency):
    result = router.classify(text)
    assert (result.category, result.agency) == (category, agency)


def test_accident_has_dinkes_in_support(router):
    result = router.classify("kecelakaan mobil vs motor di perempatan, korban berdarah")
    assert result.agency == "POLRES" and "DINKES" in result.support_agencies


@pytest.mark.parametrize("text", ["assalamualaikum min", "makasih ya pak", "asdfghjkl qwerty",
                                  "PROMO pinjaman online cair 5 menit, klik link", "p", ""])
def test_non_actionable(router, text):
    result = router.classify(text)
    assert result.actionable is False and result.category is None and result.agency is None


def test_negated_fire_is_not_fire(router):
    result = router.classify("bukan kebakaran pak, itu asap orang bakar sampah di lahan kosong")
    assert result.category == "POLLUTION"
    assert any("negated" in line for line in result.explanation)


def test_no_fire_negation_keeps_other_evidence(router):
    result = router.classify("gak ada api kok, listrik padam satu gang dari semalam")
    assert result.category == "ELECTRICITY"


def test_resolved_emergency_is_a_complaint_not_p1(router):
    result = router.classify("pohon tumbang minggu lalu sudah tidak bahaya, tapi batangnya belum diangkut")
    assert result.category == "DISASTER" and result.kind == "COMPLAINT" and result.priority == "P3"


def test_information_request_goes_to_control_room_at_p4(router):
    result = router.classify("bagaimana cara mengurus akta kelahiran yang hilang?")
    assert (result.kind, result.category, result.agency, result.priority) == \
        ("INFORMATION_REQUEST", "CIVIL_REGISTRY", "UPT_PRK", "P4")
    assert "DISDUKCAPIL" in result.support_agencies


def test_question_about_a_broken_thing_stays_a_complaint(router):
    assert router.classify("air pdam mati dari kemarin, kapan normal?").kind == "COMPLAINT"


def test_aspiration(router):
    result = router.classify("saran saya taman kota ditambah lampu dan tempat duduk")
    assert result.kind == "ASPIRATION" and result.priority == "P4"


def test_hazard_upgrades_non_emergency_category_to_p1(router):
    result = router.classify("kabel listrik putus jatuh ke jalan, masih ada percikan api, orang lewat")
    assert result.category == "ELECTRICITY" and result.priority == "P1" and result.kind == "EMERGENCY"


def test_low_confidence_goes_to_triage_with_suggestions(router):
    # Issue 9: the output keeps the best guess (never OTHER/UPT_PRK in its place); "needs a person" is the
    # automation field. With no category evidence at all the best guess is OTHER with the control room.
    result = router.classify("mau lapor soal pak rt yang tidak transparan soal iuran warga")
    assert result.automation == "triage" and (result.category, result.agency) == ("OTHER", "UPT_PRK")
    assert result.confidence < router.cls["confidence_threshold"]
    weak = router.classify("tolong dicek ya pak, lampu di gang kadang nyala kadang enggak")
    assert weak.category == "STREETLIGHT" and weak.agency == "PERKIM" and weak.automation == "triage"
    assert weak.suggestions and weak.suggestions[0][0] == "STREETLIGHT"


def test_keyword_and_time_overrides(router):
    day = router.classify("warga berisik karaoke di gang", received_at="2025-03-03T14:00:00+07:00")
    night = router.classify("warga berisik karaoke di gang", received_at="2025-03-03T23:30:00+07:00")
    racing = router.classify("balap liar tiap sore di jalan depan sekolah", received_at="2025-03-03T16:00:00+07:00")
    assert (day.category, day.agency) == ("PUBLIC_ORDER", "SATPOLPP")
    assert night.agency == "POLRES" and "SATPOLPP" in night.support_agencies
    assert racing.agency == "POLRES"


def test_explanation_names_deciding_words(router):
    result = router.classify("tolong ada ular kobra masuk rumah")
    assert any("ular" in line for line in result.explanation)
    assert 0.0 <= result.confidence <= 1.0


# ------------------------------------------------------------------ rules validation
@pytest.fixture()
def rules_copy(tmp_path) -> Path:
    shutil.copytree(DATA, tmp_path / "data")
    return tmp_path / "data"


def _break(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if needle in line)


def test_shipped_rules_load():
    rules = load_rules(DATA)
    assert set(rules.category_terms) <= set(rules.categories)


def test_unknown_category_names_file_and_line(rules_copy):
    path = rules_copy / "routing" / "categories.yaml"
    _break(path, "RESCUE:", "RESCUEE:")
    with pytest.raises(RulesError) as err:
        load_rules(rules_copy)
    assert err.value.source.endswith("categories.yaml") and err.value.line == _line_of(path, "RESCUEE:")
    assert "RESCUEE" in str(err.value)


def test_bad_weight_names_file_and_line(rules_copy):
    path = rules_copy / "routing" / "categories.yaml"
    _break(path, "    ular: 4", "    ular: lots")
    with pytest.raises(RulesError) as err:
        load_rules(rules_copy)
    assert err.value.line == _line_of(path, "ular: lots") and "categories.yaml" in str(err.value)


def test_unknown_agency_in_override_names_line(rules_copy):
    path = rules_copy / "routing" / "agencies.yaml"
    _break(path, "    agency: POLRES\n    support: [SATPOLPP]", "    agency: POLISI\n    support: [SATPOLPP]")
    with pytest.raises(RulesError) as err:
        load_rules(rules_copy)
    assert err.value.line == _line_of(path, "agency: POLISI") and "POLISI" in str(err.value)


def test_yaml_syntax_error_and_duplicate_key_name_line(rules_copy):
    path = rules_copy / "routing" / "slang.yaml"
    _break(path, "udh: sudah", "udh: sudah\nudh: sudah")
    with pytest.raises(RulesError) as err:
        load_rules(rules_copy)
    assert "duplicate key" in str(err.value) and err.value.line == _line_of(path, "udh: sudah") + 1
    path.write_text("gk: [tidak\n", encoding="utf-8")
    with pytest.raises(RulesError) as err:
        load_rules(rules_copy)
    assert err.value.source.endswith("slang.yaml") and err.value.line is not None


def test_threshold_out_of_range(rules_copy):
    path = rules_copy / "routing" / "thresholds.yaml"
    _break(path, "confidence_threshold: 0.35", "confidence_threshold: 3.5")
    with pytest.raises(RulesError) as err:
        load_rules(rules_copy)
    assert err.value.line == _line_of(path, "confidence_threshold")


def test_missing_rules_file(rules_copy):
    (rules_copy / "routing" / "cues.yaml").unlink()
    with pytest.raises(RulesError, match="cues.yaml: file not found"):
        load_rules(rules_copy)


def test_threshold_is_data(rules_copy):
    path = rules_copy / "routing" / "thresholds.yaml"
    _break(path, "confidence_threshold: 0.35", "confidence_threshold: 0.99")
    result = Router.load(rules_copy).classify("lampu pju mati di gang")
    assert result.agency == "PERKIM" and result.automation == "triage"
    assert any("below 0.99" in line for line in result.explanation)


def test_dedupe_settings_are_checked(rules_copy):
    path = rules_copy / "routing" / "thresholds.yaml"
    _break(path, "rare_share: 0.01", "rare_share: 5")
    with pytest.raises(RulesError) as err:
        load_rules(rules_copy)
    assert err.value.line == _line_of(path, "rare_share: 5")


def test_dedupe_weights_are_data(rules_copy):
    """The same scorer for `classify --dedupe` and the queue reads its threshold from thresholds.yaml."""
    import json

    from routing.stream import classify_lines

    lines = [json.dumps({"id": i, "text": t, "received_at": f"2025-09-23T13:0{m}:00+07:00"})
             for i, t, m in (("a", "kebakaran rumah di kedung cowek api besar, tolong damkar", 0),
                             ("b", "min ada kebakaran di kedung cowek, asap hitam tebal", 5))]
    shipped = [o.get("duplicate_of") for o in classify_lines(Router.load(DATA), lines, dedupe=True)]
    path = rules_copy / "routing" / "thresholds.yaml"
    _break(path, "threshold: 0.65\n  merge_at", "threshold: 0.99\n  merge_at")
    strict = [o.get("duplicate_of") for o in classify_lines(Router.load(rules_copy), lines, dedupe=True)]
    assert shipped == [None, "a"] and strict == [None, None]
