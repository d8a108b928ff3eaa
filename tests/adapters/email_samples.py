"""Sample mails as citizens' clients and mail servers send them."""
from __future__ import annotations

from email.message import EmailMessage
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText


AUTHSERV_ID = "mx.tangerangkota.go.id"  # the receiving server the mail tests trust


def plain(i: int | str, body: str = "Jalan rusak parah di Jl. Imam Bonjol, Karawaci.", *,
          sender: str = "Warga Satu <warga1@example.org>", subject: str = "Laporan jalan rusak",
          verified: bool = True, **headers) -> bytes:
    """A citizen's plain mail; `verified`: as the city's receiving server saw it pass DKIM and SPF."""
    msg = EmailMessage()
    if verified:
        msg["Authentication-Results"] = verdict(sender)
    msg["From"] = sender
    msg["To"] = "laporan@tangerangkota.go.id"
    msg["Subject"] = subject
    msg["Message-ID"] = f"<citizen-{i}@example.org>"
    msg["Date"] = "Mon, 23 Nov 2026 07:30:00 +0700"
    for key, value in headers.items():
        msg[key.replace("_", "-")] = value
    msg.set_content(body)
    return msg.as_bytes()


def verdict(sender: str, result: str = "pass", authserv_id: str | None = None) -> str:
    """The Authentication-Results line the city's receiving server writes for a mail from `sender`."""
    domain = sender.rstrip(">").rpartition("@")[2]
    return (f"{authserv_id or AUTHSERV_ID}; dkim={result} header.d={domain} header.s=mail; "
            f"spf={result} smtp.mailfrom={sender.rstrip('>').rpartition('<')[2]}")


def html_latin1(i: int) -> bytes:
    html = "<html><head><style>p{}</style></head><body><p>Sampah menumpuk di <b>Pasar Anyar</b>" \
           " &mdash; caf\xe9 tutup</p><script>x()</script></body></html>"
    part = MIMEText(html, "html", "iso-8859-1")
    msg = MIMEMultipart("alternative")
    msg.attach(part)
    msg["From"] = "=?iso-8859-1?q?Ren=E9?= <rene@example.org>"
    msg["Subject"] = "=?iso-8859-1?q?Sampah_menumpuk_caf=E9?="
    msg["Message-ID"] = f"<html-{i}@example.org>"
    return msg.as_bytes()


def with_attachments(i: int, small: bytes, big: bytes) -> bytes:
    msg = MIMEMultipart()
    msg["From"] = "warga2@example.org"
    msg["Subject"] = "Foto banjir"
    msg["Message-ID"] = f"<att-{i}@example.org>"
    msg.attach(MIMEText("Foto terlampir, banjir di Periuk.", "plain", "utf-8"))
    for name, data in (("foto.jpg", small), ("video.mp4", big)):
        part = MIMEApplication(data, Name=name)
        part["Content-Disposition"] = f'attachment; filename="{name}"'
        msg.attach(part)
    return msg.as_bytes()


def bounce(i: int) -> bytes:
    return (b"From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\r\n"
            b"To: laporan@tangerangkota.go.id\r\nSubject: Undelivered Mail Returned to Sender\r\n"
            b"Message-ID: <bounce-" + str(i).encode() + b"@mx.example.org>\r\n"
            b"Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n"
            b"--b\r\nContent-Type: text/plain\r\n\r\nThis is the mail system.\r\n--b--\r\n")


# ---------------------------------------------------------------- hostile and automatic mail
def nested(i: int | str, depth: int) -> bytes:
    """A message nested `depth` multipart levels deep (1,000 levels are about 68 KB), as a fuzzer sends it."""
    head = (f"From: Penguji <fuzz-{i}@example.net>\r\nTo: laporan@tangerangkota.go.id\r\nSubject: bertingkat\r\n"
            f"Message-ID: <nested-{i}@example.net>\r\nDate: Mon, 23 Nov 2026 07:30:00 +0700\r\n"
            f"MIME-Version: 1.0\r\n").encode()
    opening = b"".join(b'Content-Type: multipart/mixed; boundary="lvl%d"\r\n\r\n--lvl%d\r\n' % (n, n)
                       for n in range(depth))
    closing = b"".join(b"\r\n--lvl%d--" % n for n in reversed(range(depth)))
    return head + opening + b"Content-Type: text/plain\r\n\r\nhalo" + closing + b"\r\n"


def dated(i: int | str, date: str, body: str = "Pohon tumbang menutup Jl. Daan Mogot, Batuceper.") -> bytes:
    """A citizen's mail whose Date: header says `date` (a wrong clock, or a lie)."""
    msg = EmailMessage()
    msg["From"] = f"Warga Tanggal <tanggal-{i}@example.org>"
    msg["To"] = "laporan@tangerangkota.go.id"
    msg["Subject"] = "Pohon tumbang"
    msg["Message-ID"] = f"<dated-{i}@example.org>"
    msg["Date"] = date
    msg.set_content(body)
    return msg.as_bytes()


def postfix_dsn(i: int | str, original_id: str = "<reply-1@tangerangkota.go.id>") -> bytes:
    """A delivery status notification as Postfix writes it (RFC 3464): our reply to a citizen bounced."""
    return f"""Return-Path: <>
Received: by mx1.example.org (Postfix) id 4Q1x2y3z; Mon, 23 Nov 2026 07:31:02 +0700 (WIB)
Date: Mon, 23 Nov 2026 07:31:02 +0700 (WIB)
From: MAILER-DAEMON@mx1.example.org (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: laporan@tangerangkota.go.id
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
	boundary="4Q1x2y3z.1795912262/mx1.example.org"
Message-Id: <20261123003102.4Q1x2y3z-{i}@mx1.example.org>

This is a MIME-encapsulated message.

--4Q1x2y3z.1795912262/mx1.example.org
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx1.example.org.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

<warga.lama@example.org>: host mail.example.org[203.0.113.7] said: 550 5.1.1
    <warga.lama@example.org>: Recipient address rejected: User unknown

--4Q1x2y3z.1795912262/mx1.example.org
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx1.example.org
X-Postfix-Queue-ID: 4Q1x2y3z
Arrival-Date: Mon, 23 Nov 2026 07:31:01 +0700 (WIB)

Final-Recipient: rfc822; warga.lama@example.org
Original-Recipient: rfc822;warga.lama@example.org
Action: failed
Status: 5.1.1
Remote-MTA: dns; mail.example.org
Diagnostic-Code: smtp; 550 5.1.1 <warga.lama@example.org>: Recipient address
    rejected: User unknown

--4Q1x2y3z.1795912262/mx1.example.org
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

From: Tangerang Live Room <laporan@tangerangkota.go.id>
To: warga.lama@example.org
Subject: Re: Laporan jalan rusak [TLR-2026-000001]
Message-ID: {original_id}
Auto-Submitted: auto-replied

--4Q1x2y3z.1795912262/mx1.example.org--
""".replace("\n", "\r\n").encode()


def gmail_dsn(i: int | str) -> bytes:
    """Gmail's bounce, from "Mail Delivery Subsystem": no Auto-Submitted, no null Return-Path on an
    APPENDed copy; a multipart/report with a message/delivery-status part and the original attached."""
    return f"""Delivered-To: laporan@tangerangkota.go.id
From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
To: laporan@tangerangkota.go.id
Subject: Delivery Status Notification (Failure)
Date: Mon, 23 Nov 2026 00:32:10 +0000
Message-ID: <gmail-dsn-{i}@mx.google.com>
MIME-Version: 1.0
Content-Type: multipart/report; boundary="000000000000a1b2c3"; report-type=delivery-status

--000000000000a1b2c3
Content-Type: multipart/related; boundary="000000000000a1b2c4"

--000000000000a1b2c4
Content-Type: multipart/alternative; boundary="000000000000a1b2c5"

--000000000000a1b2c5
Content-Type: text/plain; charset="UTF-8"

** Address not found **

Your message wasn't delivered to budi.salah@gmail.com because the address couldn't be found.

--000000000000a1b2c5
Content-Type: text/html; charset="UTF-8"

<html><body><h2>Address not found</h2><p>Your message wasn't delivered.</p></body></html>

--000000000000a1b2c5--

--000000000000a1b2c4--

--000000000000a1b2c3
Content-Type: message/delivery-status

Reporting-MTA: dns; googlemail.com
Received-From-MTA: dns; laporan@tangerangkota.go.id
Arrival-Date: Mon, 23 Nov 2026 00:32:09 -0800 (PST)

Final-Recipient: rfc822; budi.salah@gmail.com
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; The email account that you tried to reach does not exist.

--000000000000a1b2c3
Content-Type: message/rfc822

From: Tangerang Live Room <laporan@tangerangkota.go.id>
To: budi.salah@gmail.com
Subject: Re: Banjir [TLR-2026-000002]
Message-ID: <reply-2@tangerangkota.go.id>

Laporan Anda telah kami terima.

--000000000000a1b2c3--
""".replace("\n", "\r\n").encode()


def relay_dsn(i: int | str) -> bytes:
    """A bounce from a relay that sends it as multipart/mixed from an ordinary-looking address: only its
    message/delivery-status part says what it is."""
    return f"""From: Sistem Surat Dinas <surat@kominfo.example.go.id>
To: laporan@tangerangkota.go.id
Subject: Pemberitahuan pengiriman
Message-ID: <relay-dsn-{i}@kominfo.example.go.id>
Date: Mon, 23 Nov 2026 07:40:00 +0700
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="relay"

--relay
Content-Type: text/plain; charset=us-ascii

Pesan tidak dapat dikirim.

--relay
Content-Type: message/delivery-status

Reporting-MTA: dns; relay.kominfo.example.go.id

Final-Recipient: rfc822; pejabat@example.go.id
Action: failed
Status: 5.2.2

--relay--
""".replace("\n", "\r\n").encode()


def mailman_digest(i: int | str) -> bytes:
    """A Mailman 2.1 MIME digest of a residents' list the city's address is subscribed to."""
    return f"""From: warga-tangerang-request@lists.example.org
Subject: Warga-tangerang Digest, Vol 12, Issue {i}
To: warga-tangerang@lists.example.org
Reply-To: warga-tangerang@lists.example.org
Date: Mon, 23 Nov 2026 07:00:01 +0700
Message-ID: <mailman.{i}.1795910401.1234.warga-tangerang@lists.example.org>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="===============0123456789=="
Errors-To: warga-tangerang-bounces@lists.example.org
Sender: "Warga-tangerang" <warga-tangerang-bounces@lists.example.org>
List-Id: Forum warga Kota Tangerang <warga-tangerang.lists.example.org>
List-Unsubscribe: <https://lists.example.org/mailman/options/warga-tangerang>,
	<mailto:warga-tangerang-request@lists.example.org?subject=unsubscribe>
List-Archive: <https://lists.example.org/pipermail/warga-tangerang/>
List-Post: <mailto:warga-tangerang@lists.example.org>
List-Help: <mailto:warga-tangerang-request@lists.example.org?subject=help>
List-Subscribe: <https://lists.example.org/mailman/listinfo/warga-tangerang>,
	<mailto:warga-tangerang-request@lists.example.org?subject=subscribe>

--===============0123456789==
Content-Type: text/plain; charset="us-ascii"
Content-Description: Warga-tangerang Digest, Vol 12, Issue {i}

Today's Topics:

   1. Jalan rusak di Cipondoh (Andi)
   2. Re: Jalan rusak di Cipondoh (Sari)

--===============0123456789==
Content-Type: multipart/digest; boundary="===============9876543210=="

--===============9876543210==

From: Andi <andi@example.org>
Subject: Jalan rusak di Cipondoh
Message-ID: <andi-1@example.org>

Jalan di depan pasar Cipondoh berlubang besar.

--===============9876543210==

From: Sari <sari@example.org>
Subject: Re: Jalan rusak di Cipondoh
Message-ID: <sari-1@example.org>

Sudah saya laporkan juga.

--===============9876543210==--

--===============0123456789==--
""".replace("\n", "\r\n").encode()


def exchange_out_of_office(i: int | str, in_reply_to: str = "<reply-3@tangerangkota.go.id>") -> bytes:
    """An Exchange/Outlook automatic reply (no Auto-Submitted: only Exchange's own marker)."""
    return f"""From: Kepala Dinas <kadis@dinas.example.go.id>
To: Tangerang Live Room <laporan@tangerangkota.go.id>
Subject: Automatic reply: Eskalasi SLA [TLR-2026-000003]
Date: Mon, 23 Nov 2026 00:45:00 +0000
Message-ID: <exchange-oof-{i}@dinas.example.go.id>
In-Reply-To: {in_reply_to}
References: {in_reply_to}
X-Auto-Response-Suppress: All
X-MS-Exchange-Inbox-Rules-Loop: kadis@dinas.example.go.id
X-MS-Has-Attach:
Content-Type: text/plain; charset="us-ascii"
MIME-Version: 1.0

Saya sedang cuti sampai 30 November. Untuk hal mendesak hubungi sekretariat.
""".replace("\n", "\r\n").encode()


def gmail_vacation(i: int | str, in_reply_to: str = "<reply-4@tangerangkota.go.id>") -> bytes:
    """Gmail's vacation responder answering our acknowledgement (RFC 3834 Auto-Submitted)."""
    return f"""From: Budi Santoso <budi.santoso@gmail.com>
To: laporan@tangerangkota.go.id
Subject: Re: Laporan jalan rusak [TLR-2026-000004]
Date: Mon, 23 Nov 2026 00:50:00 +0000
Message-ID: <CAvacation{i}@mail.gmail.com>
In-Reply-To: {in_reply_to}
References: {in_reply_to}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="0000000000vacation"

--0000000000vacation
Content-Type: text/plain; charset="UTF-8"

Terima kasih, saya sedang berlibur dan akan membalas setelah 1 Desember.

--0000000000vacation
Content-Type: text/html; charset="UTF-8"

<div>Terima kasih, saya sedang berlibur dan akan membalas setelah 1 Desember.</div>

--0000000000vacation--
""".replace("\n", "\r\n").encode()
