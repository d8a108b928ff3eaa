"""The demo feed: realistic reports in informal Bahasa Indonesia from every channel, category and
kecamatan, moved through the lifecycle with agency delays (some late, some rejected, some duplicates).

Every demo report and citizen is labelled `is_demo`; the pages show a DEMO badge for them.
"""
from __future__ import annotations

import csv
import random
import uuid
from datetime import timedelta

from sqlalchemy import select

from domain.actors import Actor
from domain.intake import CitizenInfo, IncomingReport, LocationInfo
from domain.lifecycle import DomainError, Role, Status
from domain.models import Report

OPERATOR = Actor("demo-operator", Role.OPERATOR)
LIVE_WINDOW = timedelta(hours=12)  # the live feed moves the demo reports received this recently
CHANNELS = ["whatsapp"] * 6 + ["email", "instagram", "facebook", "x", "call112", "app", "app", "web", "walk_in"]
NAMES = ["Budi", "Siti", "Agus", "Dewi", "Rina", "Joko", "Ahmad", "Nur", "Yanti", "Hendra", "Lestari", "Fajar"]

# (category, text templates); {kel} and {kec} are replaced by a real kelurahan and kecamatan.
TEMPLATES = {
    "FLOOD": ["banjir lg di {kel} udh selutut, air msk rumah warga tlg dibantu",
              "Min, jalan depan gang di kel. {kel} kebanjiran parah, motor gk bisa lewat"],
    "FIRE": ["TOLONG ADA KEBAKARAN RUMAH DI {kel} KEC {kec} APINYA BESAR", "ada asap tebel dr gudang deket {kel}"],
    "ROAD": ["jalan berlubang gede bgt di {kel}, udh bnyk yg jatoh min", "aspal jalan di kec. {kec} rusak parah"],
    "DRAINAGE": ["got mampet di RT 03 RW 05 {kel}, bau bgt", "saluran air di {kel} tersumbat sampah"],
    "STREETLIGHT": ["lampu jalan mati semua di {kel}, gelap rawan begal", "PJU di kec {kec} mati udh seminggu"],
    "WASTE": ["sampah numpuk di TPS {kel} blm diangkut 3 hari", "tlg angkut sampah di pinggir jalan {kel}"],
    "WATER": ["air PDAM gk ngalir dr pagi di {kel}", "pipa bocor di {kel}, air muncrat ke jalan"],
    "TRAFFIC": ["macet parah di perempatan {kel}, lampu merah mati", "parkir liar bikin macet di {kel}"],
    "PUBLIC_ORDER": ["PKL makan badan jalan di {kel} min", "bangunan liar di bantaran kali {kel}"],
    "ACCIDENT": ["kecelakaan motor vs mobil di jl raya {kel}, ada korban", "tabrakan di dkt {kel}, butuh ambulans"],
    "DISASTER": ["pohon tumbang nutup jalan di {kel}", "angin kenceng, atap rumah warga {kel} roboh"],
    "CIVIL_REGISTRY": ["mau tanya bikin KTP di kec {kec} syaratnya apa aja?", "KK saya blm jadi udh sebulan"],
    "SOCIAL": ["ada ODGJ ngamuk di pasar {kel}", "pengemis anak2 di lampu merah {kel}"],
    "ELECTRICITY": ["listrik padam di {kel} dr jam 2", "kabel listrik putus jatuh ke jalan di {kel}"],
    "HEALTH_SERVICE": ["antrian puskesmas {kel} lama bgt", "minta fogging di {kel} bnyk yg kena DBD"],
    "OTHER": ["saran min, taman di {kel} dikasih lampu biar rame", "kapan jadwal car free day di {kec}?"],
}


def _areas(data_dir="data") -> list[dict]:
    from domain.config import DATA_DIR

    with (DATA_DIR / "areas.csv").open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


class DemoFeed:
    def __init__(self, queue, workflow, *, seed: int | None = None, rate_per_minute: int = 12):
        self.queue, self.workflow = queue, workflow
        self.random = random.Random(seed)
        self.rate_per_minute = rate_per_minute
        self.areas = _areas()
        self.recent: list[tuple[str, str, dict]] = []  # (category, text, area) for duplicates

    # ------------------------------------------------------------ reports
    def make_report(self, received_at) -> IncomingReport:
        rnd = self.random
        if self.recent and rnd.random() < 0.08:  # the same incident again, from another door
            category, text, area = rnd.choice(self.recent)
            text = "ini jg sama, " + text
        else:
            category = rnd.choice(list(TEMPLATES))
            area = rnd.choice(self.areas)
            text = rnd.choice(TEMPLATES[category]).format(kel=area["kelurahan"], kec=area["kecamatan"])
            self.recent = (self.recent + [(category, text, area)])[-20:]
        channel = rnd.choice(CHANNELS)
        phone = f"+62812{rnd.randrange(10_000_000, 99_999_999)}"
        citizen = CitizenInfo(
            name=f"{rnd.choice(NAMES)} (demo)",
            phone=phone if channel in ("whatsapp", "call112", "app", "walk_in") else None,
            email=f"warga{rnd.randrange(1000)}@example.org" if channel == "email" else None,
            handle=f"warga_{rnd.randrange(1000)}" if channel in ("instagram", "facebook", "x") else None,
            handle_kind=channel if channel in ("instagram", "facebook", "x") else None,
        )
        jitter = lambda: rnd.uniform(-0.004, 0.004)  # noqa: E731
        location = LocationInfo(
            text=f"{area['kelurahan']}, {area['kecamatan']}",
            lat=float(area["lat"]) + jitter() if rnd.random() < 0.6 else None,
            lon=None,
        )
        if location.lat is not None:
            location = LocationInfo(location.text, location.lat, float(area["lon"]) + jitter())
        return IncomingReport(
            channel=channel, external_id=f"demo-{uuid.UUID(int=rnd.getrandbits(128))}", text=text,
            received_at=received_at, citizen=citizen, location=location,
            # Without the routing engine the simulator says what it meant; with it, routing decides.
            category=category if self.queue.classifier is None else None,
            raw_payload={"demo": True, "text": text}, is_demo=True,
        )

    def backfill(self, count: int) -> int:
        """Create `count` reports spread over the last six hours and advance them."""
        now = self.queue.clock()
        items = [self.make_report(now - timedelta(minutes=self.random.uniform(0, 360))) for _ in range(count)]
        items.sort(key=lambda i: i.received_at)
        results = self.queue.submit_many(items)
        for result in results:
            self._advance(result.report, now, eager=True)
        return sum(r.created for r in results)

    def tick(self) -> None:
        """One step of the live feed (the scheduler calls it every 5 s)."""
        now = self.queue.clock()
        expected = self.rate_per_minute / 12
        count = int(expected) + (self.random.random() < expected - int(expected))
        for _ in range(count):
            self.queue.submit(self.make_report(now))
        with self.queue.sessions() as s:
            # Only the feed's own hours: the demo history's older open reports keep the pace it gave them.
            open_reports = list(s.scalars(
                select(Report).where(Report.is_demo, Report.received_at >= now - LIVE_WINDOW, Report.status.in_(
                    [Status.NEW, Status.ASSIGNED, Status.ACCEPTED, Status.IN_PROGRESS, Status.RESOLVED]))
                .order_by(Report.received_at).limit(200)))
        for report in open_reports:
            self._advance(report, now, eager=False)

    # ------------------------------------------------------------ lifecycle
    def _advance(self, report: Report, now, *, eager: bool) -> None:
        """Move a demo report one or more steps, with the pace of a real agency (some are slow)."""
        rnd = self.random
        age = (now - report.received_at).total_seconds() / 60
        slow = hash(report.ticket) % 5 == 0  # one agency in five is late
        officer = Actor(f"demo-{report.agency_code.lower()}", Role.AGENCY_OFFICER, report.agency_code)
        steps = 6 if eager else 1
        try:
            for _ in range(steps):
                status = Status(report.status)
                if status == Status.NEW and age > rnd.uniform(1, 4):
                    if rnd.random() < 0.06:
                        report = self.workflow.reject(report.ticket, OPERATOR, rnd.choice(["spam", "prank"]))
                    else:
                        report = self.workflow.verify_and_assign(report.ticket, OPERATOR)
                elif status == Status.ASSIGNED and age > rnd.uniform(3, 30 if slow else 8):
                    report = self.workflow.accept(report.ticket, officer)
                elif status == Status.ACCEPTED and age > 10:
                    report = self.workflow.start(report.ticket, officer, "tim menuju lokasi")
                elif status == Status.IN_PROGRESS and age > rnd.uniform(30, 400 if slow else 90):
                    report = self.workflow.resolve(report.ticket, officer, "sudah ditangani petugas (demo)")
                elif status == Status.RESOLVED and age > 120:
                    report = self.workflow.close(report.ticket, OPERATOR, satisfaction=rnd.choice([3, 4, 4, 5, 5, 2]))
                else:
                    return
        except DomainError:
            return
