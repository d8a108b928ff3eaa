"""The shipped model: trained from the shipped corpus (data/routing/corpus/, minus the frozen holdout)
when no trained version is active in the database (cold start).

Training takes seconds, so it is done once and cached: in the process, and on disk outside git
(ROUTING_CACHE_DIR, default ~/.cache/tlr-routing) under a key made of the corpus, the rules, the code that
featurises and trains (routing/*.py in _CODE) and the versions of scikit-learn, NumPy and SciPy; any change
to one of them trains again. `init-db` trains it (`ensure_cached`, one progress line); the server and the
worker load it in the background (registry.ActiveModel.warm) and route by the rules alone until it is
there. A lock file next to the cache makes concurrent processes train it once: the others wait for it
and read the file.
"""
from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from .corpus import load_corpus
from .fitting import train
from .model import Params, RoutingModel

log = logging.getLogger(__name__)
_MEMO: dict[str, RoutingModel] = {}
_LOCK = threading.Lock()
# Everything the stored model depends on: how text becomes features (normalise, rules, places, engine's
# signals), how it is trained and stored.
_CODE = ("model.py", "fitting.py", "features.py", "normalise.py", "corpus.py", "shipped.py", "engine.py",
         "rules.py", "location.py", "yamlsrc.py")
STALE_DAYS = 30  # cache files of other keys unused this long are removed after a training
LOCK_TIMEOUT = 600.0  # seconds a process waits for another one training the same model


def cache_dir() -> Path:
    return Path(os.environ.get("ROUTING_CACHE_DIR") or Path.home() / ".cache" / "tlr-routing")


def cache_key(router, params: Params | None = None, code_dir: Path | None = None) -> str:
    import numpy
    import scipy
    import sklearn

    data_dir = Path(router.rules.data_dir)
    sha = hashlib.sha256()
    here = Path(code_dir) if code_dir is not None else Path(__file__).resolve().parent
    for name in _CODE:
        sha.update(name.encode() + (here / name).read_bytes())
    for path in sorted((data_dir / "routing").glob("*.yaml")) + [data_dir / "categories.csv", data_dir / "areas.csv"]:
        if path.exists():
            sha.update(path.name.encode() + path.read_bytes())
    from .corpus import corpus_files

    for path in corpus_files(data_dir):
        sha.update(path.name.encode() + path.read_bytes())
    sha.update(repr(params or Params()).encode())
    sha.update(f"sklearn {sklearn.__version__} numpy {numpy.__version__} scipy {scipy.__version__}".encode())
    return sha.hexdigest()[:20]


def cache_path(key: str) -> Path:
    return cache_dir() / f"shipped-{key}.joblib"


def train_shipped(router, params: Params | None = None, progress=None):
    """-> (model, report): trained on the shipped corpus without its frozen holdout."""
    corpus = load_corpus(router.rules.data_dir, router.rules.categories)
    examples = corpus.train
    inputs = router.featurise([e.text for e in examples], [e.channel for e in examples])
    model, report = train(examples, inputs, router.dense_names, params,
                          meta={"version": 0, "source": "shipped", "corpus": corpus.digest, "files": corpus.files,
                                "holdout_rows": len(corpus.holdout)}, progress=progress)
    return model, report


def cached_model(router, params: Params | None = None, key: str | None = None) -> RoutingModel | None:
    """The shipped model when it is in this process or in the disk cache; None (never trains) otherwise."""
    key = key or cache_key(router, params)
    model = _MEMO.get(key)
    if model is None:
        model = _read(cache_path(key))
        if model is not None:
            _MEMO[key] = model
    return model


def shipped_model(router, params: Params | None = None, progress: Callable[[str], None] | None = None,
                  key: str | None = None) -> RoutingModel | None:
    """The cached shipped model for this router's rules, trained first when no cache has it (None when the
    corpus is missing). Across processes a lock file makes one of them train; the others wait and read it."""
    key = key or cache_key(router, params)
    model = _MEMO.get(key)
    if model is not None:
        return model
    with _LOCK:
        model = cached_model(router, params, key)
        if model is not None:
            return model
        path = cache_path(key)
        with _file_lock(path):
            model = _read(path)  # another process may have trained it while we waited
            if model is None:
                log.info("training the shipped routing model (cache %s)", path)
                try:
                    model, _ = train_shipped(router, params, progress=progress)
                except ValueError as exc:
                    log.warning("no shipped routing model: %s", exc)
                    return None
                _write(path, model.to_bytes())
                _prune(path)
        _MEMO[key] = model
        return model


def ensure_cached(router, say: Callable[[str], None]) -> RoutingModel | None:
    """For `init-db`: have the shipped model in the disk cache, saying what happened on one line."""
    key = cache_key(router)
    path = cache_path(key)
    if _MEMO.get(key) is not None or path.exists():
        model = shipped_model(router, key=key)
        say(f"routing model: ready ({path})\n")
        return model
    say("routing model: training the shipped model on the corpus (once, about 10-30 s) ...")
    started = time.perf_counter()
    model = shipped_model(router, key=key)
    if model is None:
        say(" no corpus: routing by the rules alone\n")
    else:
        say(f" done in {time.perf_counter() - started:.1f} s ({path})\n")
    return model


def _read(path: Path) -> RoutingModel | None:
    if not path.exists():
        return None
    try:
        model = RoutingModel.from_bytes(path.read_bytes())
        try:
            os.utime(path)  # in use: not stale (_prune)
        except OSError:
            pass
        return model
    except Exception:  # noqa: BLE001 - a broken cache file is trained again
        log.warning("routing model cache %s unreadable; training again", path)
        return None


class _file_lock:
    """An OS file lock next to the cache file (filelock: released when the process dies); without a writable
    cache directory, no lock (the process memo still holds the model)."""

    def __init__(self, path: Path):
        self.lock = None
        try:
            from filelock import FileLock

            path.parent.mkdir(parents=True, exist_ok=True)
            self.lock = FileLock(str(path.with_suffix(".lock")), timeout=LOCK_TIMEOUT)
        except (ImportError, OSError):
            self.lock = None

    def __enter__(self):
        if self.lock is not None:
            try:
                self.lock.acquire()
            except Exception as exc:  # noqa: BLE001 - a timeout or an unwritable directory: train anyway
                log.warning("routing model cache lock %s: %s", self.lock.lock_file, exc)
                self.lock = None
        return self

    def __exit__(self, *exc):
        if self.lock is not None:
            self.lock.release()
        return False


def _prune(keep: Path) -> None:
    """Remove cache files of other keys (another code version or corpus) not used for STALE_DAYS."""
    cutoff = time.time() - STALE_DAYS * 86400
    for old in keep.parent.glob("shipped-*"):
        if old.stem == keep.stem:
            continue
        try:
            if old.stat().st_mtime < cutoff:
                old.unlink()
        except OSError:
            pass


def _write(path: Path, blob: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".shipped-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
        os.replace(tmp, path)
    except OSError as exc:  # a read-only home: the process memo still holds it
        log.warning("cannot write the routing model cache %s: %s", path, exc)
