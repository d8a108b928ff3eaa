"""The shipped model: trained from the shipped corpus (data/routing/corpus/, minus the frozen holdout)
when no trained version is active in the database (cold start).

Training takes seconds, so it is done once and cached: in the process, and on disk outside git
(ROUTING_CACHE_DIR, default ~/.cache/tlr-routing) under a key made of the corpus, the rules, the model
code and the scikit-learn version; any change to one of them trains again.
"""
from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
from pathlib import Path

from .corpus import load_corpus
from .fitting import train
from .model import Params, RoutingModel

log = logging.getLogger(__name__)
_MEMO: dict[str, RoutingModel] = {}
_LOCK = threading.Lock()
_CODE = ("model.py", "fitting.py", "features.py", "normalise.py", "corpus.py", "shipped.py")


def cache_dir() -> Path:
    return Path(os.environ.get("ROUTING_CACHE_DIR") or Path.home() / ".cache" / "tlr-routing")


def cache_key(router, params: Params | None = None) -> str:
    import sklearn

    data_dir = Path(router.rules.data_dir)
    sha = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for name in _CODE:
        sha.update((here / name).read_bytes())
    for path in sorted((data_dir / "routing").glob("*.yaml")) + [data_dir / "categories.csv", data_dir / "areas.csv"]:
        if path.exists():
            sha.update(path.name.encode() + path.read_bytes())
    from .corpus import corpus_files

    for path in corpus_files(data_dir):
        sha.update(path.name.encode() + path.read_bytes())
    sha.update(repr(params or Params()).encode() + sklearn.__version__.encode())
    return sha.hexdigest()[:20]


def train_shipped(router, params: Params | None = None, progress=None):
    """-> (model, report): trained on the shipped corpus without its frozen holdout."""
    corpus = load_corpus(router.rules.data_dir, router.rules.categories)
    examples = corpus.train
    inputs = router.featurise([e.text for e in examples], [e.channel for e in examples])
    model, report = train(examples, inputs, router.dense_names, params,
                          meta={"version": 0, "source": "shipped", "corpus": corpus.digest, "files": corpus.files,
                                "holdout_rows": len(corpus.holdout)}, progress=progress)
    return model, report


def shipped_model(router, params: Params | None = None) -> RoutingModel | None:
    """The cached shipped model for this router's rules (None when the corpus is missing)."""
    key = cache_key(router, params)
    model = _MEMO.get(key)
    if model is not None:
        return model
    with _LOCK:
        model = _MEMO.get(key)
        if model is not None:
            return model
        path = cache_dir() / f"shipped-{key}.joblib"
        if path.exists():
            try:
                model = RoutingModel.from_bytes(path.read_bytes())
            except Exception:  # noqa: BLE001 - a broken cache file is trained again
                log.warning("routing model cache %s unreadable; training again", path)
                model = None
        if model is None:
            try:
                model, _ = train_shipped(router, params)
            except ValueError as exc:
                log.warning("no shipped routing model: %s", exc)
                return None
            _write(path, model.to_bytes())
        _MEMO[key] = model
        return model


def _write(path: Path, blob: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".shipped-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
        os.replace(tmp, path)
    except OSError as exc:  # a read-only home: the process memo still holds it
        log.warning("cannot write the routing model cache %s: %s", path, exc)
