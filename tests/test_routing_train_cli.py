"""`routing train` (a city's labelled history), model versions, activation without restart, rollback, and
promotion of a candidate trained from corrections only when it is not worse (issue 9, items 2 and 3)."""
from __future__ import annotations

import json
from datetime import datetime

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from domain.actors import Actor
from domain.clock import UTC
from domain.lifecycle import Role
from domain.models import Event, RoutingModelVersion
from routing.cli import routing_cli
from tests.model_support import LABELLED, small_data, small_model, small_router  # noqa: F401

ADMIN = Actor("admin-1", Role.ADMIN)


def city_rows() -> list[dict]:
    """The reports the small shipped corpus does not hold, as a city's export: text and our category."""
    rows = []
    for line in LABELLED.read_text(encoding="utf-8").splitlines()[1::2]:
        item = json.loads(line)
        if item["expected"].get("category"):
            rows.append({"text": item["text"], "category": item["expected"]["category"]})
    return rows


@pytest.fixture
def cli_env(monkeypatch, database_url, small_data, tmp_path):
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("DATA_DIR", str(small_data))
    monkeypatch.setenv("ATTACHMENTS_DIR", str(tmp_path / "attachments"))
    return database_url


@pytest.fixture
def sessions(cli_env):
    from domain.db import make_engine, session_factory

    engine = make_engine(cli_env)
    yield session_factory(engine)
    engine.dispose()


def run(*args):
    result = CliRunner().invoke(routing_cli, [str(a) for a in args])
    return result


def versions(sessions) -> list[RoutingModelVersion]:
    with sessions() as s:
        return list(s.scalars(select(RoutingModelVersion).order_by(RoutingModelVersion.id)))


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def test_train_stores_an_active_version_with_its_scores(cli_env, sessions, tmp_path):
    file = write_jsonl(tmp_path / "city.jsonl", city_rows())
    result = run("train", file, "--by", "siti")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "rows per category" in out and "ROAD" in out
    assert "held out (this file" in out and "macro-F1" in out and "stored model version 1 (active)" in out
    [row] = versions(sessions)
    assert row.is_active and row.status == "active" and row.trained_by == "siti" and row.source == "train"
    assert row.summary["per_group"]["city:city"] == len(city_rows()) and row.summary["file"] == "city.jsonl"
    assert 0 < row.scores["heldout_new_rows"]["category_accuracy"] <= 1 and row.thresholds["*"] > 0
    with sessions() as s:
        event = s.scalar(select(Event).where(Event.type == "routing_model_promoted"))
    assert event.actor == "siti" and event.after["version"] == 1
    # classify (no server) now uses that version
    src = write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "text": "sampah numpuk di TPS belum diangkut"}])
    result = run("classify", "--in", src)
    assert result.exit_code == 0, result.output
    line = json.loads(result.stdout.splitlines()[0])
    assert line["model_version"] == 1 and line["category"] == "WASTE" and line["automation"] in ("auto_forward", "triage")
    assert len(line["suggestions"]) == 3


def test_map_translates_city_topics_and_reports_what_it_cannot(cli_env, sessions, tmp_path):
    topics = {"ROAD": "Jalan Rusak", "WASTE": "Persampahan", "FLOOD": "Banjir / Genangan"}
    rows = [r for r in city_rows() if r["category"] in topics]
    csv_lines = ["isi,kategori"] + [f'"{r["text"]}",{topics[r["category"]]}' for r in rows]
    csv_lines += ['"pohon di taman kota mati kering",Lain-lain', '"mohon info layanan",Lain-lain',
                  '"kolam renang umum tutup",Olahraga']
    file = tmp_path / "city.csv"
    file.write_text("\n".join(csv_lines) + "\n", encoding="utf-8")
    mapping = tmp_path / "map.csv"
    mapping.write_text("topic,category\nJalan Rusak,ROAD\npersampahan,WASTE\nBanjir / Genangan,FLOOD\n",
                       encoding="utf-8")
    result = run("train", file, "--map", mapping)
    assert result.exit_code == 0, result.output
    assert "not learned: 3 row(s) whose topic --map does not place" in result.stdout
    assert "2  Lain-lain" in result.stdout and "1  Olahraga" in result.stdout
    [row] = versions(sessions)
    assert row.summary["unmapped"] == {"Lain-lain": 2, "Olahraga": 1}
    assert row.summary["per_group"]["city:city"] == len(rows)


def _bad_files(tmp_path):
    good = city_rows()[:20]
    one = [dict(r, category="ROAD") for r in good]
    (tmp_path / "garbage.xlsx").write_bytes(b"PK\x03\x04 this is no spreadsheet")
    (tmp_path / "latin1.csv").write_bytes("text,category\n\"jalan rusak di depan kantor kelurahan, tolong\xe9\",ROAD\n"
                                          .encode("latin-1"))
    return {
        "unknown code": (write_jsonl(tmp_path / "unknown.jsonl", good + [{"text": "x y z", "category": "ROADS"}]),
                         "unknown category code(s): 'ROADS'"),
        "empty text": (write_jsonl(tmp_path / "empty.jsonl", good + [{"text": "  ", "category": "ROAD"}]),
                       "empty text"),
        "no text column": (write_jsonl(tmp_path / "notext.jsonl", [{"body_x": r["text"], "category": r["category"]}
                                                                   for r in good]), "no text column"),
        "one category": (write_jsonl(tmp_path / "one.jsonl", one), "only one category"),
        "unreadable": (tmp_path / "garbage.xlsx", "cannot read"),
        "encoding": (tmp_path / "latin1.csv", "not UTF-8"),
        "missing": (tmp_path / "nope.jsonl", "no such file"),
    }


@pytest.mark.parametrize("case", ["unknown code", "empty text", "no text column", "one category", "unreadable",
                                  "encoding", "missing"])
def test_bad_input_is_one_clear_line_and_nothing_is_stored(cli_env, sessions, tmp_path, case):
    file, message = _bad_files(tmp_path)[case]
    result = run("train", file)
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr
    assert "Traceback" not in result.output
    from domain.db import migrate
    from domain.db import make_engine

    migrate(make_engine(cli_env))
    assert versions(sessions) == []


def test_a_running_classifier_follows_activation_and_rollback(cli_env, sessions, small_data, small_model):
    from domain.db import make_engine, migrate
    from routing.engine import Router
    from routing.registry import attach, rollback, store_version

    migrate(make_engine(cli_env))
    router = Router.load(small_data)
    source = attach(router, sessions, check_seconds=0.0, shipped=lambda: small_model)
    assert router.classify("lampu pju mati di gang").model_version == 0 and source.version is None
    with sessions.begin() as s:
        v1 = store_version(s, small_model, trained_by="a", source="train", summary={}, scores={}, actor=ADMIN).id
    assert router.classify("lampu pju mati di gang").model_version == v1  # no restart
    with sessions.begin() as s:
        v2 = store_version(s, small_model, trained_by="b", source="train", summary={}, scores={}, actor=ADMIN).id
    assert router.classify("lampu pju mati di gang").model_version == v2
    with sessions.begin() as s:
        rollback(s, v1, ADMIN, "v2 sends too much to triage")
    assert router.classify("lampu pju mati di gang").model_version == v1
    with sessions() as s:
        events = [(e.type, e.before, e.after["version"], e.actor) for e in
                  s.scalars(select(Event).where(Event.type.like("routing_model_%")).order_by(Event.id))]
    assert events == [("routing_model_promoted", {"version": None}, v1, "admin-1"),
                      ("routing_model_promoted", {"version": v1}, v2, "admin-1"),
                      ("routing_model_rolled_back", {"version": v2}, v1, "admin-1")]
    # the CLI: list, roll back to the shipped model, bad version
    assert "* v1" in run("versions").stdout
    assert run("rollback", "shipped", "--by", "root").exit_code == 0
    assert router.classify("lampu pju mati di gang").model_version == 0
    bad = run("rollback", "99")
    assert bad.exit_code == 2 and "no routing model version 99" in bad.stderr


def _submit_and_correct(small_data, database_url, clock, pairs):
    """Reports whose category an operator corrected: (text, corrected category) pairs."""
    from app import Services
    from domain.config import Settings
    from routing.corrections import correct
    from tests.helpers import OPERATOR, incoming

    services = Services(Settings(database_url=database_url, data_dir=small_data), clock=clock)
    services.init_db()
    for text, category in pairs:
        report = services.queue.submit(incoming(text=text, category=None)).report
        with services.sessions.begin() as s:
            from domain.models import Report

            correct(s, s.get(Report, report.id), "category", category, OPERATOR, now=clock())
    return services


def test_candidate_from_corrections_is_promoted_only_when_not_worse(cli_env, database_url, small_data, small_model,
                                                                      monkeypatch):
    from domain.clock import FrozenClock
    from domain.models import Report, RoutingCorrection
    from routing.corrections import correct
    from routing.learning import retrain_from_corrections
    from tests.helpers import OPERATOR

    clock = FrozenClock(datetime(2026, 11, 23, 1, 0, tzinfo=UTC))
    rows = city_rows()
    # Operators "correcting" everything to FIRE: a candidate that learns this is worse on the frozen holdout.
    services = _submit_and_correct(small_data, database_url, clock, [(r["text"], "FIRE") for r in rows[:60]])
    router = services.queue.classifier.router
    router.use_model(lambda: small_model)
    monkeypatch.setenv("ROUTING_RETRAIN_MIN_CORRECTIONS", "1000")
    assert retrain_from_corrections(services, router)["action"] == "waiting"
    monkeypatch.setenv("ROUTING_RETRAIN_MIN_CORRECTIONS", "50")
    outcome = retrain_from_corrections(services, router)
    assert outcome["action"] == "rejected", outcome
    with services.sessions() as s:
        [row] = s.scalars(select(RoutingModelVersion)).all()
        count = s.scalar(select(func.max(RoutingCorrection.id)))
        assert not row.is_active and row.status == "rejected" and row.corrections_upto == count
        assert s.scalar(select(Event.type).where(Event.type == "routing_model_rejected"))
    # The operators put it right (the latest correction of a report wins): now the candidate is not worse.
    with services.sessions.begin() as s:
        for r, report in zip(rows[:60], s.scalars(select(Report).order_by(Report.id)).all()):
            correct(s, report, "category", r["category"], OPERATOR, now=clock())
    outcome = retrain_from_corrections(services, router)
    assert outcome["action"] == "promoted", outcome
    with services.sessions() as s:
        active = s.scalar(select(RoutingModelVersion).where(RoutingModelVersion.is_active.is_(True)))
        assert active.id == outcome["version"] and active.source == "corrections" and active.trained_by == "system"
        promoted = s.scalar(select(Event).where(Event.type == "routing_model_promoted"))
        assert promoted.actor == "system" and "frozen holdout" in promoted.reason
    services.engine.dispose()


def test_not_worse_rule():
    from routing.training import not_worse

    base = {"category_accuracy": 0.9, "category_macro_f1": 0.85}
    assert not_worse(dict(base), base) and not_worse({"category_accuracy": 0.92, "category_macro_f1": 0.86}, base)
    assert not not_worse({"category_accuracy": 0.89, "category_macro_f1": 0.9}, base)
    assert not not_worse({"category_accuracy": 0.95, "category_macro_f1": 0.80}, base)
    assert not_worse(base, {}) and not not_worse({}, base)
    # the tolerance forgives noise in macro-F1, never a lower accuracy
    assert not_worse({"category_accuracy": 0.9, "category_macro_f1": 0.83}, base, 0.03)
    assert not not_worse({"category_accuracy": 0.9, "category_macro_f1": 0.81}, base, 0.03)
    assert not not_worse({"category_accuracy": 0.899, "category_macro_f1": 0.9}, base, 0.03)


def test_ops_page_lists_versions_and_only_an_admin_rolls_back(cli_env, sessions, small_model):
    from domain.db import make_engine, migrate
    from domain.lifecycle import TransitionError, ValidationError
    from routing.registry import rollback_to, store_version, versions_overview

    migrate(make_engine(cli_env))
    with sessions.begin() as s:
        for who in ("a", "b"):
            store_version(s, small_model, trained_by=who, source="train", summary={"rows": 170},
                          scores={"frozen_holdout": {"category_accuracy": 0.9, "category_macro_f1": 0.8, "ece": 0.04}},
                          actor=ADMIN)
    rows = versions_overview(sessions)
    assert [(r["version"], r["status"], r["accuracy"]) for r in rows] == [(2, "active *", 0.9), (1, "retired", 0.9)]
    with pytest.raises(TransitionError, match="only an admin"):
        rollback_to(sessions, "1", Actor("ops-1", Role.OPERATOR), None)
    with pytest.raises(ValidationError, match="not a version number"):
        rollback_to(sessions, "v1", ADMIN, None)
    assert rollback_to(sessions, "1", ADMIN, "v2 forwards too eagerly") == "1"
    assert [r["status"] for r in versions_overview(sessions)] == ["retired", "active *"]
    assert rollback_to(sessions, "", ADMIN, None) == "shipped"
    assert all("*" not in r["status"] for r in versions_overview(sessions))
