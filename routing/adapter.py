"""The domain's `Classifier` port (domain/queue.py) implemented by the routing engine."""
from __future__ import annotations

from pathlib import Path

from .engine import Router


class RouterClassifier:
    def __init__(self, router: Router):
        self.router = router

    @classmethod
    def load(cls, data_dir: Path) -> "RouterClassifier":
        return cls(Router.load(Path(data_dir)))

    def route(self, incoming):
        """Propose kind, category, priority, agency and location for a new `IncomingReport`."""
        from domain.queue import RoutingDecision

        loc = getattr(incoming, "location", None)
        text = " ".join(t for t in (incoming.text, getattr(loc, "text", None)) if t)
        r = self.router.classify(text, lat=getattr(loc, "lat", None), lon=getattr(loc, "lon", None),
                                 channel=incoming.channel, received_at=incoming.received_at)
        details = {"actionable": r.actionable, "outside_city": r.outside_city, "location_source": r.location_source,
                   "support_agencies": list(r.support_agencies), "suggestions": [list(s) for s in r.suggestions],
                   "automation": r.automation, "secondary_categories": list(r.secondary_categories),
                   "model_version": r.model_version, "explanation": list(r.explanation)}
        if not r.actionable:
            return RoutingDecision(confidence=r.confidence, kelurahan_code=r.kelurahan_code, kecamatan=r.kecamatan,
                                   agency=self.router.cls["triage_agency"], details=details)
        return RoutingDecision(kind=r.kind, category=r.category, priority=r.priority, agency=r.agency,
                               kelurahan_code=r.kelurahan_code, kecamatan=r.kecamatan, confidence=r.confidence,
                               details=details)
