"""JSON from outside (webhooks, the app API, Dash callbacks), decoded so that no shape of it can crash us.

Python's decoder recurses once per nesting level: 100,000 nested arrays raise RecursionError, which is
no ValueError, so every `except ValueError` around a decode let it through as a 500 (or a poison
message in a drain). `loads` turns it into `TooDeep` (a ValueError, so every caller's existing
"not valid JSON" answer applies), and refuses anything nested deeper than MAX_DEPTH levels even when
the decoder managed it (later code walks the data recursively). `install(server)` makes Flask's
`request.get_json()` (which Dash's callbacks use) decode the same way: Flask answers 400 for a
ValueError there.
"""
from __future__ import annotations

import json

MAX_DEPTH = 64  # no payload we accept nests half as deep


class TooDeep(ValueError):
    """The JSON nests deeper than MAX_DEPTH levels."""


def loads(data, **kwargs):
    """json.loads for untrusted input: TooDeep (a ValueError) for deep nesting, never RecursionError."""
    try:
        value = json.loads(data, **kwargs)
    except RecursionError:
        raise TooDeep(f"JSON nested too deeply (more than {MAX_DEPTH} levels)") from None
    if not _within(value, MAX_DEPTH):
        raise TooDeep(f"JSON nested too deeply (more than {MAX_DEPTH} levels)")
    return value


def _within(value, limit: int) -> bool:
    """Whether `value` nests at most `limit` lists/objects deep (iteratively: no recursion of our own)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return False
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return True


def install(server) -> None:
    """Decode request bodies of this Flask server with `loads` (idempotent)."""
    from flask.json.provider import DefaultJSONProvider

    if isinstance(server.json, _Provider):
        return

    class Provider(_Provider, DefaultJSONProvider):
        pass

    server.json_provider_class = Provider
    server.json = Provider(server)


class _Provider:
    def loads(self, s, **kwargs):
        return loads(s, **kwargs)


__all__ = ["MAX_DEPTH", "TooDeep", "install", "loads"]
