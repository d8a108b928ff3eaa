"""Access logs never hold a credential: a logging filter that blanks secret query parameters.

The kiosk token (`?kiosk=`), API keys (`?api_key=`), a citizen's tracking code (`?kode=`), Meta's
`hub.verify_token` and any `token`,
`key`, `password` or `signature` parameter are replaced by `[redacted]`, in any case and however
percent-encoded (`api%5Fkey=`, `%6Biosk=`, `kiosk%3D` inside an encoded `next=` URL), in the request lines that
`serve` (waitress, which writes no access log of its own: `AccessLog` below writes one line per request
to the `tlr.access` logger), Werkzeug and gunicorn (`--access-logfile`, whose atoms `r`, `U`, `q`, `f`
hold the URL and the referer) write. `install()` attaches the filter to their loggers.
"""
from __future__ import annotations

import logging
import re
import time
from urllib.parse import unquote

SECRET_NAMES = re.compile(r"(?:kiosk|kode|api[_-]?key|apikey|access[_-]?token|token|key|password|passwd|secret"
                          r"|signature|auth|hub\.verify_token)")
_ENC = r"%(?:25)*"  # a percent sign, itself encoded any number of times (a URL inside a URL inside a URL)
# one parameter: after the start, ?, & or ; (or one of them percent-encoded), a name (its characters
# perhaps percent-encoded: api%5Fkey, %6Biosk), = (or %3D), and the value up to the next delimiter (in a
# value that is itself a URL, `next=%2Fwall%3Fkiosk%3D...`, also up to the next encoded one)
_NAME_CHAR = r"[\w.\-]|%(?:25)*+(?!3F|26|3B|3D|2F|23)[0-9a-f]{2}"  # an encoded delimiter ends the name
_PARAM = (rf"(?i)((?:^|[?&;\s\"']|{_ENC}(?:3F|26|3B)))((?:{_NAME_CHAR})+)(=|{_ENC}3D)"
          r"((?:{stop}[^&;\s\"'])*)")
PARAMETER = re.compile(_PARAM.replace("{stop}", ""))
NESTED_PARAMETER = re.compile(_PARAM.replace("{stop}", rf"(?!{_ENC}(?:26|3B))"))
LOGGERS = ("tlr.access", "werkzeug", "gunicorn.access", "gunicorn.error")


def _name(raw: str) -> str:
    """A parameter name as the application reads it: percent-decoded (repeatedly), lower case."""
    for _ in range(5):
        decoded = unquote(raw)
        if decoded == raw:
            break
        raw = decoded
    return raw.lower()


def _redact_parameter(match: re.Match) -> str:
    delimiter, name, equals, value = match.groups()
    if SECRET_NAMES.fullmatch(_name(name)):
        return delimiter + name + equals + "[redacted]"
    return delimiter + name + equals + NESTED_PARAMETER.sub(_redact_parameter, value)  # a URL in the value


def redact(text: str) -> str:
    return PARAMETER.sub(_redact_parameter, text)


class RedactSecrets(logging.Filter):
    """Blank secret query parameters in a record's message and arguments (tuple or gunicorn's dict)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, dict):
            record.args = {k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()}
        elif isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


_FILTER = RedactSecrets()


def install() -> None:
    """Attach the filter to the web servers' loggers (idempotent)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


class AccessLog:
    """WSGI middleware: one line per request, in the common log format plus the time taken, with every
    secret parameter redacted; the client address is the one the app trusted (TRUSTED_PROXIES), the
    referer is not written. Used by `serve` (dashboard/serving.py)."""

    def __init__(self, app, logger: logging.Logger | None = None):
        self.app = app
        self.log = logger or logging.getLogger("tlr.access")

    def __call__(self, environ, start_response):
        started = time.monotonic()
        seen = {"status": "-"}

        def _start(status, headers, exc_info=None):
            seen["status"] = status.split(" ", 1)[0]
            return start_response(status, headers, exc_info)

        try:
            body = self.app(environ, _start)
        except Exception:
            self._line(environ, "500", 0, started)
            raise
        return _Counted(body, lambda size: self._line(environ, seen["status"], size, started))

    def _line(self, environ, status: str, size: int, started: float) -> None:
        query = environ.get("QUERY_STRING")
        target = environ.get("PATH_INFO", "") + (f"?{query}" if query else "")
        self.log.info('%s - - [%s] "%s %s %s" %s %s %.3fs', environ.get("REMOTE_ADDR", "-"),
                      time.strftime("%d/%b/%Y:%H:%M:%S %z"), environ.get("REQUEST_METHOD", "-"),
                      redact(target), environ.get("SERVER_PROTOCOL", "-"), status, size or "-",
                      time.monotonic() - started)


class _Counted:
    """The response body, passed through while its bytes are counted; the line is written at close()."""

    def __init__(self, body, done):
        self.body, self.done, self.size, self.closed = body, done, 0, False

    def __iter__(self):
        for chunk in self.body:
            self.size += len(chunk)
            yield chunk

    def close(self):
        if self.closed:
            return
        self.closed = True
        try:
            if hasattr(self.body, "close"):
                self.body.close()
        finally:
            self.done(self.size)
