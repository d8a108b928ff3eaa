"""Location from coordinates (polygons, nearest reference point) and from text."""
from __future__ import annotations

from pathlib import Path

import pytest
from shapely.geometry import Polygon

from routing.engine import Router
from routing.location import Gazetteer, match_geojson_features, polygons_from_geojson
from routing.rules import load_rules

DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.fixture(scope="module")
def router() -> Router:
    return Router.load(DATA)


@pytest.fixture(scope="module")
def areas():
    return load_rules(DATA).areas


def where(router, text, lat=None, lon=None):
    r = router.classify(text, lat=lat, lon=lon)
    return r.kecamatan, r.kelurahan, r.outside_city


@pytest.mark.parametrize("text, kec, kel", [
    ("jalan rusak di Karangtengah", "Karang Tengah", None),
    ("sampah numpuk di karang tengah", "Karang Tengah", None),
    ("lampu mati di batu ceper", "Batuceper", None),
    ("got mampet di penang", "Pinang", None),
    ("air mati di kel. sukaasih", "Tangerang", "Suka Asih"),
    ("banjir di neroktog", "Pinang", "Nerogtog"),
    ("jalan rusak di RT 05 RW 03 Larangan Utara", "Larangan", "Larangan Utara"),
    ("sampah di Kel. Karawaci, Kec. Karawaci", "Karawaci", "Karawaci"),
    ("sampah di karawaci", "Karawaci", None),
    ("kebakaran di pasar anyar", "Tangerang", "Sukasari"),
    ("pohon tumbang di cipondoh indah", "Cipondoh", "Cipondoh Indah"),
])
def test_names_aliases_and_spacing(router, text, kec, kel):
    assert where(router, text)[:2] == (kec, kel)


@pytest.mark.parametrize("text, kec, kel", [
    ("jalan rusak parah di jatiuwung", "Jatiuwung", None),
    ("sampah di Kecamatan Jatiuwung", "Jatiuwung", None),
    ("sampah di Kel. Jatiuwung Kec. Cibodas", "Cibodas", "Jatiuwung"),
    ("lampu mati di kelurahan jatiuwung", "Cibodas", "Jatiuwung"),
    ("air pdam mati di jatiuwung cibodas", "Cibodas", "Jatiuwung"),
    ("jalan berlubang di gandasari jatiuwung", "Jatiuwung", "Gandasari"),
])
def test_jatiuwung_kecamatan_versus_kelurahan(router, text, kec, kel):
    assert where(router, text)[:2] == (kec, kel)


def test_kota_tangerang_is_the_city_not_the_kecamatan(router):
    assert where(router, "jalan berlubang di Jl. Veteran, Kota Tangerang") == (None, None, False)
    assert where(router, "sampah di Kelurahan Sukarasa, Kecamatan Tangerang, Kota Tangerang")[:2] == \
        ("Tangerang", "Sukarasa")


@pytest.mark.parametrize("text", [
    "jalan rusak di pamulang, tangsel",
    "banjir di kab. tangerang daerah pasar kemis",
    "Sampah di Jl. Raya Serpong, Tangerang Selatan",
    "jalan rusak di ciledug raya arah kebayoran lama, jakarta selatan",
    "macet di BSD",
])
def test_outside_city_is_flagged_not_forced(router, text):
    assert where(router, text) == (None, None, True)


def test_ambiguous_common_words_need_a_marker(router):
    assert where(router, "ada benda mencurigakan di pinggir jalan")[0] is None
    assert where(router, "pohon tersambar petir")[0] is None
    assert where(router, "jalan rusak di petir")[:2] == ("Cipondoh", "Petir")
    assert where(router, "debu proyek di kel. benda")[:2] == ("Benda", "Benda")
    assert where(router, "kebakaran kios di pasar baru karawaci")[:2] == ("Karawaci", "Pasar Baru")


def test_postal_code_is_a_hint_only(router):
    assert where(router, "sampah numpuk dekat 15111")[:2] == ("Tangerang", None)  # Sukarasa or Suka Asih
    assert where(router, "jalan berlubang, kode pos 15121")[:2] == (None, None)  # Batuceper or Neglasari
    assert where(router, "jalan berlubang di Cipete 15121")[:2] == ("Pinang", "Cipete")


def test_rt_rw_and_street_are_extracted(router):
    r = router.classify("Jalan berlubang di Jl. Imam Bonjol RT 04/RW 02 Karawaci")
    assert (r.rt, r.rw, r.street) == ("004", "002", "imam bonjol")


def test_nearest_reference_point_without_boundaries(areas):
    plain = Gazetteer(areas).locate_point(-6.1903, 106.6105)  # no boundaries at all: the approximation
    assert (plain.kecamatan, plain.kelurahan, plain.source) == ("Karawaci", "Cimone", "nearest_point")


def test_far_outside_box_is_outside(router):
    assert where(router, "jalan rusak", -6.3012, 106.6650) == (None, None, True)
    assert where(router, "jalan rusak", -6.2, 106.82) == (None, None, True)


def test_text_kelurahan_wins_over_coordinates(router):
    assert where(router, "sampah di kel. periuk", -6.1903, 106.6105)[:2] == ("Periuk", "Periuk")


def test_text_kecamatan_refined_by_coordinates(router):
    r = router.classify("banjir di periuk", -6.1589, 106.5968)
    assert (r.kecamatan, r.kelurahan, r.location_source) == ("Periuk", "Periuk", "text+polygon")


def test_polygons_take_precedence_over_nearest_point(areas):
    # A square around a point that is nearest to Cimone's reference point, but assigned to Bugel.
    bugel = next(a.code for a in areas if a.kelurahan == "Bugel")
    square = Polygon([(106.609, -6.191), (106.612, -6.191), (106.612, -6.189), (106.609, -6.189)])
    plain = Gazetteer(areas).locate_point(-6.1903, 106.6105)
    withpoly = Gazetteer(areas, polygons={bugel: square}).locate_point(-6.1903, 106.6105)
    assert plain.kelurahan == "Cimone" and plain.source == "nearest_point"
    assert withpoly.kelurahan == "Bugel" and withpoly.source == "polygon"
    outside_poly = Gazetteer(areas, polygons={bugel: square}).locate_point(-6.2471, 106.7131)
    assert outside_poly.kelurahan == "Paninggilan" and outside_poly.source == "nearest_point"


def test_match_geojson_features(areas):
    geom = {"type": "Polygon", "coordinates": [[[106.6, -6.2], [106.61, -6.2], [106.61, -6.19], [106.6, -6.2]]]}
    features = [
        {"properties": {"KDEPUM": "36.71.09.1006", "WADMKD": "Jatiuwung"}, "geometry": geom},
        {"properties": {"kode": "3671011001"}, "geometry": geom},
        {"properties": {"WADMKD": "Jatiuwung", "WADMKC": "Cibodas"}, "geometry": geom},
        {"properties": {"nama": "Karangtengah", "kecamatan": "Karang Tengah"}, "geometry": geom},
        {"properties": {"WADMKD": "Pondok Aren", "WADMKC": "Pondok Aren"}, "geometry": geom},
        {"properties": {}, "geometry": geom},
        {"geometry": geom},
    ]
    result = match_geojson_features(features, areas)
    assert result.matched == {0: "36.71.09.1006", 1: "36.71.01.1001", 2: "36.71.09.1006", 3: "36.71.12.1001"}
    assert [i for i, _ in result.unmatched] == [4, 5, 6]
    assert "Pondok Aren" in result.unmatched[0][1]
    polygons, _ = polygons_from_geojson(features[:2], areas)
    assert set(polygons) == {"36.71.09.1006", "36.71.01.1001"}


def test_names_are_output_exactly_as_in_areas_csv(router, areas):
    kecs = {a.kecamatan for a in areas}
    kels = {a.kelurahan for a in areas}
    for text in ("sampah di karangtengah", "banjir di KARANG MULYA", "jalan rusak di sumur pacing"):
        r = router.classify(text)
        assert r.kecamatan in kecs and (r.kelurahan is None or r.kelurahan in kels)


@pytest.mark.parametrize("text", [
    "Bus Si Benteng rute Poris Plawad - Cipondoh sering telat",       # stops of a bus route
    "angkot trayek Cimone-Poris ngetem sembarangan",
    "perjalanan dari Karawaci ke Ciledug macet total",
    "macet di Jl. Perintis Kemerdekaan arah Babakan",                   # a direction
    "pelakunya kabur ke arah Sukarasa",
    "lampu jalan mati di Jl. Raya Pinang",                              # a street named after a kecamatan
    "banjir di Jl. Ciledug Raya depan Pasar Cipulir",                   # ... that runs on into Jakarta
    "ada aturan larangan parkir tapi tetap parkir liar",                # ordinary words
    "periuk nasi warga kosong, bantuan sembako belum datang",
    "pohon pinang tumbang menimpa pagar",
    "macet parah di depan Lippo Karawaci",                              # straddles the border
    "Pemerintah Kota Tangerang belum menanggapi",                       # the city
    "antrean ojol panjang di depan Stasiun Tangerang",                  # ... and what is named after it
    "taman di Puspemkot kurang pohon",
    "air mati di rumah warga Benda dan Neglasari",                      # two kecamatan named equally
])
def test_no_kecamatan_the_text_does_not_support(router, text):
    assert where(router, text)[:2] == (None, None)


@pytest.mark.parametrize("text", [
    "saluran tersumbat di depan pertokoan Sukasari, Bogor Timur",       # a same-named place elsewhere
    "PJU padam di Cipete Raya Jakarta Selatan",
    "dalan nang Rungkut rusak parah rek, Surabaya",
    "macet parah depan Supermal Karawaci, lampu lalu lintas mati",      # a mall in Kab. Tangerang
    "Jl. Raya Ciledug arah Pasar Kebayoran Lama macet parah",           # nothing in the city but the way
])
def test_a_place_of_another_city_is_outside(router, text):
    assert where(router, text) == (None, None, True)


@pytest.mark.parametrize("text, kec, kel", [
    ("SDN Poris Plawad 2 kebanjiran", "Cipondoh", None),               # a facility: its kecamatan only
    ("antre lama di Puskesmas Cipondoh", "Cipondoh", None),
    ("banjir setinggi dada di perumahan Periuk Damai", "Periuk", None),  # an estate, not a pot
    ("jalan berlubang di Jl. Raya Kunciran", "Pinang", "Kunciran"),     # a street named after a kelurahan
    ("banjir di Larangan", "Larangan", None),                           # after a marker, the place
    ("sampah di kel. periuk", "Periuk", "Periuk"),
    ("jalan rusak di Daan Mogot Batuceper arah Jakarta", "Batuceper", None),
    ("lampu merah simpang Cikokol mati", "Tangerang", "Cikokol"),       # a junction is where it is named
    ("visiting Pasar Lama from Jakarta, the toilets are dirty", "Tangerang", "Sukasari"),
])
def test_places_the_text_does_support(router, text, kec, kel):
    assert where(router, text) == (kec, kel, False)


def test_malang_and_medan_are_words_unless_a_place(router):
    assert where(router, "nasib malang pengendara motor jatuh di lubang jalan") == (None, None, False)
    assert where(router, "jalan rusak di Malang") == (None, None, True)
