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
