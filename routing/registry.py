"""Model versions in the database (routing_model_versions) and the active model seen by every process.

- `store_version(...)` keeps a trained model with its training summary, scores, thresholds and trainer,
  and (by default) makes it the active one; `activate(...)` is promotion and rollback. Each activation
  is in the event log (domain/events.py): routing_model_promoted / routing_model_rolled_back.
- `ActiveModel` is what a Router calls on every classification (Router.use_model): it looks at the
  database's active version at most every `check_seconds` (one indexed SELECT), loads a new version
  when it changed, and otherwise answers from memory. No version in the database, or no database:
  the shipped model (routing/shipped.py). So `classify`, the web app and the worker follow a
  `routing train` or a rollback within seconds, without a restart.
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime
from typing import Any, Callable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from domain.actors import Actor
from domain.clock import utcnow
from domain.events import record
from domain.lifecycle import ValidationError
from domain.models import RoutingModelVersion

from .model import RoutingModel

log = logging.getLogger(__name__)
CHECK_SECONDS = 3.0


def active_row(session: Session) -> RoutingModelVersion | None:
    return session.scalar(select(RoutingModelVersion).where(RoutingModelVersion.is_active.is_(True)))


def list_versions(session: Session) -> list[dict[str, Any]]:
    """Every version, newest first, without the model blobs (the /ops page and `routing versions`)."""
    cols = (RoutingModelVersion.id, RoutingModelVersion.created_at, RoutingModelVersion.trained_by,
            RoutingModelVersion.source, RoutingModelVersion.status, RoutingModelVersion.is_active,
            RoutingModelVersion.activated_at, RoutingModelVersion.summary, RoutingModelVersion.scores,
            RoutingModelVersion.corrections_upto)
    rows = session.execute(select(*cols).order_by(RoutingModelVersion.id.desc())).all()
    return [dict(r._mapping) for r in rows]


def store_version(session: Session, model: RoutingModel, *, trained_by: str, source: str, summary: dict,
                  scores: dict, actor: Actor, activate: bool = True, corrections_upto: int | None = None,
                  reason: str | None = None, now: datetime | None = None) -> RoutingModelVersion:
    """Keep `model` as a new version (status active when `activate`, else rejected)."""
    now = now or utcnow()
    row = RoutingModelVersion(created_at=now, trained_by=trained_by[:64], source=source, status="rejected",
                              is_active=False, summary=summary, scores=scores,
                              thresholds={k: round(v, 4) for k, v in model.thresholds.items()},
                              corrections_upto=corrections_upto, blob=model.to_bytes())
    session.add(row)
    session.flush()  # the version number (the loaded copy carries it: ActiveModel._load)
    if activate:
        _activate(session, row, actor, "routing_model_promoted", reason, now)
    else:
        record(session, None, actor, "routing_model_rejected", after={"version": row.id, "scores": scores},
               reason=reason, at=now)
    return row


def _activate(session: Session, row: RoutingModelVersion, actor: Actor, event_type: str, reason: str | None,
              now: datetime) -> None:
    previous = active_row(session)
    if previous is not None and previous.id != row.id:
        previous.is_active, previous.status = False, "retired"
        session.flush()  # the partial unique index allows one active row at a time
    row.is_active, row.status, row.activated_at = True, "active", now
    record(session, None, actor, event_type,
           before={"version": previous.id if previous is not None else None},
           after={"version": row.id, "source": row.source, "scores": row.scores}, reason=reason, at=now)


def rollback(session: Session, version: int, actor: Actor, reason: str | None = None,
             now: datetime | None = None) -> RoutingModelVersion:
    """Make an earlier version active again (admins; the caller checks the role)."""
    row = session.get(RoutingModelVersion, version)
    if row is None:
        raise ValidationError("version", f"no routing model version {version}")
    if row.is_active:
        raise ValidationError("version", f"version {version} is already active")
    _activate(session, row, actor, "routing_model_rolled_back", reason or f"rolled back to version {version}",
              now or utcnow())
    return row


def deactivate_all(session: Session, actor: Actor, reason: str, now: datetime | None = None) -> None:
    """Back to the shipped model (no version active)."""
    previous = active_row(session)
    if previous is None:
        return
    session.execute(update(RoutingModelVersion).where(RoutingModelVersion.id == previous.id)
                    .values(is_active=False, status="retired"))
    record(session, None, actor, "routing_model_rolled_back", before={"version": previous.id},
           after={"version": None, "source": "shipped"}, reason=reason, at=now or utcnow())


class ActiveModel:
    """The callable a Router uses as its model source: the database's active version, else the shipped one."""

    def __init__(self, router, sessions: Callable[[], Session] | None = None, *,
                 check_seconds: float = CHECK_SECONDS, shipped: Callable[[], RoutingModel | None] | None = None,
                 background: bool = False):
        self.router = router
        self.sessions = sessions
        self.check_seconds = check_seconds
        self._shipped = shipped
        self._lock = threading.Lock()
        self._checked_at = float("-inf")
        self._version: int | None = None
        self._model: RoutingModel | None = None
        self._loaded: dict[int, RoutingModel] = {}
        self._shipped_model: RoutingModel | None = None
        self.database_ok = sessions is not None
        # background: never wait for the shipped model to train (the server, the worker): until it is
        # ready the rules decide alone; see warm()
        self.background = background
        self._warm_lock = threading.Lock()
        self._warming: threading.Thread | None = None
        self._shipped_key: str | None = None
        self._no_shipped = False  # the shipped model cannot be had (no corpus, no scikit-learn): rules alone

    @property
    def version(self) -> int | None:
        """The active database version (None: the shipped model)."""
        return self._version

    def __call__(self) -> RoutingModel | None:
        if time.monotonic() - self._checked_at >= self.check_seconds:
            self.refresh()
        return self._model

    def refresh(self) -> RoutingModel | None:
        with self._lock:
            self._checked_at = time.monotonic()
            version = self._active_version()
            if version is None:
                self._version = None
                self._model = self.shipped()
                return self._model
            if version != self._version or self._model is None:
                model = self._loaded.get(version) or self._load(version)
                if model is None:
                    self._version, self._model = None, self.shipped()
                    return self._model
                self._loaded = {version: model}  # keep one: an old version is read again if rolled back to
                self._version, self._model = version, model
            return self._model

    def shipped(self) -> RoutingModel | None:
        if self._shipped_model is None and not self._no_shipped:
            if self.background:
                model = self._cached_shipped()
                if model is None:
                    self.warm()
                    return None  # the rules alone until the background training is done
                self._shipped_model = model
                return model
            self._shipped_model = self._load_shipped()
        return self._shipped_model

    def warm(self) -> threading.Thread | None:
        """Load (or train, once) the shipped model in a background thread; from now on this source never
        waits for it: classifications use the rules alone until it is ready (a few seconds from the disk
        cache, 10-30 s when it must train). Returns the thread (None when it is already loaded)."""
        self.background = True
        with self._warm_lock:
            if self._shipped_model is not None or self._no_shipped:
                return None
            if self._warming is None or not self._warming.is_alive():
                self._warming = threading.Thread(target=self._warm, name="routing-model-warm", daemon=True)
                self._warming.start()
            return self._warming

    def _warm(self) -> None:
        model = self._load_shipped()
        if model is None:
            self._no_shipped = True
            return
        self._shipped_model = model
        self._checked_at = float("-inf")  # the next classification picks it up
        log.info("shipped routing model ready")

    def _cached_shipped(self) -> RoutingModel | None:
        if self._shipped is not None:
            return None  # an injected source: only through warm()
        try:
            from .shipped import cache_key, cached_model

            if self._shipped_key is None:
                self._shipped_key = cache_key(self.router)
            return cached_model(self.router, key=self._shipped_key)
        except Exception as exc:  # noqa: BLE001 - e.g. scikit-learn missing: the rules alone
            log.error("no shipped routing model (%s: %s); routing by the rules alone", type(exc).__name__, exc)
            self._shipped = lambda: None
            return None

    def _load_shipped(self) -> RoutingModel | None:
        try:
            if self._shipped is not None:
                return self._shipped()
            from .shipped import shipped_model

            return shipped_model(self.router, key=self._shipped_key)
        except Exception as exc:  # noqa: BLE001 - e.g. scikit-learn missing: the rules alone
            log.error("no shipped routing model (%s: %s); routing by the rules alone", type(exc).__name__, exc)
            self._shipped = lambda: None
            return None

    def _active_version(self) -> int | None:
        if self.sessions is None:
            return None
        try:
            with self.sessions() as s:
                return s.scalar(select(RoutingModelVersion.id).where(RoutingModelVersion.is_active.is_(True)))
        except Exception as exc:  # noqa: BLE001 - no table yet, or the database is away: keep what we have
            if self.database_ok:
                log.warning("cannot read the active routing model version: %s", str(exc).splitlines()[0][:160])
            self.database_ok = False
            return self._version

    def _load(self, version: int) -> RoutingModel | None:
        try:
            with self.sessions() as s:
                blob = s.scalar(select(RoutingModelVersion.blob).where(RoutingModelVersion.id == version))
            model = RoutingModel.from_bytes(blob)
        except Exception as exc:  # noqa: BLE001 - a version that cannot load must not stop routing
            log.error("routing model version %s cannot be loaded (%s); using the shipped model", version, exc)
            return None
        model.meta["version"] = version
        log.info("routing model version %s is active", version)
        return model


def attach(router, sessions: Callable[[], Session] | None, **kwargs) -> ActiveModel:
    """Give `router` the active model of the database behind `sessions` (None: the shipped model only)."""
    source = ActiveModel(router, sessions, **kwargs)
    router.use_model(source)
    return source


# ---------------------------------------------------------------- for the /ops page
def versions_overview(sessions, limit: int = 20) -> list[dict[str, Any]]:
    """The versions as table rows (newest first): number, status, source, trainer, scores."""
    with sessions() as s:
        rows = list_versions(s)[:limit]
    out = []
    for r in rows:
        frozen = (r["scores"] or {}).get("frozen_holdout") or {}
        held = (r["scores"] or {}).get("heldout") or {}
        out.append({"version": r["id"], "status": r["status"] + (" *" if r["is_active"] else ""),
                    "source": r["source"], "trained_by": r["trained_by"], "created_at": r["created_at"],
                    "rows": (r["summary"] or {}).get("rows"),
                    "accuracy": frozen.get("category_accuracy", held.get("category_accuracy")),
                    "macro_f1": frozen.get("category_macro_f1", held.get("category_macro_f1")),
                    "ece": frozen.get("ece")})
    return out


def rollback_to(sessions, target: str, actor: Actor, reason: str | None, now: datetime | None = None) -> str:
    """Roll back to version `target` (a number) or to the shipped model ("shipped" or empty): admins only.
    Raises ValidationError / TransitionError with a message for the person."""
    from domain.lifecycle import Role, TransitionError

    if actor.role != Role.ADMIN:
        raise TransitionError("only an admin may roll back the routing model")
    target = (str(target) if target is not None else "").strip().lower()
    with sessions.begin() as s:
        if target in ("", "shipped", "0"):
            deactivate_all(s, actor, reason or "rolled back to the shipped model", now)
            return "shipped"
        if not target.isdigit():
            raise ValidationError("version", f"not a version number: {target!r}")
        rollback(s, int(target), actor, reason, now)
        return target
