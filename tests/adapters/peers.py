"""Real mail peers for the email tests: a throwaway Dovecot IMAP server on a free loopback port
(Debian's dovecot-imapd, any user name logs in with the password "secret" and gets a fresh Maildir)
and an aiosmtpd SMTP sink that keeps every message it receives."""
from __future__ import annotations

import email
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

DOVECOT = "/usr/sbin/dovecot"
PASSWORD = "secret"

CONFIG = """
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{root}/mail/%u/Maildir
first_valid_uid = 0
first_valid_gid = 0
default_internal_user = {internal_user}
default_login_user = {login_user}
default_internal_group = {group}
passdb {{
  driver = static
  args = password={password}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service stats {{
  inet_listener http {{
    port = 0
  }}
}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dovecot_available() -> bool:
    return os.path.exists(DOVECOT)


@dataclass
class Dovecot:
    root: Path
    port: int
    process: subprocess.Popen

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def start_dovecot(root: Path) -> Dovecot:
    import grp
    import pwd

    root.mkdir(parents=True, exist_ok=True)
    for d in ("run", "state", "mail"):
        (root / d).mkdir(exist_ok=True)
    port = free_port()
    user = pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid(os.getgid()).gr_name
    internal_user = login_user = user
    uid, gid = os.getuid(), os.getgid()
    if os.getuid() == 0:  # Dovecot's login processes refuse root: use the package's own users
        internal_user, login_user, group = "dovecot", "dovenull", "dovecot"
        for path in [root, *root.parents]:  # the login processes must reach the sockets
            if str(path) in ("/", "/tmp"):
                break
            path.chmod(path.stat().st_mode | 0o055)
        uid, gid = pwd.getpwnam("dovecot").pw_uid, grp.getgrnam("dovecot").gr_gid  # mail is stored as dovecot
        os.chown(root / "mail", uid, gid)
    conf = root / "dovecot.conf"
    conf.write_text(CONFIG.format(root=root, port=port, password=PASSWORD, uid=uid, gid=gid,
                                  internal_user=internal_user, login_user=login_user, group=group))
    process = subprocess.Popen([DOVECOT, "-F", "-c", str(conf)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = (root / "dovecot.log").read_text() if (root / "dovecot.log").exists() else ""
            raise RuntimeError(f"dovecot exited: {process.stdout.read().decode()} {log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                if s.recv(100).startswith(b"* OK"):
                    return Dovecot(root, port, process)
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("dovecot did not start listening")


@dataclass
class SmtpSink:
    port: int
    messages: list = field(default_factory=list)
    refuse: set = field(default_factory=set)  # recipients answered with 550
    controller: object = None

    def parsed(self):
        return [email.message_from_bytes(m["data"]) for m in self.messages]


def start_smtp_sink() -> SmtpSink:
    from aiosmtpd.controller import Controller

    sink = SmtpSink(port=free_port())

    class Handler:
        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            if address in sink.refuse:
                return "550 5.1.1 mailbox unavailable"
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server, session, envelope):
            sink.messages.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                                  "data": envelope.original_content or envelope.content})
            return "250 Message accepted"

    sink.controller = Controller(Handler(), hostname="127.0.0.1", port=sink.port)
    sink.controller.start()
    return sink


__all__ = ["start_dovecot", "start_smtp_sink", "dovecot_available", "PASSWORD", "shutil"]
