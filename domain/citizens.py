"""One citizen across channels: identities (E.164 phone, email, social handles) point to one person."""
from __future__ import annotations

from datetime import datetime
from typing import Sequence

from sqlalchemy import select, tuple_, update
from sqlalchemy.orm import Session, joinedload

from domain.actors import Actor
from domain.events import record
from domain.intake import CitizenInfo
from domain.models import Citizen, CitizenIdentity, Report


def resolve_citizens(
    session: Session, infos: Sequence[CitizenInfo | None], now: datetime, actor: Actor
) -> list[Citizen | None]:
    """Find or create the citizen behind each info; identities seen on two citizens merge them."""
    keys = {k for info in infos if info for k in info.identities()}
    known: dict[tuple[str, str], Citizen] = {}
    if keys:
        for identity in session.scalars(
            select(CitizenIdentity).options(joinedload(CitizenIdentity.citizen))
            .where(tuple_(CitizenIdentity.kind, CitizenIdentity.value).in_(list(keys)))
        ):
            known[(identity.kind, identity.value)] = identity.citizen
    out: list[Citizen | None] = []
    for info in infos:
        if info is None or not (info.identities() or info.name):
            out.append(None)
            continue
        identities = info.identities()
        matches = sorted({id(c): c for k in identities if (c := known.get(k)) is not None}.values(),
                         key=lambda c: (c.id is None, c.id or 0))
        if not matches:
            citizen = Citizen(name=info.name, created_at=now)
            session.add(citizen)
        else:
            citizen = matches[0]
            for other in matches[1:]:
                _merge(session, other, citizen, actor, now)
                for k, c in list(known.items()):
                    if c is other:
                        known[k] = citizen
            if info.name and not citizen.name:
                citizen.name = info.name
        for kind, value in identities:
            if (kind, value) not in known:
                session.add(CitizenIdentity(citizen=citizen, kind=kind, value=value, created_at=now))
                known[(kind, value)] = citizen
        out.append(citizen)
    return out


def _merge(session: Session, source: Citizen, target: Citizen, actor: Actor, now: datetime) -> None:
    """Fold `source` into `target`: identities and reports move; the event log says so."""
    session.flush()
    session.execute(update(CitizenIdentity).where(CitizenIdentity.citizen_id == source.id)
                    .values(citizen_id=target.id))
    session.execute(update(Report).where(Report.citizen_id == source.id).values(citizen_id=target.id))
    source.merged_into_id = target.id
    session.expire(source, ["identities"])
    session.expire(target, ["identities"])
    record(session, None, actor, "citizen_merged", before={"citizen_id": source.id},
           after={"citizen_id": target.id}, citizen_id=target.id, at=now)


def history(session: Session, citizen_id: int) -> list[Report]:
    """Every report of a citizen across channels, newest first."""
    return list(session.scalars(
        select(Report).where(Report.citizen_id == citizen_id).order_by(Report.received_at.desc())
    ))
