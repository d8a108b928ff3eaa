"""Access logs never hold a credential: a logging filter that blanks secret query parameters.

The kiosk token (`?kiosk=`), API keys (`?api_key=`), a citizen's tracking code (`?kode=`), Meta's
`hub.verify_token` and any `token`,
`key`, `password` or `signature` parameter are replaced by `[redacted]` in the request lines that
Werkzeug (`serve`) and gunicorn (`--access-logfile`, whose atoms `r`, `U`, `q`, `f` hold the URL and
the referer) write. `install()` attaches the filter to their loggers; app.py calls it when it serves.
"""
from __future__ import annotations

import logging
import re

SECRET_PARAMS = re.compile(
    r"(?i)((?:^|[?&;]|%3F|%26)(?:kiosk|kode|api_?key|apikey|access_token|token|key|password|passwd|secret|signature"
    r"|hub\.verify_token)(?:=|%3D))[^&;\s\"']*")
LOGGERS = ("werkzeug", "gunicorn.access", "gunicorn.error")


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
