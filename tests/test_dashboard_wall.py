"""The wall's figures from SQL aggregates, its change token, and the masking of personal data."""
from __future__ import annotations

import json
from datetime import timedelta

from dashboard import context, queries
from dashboard.masking import mask_text
from domain.actors import Actor
from domain.intake import IncomingReport


def _submit(queue, n, **extra):
    data = {"channel": "web", "external_id": f"wall-{n}", "text": f"laporan {n}",
            "received_at": queue.clock().isoformat(), **extra}
    return queue.submit(IncomingReport.from_dict(data)).report


def test_wall_counts_open_new_breached_and_at_risk(services, queue, workflow, clock):
    context.set_services(services)
    old = _submit(queue, 1, category="ROAD", agency="PUPR", priority="P3")
    clock.advance(hours=5)  # P3 acknowledges within 6 h: 5 h gone is in the last quarter
    _submit(queue, 2, category="FIRE", agency="DAMKAR", priority="P1")
    snap = queries.compute_wall(clock())
    assert snap["kpi"]["open"] == 2 and snap["kpi"]["new_hour"] == 1
    assert snap["kpi"]["at_risk"] == 1 and snap["kpi"]["breached"] == 0
    clock.advance(minutes=10)  # P1 acknowledge (5 min) is now overdue
    snap = queries.compute_wall(clock())
    assert snap["kpi"]["breached"] == 1 and snap["agencies"]["DAMKAR"]["red"] == 1
    assert snap["agencies"]["PUPR"] == {"open": 1, "red": 0, "amber": 1, "green": 0}
    workflow.reject(old.ticket, Actor("op", "operator"), "spam")
    assert queries.compute_wall(clock())["kpi"]["open"] == 1


def test_change_token_moves_with_every_recorded_change(services, queue, clock):
    context.set_services(services)
    before = queries.change_token(clock())
    assert queries.change_token(clock()) == before
    _submit(queue, 3)
    after = queries.change_token(clock())
    assert after != before
    snap = queries.wall_snapshot(after, clock())
    assert snap is queries.wall_snapshot(after, clock())  # cached: not recomputed
    assert queries.change_token(clock() + timedelta(seconds=queries.TIME_BUCKET_SECONDS)) != after


SECRETS = ("Ratna", "Sutrisno", "0812", "3456", "7890", "sutrisno", "@", "Melati", "KDRT", "korban", "tetangga")


def test_the_wall_receives_no_free_text_name_contact_or_address(services, queue, clock):
    """The ticker is category, kelurahan, channel, priority and time; nothing the wall receives (the snapshot
    every screen shares) carries a citizen's words, name, contact or address,
    a 112 report's least of all."""
    context.set_services(services)
    _submit(queue, 4, channel="call112", kind="EMERGENCY", category="CRIME",
            text="KDRT, korban Ibu Ratna, telp tetangga 0812/3456/7890, sutrisno [at] mail [dot] co [dot] id",
            citizen={"name": "Sutrisno Wibowo", "phone": "+6281234567890", "email": "sutrisno@example.org"},
            location={"text": "Jl. Melati No. 7, Cibodas", "lat": -6.2101, "lon": 106.6102})
    snap = queries.compute_wall(clock())
    item = snap["ticker"][0]
    assert set(item) == {"at", "channel", "priority", "kelurahan", "kecamatan", "category", "category_en"}
    assert (item["channel"], item["priority"], item["category"]) == ("call112", "P1", "Kriminalitas dan tawuran")
    shared = json.dumps(snap, default=str)  # the wall page renders from this and from reference data only
    for secret in SECRETS:
        assert secret not in shared, secret


def test_mask_text_keeps_short_numbers():
    assert mask_text("RT 03 RW 05 no 12") == "RT 03 RW 05 no 12"
    assert mask_text("call +62 812-3456-7890 now") == "call [telepon] now"


def test_open_breached_and_at_risk_per_kelurahan(services, queue, clock):
    context.set_services(services)
    queries._cache.clear()
    cikokol, sukasari = "36.71.01.1005", "36.71.01.1007"
    _submit(queue, 11, text="jalan rusak di kel. cikokol", category="ROAD", agency="PUPR", priority="P3")
    clock.advance(hours=5)
    _submit(queue, 12, text="kebakaran di kel. sukasari", category="FIRE", agency="DAMKAR", priority="P1")
    _submit(queue, 13, text="pohon tumbang di kel. sukasari", category="DISASTER", agency="BPBD", priority="P1")
    clock.advance(minutes=10)  # the P1 acknowledgements are overdue, the P3 one is at risk
    snap = queries.compute_wall(clock())
    assert snap["kelurahan"] == {cikokol: {"open": 1, "P3": 1}, sukasari: {"open": 2, "P1": 2}}
    assert queries.kelurahan_load(max_age=0) == {cikokol: {"open": 1, "red": 0, "amber": 1},
                                                 sukasari: {"open": 2, "red": 2, "amber": 0}}
    public = queries.public_kelurahan_open(max_age=0)
    assert public == {cikokol: 1, sukasari: 2} and all(isinstance(n, int) for n in public.values())
