"""Reading hostile mail without a server: the shape check agrees with Python's parser on any nesting,
automatic mail is recognised by its markers (not by words), and dead letters are stored once."""
from __future__ import annotations

from email.message import Message as MimeMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import getaddresses

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st
from sqlalchemy import func, select

from domain.models import DeadLetter
from ingest.base import Unusable
from ingest.channels import Channels
from ingest.mail_automatic import automatic_reason
from ingest.mail_parse import MAX_MIME_DEPTH, check_shape, parse_mail
from tests.adapters import email_samples as samples

# ---------------------------------------------------------------- the shape check
# A MIME tree: a leaf (text), or a container (multipart of some kind, or message/rfc822) with children.
trees = st.recursive(
    st.just("leaf"),
    lambda children: st.one_of(
        st.tuples(st.sampled_from(["mixed", "alternative", "related"]), st.lists(children, min_size=1, max_size=3)),
        st.tuples(st.just("rfc822"), children.map(lambda c: [c])),
    ),
    max_leaves=60,
)


def build(tree, level: int = 0) -> MimeMessage:
    if tree == "leaf":
        return MIMEText(f"isi {level}", "plain", "utf-8")
    kind, children = tree
    if kind == "rfc822":
        outer = MimeMessage()
        outer["Content-Type"] = "message/rfc822"
        inner = build(children[0], level + 1)
        inner["From"] = "dalam@example.org"
        outer.set_payload([inner])
        return outer
    msg = MIMEMultipart(kind)
    for child in children:
        msg.attach(build(child, level + 1))
    return msg


def depth(tree) -> int:
    return 0 if tree == "leaf" else 1 + max(depth(c) for c in tree[1])


def chain(tree, extra: int):
    """Wrap `tree` in `extra` more levels (to reach past the limit)."""
    for i in range(extra):
        tree = ("mixed" if i % 2 else "rfc822", [tree])
    return tree


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=trees, extra=st.integers(0, MAX_MIME_DEPTH + 5))
def test_the_shape_check_refuses_exactly_the_mail_nested_deeper_than_the_limit(tree, extra, tmp_path_factory):
    tree = chain(tree, extra)
    msg = build(tree)
    msg["From"] = "warga@example.org"
    raw = msg.as_bytes()
    if depth(tree) > MAX_MIME_DEPTH:
        with pytest.raises(Unusable, match="nested more than"):
            check_shape(raw)
    else:
        check_shape(raw)
        parsed = parse_mail(raw, 10_000, tmp_path_factory.mktemp("att"))
        assert "isi" in parsed.text


def test_a_thousand_levels_are_refused_before_the_parser_recurses(tmp_path):
    with pytest.raises(Unusable, match=f"nested more than {MAX_MIME_DEPTH} MIME levels deep"):
        parse_mail(samples.nested("x", 1000), 10_000, tmp_path)
    assert "halo" in parse_mail(samples.nested("y", 10), 10_000, tmp_path).text


# ---------------------------------------------------------------- automatic mail
def senders(msg: MimeMessage) -> list[str]:
    return [address for _, address in getaddresses([msg["From"]])]


def mail(**headers) -> MimeMessage:
    msg = MimeMessage()
    msg["From"] = headers.pop("From", "Warga <warga@example.org>")
    for key, value in headers.items():
        msg[key.replace("_", "-")] = value
    msg.set_payload("isi")
    return msg


@pytest.mark.parametrize("headers, marker", [
    ({"Auto_Submitted": "auto-generated"}, "RFC 3834"),
    ({"Auto_Submitted": 'auto-replied; owner-email="x@example.org"'}, "RFC 3834"),
    ({"X_Autoreply": "yes"}, "X-Autoreply"),
    ({"X_Autorespond": "Out of office"}, "X-Autorespond"),
    ({"X_Auto_Response_Suppress": "DR, OOF, AutoReply"}, "X-Auto-Response-Suppress"),
    ({"Precedence": "bulk"}, "Precedence"),
    ({"Precedence": "list"}, "Precedence"),
    ({"Precedence": "junk"}, "Precedence"),
    ({"List_Id": "<warga.lists.example.org>"}, "mailing list"),
    ({"List_Unsubscribe": "<mailto:leave@lists.example.org>"}, "mailing list"),
    ({"List_Post": "<mailto:warga@lists.example.org>"}, "mailing list"),
    ({"Return_Path": "<>"}, "null sender"),
    ({"Return_Path": "<MAILER-DAEMON>"}, "null sender"),
    ({"From": "MAILER-DAEMON@mx.example.org (Mail Delivery System)"}, "automatic sender"),
    ({"From": "Mail Delivery Subsystem <mailer-daemon@googlemail.com>"}, "automatic sender"),
    ({"From": "noreply@bank.example.com"}, "automatic sender"),
], ids=lambda v: v if isinstance(v, str) else "-".join(v))
def test_automatic_mail_is_recognised_by_its_markers(headers, marker):
    msg = mail(**headers)
    assert marker in (automatic_reason(msg, senders(msg), {"text/plain"}) or "")


def test_delivery_reports_are_recognised_by_their_structure():
    assert "RFC 3464" in automatic_reason(mail(Content_Type="multipart/report; report-type=delivery-status"),
                                          ["x@example.org"], {"multipart/report"})
    assert "delivery-status part" in automatic_reason(mail(), ["surat@kominfo.example.go.id"],
                                                      {"multipart/mixed", "message/delivery-status"})


@pytest.mark.parametrize("headers", [
    {"Subject": "Undelivered Mail Returned to Sender"},  # a citizen may write anything
    {"Subject": "Automatic reply: banjir", "Auto_Submitted": "no"},
    {"X_Auto_Response_Suppress": "DR, RN, NRN"},  # Outlook asks for no read receipts: still a person
    {"Precedence": "first-class"},
    {"Return_Path": "<warga@example.org>"},
    {"From": "postmaster.kelurahan@example.org"},
])
def test_a_persons_mail_is_not_automatic(headers):
    msg = mail(**headers)
    assert automatic_reason(msg, senders(msg), {"text/plain"}) is None


# ---------------------------------------------------------------- dead letters once per message
def test_a_dead_letter_is_stored_once_per_source_message_whatever_its_status(services):
    inbox = Channels(services).inbox
    first = inbox.dead_letter("email", b"raw one", "automatic message", {"imap_uid": 1}, status="ignored")
    assert inbox.dead_letter("email", b"raw one", "automatic message", {"imap_uid": 7}, status="ignored") == first
    opened = inbox.dead_letter("email", b"raw two", "no sender")
    with services.sessions.begin() as s:
        s.get(DeadLetter, opened).status = "discarded"
    assert inbox.dead_letter("email", b"raw two", "no sender") == opened  # discarded stays discarded
    assert inbox.dead_letter("x", b"raw one", "other channel") not in (first, opened)
    with services.sessions() as s:
        assert s.scalar(select(func.count()).select_from(DeadLetter)) == 3
        assert s.get(DeadLetter, opened).status == "discarded"


@pytest.mark.parametrize("results,sender,expected", [
    (["mx.kota.go.id; dkim=pass header.d=example.org header.s=s1"], "warga@example.org", True),
    (["mx.kota.go.id; dkim=pass header.d=example.org"], "warga@mail.example.org", True),  # a parent domain signs
    (["mx.kota.go.id; spf=pass smtp.mailfrom=bounce@example.org"], "warga@example.org", True),
    (["mx.kota.go.id; dmarc=pass (p=none) header.from=example.org"], "warga@example.org", True),
    (["MX.KOTA.GO.ID 1; dkim=pass (good signature) header.d=example.org"], "warga@example.org", True),
    (["mx.kota.go.id; dkim=pass header.d=evil.example"], "warga@example.org", False),  # signed, by someone else
    (["mx.kota.go.id; dkim=pass header.d=example.org"], "warga@notexample.org", False),
    (["mx.kota.go.id; dkim=fail header.d=example.org; spf=softfail smtp.mailfrom=example.org"], "warga@example.org",
     False),
    (["mx.evil.example; dkim=pass header.d=example.org"], "warga@example.org", False),  # not our server
    (["mx.kota.go.id; none"], "warga@example.org", False),
    (["mx.kota.go.id; dkim=fail header.d=example.org", "mx.kota.go.id; dkim=pass header.d=example.org"],
     "warga@example.org", False),  # only the topmost field, ours; a forged one below is never read
    ([], "warga@example.org", False),
])
def test_only_our_servers_passing_verdict_for_the_senders_domain_vouches(results, sender, expected):
    from ingest.mail_auth import authenticated

    assert authenticated(results, sender, ("mx.kota.go.id",)) is expected
    assert authenticated(results, sender, ()) is False  # nobody trusted: nobody vouched for
