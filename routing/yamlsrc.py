"""YAML loading that remembers line numbers, so rule errors can name the file and line.

Mappings load as `LocatedDict` and sequences as `LocatedList`; both carry the line where they start
and the line of each key or item. Duplicate keys are an error (PyYAML silently keeps the last one).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class RulesError(ValueError):
    """A routing rules file is missing, unreadable or invalid; the message names file and line."""

    def __init__(self, source: str, line: int | None, message: str):
        self.source, self.line, self.problem = source, line, message
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {message}")


class LocatedDict(dict):
    line: int = 0

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.lines: dict[Any, int] = {}

    def line_of(self, key: Any) -> int:
        return self.lines.get(key, self.line)


class LocatedList(list):
    line: int = 0

    def __init__(self, *args):
        super().__init__(*args)
        self.lines: list[int] = []

    def line_of(self, index: int) -> int:
        return self.lines[index] if 0 <= index < len(self.lines) else self.line


class _Loader(yaml.SafeLoader):
    source = "<yaml>"


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LocatedDict:
    loader.flatten_mapping(node)
    result = LocatedDict()
    result.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        try:
            hash(key)
        except TypeError:
            raise RulesError(loader.source, line, "a mapping key must be a plain value") from None
        if key in result:
            raise RulesError(loader.source, line, f"duplicate key {key!r} (first at line {result.lines[key]})")
        result[key] = loader.construct_object(value_node, deep=True)
        result.lines[key] = line
    return result


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LocatedList:
    result = LocatedList()
    result.line = node.start_mark.line + 1
    for child in node.value:
        result.append(loader.construct_object(child, deep=True))
        result.lines.append(child.start_mark.line + 1)
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def load_yaml(path: Path, source: str | None = None) -> Any:
    """Parse one YAML file into located containers; raise RulesError naming file and line."""
    source = source or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RulesError(source, None, "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesError(source, None, f"cannot read: {exc}") from None
    loader = _Loader(text)
    loader.source = source
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise RulesError(source, line, f"invalid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise RulesError(source, None, f"invalid YAML: {exc}") from None
    finally:
        loader.dispose()
