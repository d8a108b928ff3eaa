"""Seeding is idempotent and never deletes what reports use; the event log is append-only."""
from __future__ import annotations

import shutil

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import DBAPIError

from domain.config import DATA_DIR
from domain.models import Agency, Area, Category, Event, SlaPolicy
from domain.seed import seed
from tests.helpers import incoming


def _counts(s):
    return [s.scalar(select(func.count()).select_from(m)) for m in (Agency, Category, Area, SlaPolicy)]


def test_seeding_twice_adds_nothing_the_second_time(services):
    with services.sessions.begin() as s:
        before = _counts(s)
        assert seed(s, DATA_DIR) == {"agencies": 0, "categories": 0, "areas": 0, "sla_policies": 0}
        assert _counts(s) == before == [18, 26, 104, 8]


def test_reseeding_updates_names_and_deactivates_instead_of_deleting(services, queue, tmp_path):
    queue.submit(incoming(category="TOURISM_CULTURE"))
    data = tmp_path / "data"
    shutil.copytree(DATA_DIR, data, ignore=shutil.ignore_patterns("*.db*", "attachments", "routing", "templates"))
    agencies = (data / "agencies.csv").read_text().splitlines()
    agencies = [line.replace("Dinas Pekerjaan Umum dan Penataan Ruang", "Dinas PUPR Kota Tangerang")
                for line in agencies if not line.startswith("DISBUDPAR,")]
    (data / "agencies.csv").write_text("\n".join(agencies) + "\n")
    with services.sessions.begin() as s:
        seed(s, data)
    with services.sessions() as s:
        assert s.get(Agency, "PUPR").name == "Dinas PUPR Kota Tangerang"
        disbudpar = s.get(Agency, "DISBUDPAR")
        assert disbudpar is not None and disbudpar.active is False  # still referenced by a category


def test_events_cannot_be_updated_or_deleted(services, queue):
    queue.submit(incoming())
    for statement in (update(Event).values(actor="mallory"), delete(Event)):
        with pytest.raises(DBAPIError, match="append-only"):
            with services.sessions.begin() as s:
                s.execute(statement)
    with services.sessions() as s:
        assert s.scalar(select(Event.actor)) == "system"
