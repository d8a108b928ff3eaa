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
    """The citizen id behind each info, creating citizens and identities as needed.

    Identities the channel vouched for (`info.verified`) decide: they find the known citizen, merge two known
    citizens into the older one, and claim an identity that someone had only typed (it moves to them, now
    vouched for). Typed identities (the app, the web form, Open311, the counter) are contact hints: they
    join a citizen only through identities that were typed too, never one that a channel vouched for, and
    never merge two citizens; otherwise anyone could put their own number on a stranger's reports."""
    keys = list({k for info in infos if info for k in info.identities()})
    known: dict[tuple[str, str], int] = {}
    vouched: set[tuple[str, str]] = set()
    for start in range(0, len(keys), 400):
        chunk = keys[start:start + 400]
        for kind, value, cid, verified in session.execute(
                select(CitizenIdentity.kind, CitizenIdentity.value, CitizenIdentity.citizen_id,
                       CitizenIdentity.verified)
                .where(pairs_in(CitizenIdentity.kind, CitizenIdentity.value, chunk))):
            known[(kind, value)] = cid
            if verified:
                vouched.add((kind, value))

    stored = set(known)
    # every identity of the citizens that typed identities point to: a form joins one only when it typed
    # exactly what that citizen holds (else anyone could add their number to someone else's form reports)
    typed_owners = {cid for k, cid in known.items() if k not in vouched}
    typed_sets: dict[int, set] = {cid: set() for cid in typed_owners}
    if typed_owners:
        for kind, value, cid in session.execute(select(CitizenIdentity.kind, CitizenIdentity.value,
                                                       CitizenIdentity.citizen_id)
                                                .where(CitizenIdentity.citizen_id.in_(sorted(typed_owners)))):
            typed_sets[cid].add((kind, value))
    claimed: set[tuple[str, str]] = set()  # typed rows a vouched identity takes over
    # Plan each info: an existing citizen ("known", id) or a citizen new in this batch ("new", index).
    pending: dict[tuple[str, str], int] = {}  # identity -> index of the new citizen in this batch
    pending_vouched: set[tuple[str, str]] = set()
    new_citizens: list[dict] = []
    plan: list[tuple[str, int] | None] = []
    for info in infos:
        if info is None or not (info.identities() or info.name):
            plan.append(None)
            continue
        ids = info.identities()
        if info.verified:
            matched = sorted({known[k] for k in ids if k in vouched})
            typed = [k for k in ids if k in known and k not in vouched]
        else:  # a vouched identity is someone's own; typed ones lead only to a citizen typed exactly so
            ids = [k for k in ids if k not in vouched and k not in pending_vouched]
            candidates = {known[k] for k in ids if k in known}
            matched = sorted(candidates) if len(candidates) == 1 and set(ids) == typed_sets[min(candidates)] else []
            ids = [k for k in ids if k not in known]  # never extend a citizen, nor take a known contact
            typed = []
        if matched:
            plan.append(("known", matched[0]))
            for other in matched[1:]:
                _merge(session, other, matched[0], actor, now)
                known.update({k: matched[0] for k, cid in known.items() if cid == other})
            for k in typed:
                known[k] = matched[0]
                claimed.add(k)
            if info.verified:  # typed earlier in this batch by someone else: taken over
                for k in ids:
                    if k in pending and k not in pending_vouched:
                        pending.pop(k)
                vouched.update(ids)
            known.update({k: matched[0] for k in ids if k not in known and k not in pending})
            continue
        in_batch = sorted({pending[k] for k in ids if k in pending and (not info.verified or k in pending_vouched)})
        if in_batch:
            index = in_batch[0]
        else:
            index = len(new_citizens)
            new_citizens.append({"public_id": uuid.uuid4().hex, "name": info.name, "created_at": now,
                                 "is_demo": is_demo})
        plan.append(("new", index))
        for k in ids:
            if k in known:  # a typed identity of a known citizen, claimed by this vouched one
                claimed.add(k)
                known.pop(k)
                stored.discard(k)
            if info.verified:
                pending[k] = index  # typed earlier in this batch by someone else: taken over
                pending_vouched.add(k)
            else:
                pending.setdefault(k, index)

    new_ids: list[int] = []
    if new_citizens:
        # Plain executemany (RETURNING in parameter order is row by row on SQLite), then map back.
        session.execute(insert(Citizen.__table__), new_citizens)
        by_public = dict(session.execute(select(Citizen.public_id, Citizen.id).where(
            Citizen.public_id.in_([c["public_id"] for c in new_citizens]))).all())
        new_ids = [by_public[c["public_id"]] for c in new_citizens]
    owner = {k: new_ids[index] for k, index in pending.items()}
    owner.update(known)
    for kind, value in claimed:  # the typed row moves to the citizen whose channel vouched for it
        session.execute(update(CitizenIdentity).where(CitizenIdentity.kind == kind, CitizenIdentity.value == value)
                        .values(citizen_id=owner[(kind, value)], verified=True))
    identity_rows = [{"citizen_id": new_ids[index], "kind": kind, "value": value, "created_at": now,
                      "verified": (kind, value) in pending_vouched}
                     for (kind, value), index in pending.items() if (kind, value) not in claimed]
    identity_rows += [{"citizen_id": cid, "kind": kind, "value": value, "created_at": now,
                       "verified": (kind, value) in vouched}
                      for (kind, value), cid in known.items() if (kind, value) not in stored and (kind, value) not in claimed]
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
