"""Seed reference data from `data/` idempotently: update names and targets, never duplicate rows,
never delete a row that reports refer to (rows missing from the files are only deactivated)."""
from __future__ import annotations

import csv
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.models import Agency, Area, Category, SlaPolicy
from domain.sla import STAGES, SlaBook


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return [{k: (v or "").strip() for k, v in row.items()} for row in csv.DictReader(fh)]


def _upsert(session: Session, model, key: tuple, values: dict) -> bool:
    row = session.get(model, key if len(key) > 1 else key[0])
    if row is None:
        session.add(model(**values))
        return True
    for name, value in values.items():
        setattr(row, name, value)
    return False


def seed(session: Session, data_dir: Path) -> dict[str, int]:
    """Load agencies, categories, areas and SLA policies; returns how many rows were added per table."""
    added = {"agencies": 0, "categories": 0, "areas": 0, "sla_policies": 0}
    agency_codes = set()
    for row in _rows(data_dir / "agencies.csv"):
        agency_codes.add(row["code"])
        added["agencies"] += _upsert(session, Agency, (row["code"],), dict(
            code=row["code"], name=row["name"], kind=row["kind"], handles=row.get("handles", ""),
            duty_phone=row.get("duty_phone") or None, duty_email=row.get("duty_email") or None,
            head_email=row.get("head_email") or None, active=True))
    session.flush()
    for agency in session.scalars(select(Agency).where(Agency.code.not_in(agency_codes))):
        agency.active = False
    category_codes = set()
    for row in _rows(data_dir / "categories.csv"):
        category_codes.add(row["code"])
        added["categories"] += _upsert(session, Category, (row["code"],), dict(
            code=row["code"], label_id=row["label_id"], label_en=row["label_en"], agency_code=row["agency"],
            priority=row["priority"], emergency=row["emergency"].lower() == "true",
            public=row.get("public", "").lower() == "true", active=True))  # no column: not public
    for category in session.scalars(select(Category).where(Category.code.not_in(category_codes))):
        category.active = False
    for row in _rows(data_dir / "areas.csv"):
        added["areas"] += _upsert(session, Area, (row["kode"],), dict(
            kode=row["kode"], kecamatan=row["kecamatan"], kelurahan=row["kelurahan"],
            postal_code=row["postal_code"], lat=float(row["lat"]), lon=float(row["lon"]),
            aliases=row.get("aliases", "")))
    book = SlaBook.load(data_dir)
    for (policy_set, priority), targets in book.targets.items():
        added["sla_policies"] += _upsert(session, SlaPolicy, (policy_set, priority), dict(
            policy_set=policy_set, priority=priority, name=targets.name, calendar=targets.calendar,
            **{f"{stage}_minutes": targets.minutes[stage] for stage in STAGES}))
    return added
