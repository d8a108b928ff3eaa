"""The command-line contract other tools rely on: submit, show, list --json; errors are one line on
stderr with a non-zero exit."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from domain.config import PROJECT_ROOT

REPORT = {
    "channel": "web", "external_id": "form-77", "text": "Sampah menumpuk di TPS Pasar Anyar, bau sekali",
    "received_at": "2026-11-23T09:15:00+07:00",
    "citizen": {"name": "Rina", "phone": "081377778888", "email": "rina@example.org"},
    "location": {"text": "Pasar Anyar, Sukasari", "lat": -6.178, "lon": 106.633},
}


@pytest.fixture
def run(database_url, tmp_path):
    env = dict(os.environ, DATABASE_URL=database_url, ATTACHMENTS_DIR=str(tmp_path / "att"))

    def _run(*args, stdin: bytes | None = None):
        return subprocess.run([sys.executable, "app.py", *args], input=stdin, capture_output=True,
                              cwd=PROJECT_ROOT, env=env, timeout=120)
    return _run


def test_submit_show_and_list(run):
    out = run("submit", "-", stdin=json.dumps(REPORT).encode())
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    for key in ("ticket", "status", "kind", "category", "priority", "agency", "sla"):
        assert key in report
    assert report["status"] == "NEW" and report["ticket"].startswith("TLR-")
    assert set(report["sla"]) == {"acknowledge", "dispatch", "resolve"}
    assert report["sla"]["acknowledge"]["due_at"].endswith("Z") and report["sla"]["dispatch"] is None

    again = json.loads(run("submit", "-", stdin=json.dumps(REPORT).encode()).stdout)
    assert again["ticket"] == report["ticket"], "submit is idempotent"

    shown = run("show", report["ticket"])
    assert shown.returncode == 0 and json.loads(shown.stdout)["ticket"] == report["ticket"]

    listed = run("list", "--json")
    lines = [json.loads(line) for line in listed.stdout.decode().splitlines()]
    assert [r["ticket"] for r in lines] == [report["ticket"]]


def test_submit_from_file(run, tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps(dict(REPORT, external_id="file-1")))
    assert json.loads(run("submit", str(path)).stdout)["status"] == "NEW"


@pytest.mark.parametrize("payload,field", [
    (b"{not json", "payload"),
    (json.dumps(dict(REPORT, channel="pigeon")).encode(), "channel"),
    (json.dumps(dict(REPORT, text="")).encode(), "text"),
    (json.dumps(dict(REPORT, category="NOPE")).encode(), "category"),
    (json.dumps(dict(REPORT, location={"lat": -91, "lon": 0})).encode(), "location.lat"),
    (json.dumps(dict(REPORT, received_at="2099-01-01T09:00:00+07:00")).encode(), "received_at"),  # the future
    (b"[" * 100_000 + b"]" * 100_000, "payload"),  # nested beyond the decoder's recursion
])
def test_errors_are_one_line_and_nonzero(run, payload, field):
    out = run("submit", "-", stdin=payload)
    assert out.returncode != 0
    err = out.stderr.decode().strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {field}")
    assert out.stdout == b""


def test_show_unknown_ticket(run):
    out = run("show", "TLR-2026-999999")
    assert out.returncode == 1 and "no report with ticket" in out.stderr.decode()
