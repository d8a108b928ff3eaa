"""Selective automation: the switch and the target precision (data/routing/automation.yaml, environment
overrides), and the queue's part: a confident non-emergency report is verified and forwarded by `system`.

The thresholds themselves belong to each model version (routing/model.py: chosen on held-out predictions
at training); `RoutingModel.threshold(category, target)` reads them for the configured target.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .yamlsrc import RulesError, load_yaml

FILE = Path("routing") / "automation.yaml"
_ON = {"1", "true", "yes", "on"}
_OFF = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class AutomationPolicy:
    enabled: bool = True
    target_precision: float = 0.97
    min_support: int = 8

    @classmethod
    def load(cls, data_dir: Path, env: dict | None = None) -> "AutomationPolicy":
        """Read data/routing/automation.yaml (absent: the defaults), then ROUTING_AUTOMATION and
        ROUTING_TARGET_PRECISION from the environment. A bad value raises RulesError naming it."""
        env = os.environ if env is None else env
        path = Path(data_dir) / FILE
        values = {"enabled": cls.enabled, "target_precision": cls.target_precision, "min_support": cls.min_support}
        if path.exists():
            doc = load_yaml(path, str(path)) or {}
            if not isinstance(doc, dict):
                raise RulesError(str(path), 1, "automation.yaml must be a mapping")
            for key, value in doc.items():
                if key not in values:
                    raise RulesError(str(path), doc.line_of(key), f"unknown key {key!r} (allowed: {', '.join(values)})")
                values[key] = value
            src = str(path)
        else:
            src = "defaults"
        raw = (env.get("ROUTING_AUTOMATION") or "").strip().lower()
        if raw:
            if raw not in _ON | _OFF:
                raise RulesError("ROUTING_AUTOMATION", None, f"must be on or off, got {raw!r}")
            values["enabled"] = raw in _ON
        raw = (env.get("ROUTING_TARGET_PRECISION") or "").strip()
        if raw:
            try:
                values["target_precision"] = float(raw)
            except ValueError:
                raise RulesError("ROUTING_TARGET_PRECISION", None, f"must be a number, got {raw!r}") from None
            src += " + environment"
        if not isinstance(values["enabled"], bool):
            raise RulesError(src, None, f"enabled must be true or false, got {values['enabled']!r}")
        target = values["target_precision"]
        if isinstance(target, bool) or not isinstance(target, (int, float)) or not 0.5 <= target <= 1.0:
            raise RulesError(src, None, f"target_precision must lie in [0.5, 1.0], got {target!r}")
        support = values["min_support"]
        if isinstance(support, bool) or not isinstance(support, int) or support < 1:
            raise RulesError(src, None, f"min_support must be a positive integer, got {support!r}")
        return cls(bool(values["enabled"]), float(target), int(support))


# ---------------------------------------------------------------- the queue's part
def on_received(services, session, report, *, merged: bool) -> bool:
    """Called by the routing listener for each new report (routing/listeners.py): a report the classifier
    marked `auto_forward` (confident, not an emergency, automation on) is verified and assigned to its
    agency by `system` just before the intake transaction commits, after the other listeners' "received"
    work (so the citizen hears "received" then "forwarded"). Emergencies and everything below its
    category's threshold stay NEW for an operator. Returns whether it was scheduled."""
    import logging

    from domain.actors import SYSTEM
    from domain.db import transaction_state

    from .duplicates import run_before_commit

    routing = report.routing if isinstance(report.routing, dict) else {}
    if merged or routing.get("automation") != "auto_forward" or report.status != "NEW" or not report.agency_code:
        return False
    if report.kind == "EMERGENCY" or report.priority == "P1":
        return False  # never without a person, whatever the classifier said

    def forward_one(item):
        try:
            with session.begin_nested():
                services.workflow.forward_in(session, item, SYSTEM, reason=_reason(item.routing or {}))
        except Exception:  # noqa: BLE001 - the report stays NEW for an operator; never lose it
            logging.getLogger(__name__).exception("automatic forwarding of %s failed; left in triage", item.ticket)

    def forward_all(items):
        """The transaction's forwards in one savepoint; if one fails, each again in its own."""
        try:
            with session.begin_nested():
                for item in items:
                    services.workflow.forward_in(session, item, SYSTEM, reason=_reason(item.routing or {}))
        except Exception:  # noqa: BLE001
            for item in items:
                forward_one(item)

    # One before-commit action per transaction (and per list: a rollback starts a new one).
    state = transaction_state(session, "routing_forwards")
    if "reports" not in state:
        items = state["reports"] = []
        run_before_commit(session, lambda: forward_all(items) if len(items) > 1 else [forward_one(i) for i in items])
    state["reports"].append(report)
    return True


def _reason(routing: dict) -> str:
    confidence = routing.get("confidence")
    version = routing.get("model_version")
    text = "automatic: confident routing"
    if isinstance(confidence, (int, float)):
        text += f" (confidence {confidence:.2f}"
        text += f", model v{version})" if version is not None else ")"
    return text
