"""pandas where it is the natural tool: tabular imports (the 112 call log as CSV in the encodings and
separators export tools write, or as Excel sheets), the supervisor's CSV/XLSX export, and the pivots of
already-aggregated figures (heatmap, weekly trend). Bad files are dead letters, never a crash."""
from __future__ import annotations

import csv
import io

import pandas as pd
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st
from openpyxl import Workbook, load_workbook
from sqlalchemy import select

from dashboard import exports
from dashboard.components import charts
from domain.lifecycle import ValidationError
from domain.models import Call, DeadLetter, Report
from ingest.call_log import import_call_log
from ingest.tables import read_tables
from tests.adapters.helpers import channel_config, ingest_app

HEADER = ["call_id", "started_at", "caller_number", "duration_seconds", "outcome", "category", "summary",
          "location_text", "lat", "lon", "call_taker"]
ROWS = [["W-1", "2026-11-23T07:10:00+07:00", "081288887777", "120", "answered", "FIRE",
         "Kebakaran gudang dekat jembatan – warga panik", "Jl. Kisamaun, Sukasari", "-6.18", "106.63", "Désy"],
        ["W-2", "2026-11-23T07:12:00+07:00", "+6281288886666", "0", "unanswered", "", "", "", "", "", ""]]


def _csv(rows, separator=",", encoding="utf-8") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=separator)
    writer.writerow(HEADER)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def _imported(services, data, sheet=None):
    _, channels = ingest_app(services, channel_config())
    result = import_call_log(channels, data, sheet)
    with services.sessions() as s:
        reports = {r.external_id: r for r in s.scalars(select(Report))}
        dead = [d.reason for d in s.scalars(select(DeadLetter).order_by(DeadLetter.id))]
    return result, reports, dead


def test_windows_csv_with_semicolons_keeps_its_letters_and_leading_zeros(services):
    result, reports, dead = _imported(services, _csv(ROWS, ";", "cp1252"))
    assert (result.created, result.dead_letters) == (2, 0), dead
    fire = reports["log:W-1"]
    assert fire.text == "Kebakaran gudang dekat jembatan – warga panik" and fire.raw_payload["provider"]["call_taker"] == "Désy"
    assert fire.raw_payload["provider"]["caller_number"] == "081288887777" and fire.lat == -6.18
    with services.sessions() as s:
        assert s.scalar(select(Call.duration_seconds).where(Call.call_sid == "log:W-1")) == 120


def test_utf8_with_a_byte_order_mark_and_latin1_are_read(services):
    assert [t.columns[0] for t in read_tables(_csv(ROWS, ",", "utf-8-sig"))] == ["call_id"]
    latin = _csv([["L-1", "2026-11-23T08:00:00+07:00", "", "5", "answered", "", "Pohon tumbang \x81", "", "", "", ""]],
                 "\t", "latin-1")
    result, reports, _ = _imported(services, latin)
    assert result.created == 1 and reports["log:L-1"].text == "Pohon tumbang \x81"


def _workbook(sheets: dict[str, list[list]]) -> bytes:
    book = Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_excel_sheets_with_the_columns_are_imported_and_bad_rows_named_by_sheet_and_row(services):
    numeric = ["X-1", "2026-11-23T07:40:00+07:00", "081311112222", 45.0, "answered", "MEDICAL", "Warga pingsan",
               "Pasar Anyar", -6.17, 106.62, "budi"]
    broken = ["X-2", "kemarin sore", "", 3, "answered", "", "", "", "", "", ""]
    data = _workbook({"Catatan": [["dibuat oleh", "sistem 112"]], "Maret": [HEADER, numeric, [None] * 11, broken]})
    result, reports, dead = _imported(services, data)
    assert (result.created, result.dead_letters) == (1, 1)
    assert reports["log:X-1"].raw_payload["provider"]["caller_number"] == "081311112222"
    assert reports["log:X-1"].lat == -6.17 and dead == [dead[0]] and "sheet 'Maret' row 4" in dead[0]
    with services.sessions() as s:
        assert s.scalar(select(Call.duration_seconds).where(Call.call_sid == "log:X-1")) == 45
    # one named sheet; a sheet that is not there is a dead letter that says so
    assert _imported(services, data, "Maret")[0].duplicates == 1
    result, _, dead = _imported(services, data, "April")
    assert result.dead_letters == 1 and "April" in dead[-1]


def test_unreadable_files_are_dead_letters_with_a_reason(services):
    result, _, dead = _imported(services, b"\xd0\xcf\x11\xe0" + b"\0" * 100)
    assert result.dead_letters == 1 and ".xls" in dead[-1]
    result, _, dead = _imported(services, b"PK\x03\x04 not really a workbook")
    assert result.dead_letters == 1 and "workbook" in dead[-1]
    too_long = b"call_id,started_at\nT-1,2026-11-23T07:00:00+07:00,extra\nT-2,2026-11-23T07:05:00+07:00\n"
    result, reports, dead = _imported(services, too_long)
    assert (result.created, result.dead_letters) == (1, 1) and "3 cells under 2 columns" in dead[-1]
    assert "log:T-2" in reports and "log:T-1" not in reports
    result, _, dead = _imported(services, "nomor;waktu\n1;2\n".encode())
    assert result.dead_letters == 1 and "call_id" in dead[-1] and "nomor" in dead[-1]


@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300) | st.text(max_size=200).map(lambda t: t.encode("utf-8")))
def test_any_bytes_give_tables_or_a_clear_error(data):
    try:
        tables = read_tables(data)
    except ValidationError as exc:
        assert str(exc).startswith("file:")
        return
    for table in tables:
        assert all(isinstance(v, str) for _, row in table.rows for v in row.values())


# ---------------------------------------------------------------- exports and pivots
COLUMNS = ["ticket", "sla", "late_minutes", "kecamatan"]
EXPORT_ROWS = [{"ticket": "TLR-2026-000001", "sla": "red", "late_minutes": 75, "kecamatan": "Karang Tengah",
                "hidden": "x"}, {"ticket": "TLR-2026-000002", "sla": "amber", "late_minutes": -5, "kecamatan": "-"}]


def test_exports_hold_the_columns_in_order_and_nothing_else():
    back = pd.read_csv(io.StringIO(exports.to_csv(EXPORT_ROWS, COLUMNS)))
    assert list(back.columns) == COLUMNS and back["late_minutes"].tolist() == [75, -5]
    sheet = load_workbook(io.BytesIO(exports.to_xlsx(EXPORT_ROWS, COLUMNS)), read_only=True)["SLA"]
    values = list(sheet.iter_rows(values_only=True))
    assert values[0] == tuple(COLUMNS) and values[1] == ("TLR-2026-000001", "red", 75, "Karang Tengah")
    assert exports.to_csv([], COLUMNS).strip() == ",".join(COLUMNS)


def test_heatmap_and_weekly_pivots_of_aggregated_rows():
    matrix = charts.heat_matrix({(1, 8): 5, (7, 23): 2, (1, 9): 1})
    assert matrix.shape == (7, 24) and int(matrix.loc[1, 8]) == 5 and int(matrix.values.sum()) == 8
    assert charts.heat_matrix({}).values.sum() == 0
    figure = charts.heatmap({(3, 12): 4}, "x")
    trace = figure["data"][0]
    assert trace["zmin"] == 0 and trace["colorscale"][0][1] == charts.SEQUENTIAL[0][1] == "#f4f6f8"
    assert sum(map(sum, trace["z"])) == 4
    weekly = charts.weekly([("2026-11-23", 5, 1), ("2026-11-29", 2, 2), ("2026-11-30", 7, 3)], "w")
    assert weekly["data"][0]["x"] == ["2026-11-23", "2026-11-30"] and weekly["data"][0]["y"] == [7, 7]
    assert weekly["data"][1]["y"] == [3, 3] and charts.weekly([], "w")["data"][0]["x"] == []


def test_long_labels_are_wrapped_not_cut():
    label = "Bencana (pohon tumbang / angin kencang / longsor / bangunan roboh)"
    figure = charts.bars([(label, 3), ("Lalu lintas dan parkir", 9)], "t", horizontal=True)
    shown = figure["data"][0]["y"]
    assert shown[0].replace("<br>", " ") == label and "<br>" in shown[0] and shown[1] == "Lalu lintas dan parkir"
    assert figure["layout"]["yaxis"]["automargin"] is True
    assert charts.wrap("a <b> & c") == "a &lt;b&gt; &amp; c"
