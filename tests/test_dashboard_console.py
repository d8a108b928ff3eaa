"""The operator console's reading of the routing engine's proposal: ranked [category, score] pairs shown
as category labels with the score relative to the best one."""
from __future__ import annotations

from dashboard import context
from dashboard.components.widgets import _suggestion
from dashboard.console_queries import routing_view


def _text(component) -> str:
    children = getattr(component, "children", component)
    if isinstance(children, (list, tuple)):
        return "".join(_text(c) for c in children)
    return "" if children is None else str(children)


def test_suggestion_pairs_become_labels_with_relative_scores(services):
    context.set_services(services)
    view = routing_view({"suggestions": [["STREETLIGHT", 5.0], ["ROAD", 2.5]], "confidence": 0.8,
                         "explanation": ["keywords: lampu, mati", "location: kelurahan"]})
    assert view["suggestions"] == [{"code": "STREETLIGHT", "score": 5.0, "relative": 1.0},
                                   {"code": "ROAD", "score": 2.5, "relative": 0.5}]
    assert view["explanation"] == "keywords: lampu, mati; location: kelurahan"
    first, second = (_text(_suggestion(s)) for s in view["suggestions"])
    assert first.startswith("Penerangan jalan umum (PJU) (STREETLIGHT)") and "100%" in first and "5" in first
    assert second.startswith("Jalan dan jembatan rusak (ROAD)") and "50%" in second
    assert "[" not in first + second


def test_unexpected_routing_shapes_are_shown_without_crashing(services):
    context.set_services(services)
    view = routing_view({"suggestions": [["UNKNOWN_CODE", 0.0], "free text", {"field": "agency", "value": "DLH"}],
                         "confidence": "high"})
    texts = [_text(_suggestion(s)) for s in view["suggestions"]]
    assert texts[0].startswith("UNKNOWN_CODE") and "0%" in texts[0]
    assert "free text" in texts[1] and texts[2] == "agency: DLH"
    assert view["confidence"] is None
    assert routing_view(None) == {} and routing_view({"suggestions": "x"})["suggestions"] == []
