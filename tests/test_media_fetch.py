"""Outbound fetches of URLs from outside (ingest/fetch.py), against real local servers: https only, public
addresses after resolution (and the connection goes to the address that was checked), redirects checked
again, size and time limits, the media allow-list, and the Twilio credentials only for Twilio's own media
URLs of our account."""
from __future__ import annotations

import base64
import socket
import threading
import time

import pytest
from sqlalchemy import select

from domain.intake import IncomingReport
from domain.models import Attachment
from ingest.config import ApiClient
from ingest.fetch import FetchPolicy, FetchRefused, fetch, url_problem
from ingest.media import fetch_pending_media
from tests.adapters.fake_providers import FakeProvider, Reply
from tests.adapters.helpers import TWILIO_SID, TWILIO_TOKEN, channel_config, ingest_app

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
BASIC = "Basic " + base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
MEDIA = f"/2010-04-01/Accounts/{TWILIO_SID}/Messages/MM1/Media/ME1"


class RawServer:
    """A loopback server that answers every connection with `answer(conn)`, counting connections."""

    def __init__(self, answer):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.connections = 0
        self.answer = answer
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            try:
                conn.recv(65536)
                self.answer(conn)
            except OSError:
                pass
            finally:
                conn.close()

    def close(self):
        self.sock.close()


def _ok(conn):
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: %d\r\n\r\n" % len(PNG) + PNG)


@pytest.fixture
def listener():
    server = RawServer(_ok)
    yield server
    server.close()


def _policy(*trusted, hosts=("*",), **kw):
    return FetchPolicy(allowed_hosts=hosts, trusted_bases=trusted, **kw)


@pytest.mark.parametrize("url", [
    "http://{host}/x.png",                      # not https
    "https://localhost:{port}/x.png",           # a name that resolves to loopback
    "https://127.0.0.1:{port}/x.png",
    "https://127.1:{port}/x.png",
    "https://2130706433:{port}/x.png",          # 127.0.0.1 as a number
    "https://0x7f000001:{port}/x.png",
    "https://[::1]:{port}/x.png",
    "https://[::ffff:127.0.0.1]:{port}/x.png",  # IPv4-mapped
    "https://[2002:7f00:1::1]:{port}/x.png",    # 6to4 around 127.0.0.1
    "https://10.1.2.3/x.png", "https://192.168.1.1/x.png", "https://172.16.0.1/x.png",
    "https://169.254.169.254/latest/meta-data/", "https://100.64.0.1/x", "https://0.0.0.0:{port}/x",
    "https://224.0.0.1/x", "https://[fe80::1]/x", "https://[fc00::1]/x",
    "https://user:pw@example.com/x.png",
    "ftp://example.com/x.png", "file:///etc/passwd", "gopher://127.0.0.1:{port}/_x",
])
def test_urls_that_lead_inward_are_refused_before_any_connection(listener, url):
    url = url.format(host=f"127.0.0.1:{listener.port}", port=listener.port)
    with pytest.raises(FetchRefused):
        fetch(url, 1000, _policy())
    assert listener.connections == 0


def test_every_address_a_name_resolves_to_must_be_public_and_the_checked_one_is_used(listener):
    calls = []

    def mixed(host, port, **kw):  # one public and one private answer: refused
        calls.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("1.1.1.1", port)),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    with pytest.raises(FetchRefused):
        fetch(f"https://media.example.com:{listener.port}/x.png", 1000, _policy(resolve=mixed))

    def rebinding(host, port, **kw):  # public when checked, loopback when asked again (DNS rebinding)
        calls.append(host)
        address = "192.0.0.170" if len(calls) > 2 else "1.1.1.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    with pytest.raises(Exception):  # the public address does not answer here; what matters is where we went
        fetch(f"https://media.example.com:{listener.port}/x.png", 1000,
              _policy(resolve=rebinding, timeout_seconds=0.3, total_seconds=0.5))
    assert calls == ["media.example.com"] * 2  # resolved once per fetch, never again at connect time
    assert listener.connections == 0


def test_the_allow_list_and_the_intake_check():
    policy = FetchPolicy.from_config(channel_config(), extra_hosts="media.qlue.id,.lapor.go.id")
    assert url_problem("https://media.qlue.id/a.jpg", policy) is None
    assert url_problem("https://cdn.lapor.go.id/a.jpg", policy) is None
    assert url_problem("https://api.twilio.com/2010-04-01/x", policy) is None
    assert "allow-list" in url_problem("https://evil.example/a.jpg", policy)
    assert "allow-list" in url_problem("https://media.qlue.id.evil.example/a.jpg", policy)
    assert "https" in url_problem("http://media.qlue.id/a.jpg", policy)
    assert url_problem("https://10.0.0.1/a.jpg", _policy()) is not None
    assert url_problem("https://media.qlue.id/a.jpg\r\nHost: x", policy) is not None


def test_redirects_are_checked_again_and_credentials_stay_with_twilio():
    with FakeProvider() as twilio, FakeProvider() as cdn:
        twilio.on("GET", MEDIA, Reply(302, b"", {"Location": f"{cdn.url}/signed/ME1.png"}, "text/plain"))
        twilio.on("GET", f"/2010-04-01/Accounts/{TWILIO_SID}/Messages/MM2/", Reply(302, b"", {
            "Location": "http://169.254.169.254/latest/meta-data/"}, "text/plain"))
        twilio.on("GET", f"/2010-04-01/Accounts/{TWILIO_SID}/Messages/MM3/", Reply(302, b"", {
            "Location": "https://127.0.0.1:9/x"}, "text/plain"))
        twilio.on("GET", "/", Reply(200, PNG, content_type="image/png"))
        cdn.on("GET", "/signed/", Reply(200, PNG, content_type="image/png"))
        config = channel_config(twilio_api_base=twilio.url, meta_graph_base=cdn.url)
        policy = FetchPolicy.from_config(config, extra_hosts="")
        data, ctype = fetch(twilio.url + MEDIA, 1000, policy)
        assert (data, ctype) == (PNG, "image/png")
        assert twilio.requests[-1].headers["Authorization"] == BASIC
        assert "Authorization" not in cdn.requests[-1].headers  # not carried to another host
        for mm in ("MM2", "MM3"):
            with pytest.raises(FetchRefused):
                fetch(f"{twilio.url}/2010-04-01/Accounts/{TWILIO_SID}/Messages/{mm}/Media/ME", 1000, policy)
        # the Twilio host, but not our account's media: no credentials (old code: any URL under the base)
        for path in ("/other/x.png", "/2010-04-01/Accounts/AC" + "1" * 32 + "/Media/x",
                     f"/2010-04-01/Accounts/{TWILIO_SID}/../AC{'1' * 32}/Media/x"):
            fetch(twilio.url + path, 1000, policy)
            assert "Authorization" not in twilio.requests[-1].headers, path
        assert url_problem(f"{twilio.url}/x") is not None  # untrusted without the configured base


def test_size_and_time_limits_hold_without_a_content_length():
    def chunked(conn):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(50):
            conn.sendall(b"400\r\n" + b"x" * 1024 + b"\r\n")
        conn.sendall(b"0\r\n\r\n")

    def trickle(conn):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 100000\r\n\r\n")
        for _ in range(100):
            conn.sendall(b"x")
            time.sleep(0.05)

    def liar(conn):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 999999999\r\n\r\nxx")

    big, slow, lying = RawServer(chunked), RawServer(trickle), RawServer(liar)
    try:
        with pytest.raises(FetchRefused, match="larger than"):
            fetch(big.url + "/x", 10_000, _policy(big.url))
        started = time.monotonic()
        with pytest.raises(Exception, match="too long|timed out|Timeout"):
            fetch(slow.url + "/x", 1_000_000, _policy(slow.url, timeout_seconds=1, total_seconds=1))
        assert time.monotonic() - started < 3
        with pytest.raises(FetchRefused, match="larger than"):
            fetch(lying.url + "/x", 10_000, _policy(lying.url))
    finally:
        for server in (big, slow, lying):
            server.close()


def test_an_open311_media_url_inward_is_refused_at_intake_and_never_fetched_by_the_worker(services, listener):
    client = ingest_app(services, channel_config(api_clients=(ApiClient("qlue", "qlue-key", "open311"),)))[0]
    client = client.test_client()
    form = {"api_key": "qlue-key", "service_code": "ROAD", "address_string": "Jl. Baru", "description": "lubang"}
    for url in (f"http://127.0.0.1:{listener.port}/x.png", f"https://localhost:{listener.port}/x.png",
                "https://169.254.169.254/latest/meta-data/iam"):
        answer = client.post("/open311/v2/requests.json", data=dict(form, media_url=url))
        assert answer.status_code == 400 and "media_url" in answer.text, url
    # a URL stored before this check (or by another path) is refused by the worker for good
    services.queue.submit(IncomingReport.from_dict({
        "channel": "open311", "external_id": "qlue:old", "text": "lubang", "received_at": services.queue.clock().isoformat(),
        "attachments": [{"filename": "media", "source_url": f"{listener.url}/x.png"},
                        {"filename": "media2", "source_url": f"https://localhost:{listener.port}/y.png"}]}))
    _, channels = ingest_app(services, channel_config())
    assert fetch_pending_media(channels) == 0
    assert listener.connections == 0
    with services.sessions() as s:
        assert [a.path for a in s.scalars(select(Attachment).order_by(Attachment.id))] == ["", ""]
