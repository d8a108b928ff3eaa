"""Secondary categories: the other problems a message names besides its category, listed only when the
model's "also names this problem" margin, the rules' words and a clause of their own agree
(data/routing/secondary.yaml; measured by bench/bench_secondary.py, leave-one-file-out on the corpus).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from .yamlsrc import RulesError, load_yaml

FILE = Path("routing") / "secondary.yaml"


class Candidate(NamedTuple):
    code: str
    margin: float         # the model's "also names it" margin
    score: float          # its rule words in the whole message
    clause: float         # its best rule score in a clause where it outscores the primary category
    marked_clause: float  # the same, in a clause with a marker of a further problem ("juga", "selain")


@dataclass(frozen=True)
class SecondaryPolicy:
    max_listed: int = 1
    min_margin: float = -0.3
    min_rule_score: float = 6.0
    min_clause_score: float = 3.0
    marked_min_margin: float = -0.9
    marked_min_clause_score: float = 5.0
    markers: frozenset[str] = frozenset()

    NUMBERS = ("min_margin", "min_rule_score", "min_clause_score", "marked_min_margin", "marked_min_clause_score")

    @classmethod
    def load(cls, data_dir: Path) -> SecondaryPolicy:
        """data/routing/secondary.yaml (absent: the defaults, no markers); RulesError names a bad value."""
        path = Path(data_dir) / FILE
        if not path.exists():
            return cls()
        doc = load_yaml(path, str(path)) or {}
        if not isinstance(doc, dict):
            raise RulesError(str(path), 1, "secondary.yaml must be a mapping")
        values: dict = {}
        for key, value in doc.items():
            line = doc.line_of(key)
            if key == "max_listed":
                if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 5:
                    raise RulesError(str(path), line, f"max_listed must be an integer in [0, 5], got {value!r}")
            elif key in cls.NUMBERS:
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not -10 <= value <= 100:
                    raise RulesError(str(path), line, f"{key} must be a number in [-10, 100], got {value!r}")
                value = float(value)
            elif key == "markers":
                if not isinstance(value, list) or not all(isinstance(w, str) and w.strip() for w in value):
                    raise RulesError(str(path), line, "markers must be a list of words")
                value = frozenset(w.strip().lower() for w in value)
            else:
                allowed = ", ".join(("max_listed", *cls.NUMBERS, "markers"))
                raise RulesError(str(path), line, f"unknown key {key!r} (allowed: {allowed})")
            values[key] = value
        return cls(**values)

    def choose(self, candidates: Sequence[Candidate], why: list[str] | None = None) -> tuple[str, ...]:
        out: list[str] = []
        for c in candidates:  # ranked by margin
            if len(out) >= self.max_listed:
                break
            plain = c.margin >= self.min_margin and c.score >= self.min_rule_score and c.clause >= self.min_clause_score
            marked = c.margin >= self.marked_min_margin and c.marked_clause >= self.marked_min_clause_score
            if plain or marked:
                out.append(c.code)
                if why is not None:
                    why.append(f"also {c.code}: model margin {c.margin:+.2f}, rules {c.score:g}, own clause "
                               f"{max(c.clause, c.marked_clause):g}{' (marked)' if marked and not plain else ''}")
        return tuple(out)
