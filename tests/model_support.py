"""Fixtures for the routing model's tests: a copy of data/ whose shipped corpus is small (every other
report of tests/data/labelled_reports.jsonl), so training takes a second or two, and that model."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from domain.config import DATA_DIR, PROJECT_ROOT

LABELLED = PROJECT_ROOT / "tests" / "data" / "labelled_reports.jsonl"


def small_corpus_lines() -> list[str]:
    lines = [line for line in LABELLED.read_text(encoding="utf-8").splitlines() if line.strip()]
    return lines[::2]


@pytest.fixture(scope="session")
def small_data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("small-data") / "data"
    shutil.copytree(DATA_DIR, root, ignore=shutil.ignore_patterns("*.db", "*.db-*", "attachments", "corpus"))
    corpus = root / "routing" / "corpus"
    corpus.mkdir(parents=True)
    (corpus / "small.jsonl").write_text("\n".join(small_corpus_lines()) + "\n", encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def small_router(small_data):
    from routing.engine import Router

    return Router.load(small_data)


@pytest.fixture(scope="session")
def small_model(small_router):
    from routing.shipped import shipped_model

    model = shipped_model(small_router)
    assert model is not None
    return model


@pytest.fixture(scope="session")
def two_problem_data(tmp_path_factory) -> Path:
    """A copy of data/ whose corpus is the small one plus two of the shipped voices, which carry
    secondary_categories labels (what the "also names this problem" classifier learns from)."""
    root = tmp_path_factory.mktemp("two-problem-data") / "data"
    shutil.copytree(DATA_DIR, root, ignore=shutil.ignore_patterns("*.db", "*.db-*", "attachments", "corpus"))
    corpus = root / "routing" / "corpus"
    corpus.mkdir(parents=True)
    (corpus / "small.jsonl").write_text("\n".join(small_corpus_lines()) + "\n", encoding="utf-8")
    for name in ("w2_whatsapp.jsonl", "w6_kinds.jsonl"):
        shutil.copy(DATA_DIR / "routing" / "corpus" / name, corpus / name)
    return root


@pytest.fixture(scope="session")
def two_problem_router(two_problem_data):
    from routing.engine import Router

    return Router.load(two_problem_data)


@pytest.fixture(scope="session")
def two_problem_model(two_problem_router):
    from routing.shipped import shipped_model

    model = shipped_model(two_problem_router)
    assert model is not None and model.secondary is not None
    return model
