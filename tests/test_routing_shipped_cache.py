"""Cold start of the learned model (routing/shipped.py, registry.ActiveModel): init-db trains and caches
the shipped model, the server and the worker never wait for it, concurrent processes train it once, and a
cache of another code version or corpus is not used."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from domain.config import PROJECT_ROOT
from tests.model_support import small_corpus_lines, small_data  # noqa: F401

PY = sys.executable


@pytest.fixture
def fresh_data(small_data, tmp_path) -> Path:  # noqa: F811
    """The small data directory with a key of its own (no process memo or disk cache has its model)."""
    root = tmp_path / "data"
    shutil.copytree(small_data, root)
    with open(root / "routing" / "secondary.yaml", "a", encoding="utf-8") as fh:
        fh.write(f"# {tmp_path.name}\n")
    return root


def _env(tmp_path: Path, data: Path) -> dict[str, str]:
    env = dict(os.environ, ROUTING_CACHE_DIR=str(tmp_path / "cache"), DATA_DIR=str(data),
               DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite'}", SECRET_KEY="test-secret", OMP_NUM_THREADS="1")
    env.pop("ROUTING_AUTOMATION", None)
    return env


def test_init_db_trains_and_caches_the_shipped_model(fresh_data, tmp_path):
    env = _env(tmp_path, fresh_data)
    first = subprocess.run([PY, "app.py", "init-db"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                           timeout=300)
    assert first.returncode == 0, first.stderr
    lines = [line for line in first.stderr.splitlines() if line.startswith("routing model:")]
    assert len(lines) == 1 and "training the shipped model" in lines[0] and " done in " in lines[0]
    cached = list((tmp_path / "cache").glob("shipped-*.joblib"))
    assert len(cached) == 1
    again = subprocess.run([PY, "app.py", "init-db"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                           timeout=300)
    assert again.returncode == 0 and f"routing model: ready ({cached[0]})" in again.stderr


TRAIN_ONCE = """
import logging, sys
from pathlib import Path
logging.basicConfig(level=logging.INFO, format="%(message)s")
from routing.engine import Router
from routing.shipped import shipped_model
model = shipped_model(Router.load(Path(sys.argv[1])))
print("version", model.meta["version"])
"""


def test_concurrent_processes_train_the_shipped_model_once(fresh_data, tmp_path):
    env = _env(tmp_path, fresh_data)
    procs = [subprocess.Popen([PY, "-c", TRAIN_ONCE, str(fresh_data)], cwd=PROJECT_ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert all("version 0" in out for out, _ in outs)
    trained = sum("training the shipped routing model" in err for _, err in outs)
    assert trained == 1, [err for _, err in outs]
    assert len(list((tmp_path / "cache").glob("shipped-*.joblib"))) == 1


def test_the_server_routes_by_the_rules_while_the_model_warms(fresh_data, tmp_path, monkeypatch):
    from routing.engine import Router
    from routing.registry import attach

    monkeypatch.setenv("ROUTING_CACHE_DIR", str(tmp_path / "cache"))
    router = Router.load(fresh_data)
    source = attach(router, None)
    thread = source.warm()
    assert thread is not None
    text = "sampah numpuk di TPS belum diangkut sudah seminggu, bau banget"
    first = router.classify(text)  # not held up by the training: the rules alone, never auto-forwarded
    assert source.version is None and first.category == "WASTE" and first.automation == "triage"
    assert not any(line.startswith("model:") for line in first.explanation)
    thread.join(timeout=300)
    later = router.classify(text)
    assert any(line.startswith("model:") for line in later.explanation) and later.model_version == 0
    assert list((tmp_path / "cache").glob("shipped-*.joblib"))


def test_a_cache_of_another_code_version_or_corpus_is_not_used(fresh_data, tmp_path):
    from routing.engine import Router
    from routing.shipped import _CODE, cache_key

    router = Router.load(fresh_data)
    code = tmp_path / "code"
    code.mkdir()
    here = PROJECT_ROOT / "routing"
    for name in _CODE:
        shutil.copy(here / name, code / name)
    key = cache_key(router, code_dir=code)
    assert key == cache_key(router)
    for name in ("fitting.py", "engine.py", "features.py", "normalise.py"):  # training and featurising code
        original = (code / name).read_text(encoding="utf-8")
        (code / name).write_text(original + "\n# changed\n", encoding="utf-8")
        assert cache_key(router, code_dir=code) != key, name
        (code / name).write_text(original, encoding="utf-8")
    corpus = fresh_data / "routing" / "corpus" / "small.jsonl"
    corpus.write_text("\n".join(small_corpus_lines()[:-1]) + "\n", encoding="utf-8")
    assert cache_key(router) != key


def test_the_first_report_after_serve_is_not_held_up_by_training(fresh_data, tmp_path, monkeypatch):
    """serve and worker call app._warm_routing after init-db: the queue routes by the rules alone (never
    auto-forwarded) until the background training is done, then with the model."""
    from app import Services, _warm_routing
    from domain.config import Settings
    from tests.helpers import incoming

    monkeypatch.setenv("ROUTING_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("ROUTING_AUTOMATION", "on")
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'queue.db'}", data_dir=fresh_data,
                        attachments_dir=tmp_path / "att", secret_key="test")
    services = Services(settings)
    try:
        services.init_db()
        _warm_routing(services)
        source = services.queue.classifier.router.model_source
        assert source.background and source._warming is not None
        text = "sampah numpuk di TPS pasar udah seminggu blm diangkut, bau banget"
        first = services.queue.submit(incoming(text=text, category=None)).report
        assert first.category_code == "WASTE" and first.routing["model_version"] is None
        assert first.routing["automation"] == "triage" and first.status == "NEW"
        source._warming.join(timeout=300)
        later = services.queue.submit(incoming(text=text + " lagi", category=None)).report
        assert later.routing["model_version"] == 0
        assert any(line.startswith("model:") for line in later.routing["explanation"])
    finally:
        services.engine.dispose()
