"""E-mail addresses are checked at intake, for every channel and the command line: control characters
(CR/LF would inject headers at send time), spaces and malformed forms are refused with the field named,
and nothing is written."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from hypothesis import given, settings, strategies as st
from sqlalchemy import func, select

from domain.actors import Actor
from domain.config import PROJECT_ROOT
from domain.db import make_engine
from domain.intake import IncomingReport, normalise_email
from domain.lifecycle import ValidationError
from domain.models import Citizen, OutboxMessage, Report
from ingest.config import ApiClient
from ingest.walkin import enter_report
from tests.adapters.helpers import channel_config, ingest_app

BAD = ["warga@example.org\r\nBcc: all@example.org", "warga@example.org\n", "war\rga@example.org",
       "warga@exa\x00mple.org", "warga@example.org\t", "warga@exam\u2028ple.org", "war ga@example.org",
       "warga@example", "warga@@example.org", "@example.org", "warga@", ".warga@example.org", "war..ga@example.org",
       "warga@-example.org", "warga@example..org", "\"warga\"@example.org", "warga@[10.0.0.1]", "warga@exa_mple.org",
       "warga@example.o", "warga@example.123", "w" * 65 + "@example.org", "warga@" + "a" * 250 + ".org"]
local_part = st.from_regex(r"[a-z0-9](?:[a-z0-9._+\-]{0,20}[a-z0-9])?", fullmatch=True).filter(lambda s: ".." not in s)
domain = st.lists(st.from_regex(r"[a-z0-9](?:[a-z0-9\-]{0,10}[a-z0-9])?", fullmatch=True), min_size=1, max_size=3).map(
    lambda labels: ".".join(labels)) .flatmap(lambda d: st.sampled_from(["id", "com", "org", "go.id"]).map(
        lambda tld: f"{d}.{tld}"))


@settings(max_examples=100, deadline=None)
@given(local_part, domain, st.sampled_from(["\r", "\n", "\r\n", "\x00", "\x1b", "\x7f", "\u0085", "\u200b"]),
       st.integers(0, 60))
def test_an_address_with_a_control_character_anywhere_is_refused(local, host, control, at):
    address = f"{local}@{host}"
    assert normalise_email(address.upper() if at % 2 else address).endswith(host)
    at = at % (len(address) + 1)
    with pytest.raises(ValidationError) as error:
        normalise_email(address[:at] + control + address[at:])
    assert error.value.field == "citizen.email"


@pytest.mark.parametrize("address", BAD)
def test_malformed_addresses_are_refused_with_a_clear_reason(address):
    with pytest.raises(ValidationError, match=r"citizen.email: .* is not an email address \(") as error:
        IncomingReport.from_dict({"channel": "web", "external_id": "x", "text": "x", "received_at": "2026-11-23T08:00:00Z",
                                  "citizen": {"email": address}})
    assert "\r" not in str(error.value) and "\n" not in str(error.value)  # the error line stays one line


def _rows(services):
    with services.sessions() as s:
        return tuple(s.scalar(select(func.count()).select_from(m)) for m in (Report, Citizen, OutboxMessage))


def test_every_channel_refuses_it_before_writing(services):
    server, channels = ingest_app(services, channel_config(api_clients=(ApiClient("laksa", "laksa-key", "app"),
                                                                        ApiClient("qlue", "qlue-key", "open311"))))
    client = server.test_client()
    bad = "warga@example.org\r\nBcc: semua@example.org"
    before = _rows(services)
    answer = client.post("/api/v1/reports", headers={"X-API-Key": "laksa-key"},
                         json={"client_report_id": "e-1", "text": "lampu mati", "citizen": {"email": bad}})
    assert answer.status_code == 400 and answer.json["field"] == "citizen.email"
    answer = client.post("/open311/v2/requests.json", data={"api_key": "qlue-key", "service_code": "STREETLIGHT",
                                                            "address_string": "Jl. Baru", "email": bad})
    assert answer.status_code == 400 and "citizen.email" in answer.json[0]["description"]
    with pytest.raises(ValidationError, match="citizen.email"):
        enter_report(channels, Actor("op1", "operator"), channel="letter", text="surat warga", citizen_email=bad)
    assert _rows(services) == before


def test_the_command_line_names_the_field_and_writes_nothing(database_url, tmp_path):
    report = {"channel": "web", "external_id": "cli-crlf", "text": "Sampah menumpuk", "received_at": "2026-11-23T09:15:00+07:00",
              "citizen": {"name": "Rina", "email": "rina@example.org\r\nBcc: x@example.org"}}
    env = dict(os.environ, DATABASE_URL=database_url, ATTACHMENTS_DIR=str(tmp_path / "att"))
    out = subprocess.run([sys.executable, "app.py", "submit", "-"], input=json.dumps(report).encode(),
                         capture_output=True, cwd=PROJECT_ROOT, env=env, timeout=120)
    assert out.returncode != 0 and out.stdout == b""
    [line] = out.stderr.decode().strip().splitlines()
    assert line.startswith("error: citizen.email: ") and "not an email address (control characters)" in line
    engine = make_engine(database_url)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Report)) == 0
    engine.dispose()
