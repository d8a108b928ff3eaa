"""Learning from the operators: every correction (routing/corrections.py) is a labelled example, and the
worker retrains when enough new ones have gathered.

What an example says:
- a category changed at verification: the report's text is that category;
- an agency changed (assigned elsewhere than routing proposed, or a transfer whose reason says the agency
  was wrong): the report's category if it belongs to the new agency, else the new agency's only category
  (an agency with several categories and no category correction teaches nothing);
- a merge: the merged report is the same incident as the one it went into, so it takes that one's category.

The job (`jobs(services)`, picked up by worker.py): when at least `min_corrections` corrections arrived
after the active version's, train a candidate on the shipped corpus + every correction, score candidate
and active model on the frozen holdout, and promote the candidate only if it is not worse
(routing/training.py: not_worse). Either way the decision is in the event log.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from domain.actors import SYSTEM
from domain.models import Category, Event, Report, RoutingCorrection

from .model import Example
from .yamlsrc import RulesError, load_yaml

log = logging.getLogger(__name__)
WRONG_AGENCY = ("wrong agency", "wrong_agency", "salah dinas", "salah instansi", "salah opd", "bukan kewenangan",
                "salah alamat", "salah tujuan")


@dataclass(frozen=True)
class LearningPolicy:
    enabled: bool = True
    min_corrections: int = 50
    check_seconds: int = 600
    macro_f1_tolerance: float = 0.03

    @classmethod
    def load(cls, data_dir: Path, env: dict | None = None) -> "LearningPolicy":
        env = os.environ if env is None else env
        path = Path(data_dir) / "routing" / "learning.yaml"
        values = {"enabled": cls.enabled, "min_corrections": cls.min_corrections, "check_seconds": cls.check_seconds,
                  "macro_f1_tolerance": cls.macro_f1_tolerance}
        if path.exists():
            doc = load_yaml(path, str(path)) or {}
            for key, value in doc.items():
                if key not in values:
                    raise RulesError(str(path), doc.line_of(key), f"unknown key {key!r} (allowed: {', '.join(values)})")
                values[key] = value
        raw = (env.get("ROUTING_RETRAIN_MIN_CORRECTIONS") or "").strip()
        if raw:
            if not raw.isdigit():
                raise RulesError("ROUTING_RETRAIN_MIN_CORRECTIONS", None, f"must be a whole number, got {raw!r}")
            values["min_corrections"] = int(raw)
        for key in ("min_corrections", "check_seconds"):
            if isinstance(values[key], bool) or not isinstance(values[key], int) or values[key] < 1:
                raise RulesError(str(path), None, f"{key} must be a positive whole number, got {values[key]!r}")
        if not isinstance(values["enabled"], bool):
            raise RulesError(str(path), None, f"enabled must be true or false, got {values['enabled']!r}")
        tolerance = values["macro_f1_tolerance"]
        if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not 0 <= tolerance <= 0.2:
            raise RulesError(str(path), None, f"macro_f1_tolerance must be a number from 0 to 0.2, got {tolerance!r}")
        values["macro_f1_tolerance"] = float(tolerance)
        return cls(**values)


def correction_examples(session: Session) -> tuple[list[Example], int]:
    """-> (one example per corrected report, the highest correction id read)."""
    categories = {c.code: c.agency_code for c in session.scalars(select(Category))}
    by_agency: dict[str, list[str]] = {}
    for code, agency in categories.items():
        by_agency.setdefault(agency, []).append(code)
    labels: dict[int, str] = {}
    upto = 0
    for c in session.scalars(select(RoutingCorrection).order_by(RoutingCorrection.id)):
        upto = c.id
        if c.field == "category" and c.after in categories:
            labels[c.report_id] = c.after
        elif c.field == "agency" and c.report_id not in labels:
            if c.event_type == "transfer" and not _wrong_agency(session, c):
                continue
            report = session.get(Report, c.report_id)
            if report is not None and categories.get(report.category_code) == c.after:
                labels[c.report_id] = report.category_code
            elif len(by_agency.get(c.after, ())) == 1:
                labels[c.report_id] = by_agency[c.after][0]
        elif c.field == "merge" and c.after:
            target = session.scalar(select(Report).where(Report.ticket == c.after))
            if target is not None and target.category_code in categories:
                labels[c.report_id] = target.category_code
    if not labels:
        return [], upto
    reports = {r.id: r for r in session.scalars(select(Report).where(Report.id.in_(list(labels))))}
    out = []
    for rid, category in labels.items():
        r = reports.get(rid)
        if r is None or not (r.text or "").strip():
            continue
        text = " ".join(t for t in (r.text, r.location_text) if t)
        out.append(Example(text=text, category=category, kind=r.kind, channel=r.channel, group="corrections",
                           id=r.ticket))
    return out, upto


def _wrong_agency(session: Session, c: RoutingCorrection) -> bool:
    reason = session.scalar(select(Event.reason).where(Event.report_id == c.report_id, Event.type == "transfer",
                                                        Event.at == c.at).limit(1))
    reason = (reason or "").lower()
    return any(w in reason for w in WRONG_AGENCY)


def new_corrections(session: Session) -> int:
    from .registry import active_row

    active = active_row(session)
    since = active.corrections_upto if active is not None and active.corrections_upto else 0
    return session.scalar(select(func.count()).select_from(RoutingCorrection).where(RoutingCorrection.id > since)) or 0


def retrain_from_corrections(services, router, *, force: bool = False, params=None) -> dict:
    """One run of the job: -> {"action": "waiting"|"promoted"|"rejected", ...}."""
    from .registry import active_row, store_version
    from .training import holdout_scores, not_worse, train_version

    policy = LearningPolicy.load(services.settings.data_dir)
    with services.sessions() as s:
        waiting = new_corrections(s)
        if not force and (not policy.enabled or waiting < policy.min_corrections):
            return {"action": "waiting", "new_corrections": waiting, "needed": policy.min_corrections}
        examples, upto = correction_examples(s)
        active = active_row(s)
        active_version = active.id if active is not None else None
    if not examples:
        return {"action": "waiting", "new_corrections": waiting, "needed": policy.min_corrections}
    trained = train_version(router, examples, source="corrections", params=params)
    current = router.current_model()
    current_scores = holdout_scores(router, current, trained.holdout)
    candidate = trained.scores["frozen_holdout"]
    promote = not_worse(candidate, current_scores, policy.macro_f1_tolerance)
    trained.scores["compared_with"] = {"version": active_version, "frozen_holdout": current_scores}
    reason = (f"{len(examples)} corrected reports; frozen holdout category accuracy "
              f"{candidate.get('category_accuracy', 0):.3f} vs {current_scores.get('category_accuracy', 0):.3f}, "
              f"macro-F1 {candidate.get('category_macro_f1', 0):.3f} vs {current_scores.get('category_macro_f1', 0):.3f} "
              f"(version {active_version or 'shipped'})")
    with services.sessions.begin() as s:
        row = store_version(s, trained.model, trained_by="system", source="corrections", summary=trained.summary,
                            scores=trained.scores, actor=SYSTEM, activate=promote, corrections_upto=upto,
                            reason=reason, now=services.clock())
        version = row.id
    log.info("routing model candidate %s %s: %s", version, "promoted" if promote else "rejected", reason)
    return {"action": "promoted" if promote else "rejected", "version": version, "reason": reason}


def jobs(services) -> list[tuple[str, object, int]]:
    """The worker's job: check for enough new corrections every `check_seconds`."""
    try:
        policy = LearningPolicy.load(services.settings.data_dir)
    except RulesError as exc:
        log.error("routing learning disabled: %s", exc)
        return []
    if not policy.enabled:
        return []

    def retrain_routing_model():
        router = _router_of(services)
        if router is not None:
            retrain_from_corrections(services, router)

    return [("routing-retrain", retrain_routing_model, policy.check_seconds)]


def _router_of(services):
    classifier = getattr(services.queue, "classifier", None)
    return getattr(classifier, "router", None)
