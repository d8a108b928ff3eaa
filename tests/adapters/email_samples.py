"""Sample mails as citizens' clients and mail servers send them."""
from __future__ import annotations

from email.message import EmailMessage
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText


def plain(i: int | str, body: str = "Jalan rusak parah di Jl. Imam Bonjol, Karawaci.", *,
          sender: str = "Warga Satu <warga1@example.org>", subject: str = "Laporan jalan rusak",
          **headers) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "laporan@tangerangkota.go.id"
    msg["Subject"] = subject
    msg["Message-ID"] = f"<citizen-{i}@example.org>"
    msg["Date"] = "Mon, 23 Nov 2026 07:30:00 +0700"
    for key, value in headers.items():
        msg[key.replace("_", "-")] = value
    msg.set_content(body)
    return msg.as_bytes()


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
