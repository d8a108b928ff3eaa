"""One citizen across channels: identities (E.164 phone, email, social handles) point to one person.

Resolution works on whole batches with set-based SQL (the submit path's hot spot).
"""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Sequence

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.orm import Session

from domain.actors import Actor
from domain.events import record
from domain.intake import CitizenInfo
from domain.models import Citizen, CitizenIdentity, Report


def resolve_citizens(
    session: Session, infos: Sequence[CitizenInfo | None], now: datetime, actor: Actor, *, is_demo: bool = False
) -> list[int | None]:
    """The citizen id behind each info, creating citizens and identities as needed; an info whose
    identities belong to two known citizens merges them into the older one."""
    keys = list({k for info in infos if info for k in info.identities()})
    known: dict[tuple[str, str], int] = {}
    for start in range(0, len(keys), 400):
        chunk = keys[start:start + 400]
        known.update(((kind, value), cid) for kind, value, cid in session.execute(
            select(CitizenIdentity.kind, CitizenIdentity.value, CitizenIdentity.citizen_id)
            .where(pairs_in(CitizenIdentity.kind, CitizenIdentity.value, chunk))))

    stored = set(known)
    # Plan each info: an existing citizen ("known", id) or a citizen new in this batch ("new", index).
    pending: dict[tuple[str, str], int] = {}  # identity -> index of the new citizen in this batch
    new_citizens: list[dict] = []
    plan: list[tuple[str, int] | None] = []
    for info in infos:
        if info is None or not (info.identities() or info.name):
            plan.append(None)
            continue
        ids = info.identities()
        matched = sorted({known[k] for k in ids if k in known})
        if matched:
            plan.append(("known", matched[0]))
            for other in matched[1:]:
                _merge(session, other, matched[0], actor, now)
                known.update({k: matched[0] for k, cid in known.items() if cid == other})
            known.update({k: matched[0] for k in ids if k not in pending})
            continue
        in_batch = sorted({pending[k] for k in ids if k in pending})
        if in_batch:
            index = in_batch[0]
        else:
            index = len(new_citizens)
            new_citizens.append({"public_id": uuid.uuid4().hex, "name": info.name, "created_at": now,
                                 "is_demo": is_demo})
        plan.append(("new", index))
        for k in ids:
            pending.setdefault(k, index)

    new_ids: list[int] = []
    if new_citizens:
        # Plain executemany (RETURNING in parameter order is row by row on SQLite), then map back.
        session.execute(insert(Citizen.__table__), new_citizens)
        by_public = dict(session.execute(select(Citizen.public_id, Citizen.id).where(
            Citizen.public_id.in_([c["public_id"] for c in new_citizens]))).all())
        new_ids = [by_public[c["public_id"]] for c in new_citizens]
    identity_rows = [{"citizen_id": new_ids[index], "kind": kind, "value": value, "created_at": now}
                     for (kind, value), index in pending.items()]
    identity_rows += [{"citizen_id": cid, "kind": kind, "value": value, "created_at": now}
                      for (kind, value), cid in known.items() if (kind, value) not in stored]
    if identity_rows:
        session.execute(insert(CitizenIdentity.__table__), identity_rows)
    out = [None if step is None else (step[1] if step[0] == "known" else new_ids[step[1]]) for step in plan]
    _fill_names(session, infos, out)
    return out


def pairs_in(first, second, pairs):
    """`(first, second) IN pairs` as one `first = x AND second IN (...)` per distinct x: both columns
    are index conditions of a two-column unique index on SQLite and PostgreSQL alike (row-value IN,
    or two separate IN lists, make PostgreSQL scan every row of a matching first column)."""
    grouped: dict = {}
    for a, b in pairs:
        grouped.setdefault(a, set()).add(b)
    return or_(*(and_(first == a, second.in_(sorted(bs))) for a, bs in grouped.items()))


def _fill_names(session: Session, infos, ids) -> None:
    """A known citizen without a name takes the first name a channel gives."""
    named = {cid: info.name for info, cid in zip(infos, ids) if cid is not None and info is not None and info.name}
    if not named:
        return
    unnamed = set(session.scalars(select(Citizen.id).where(Citizen.id.in_(list(named)), Citizen.name.is_(None))))
    for cid in unnamed:
        session.execute(update(Citizen).where(Citizen.id == cid).values(name=named[cid]))


def _merge(session: Session, source: int, target: int, actor: Actor, now: datetime) -> None:
    """Fold citizen `source` into `target`: identities and reports move; the event log says so."""
    session.execute(update(CitizenIdentity).where(CitizenIdentity.citizen_id == source).values(citizen_id=target))
    session.execute(update(Report).where(Report.citizen_id == source).values(citizen_id=target))
    session.execute(update(Citizen).where(Citizen.id == source).values(merged_into_id=target))
    record(session, None, actor, "citizen_merged", before={"citizen_id": source}, after={"citizen_id": target},
           citizen_id=target, at=now)


def history(session: Session, citizen_id: int) -> list[Report]:
    """Every report of a citizen across channels, newest first."""
    return list(session.scalars(
        select(Report).where(Report.citizen_id == citizen_id).order_by(Report.received_at.desc())
    ))
