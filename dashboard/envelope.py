"""The shape of a Dash callback request, checked before Dash dispatches it.

Dash reads POST /_dash-update-component's JSON body trusting the shape its renderer sends: a body that
is a list, `null`, lacks `output`, names a callback that does not exist, or gives fewer outputs, inputs
or states than the callback declares raised inside Dash (KeyError, AttributeError, IndexError): a 500
and a logged traceback per request, for anonymous visitors too. Here such a body is a 400 with a short
JSON error before Dash (or anything else) reads it. Values are not checked: each callback validates its
own inputs (dashboard/pages/).

Static files: Dash answers an unknown or traversing /_dash-component-suites/ path with a
DependencyException (a 500); it is a 404 here.
"""
from __future__ import annotations

from typing import Any, Callable

from flask import jsonify, request

DISPATCH = "/_dash-update-component"


class BadEnvelope(ValueError):
    pass


def install(server, dash_app: Callable[[], Any]) -> None:
    """Check callback bodies before every other hook reads them; `dash_app()` is the Dash app (created
    after this is installed)."""
    from dash.exceptions import DependencyException

    @server.before_request
    def _callback_envelope():
        if request.path != DISPATCH or request.method != "POST" or not request.is_json:
            return None  # Dash answers a body that is not JSON itself (400/415)
        try:
            check(request.get_json(), dash_app().callback_map)
        except BadEnvelope as exc:
            response = jsonify(error="invalid callback request", message=str(exc)[:200])
            response.status_code = 400
            return response
        return None

    @server.errorhandler(DependencyException)
    def _unknown_dependency(exc):
        return "Not Found", 404


def _count(indices: Any) -> int:
    """How many outputs a callback declares (Dash's outputs_indices: an int, or a list/dict grouping)."""
    if isinstance(indices, int):
        return 1
    if isinstance(indices, dict):
        return sum(_count(v) for v in indices.values())
    return sum(_count(v) for v in indices)


def _dependencies(name: str, value: Any, declared: int) -> None:
    if not isinstance(value, list):
        raise BadEnvelope(f"{name} must be a list")
    if len(value) != declared:
        raise BadEnvelope(f"{name}: {len(value)} given, the callback declares {declared}")
    for item in value:
        # one dependency, or a pattern-matching (ALL) dependency: a list of them
        for one in item if isinstance(item, list) else [item]:
            if not isinstance(one, dict) or "id" not in one or not isinstance(one.get("property"), str):
                raise BadEnvelope(f"{name}: every item needs an id and a property")


def check(body: Any, callback_map: dict) -> None:
    """Raise BadEnvelope unless `body` is a callback request Dash can dispatch."""
    if not isinstance(body, dict):
        raise BadEnvelope("the body must be a JSON object")
    output = body.get("output")
    if not isinstance(output, str):
        raise BadEnvelope("output must be a string")
    spec = callback_map.get(output)
    if spec is None:
        raise BadEnvelope("no such callback")
    _dependencies("inputs", body.get("inputs", []), len(spec.get("inputs", [])))
    _dependencies("state", body.get("state", []), len(spec.get("state", [])))
    if not spec.get("no_output"):
        declared = spec.get("outputs_indices", 0)
        outputs = body.get("outputs")
        if isinstance(declared, int):  # one output: an object, or a pattern-matching list of them
            if not isinstance(outputs, (dict, list)):
                raise BadEnvelope("outputs must be an object or a list")
            _dependencies("outputs", [outputs], 1)
        else:
            _dependencies("outputs", outputs, _count(declared))
    changed = body.get("changedPropIds", [])
    if not isinstance(changed, list) or not all(isinstance(p, str) for p in changed):
        raise BadEnvelope("changedPropIds must be a list of strings")
