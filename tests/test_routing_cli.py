"""The JSON-lines contract (classify_stream) and the typer sub-app."""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from typer.testing import CliRunner

from routing.cli import routing_cli
from routing.engine import Router
from routing.stream import OUTPUT_KEYS, classify_stream

DATA = Path(__file__).resolve().parent.parent / "data"
LABELLED = Path(__file__).resolve().parent / "data" / "labelled_reports.jsonl"
ROUTER = Router.load(DATA)


def run(lines, dedupe=False):
    out = io.StringIO()
    errors = classify_stream(io.StringIO("\n".join(lines) + "\n"), out, dedupe=dedupe, router=ROUTER)
    return errors, [json.loads(line) for line in out.getvalue().splitlines()]


def test_one_output_line_per_input_with_contract_keys():
    lines = [json.dumps({"id": "a", "channel": "whatsapp", "text": "banjir sepinggang di periuk",
                         "received_at": "2025-03-03T08:00:00+07:00"}),
             json.dumps({"id": "b", "channel": "app", "text": "jalan rusak", "received_at": "2025-03-03T08:05:00Z",
                         "lat": -6.1903, "lon": 106.6105})]
    errors, out = run(lines, dedupe=True)
    assert errors == 0 and [o["id"] for o in out] == ["a", "b"]
    for o in out:
        assert set(OUTPUT_KEYS) | {"duplicate_of"} <= set(o)
    assert out[0]["category"] == "FLOOD" and out[1]["kelurahan"] == "Cimone"


def test_duplicate_of_names_earlier_line():
    base = {"channel": "whatsapp", "received_at": "2025-03-03T08:00:00+07:00"}
    lines = [json.dumps({**base, "id": "1", "text": "kebakaran di pasar anyar, api besar"}),
             json.dumps({**base, "id": "2", "text": "pasar anyar kebakaran asap hitam", "channel": "social"}),
             json.dumps({**base, "id": "3", "text": "banjir di periuk"})]
    _, out = run(lines, dedupe=True)
    assert [o["duplicate_of"] for o in out] == [None, "1", None]
    _, plain = run(lines)
    assert "duplicate_of" not in plain[0]


@pytest.mark.parametrize("line, problem", [
    ("{not json", "invalid JSON"),
    ("[1, 2]", "JSON object"),
    ('{"id": "x"}', "missing text"),
    ('{"id": "x", "text": 5}', "text must be a string"),
    ('{"id": "x", "text": "banjir", "lat": "abc", "lon": 106.6}', "lat must be a number"),
    ('{"id": "x", "text": "banjir", "lat": -6.2}', "together"),
    ('{"id": "x", "text": "banjir", "lat": 999, "lon": 106.6}', "out of range"),
    ('{"id": "x", "text": "banjir", "received_at": "yesterday"}', "ISO 8601"),
])
def test_malformed_lines_give_error_lines(line, problem):
    errors, out = run([line])
    assert errors == 1 and len(out) == 1 and problem in out[0]["error"]
    assert out[0]["id"] == ("x" if '"id"' in line else None)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12)
report_like = st.fixed_dictionaries({}, optional={
    "id": json_values, "channel": json_values, "text": st.text(max_size=200) | json_values,
    "received_at": st.text(max_size=30) | json_values, "lat": json_values | st.floats(-100, 100),
    "lon": json_values | st.floats(100, 110), "citizen": json_values})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.text(max_size=120).filter(lambda s: "\n" not in s and "\r" not in s and s.strip()),
                          report_like.map(json.dumps)), min_size=1, max_size=6), st.booleans())
def test_any_junk_gives_one_line_each_and_never_crashes(lines, dedupe):
    lines = [line for line in lines if line.strip() and not any(c in line for c in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")]
    errors, out = run(lines, dedupe=dedupe)
    assert len(out) == len(lines)
    for o in out:
        assert "error" in o or set(OUTPUT_KEYS) <= set(o)
        if "error" not in o:
            assert 0.0 <= o["confidence"] <= 1.0
    assert errors == sum("error" in o for o in out)


def test_typer_classify_and_evaluate(tmp_path):
    runner = CliRunner()
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "z", "text": "pju mati di cikokol", "received_at": "2025-03-03T20:00:00+07:00"})
                   + "\n{broken\n", encoding="utf-8")
    result = runner.invoke(routing_cli, ["classify", "--dedupe", "--in", str(src), "--data-dir", str(DATA)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert rows[0]["category"] == "STREETLIGHT" and rows[0]["duplicate_of"] is None and "error" in rows[1]
    result = runner.invoke(routing_cli, ["evaluate", str(LABELLED), "--data-dir", str(DATA)])
    assert result.exit_code == 0, result.output
    assert "category" in result.stdout and "confusion matrix: agency" in result.stdout


def test_labelled_set_meets_targets():
    from routing.evaluate import evaluate, load_labelled

    items = load_labelled(LABELLED)
    assert len(items) >= 300
    ev = evaluate(ROUTER, items)
    assert ev.accuracy("category") >= 0.90
    assert ev.accuracy("agency") >= 0.90
    assert ev.accuracy("kecamatan (place named)") >= 0.95
