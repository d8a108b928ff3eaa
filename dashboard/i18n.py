"""Bahasa Indonesia first, English on request (the `lang` cookie, set by /lang/<code>)."""
from __future__ import annotations

from flask import has_request_context, request

TEXT: dict[str, tuple[str, str]] = {
    "open": ("Terbuka", "Open"), "new_hour": ("Baru 1 jam", "New, last hour"),
    "breached": ("Lewat SLA", "SLA breached"), "at_risk": ("Hampir lewat", "At risk"),
    "resolved_today": ("Selesai hari ini", "Resolved today"), "compliance": ("Kepatuhan SLA hari ini", "SLA compliance today"),
    "agency_queue": ("Antrean per perangkat daerah", "Queue per agency"), "map": ("Peta laporan terbuka", "Open reports map"),
    "ticker": ("Laporan terbaru", "Newest reports"), "incidents": ("Insiden aktif", "Active incidents"),
    "calls": ("Panggilan 112 berlangsung", "112 calls in progress"), "channels": ("Kanal hari ini", "Channels today"),
    "stale": ("DATA TIDAK TERBARUI: menyambung kembali ke server…", "DATA NOT UPDATING: reconnecting to the server…"),
    "no_incident": ("Tidak ada insiden aktif", "No active incident"), "forbidden": ("Akses ditolak", "Access denied"),
    "forbidden_text": ("Peran Anda tidak boleh membuka halaman ini.", "Your role may not open this page."),
    "login": ("Masuk", "Sign in"), "logout": ("Keluar", "Sign out"),
    "wall": ("Layar dinding", "Wall"), "operator": ("Operator", "Operator"), "agency": ("Perangkat daerah", "Agency"),
    "supervisor": ("Supervisor", "Supervisor"), "executive": ("Eksekutif", "Executive"), "public": ("Publik", "Public"),
    "queue": ("Antrean", "Queue"), "detail": ("Rincian laporan", "Report detail"), "actions": ("Tindakan", "Actions"),
    "verify_forward": ("Verifikasi & teruskan", "Verify & forward"), "reject": ("Tolak", "Reject"),
    "merge": ("Gabungkan", "Merge"), "ask": ("Minta info warga", "Ask the citizen"), "reply": ("Balas", "Reply"),
    "split": ("Pisahkan percakapan", "Split conversation"), "intake": ("Laporan langsung / telepon / surat",
                                                                   "Walk-in / phone / letter report"),
    "call112": ("Panggilan 112", "112 call"), "submit": ("Simpan", "Save"), "history": ("Laporan lain warga ini (semua kanal)", "This citizen's other reports (every channel)"),
    "conversation": ("Percakapan", "Conversation"),
    "suggestions": ("Saran mesin rute", "Routing suggestions"), "confidence": ("Keyakinan", "Confidence"),
    "score": ("skor", "score"),
    "score_help": ("Persentase = skor kategori dibanding kategori teratas (bobot kata kunci, bukan peluang)",
                   "Percentage = the category's score relative to the top category (keyword weights, not a probability)"),
    "accept": ("Terima", "Accept"), "progress": ("Perbarui progres", "Update progress"),
    "resolve": ("Selesaikan", "Resolve"), "transfer": ("Minta alih tugas", "Request transfer"),
    "evidence": ("Foto bukti", "Evidence photos"), "extension": ("Minta perpanjangan", "Request extension"),
    "explain": ("Penjelasan keterlambatan", "Delay explanation"), "timeline": ("Linimasa", "Timeline"),
    "approve": ("Setujui", "Approve"), "refuse": ("Tolak", "Refuse"), "pingpong": ("Laporan dioper > 2 kali",
                                                                               "Reports transferred > 2 times"),
    "performance": ("Kinerja perangkat daerah", "Agency performance"), "export_csv": ("Ekspor CSV", "Export CSV"),
    "export_xlsx": ("Ekspor XLSX", "Export XLSX"), "filter": ("Saring", "Filter"), "period": ("Periode", "Period"),
    "league": ("Peringkat perangkat daerah", "Agency league table"), "trend_daily": ("Tren harian", "Daily trend"),
    "trend_weekly": ("Tren mingguan", "Weekly trend"), "heatmap": ("Sebaran jam dan hari", "Hour x weekday"),
    "by_kecamatan": ("Laporan per kecamatan", "Reports by kecamatan"),
    "open_reports": ("Laporan terbuka", "Open reports"),
    "map_kelurahan": ("Laporan terbuka per kelurahan (saat ini)", "Open reports by kelurahan (now)"), "adoption": ("Adopsi kanal", "Channel adoption"),
    "satisfaction": ("Indeks kepuasan", "Satisfaction index"), "recurring": ("Masalah berulang", "Recurring problems"),
    "export_png": ("Unduh PNG", "Download PNG"), "export_pdf": ("Cetak PDF", "Print PDF"),
    "by_category": ("Per kategori", "By category"), "by_agency": ("Per perangkat daerah", "By agency"),
    "public_title": ("Transparansi layanan pengaduan Kota Tangerang", "Kota Tangerang complaint service in numbers"),
    "reports": ("Laporan", "Reports"), "none": ("Tidak ada data", "No data"), "pending_ext": ("Permintaan perpanjangan",
                                                                                       "Extension requests"),
    "breaches": ("Laporan lewat SLA dan hampir lewat", "Breached and at-risk reports"),
    "select_report": ("Pilih laporan dari antrean", "Pick a report from the queue"),
    "done": ("Tersimpan", "Saved"),
    "ops": ("Kanal & sistem", "Channels & system"), "ops_channels": ("Laporan per kanal, 24 jam", "Reports per channel, 24 h"),
    "ops_outbox": ("Balasan ke warga yang belum terkirim", "Replies to citizens not delivered"),
    "ops_dead_letters": ("Surat mati (tidak bisa menjadi laporan)", "Dead letters (could not become a report)"),
    "ops_retry": ("Kirim ulang", "Send again"), "ops_reprocess": ("Proses ulang", "Process again"),
    "ops_discard": ("Buang", "Discard"), "ops_worker": ("Pekerja latar (SLA, kotak masuk, kotak keluar)",
                                                        "Background worker (SLA, inbox, outbox)"),
    "ops_ok": ("BERJALAN", "RUNNING"), "ops_down": ("BERHENTI", "STOPPED"), "ops_last_beat": ("detak terakhir", "last beat"),
    "ops_inbox": ("Kotak masuk menunggu", "Inbox waiting"), "ops_oldest": ("tertua", "oldest"),
    "ops_outbox_pending": ("Kotak keluar menunggu", "Outbox waiting"), "ops_retrying": ("dicoba ulang", "retrying"),
    "ops_outbox_failed": ("Gagal terkirim", "Failed to send"), "ops_pick_id": ("Isi nomor # dari tabel", "Enter a # from the table"),
    "ops_not_failed": ("bukan pesan gagal", "not a failed message"),
    "ops_reason_needed": ("Tulis alasan membuang", "Write why it is discarded"),
    "ops_models": ("Model routing (versi dan skor)", "Routing model (versions and scores)"),
    "ops_model_rollback": ("Kembalikan ke versi", "Roll back to version"),
    "ops_model_shipped": ("kosong = model bawaan", "empty = shipped model"),
    "ops_model_admin_only": ("Hanya admin yang boleh mengembalikan model", "Only an admin may roll back the model"),
    "ops_model_none": ("Belum ada versi terlatih: model bawaan aktif", "No trained version: the shipped model is active"),
    "ph_agency": ("Perangkat daerah", "Agency"), "ph_reject_reason": ("Alasan penolakan", "Rejection reason"),
    "ph_template": ("Templat balasan", "Reply template"), "ph_category": ("Kategori", "Category"),
    "ph_stage": ("Tahap", "Stage"),
    "incident_help": ("Beberapa laporan satu kategori di satu kelurahan: satu keputusan untuk semuanya.",
                      "Several reports of one category in one kelurahan: one decision for all of them."),
    "incident_merge": ("Gabungkan ke laporan pertama", "Merge into the first report"),
    "incident_forward": ("Verifikasi & teruskan semua", "Verify & forward all"),
    "incident_close": ("Tutup peringatan", "Close the alert"),
    "ratings": ("Penilaian warga", "Citizen ratings"),
    "claimed": ("waktu menurut pengirim", "time stated by the sender"),
    "vs_previous": ("vs. {n} hari sebelumnya", "vs. previous {n} days"), "vs_yesterday": ("vs. kemarin", "vs. yesterday"),
    "points": ("poin", "points"), "uncategorised": ("Tanpa kategori", "Uncategorised"),
    "unknown_place": ("Lokasi belum diketahui", "Location not known"), "series_received": ("masuk", "received"), "series_resolved": ("selesai", "resolved"),
    "worker_down": ("PEKERJA LATAR BERHENTI: pengingat SLA, kotak masuk dan balasan warga tidak berjalan",
                    "BACKGROUND WORKER STOPPED: SLA timers, inbox and citizen replies are not running"),
}


# Column headings of the console and supervisor tables (the rows' keys).
COLUMNS: dict[str, tuple[str, str]] = {
    "ticket": ("Tiket", "Ticket"), "priority": ("Prioritas", "Priority"), "status": ("Status", "Status"),
    "agency": ("Perangkat daerah", "Agency"), "category": ("Kategori", "Category"), "received": ("Diterima", "Received"),
    "kecamatan": ("Kecamatan", "Kecamatan"), "stage": ("Tahap", "Stage"), "due": ("Tenggat", "Due"),
    "late_minutes": ("Terlambat (menit)", "Late (minutes)"), "sla": ("SLA", "SLA"), "transfers": ("Dioper", "Transfers"),
    "reports": ("Laporan", "Reports"), "open": ("Terbuka", "Open"), "accept_min": ("≈ Median terima (menit)",
                                                                             "≈ Median to accept (minutes)"),
    "resolve_h": ("≈ Median selesai (jam)", "≈ Median to resolve (hours)"), "compliance": ("Kepatuhan SLA %", "SLA compliance %"),
    "satisfaction": ("Kepuasan (1-5)", "Satisfaction (1-5)"), "id": ("#", "#"), "channel": ("Kanal", "Channel"),
    "last": ("Terakhir", "Last"), "count_24h": ("Jumlah 24 jam", "Count 24 h"), "recipient": ("Penerima", "Recipient"),
    "template": ("Templat", "Template"), "attempts": ("Percobaan", "Attempts"), "error": ("Galat", "Error"), "minutes": ("Menit", "Minutes"),
    "code": ("Kode alasan", "Reason code"), "reason": ("Alasan", "Reason"), "by": ("Oleh", "By"), "at": ("Waktu", "At"),
}


def column(name: str) -> str:
    pair = COLUMNS.get(name)
    if pair is None:
        return name
    return pair[1] if lang() == "en" else pair[0]


def lang() -> str:
    if has_request_context():
        value = request.cookies.get("lang", "id")
        return value if value in ("id", "en") else "id"
    return "id"


def t(key: str) -> str:
    pair = TEXT.get(key)
    if pair is None:
        return key
    return pair[1] if lang() == "en" else pair[0]
