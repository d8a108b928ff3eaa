"""Access logs never hold a credential: a logging filter that blanks secret query parameters.

The kiosk token (`?kiosk=`), API keys (`?api_key=`), a citizen's tracking code (`?kode=`), Meta's
`hub.verify_token` and any `token`,
`key`, `password` or `signature` parameter are replaced by `[redacted]` in the request lines that
`serve` (waitress, which writes no access log of its own: `AccessLog` below writes one line per request
to the `tlr.access` logger), Werkzeug and gunicorn (`--access-logfile`, whose atoms `r`, `U`, `q`, `f`
hold the URL and the referer) write. `install()` attaches the filter to their loggers.
"""
from __future__ import annotations

import logging
import re
import time

SECRET_PARAMS = re.compile(
    r"(?i)((?:^|[?&;]|%3F|%26)(?:kiosk|kode|api_?key|apikey|access_token|token|key|password|passwd|secret|signature|auth"
    r"|hub\.verify_token)(?:=|%3D))[^&;\s\"']*")
LOGGERS = ("tlr.access", "werkzeug", "gunicorn.access", "gunicorn.error")


def redact(text: str) -> str:
    return SECRET_PARAMS.sub(r"\1[redacted]", text)


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
