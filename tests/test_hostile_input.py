"""Hostile input at the city app API, Open311 and the evidence upload: malformed, oversized, wrongly
encoded, replayed and unauthenticated requests each get a clear error (never a 5xx), and leave no row
and no file behind."""
from __future__ import annotations

import io
import json

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import func, select

from dashboard import actions, context
from domain.actors import Actor
from domain.intake import IncomingReport
from domain.lifecycle import DomainError
from domain.models import Attachment, Citizen, DeadLetter, Report
from ingest.config import ApiClient
from tests.adapters.helpers import channel_config, ingest_app

KEY = {"X-API-Key": "laksa-key"}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40
SUSPECT = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def api(services):
    server, channels = ingest_app(services, channel_config(api_clients=(ApiClient("laksa", "laksa-key", "app"),
                                                                        ApiClient("qlue", "qlue-key", "open311"))))
    return server.test_client()


def _state(services):
    root = services.settings.attachments_dir
    files = sorted(str(p) for p in root.rglob("*") if p.is_file()) if root.exists() else []
    with services.sessions() as s:
        rows = tuple(s.scalar(select(func.count()).select_from(m)) for m in (Report, Attachment, Citizen, DeadLetter))
    return rows, files


def _refused(services, response, before, status=400):
    assert response.status_code == status, (response.status_code, response.get_data()[:300])
    body = response.get_json(silent=True)
    message = json.dumps(body) if body is not None else response.get_data(as_text=True)
    assert message.strip() and "Traceback" not in message
    assert _state(services) == before


def _photo(data=PNG, name="foto.png", ctype="image/png"):
    return (io.BytesIO(data), name, ctype)


def _multipart(report, *photos):
    return {"report": json.dumps(report) if not isinstance(report, (str, bytes)) else report,
            "photo": list(photos)}


BAD_API = [
    ("not json", dict(data=b"{not json", content_type="application/json")),
    ("latin-1 bytes", dict(data='{"client_report_id": "h1", "text": "jal\xe1n"}'.encode("latin-1"),
                           content_type="application/json")),
    ("a list", dict(json=[{"client_report_id": "h1", "text": "x"}])),
    ("no id", dict(json={"text": "jalan rusak"})),
    ("id is a bool", dict(json={"client_report_id": True, "text": "jalan rusak"})),
    ("no text", dict(json={"client_report_id": "h1"})),
    ("text not a string", dict(json={"client_report_id": "h1", "text": {"a": 1}})),
    ("bad latitude", dict(json={"client_report_id": "h1", "text": "x", "location": {"lat": "abc", "lon": 106.6}})),
    ("infinite latitude", dict(data=b'{"client_report_id": "h1", "text": "x", "location": {"lat": 1e999, "lon": 1}}',
                               content_type="application/json")),
    ("lat without lon", dict(json={"client_report_id": "h1", "text": "x", "location": {"lat": -6.2}})),
    ("unknown category", dict(json={"client_report_id": "h1", "text": "x", "category": "NOPE"})),
    ("bad phone", dict(json={"client_report_id": "h1", "text": "x", "citizen": {"phone": "not a phone"}})),
    ("bad time", dict(json={"client_report_id": "h1", "text": "x", "received_at": "yesterday"})),
    ("oversized", dict(json={"client_report_id": "h1", "text": "x" * 1_100_000})),
    ("photo of the wrong type", dict(data=_multipart({"client_report_id": "h1", "text": "x"},
                                                     _photo(b"<svg onload=alert(1)>", "x.svg", "image/svg+xml")),
                                     content_type="multipart/form-data")),
    ("bytes that are no photo", dict(data=_multipart({"client_report_id": "h1", "text": "x"},
                                                     _photo(b"MZ\x90\x00 an exe", "x.png")),
                                     content_type="multipart/form-data")),
    ("six photos", dict(data=_multipart({"client_report_id": "h1", "text": "x"}, *[_photo() for _ in range(6)]),
                        content_type="multipart/form-data")),
    ("valid photo, invalid report", dict(data=_multipart({"client_report_id": "h1", "text": "x", "category": "NOPE"},
                                                         _photo()), content_type="multipart/form-data")),
    ("report field not json", dict(data=_multipart("{{{", _photo()), content_type="multipart/form-data")),
    # a JSON lone surrogate is no character: UTF-8 (the database) cannot hold it (was a 500 in _insert_reports)
    ("lone surrogate in text", dict(data=b'{"client_report_id": "s1", "text": "PENTEST lampu \\ud800 mati"}',
                                    content_type="application/json")),
    ("lone surrogate in a name", dict(data=b'{"client_report_id": "s2", "text": "lampu mati", '
                                           b'"citizen": {"name": "Budi \\udfff"}}', content_type="application/json")),
    ("lone surrogate in the id", dict(data=b'{"client_report_id": "s\\ud83d", "text": "lampu mati"}',
                                      content_type="application/json")),
    ("lone surrogate in an extra field", dict(data=b'{"client_report_id": "s3", "text": "lampu mati", '
                                                   b'"note": ["\\udc00"]}', content_type="application/json")),
]


def test_the_app_api_refuses_bad_requests_clearly_and_writes_nothing(services, api):
    before = _state(services)
    for name, request_kwargs in BAD_API:
        kwargs = dict(request_kwargs)
        if "data" in kwargs and isinstance(kwargs["data"], dict):  # a fresh multipart body (files are read once)
            kwargs["data"] = {k: [(io.BytesIO(f[0].getvalue()), *f[1:]) for f in v] if isinstance(v, list) else v
                              for k, v in kwargs["data"].items()}
        try:
            _refused(services, api.post("/api/v1/reports", headers=KEY, **kwargs), before)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from None


def test_a_lone_surrogate_is_a_400_naming_the_field(services, api):
    answer = api.post("/api/v1/reports", headers=KEY, content_type="application/json",
                      data=b'{"client_report_id": "s9", "text": "lampu \\ud800 mati"}')
    assert answer.status_code == 400 and answer.json["field"] == "text" and "surrogate" in answer.json["message"]
    # a surrogate pair is one real character (an emoji) and is taken
    ok = api.post("/api/v1/reports", headers=KEY, content_type="application/json",
                  data=b'{"client_report_id": "s10", "text": "lampu mati \\ud83d\\ude00"}')
    assert ok.status_code == 201 and ok.json["text"].endswith("\U0001f600")


def test_unauthenticated_and_replayed_api_requests(services, api):
    body = {"client_report_id": "replay-1", "text": "lampu jalan mati"}
    before = _state(services)
    _refused(services, api.post("/api/v1/reports", json=body), before, 401)
    _refused(services, api.post("/api/v1/reports", json=body, headers={"Authorization": "Bearer nope"}), before, 401)
    _refused(services, api.post("/api/v1/reports?api_key=laksa-key", json=body), before, 400)
    _refused(services, api.post("/api/v1/reports", json=body, headers={"Authorization": "Basic bGFrc2E6a2V5"}), before, 401)
    first = api.post("/api/v1/reports", json=body, headers=KEY)
    assert first.status_code == 201
    after_first = _state(services)
    for replay in (body, dict(body, text="isi lain, kiriman ulang")):  # a replay changes nothing
        again = api.post("/api/v1/reports", json=replay, headers=KEY)
        assert again.status_code == 200 and again.json["ticket"] == first.json["ticket"]
        assert _state(services) == after_first
    photo = api.post("/api/v1/reports", headers=KEY, content_type="multipart/form-data",
                     data=_multipart({"client_report_id": "replay-2", "text": "foto"}, _photo()))
    again = api.post("/api/v1/reports", headers=KEY, content_type="multipart/form-data",
                     data=_multipart({"client_report_id": "replay-2", "text": "foto"}, _photo()))
    assert (photo.status_code, again.status_code) == (201, 200)
    rows, files = _state(services)
    assert rows[1] == 1 and len(files) == 1  # one attachment row and one file for the photo sent twice


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
                           max_leaves=8)
report_like = st.fixed_dictionaries({}, optional={
    "client_report_id": json_values | st.text(min_size=1, max_size=20), "text": json_values | st.text(max_size=50),
    "citizen": json_values, "location": json_values, "category": json_values | st.sampled_from(["ROAD", "WASTE"]),
    "received_at": json_values | st.sampled_from(["2026-11-23T08:00:00+07:00", "2026-02-30T08:00:00Z"])})


@SUSPECT
@given(body=report_like)
def test_any_json_gets_an_answer_and_only_a_created_report_leaves_a_row(services, api, body):
    before = _state(services)[0][0]
    response = api.post("/api/v1/reports", json=body, headers=KEY)
    assert response.status_code in (200, 201, 400), response.get_data()[:300]
    assert response.get_json()
    created = _state(services)[0][0] - before
    assert created == (1 if response.status_code == 201 else 0)


BAD_311 = [
    ("no key", {"service_code": "ROAD", "address_string": "Jl. A"}, 401),
    ("wrong key", {"api_key": "x", "service_code": "ROAD", "address_string": "Jl. A"}, 401),
    ("unknown service", {"api_key": "qlue-key", "service_code": "NOPE", "address_string": "Jl. A"}, 400),
    ("no location", {"api_key": "qlue-key", "service_code": "ROAD", "description": "x"}, 400),
    ("bad lat", {"api_key": "qlue-key", "service_code": "ROAD", "lat": "abc", "long": "106.6"}, 400),
    ("nan lat", {"api_key": "qlue-key", "service_code": "ROAD", "lat": "nan", "long": "106.6"}, 400),
    ("huge lat", {"api_key": "qlue-key", "service_code": "ROAD", "lat": "1e999", "long": "106.6"}, 400),
    ("lat out of range", {"api_key": "qlue-key", "service_code": "ROAD", "lat": "91", "long": "106.6"}, 400),
    ("bad email", {"api_key": "qlue-key", "service_code": "ROAD", "address_string": "Jl. A", "email": "a@b\r\nc"}, 400),
    ("bad media_url", {"api_key": "qlue-key", "service_code": "ROAD", "address_string": "Jl. A",
                       "media_url": "file:///etc/passwd"}, 400),
    ("oversized", {"api_key": "qlue-key", "service_code": "ROAD", "address_string": "Jl. A",
                   "description": "x" * 1_100_000}, 400),
]


def test_open311_refuses_bad_submissions_clearly_and_writes_nothing(services, api):
    before = _state(services)
    for name, form, status in BAD_311:
        response = api.post("/open311/v2/requests.json", data=form)
        try:
            _refused(services, response, before, status)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from None
        assert response.json[0]["description"], name  # GeoReport's error shape: [{"code", "description"}]


def test_open311_wrong_encoding_replays_and_odd_queries(services, api):
    before = _state(services)
    raw = b"api_key=qlue-key&service_code=ROAD&address_string=%FF%FE%00&description=%E9t%C3"
    response = api.post("/open311/v2/requests.json", data=raw, content_type="application/x-www-form-urlencoded")
    assert response.status_code in (201, 400)  # undecodable bytes are replaced, never a 5xx
    form = {"api_key": "qlue-key", "service_code": "ROAD", "address_string": "Jl. Replay", "description": "lubang"}
    first = api.post("/open311/v2/requests.json", data=form).json[0]["service_request_id"]
    state = _state(services)
    assert api.post("/open311/v2/requests.json", data=form).json[0]["service_request_id"] == first
    assert _state(services) == state
    for query in ("?start_date=yesterday", "?end_date=2026-13-45", "?service_request_id=" + ",".join(["X"] * 5000),
                  "?status=%00", "?service_code=%FF", "?service_code=%00", "?service_request_id=TLR%00"):
        answer = api.get("/open311/v2/requests.json" + query)
        assert answer.status_code in (200, 400) and isinstance(answer.json, list), query
    for ticket in ("..%2F..%2Fetc", "TLR-2026-%00", "x" * 500):
        assert api.get(f"/open311/v2/requests/{ticket}.json").status_code == 404
    assert before[0][0] <= _state(services)[0][0]


def test_nul_bytes_never_reach_the_database(services, api):
    """PostgreSQL text cannot hold a NUL: intake drops it from every field, and lookups by a ticket or a code
    from a URL check its shape first (no 5xx on either backend)."""
    created = api.post("/api/v1/reports", headers=KEY, json={
        "client_report_id": "nul\u0000-1", "text": "lampu\u0000 mati", "location": {"text": "Jl.\u0000 Baru"},
        "citizen": {"name": "Ani\u0000"}, "category": "STREETLIGHT"})
    assert created.status_code == 201 and "\x00" not in created.json["text"]
    assert api.get("/api/v1/reports/TLR-2026-%00", headers=KEY).status_code == 404
    raw = b"api_key=qlue-key&service_code=ROAD&address_string=Jl.%00A&first_name=A%00&description=x%00y"
    assert api.post("/open311/v2/requests.json", data=raw, content_type="application/x-www-form-urlencoded").status_code == 201


@SUSPECT
@given(form=st.dictionaries(st.sampled_from(["service_code", "lat", "long", "address_string", "description", "email",
                                             "phone", "first_name", "last_name", "media_url"]),
                            st.one_of(st.text(max_size=40), st.sampled_from(["ROAD", "-6.2", "106.6", "nan", "inf",
                                                                             "https://media.qlue.id/a.jpg"])),
                            max_size=10))
def test_any_open311_form_gets_an_answer(services, api, form):
    before = _state(services)[0][0]
    response = api.post("/open311/v2/requests.json", data=dict(form, api_key="qlue-key"))
    assert response.status_code in (201, 400), response.get_data()[:300]
    assert _state(services)[0][0] - before in ((0, 1) if response.status_code == 201 else (0,))


@SUSPECT
@given(data=st.one_of(st.binary(max_size=200), st.builds(lambda tail: PNG[:8] + tail, st.binary(max_size=50))),
       ctype=st.sampled_from(["image/png", "image/jpeg", "image/webp", "text/html", "", "image/svg+xml"]),
       name=st.text(max_size=40))
def test_any_evidence_upload_is_checked_before_it_is_written(services, data, ctype, name):
    context.set_services(services)
    report = services.queue.submit(IncomingReport.from_dict({
        "channel": "web", "external_id": "ev-1", "text": "sampah", "received_at": services.queue.clock().isoformat(),
        "category": "WASTE", "agency": "DLH"})).report
    if report.status == "NEW":
        services.workflow.verify_and_assign(report.ticket, Actor("op1", "operator"))
    before = _state(services)
    try:
        actions.add_evidence(Actor("dlh1", "agency_officer", "DLH"), report.ticket, name, ctype, data)
    except DomainError:
        assert _state(services) == before
        return
    assert ctype in ("image/png",) and data.startswith(PNG[:8])  # only a real PNG declared as PNG got through


DEEP = b"[" * 100_000 + b"]" * 100_000  # 200 KB: under every body cap, far beyond any decoder's recursion


def test_deeply_nested_json_is_a_clear_400_everywhere_never_a_500(live):
    """100,000 nested arrays at the app API (JSON and multipart), Open311, a Dash callback and a signed
    Meta webhook, against the real server: each a 400 with a clear message (the webhook, which only
    stages, is acknowledged and its drain sets the event aside), no traceback, no row."""
    import hashlib
    import hmac

    import requests

    from tests.browser_support import APP_KEY, META_APP_SECRET, OPEN311_KEY

    base, services = live["base"], live["services"]
    nested_object = b'{"a":' * 5000 + b"1" + b"}" * 5000  # objects too, and a depth the decoder survives
    with services.sessions() as s:
        before = s.scalar(select(func.count()).select_from(Report))
    visitor = requests.Session()  # the public page's visitor: its CSRF cookie, so the callback is read
    visitor.get(f"{base}/public", timeout=30)
    answers = {
        "api json": requests.post(f"{base}/api/v1/reports", data=DEEP, timeout=30,
                                  headers={"X-API-Key": APP_KEY, "Content-Type": "application/json"}),
        "api objects": requests.post(f"{base}/api/v1/reports", data=nested_object, timeout=30,
                                     headers={"X-API-Key": APP_KEY, "Content-Type": "application/json"}),
        "api multipart": requests.post(f"{base}/api/v1/reports", headers={"X-API-Key": APP_KEY}, timeout=30,
                                       files={"report": (None, DEEP, "application/json")}),
        "open311": requests.post(f"{base}/open311/v2/requests.json", data=DEEP, timeout=30,
                                 headers={"Content-Type": "application/json"}, params={"api_key": OPEN311_KEY}),
        "dash callback": visitor.post(f"{base}/_dash-update-component", data=DEEP, timeout=30,
                                      headers={"Content-Type": "application/json",
                                               "X-CSRFToken": visitor.cookies["_csrf_token"]}),
    }
    for name, response in answers.items():
        assert response.status_code == 400, (name, response.status_code, response.text[:300])
        assert "Traceback" not in response.text and response.text.strip(), name
    assert "nested too deeply" in answers["api json"].json()["message"]
    assert "nested too deeply" in answers["api objects"].json()["message"]
    sig = "sha256=" + hmac.new(META_APP_SECRET.encode(), DEEP, hashlib.sha256).hexdigest()
    hook = requests.post(f"{base}/webhooks/meta", data=DEEP, timeout=30,
                         headers={"Content-Type": "application/json", "X-Hub-Signature-256": sig})
    assert hook.status_code == 200  # staged; the drain below decodes it
    from ingest.channels import Channels
    from ingest.config import ChannelConfig

    Channels(services, ChannelConfig(meta_app_secret=META_APP_SECRET)).drainer.drain()
    with services.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Report)) == before
        letter = s.scalar(select(DeadLetter).where(DeadLetter.channel == "meta").order_by(DeadLetter.id.desc()))
        assert letter is not None and "nested too deeply" in letter.reason


def test_malformed_dash_callbacks_and_static_paths_are_4xx_never_a_500(live):
    """Crafted POST /_dash-update-component bodies from an anonymous visitor: each a 400 with a short JSON
    error (they were 500s with a traceback each); the public callback given a list as its period answers
    with the default period; unknown or traversing /_dash-component-suites/ paths are 404s."""
    import requests

    base = live["base"]
    visitor = requests.Session()
    visitor.get(f"{base}/public", timeout=30)
    headers = {"Content-Type": "application/json", "X-CSRFToken": visitor.cookies["_csrf_token"]}
    deps = visitor.get(f"{base}/_dash-dependencies", timeout=30).json()
    public = next(d for d in deps if "public-kpis.children" in d["output"])
    outputs = [dict(zip(("id", "property"), part.split("."))) for part in public["output"].strip(".").split("...")]
    assert len(outputs) == 5
    good = {"output": public["output"], "outputs": outputs, "changedPropIds": ["public-period.value"],
            "inputs": [{"id": "public-period", "property": "value", "value": "7d"}]}

    def post(body):
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return visitor.post(f"{base}/_dash-update-component", data=raw, headers=headers, timeout=30)

    assert post(good).status_code == 200
    crafted = {
        "a list": [1, 2, 3], "null": None, "empty object": {}, "output a number": {"output": 5},
        "unknown output": {**good, "output": "..x.children..."},
        "the page router's output without its inputs": {"output": "_pages_content.children", "outputs": {}},
        "outputs shorter than declared": {**good, "outputs": outputs[:4]},
        "outputs a string": {**good, "outputs": "x"},
        "changedPropIds a number": {**good, "changedPropIds": 5},
        "inputs missing": {**good, "inputs": []},
        "input without a property": {**good, "inputs": [{"id": "public-period", "value": "7d"}]},
    }
    for name, body in crafted.items():
        answer = post(body)
        assert answer.status_code == 400, (name, answer.status_code, answer.text[:200])
        assert answer.json()["error"] == "invalid callback request", name
    for period in (["7d"], {"a": 1}, 7, "1000y", None):
        answer = post({**good, "inputs": [{"id": "public-period", "property": "value", "value": period}]})
        assert answer.status_code == 200, (period, answer.status_code)
        assert answer.json()["response"]["public-kpis"]["children"], period
    for path in ("dash/..%2f..%2f..%2fetc%2fpasswd", "dash/dash.py", "os/path.py", "nope/x.js"):
        answer = requests.get(f"{base}/_dash-component-suites/{path}", timeout=30)
        assert answer.status_code == 404, (path, answer.status_code)
        assert "root:" not in answer.text
    log = live["log"].read_text(errors="replace")
    assert "KeyError" not in log and "DependencyException" not in log and "unhashable" not in log
