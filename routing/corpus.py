"""Labelled text for the model: the shipped corpus (data/routing/corpus/*.jsonl), a city's own history
(`routing train FILE`: JSON lines, CSV or XLSX read with pandas) and the operators' corrections.

The shipped corpus has the shape of tests/data/labelled_reports.jsonl (labelling guide: every line an
input report plus `expected`). A fixed part of it, chosen by a hash of each id, is the FROZEN HOLDOUT:
never trained on, used to compare a candidate model with the active one (routing/learning.py).
"""
from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from .model import KINDS, Example

CORPUS_DIR = Path("routing") / "corpus"
HOLDOUT_BUCKETS = 10  # one id in ten (by hash) is held out
COLUMNS_ALIASES = {"text": ("text", "isi", "laporan", "content", "message", "body"),
                   "category": ("category", "kategori", "topic", "topik")}


class CorpusError(ValueError):
    """Bad training input: the message is one line meant for the person who gave the file."""


def in_frozen_holdout(report_id: str) -> bool:
    digest = hashlib.sha1(f"holdout:{report_id}".encode("utf-8")).digest()
    return digest[0] % HOLDOUT_BUCKETS == 0


@dataclass(frozen=True)
class Corpus:
    train: list[Example]
    holdout: list[Example]
    files: dict[str, int]
    digest: str


def corpus_files(data_dir: Path) -> list[Path]:
    return sorted((Path(data_dir) / CORPUS_DIR).glob("*.jsonl"))


def corpus_items(data_dir: Path) -> dict[str, dict[str, Any]]:
    """Every labelled line of the shipped corpus as written (its `expected` included), by id."""
    items = {}
    for path in corpus_files(data_dir):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                item = json.loads(line)
                items[item["id"]] = item
    return items


def load_corpus(data_dir: Path, categories: Iterable[str]) -> Corpus:
    """The shipped corpus split into training examples and the frozen holdout; CorpusError on a bad line."""
    known = set(categories)
    train, holdout, files = [], [], {}
    sha = hashlib.sha256()
    seen: set[str] = set()
    for path in corpus_files(data_dir):
        raw = path.read_bytes()
        sha.update(path.name.encode() + b"\0" + raw)
        count = 0
        for n, line in enumerate(raw.decode("utf-8").splitlines(), 1):
            if not line.strip():
                continue
            example = _corpus_example(path, n, line, known, seen)
            (holdout if in_frozen_holdout(example.id) else train).append(example)
            count += 1
        files[path.name] = count
    return Corpus(train, holdout, files, sha.hexdigest()[:16])


def _corpus_example(path: Path, n: int, line: str, known: set[str], seen: set[str]) -> Example:
    where = f"{path.name}:{n}"
    try:
        item = json.loads(line)
    except ValueError as exc:
        raise CorpusError(f"{where}: not JSON ({exc})") from None
    rid, text, exp = item.get("id"), item.get("text"), item.get("expected")
    if not isinstance(rid, str) or not rid or not isinstance(text, str) or not text.strip() or not isinstance(exp, dict):
        raise CorpusError(f"{where}: needs id, text and expected")
    if rid in seen:
        raise CorpusError(f"{where}: duplicate id {rid!r}")
    seen.add(rid)
    category = exp.get("category") if exp.get("actionable", True) else None
    if category is not None and category not in known:
        raise CorpusError(f"{where}: unknown category {category!r}")
    kind = exp.get("kind")
    if category is not None and kind not in KINDS:
        raise CorpusError(f"{where}: unknown kind {kind!r}")
    secondary = tuple(s for s in exp.get("secondary_categories") or () if s in known)
    return Example(text=text, category=category, kind=kind if category else None, channel=item.get("channel"),
                   group=path.stem, id=rid, secondary=secondary,
                   secondary_known=isinstance(exp.get("secondary_categories"), list))


# ---------------------------------------------------------------- a city's own history
@dataclass(frozen=True)
class CityData:
    examples: list[Example]
    unmapped: dict[str, int]      # topic -> rows, topics --map could not place (not trained on)
    dropped_blank: int            # rows with an empty category (skipped and reported)
    source: str


def read_table(path: Path):
    """A pandas DataFrame from JSON lines, CSV or XLSX (by extension); CorpusError when unreadable."""
    import pandas as pd

    path = Path(path)
    if not path.exists() or not path.is_file():
        raise CorpusError(f"{path}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix in (".jsonl", ".ndjson", ".json"):
            raw = path.read_bytes().decode("utf-8")
            rows = [json.loads(line) for line in raw.splitlines() if line.strip()]
            if not all(isinstance(r, dict) for r in rows):
                raise CorpusError(f"{path}: every line must be a JSON object")
            frame = pd.DataFrame(rows)
        elif suffix in (".csv", ".tsv", ".txt"):
            raw = path.read_bytes().decode("utf-8-sig")
            import io

            frame = pd.read_csv(io.StringIO(raw), sep=None, engine="python", dtype=str, keep_default_na=False)
        elif suffix in (".xlsx", ".xlsm"):
            frame = pd.read_excel(path, dtype=str, keep_default_na=False)
        else:
            raise CorpusError(f"{path}: unknown format {suffix or '(none)'} (use .jsonl, .csv or .xlsx)")
    except CorpusError:
        raise
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    except ValueError as exc:
        raise CorpusError(f"{path}: cannot read: {str(exc).splitlines()[0][:120]}") from None
    except Exception as exc:  # noqa: BLE001 - pandas/openpyxl raise many kinds for a broken file
        raise CorpusError(f"{path}: cannot read: {type(exc).__name__}: {str(exc)[:120]}") from None
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    return frame


def read_mapping(path: Path) -> dict[str, str]:
    """--map FILE: the city's topic -> our code, as CSV/XLSX/JSON lines with two columns (topic, category)
    or a YAML/JSON mapping. Keys compare case- and space-insensitively."""
    path = Path(path)
    if path.suffix.lower() in (".yaml", ".yml", ".json") and path.exists():
        from .yamlsrc import RulesError, load_yaml

        try:
            doc = load_yaml(path, str(path))
        except RulesError as exc:
            raise CorpusError(f"--map {exc}") from None
        if not isinstance(doc, dict):
            raise CorpusError(f"--map {path}: must map each topic to a category code")
        pairs = [(str(k), "" if v is None else str(v)) for k, v in doc.items()]
    else:
        frame = read_table(path)
        if len(frame.columns) < 2:
            raise CorpusError(f"--map {path}: needs two columns (topic, category)")
        topic_col = next((c for c in frame.columns if c in ("topic", "topik", "from", "source")), frame.columns[0])
        code_col = next((c for c in frame.columns if c in ("category", "kategori", "to", "code")), frame.columns[1])
        pairs = [(str(t), str(c)) for t, c in zip(frame[topic_col], frame[code_col])]
    return {_key(t): c.strip().upper() for t, c in pairs if _key(t)}


def _key(topic: Any) -> str:
    return " ".join(str(topic).split()).lower()


def _column(frame, name: str) -> str | None:
    return next((c for c in COLUMNS_ALIASES.get(name, (name,)) if c in frame.columns), None)


def read_city(path: Path, categories: Iterable[str], mapping: dict[str, str] | None = None,
              group: str = "city") -> CityData:
    """Validate a city's labelled history. Every problem is one CorpusError line; nothing is half-read."""
    known = set(categories)
    frame = read_table(path)
    text_col, cat_col = _column(frame, "text"), _column(frame, "category")
    if text_col is None:
        raise CorpusError(f"{path}: no text column (columns: {', '.join(frame.columns) or 'none'})")
    if cat_col is None:
        raise CorpusError(f"{path}: no category column (columns: {', '.join(frame.columns)})")
    if mapping:
        bad = sorted({c for c in mapping.values() if c and c not in known})
        if bad:
            raise CorpusError(f"--map: unknown category code(s) {', '.join(bad)}")
    has_kind = "kind" in frame.columns
    examples, unmapped, blank, unknown = [], Counter(), 0, Counter()
    for n, row in enumerate(frame.to_dict("records"), 2 if path.suffix.lower() != ".jsonl" else 1):
        text = row.get(text_col)
        text = "" if text is None or (isinstance(text, float) and text != text) else str(text)
        topic = row.get(cat_col)
        topic = "" if topic is None or (isinstance(topic, float) and topic != topic) else str(topic).strip()
        if not topic:
            blank += 1
            continue
        if not text.strip():
            raise CorpusError(f"{path}: row {n}: empty text")
        if mapping is not None and _key(topic) in mapping:
            code = mapping[_key(topic)]
        elif mapping is not None and topic.upper() not in known:
            unmapped[topic] += 1
            continue
        else:
            code = topic.upper()
        if code not in known:
            unknown[topic] += 1
            continue
        kind = str(row.get("kind") or "").strip().upper() if has_kind else ""
        if kind and kind not in KINDS:
            raise CorpusError(f"{path}: row {n}: unknown kind {kind!r} (one of: {', '.join(KINDS)})")
        examples.append(Example(text=text.strip(), category=code, kind=kind or None,
                                channel=str(row.get("channel") or "") or None, group=group, id=f"{group}:{n}"))
    if unknown:
        listed = ", ".join(f"{t!r} ({c})" for t, c in unknown.most_common(8))
        raise CorpusError(f"{path}: unknown category code(s): {listed}; use our codes or --map FILE")
    if not examples:
        raise CorpusError(f"{path}: no usable rows")
    if len({e.category for e in examples}) < 2:
        raise CorpusError(f"{path}: only one category ({examples[0].category}); a model needs at least two")
    return CityData(examples, dict(unmapped), blank, str(path))


def summary(examples: Sequence[Example]) -> dict[str, Any]:
    return {"rows": len(examples), "per_category": dict(Counter(e.category or "NONE" for e in examples)),
            "per_group": dict(Counter(e.group for e in examples))}
