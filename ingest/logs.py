"""Access logs never carry a key or a token. Keys are not accepted in URLs (ingest/api.py), but a client
may still send one there, and some providers put tokens in query strings (Meta's hub.verify_token, the
kiosk's ?kiosk=): the web server's access log lines (werkzeug, gunicorn) get those values replaced by
`[redacted]` before any handler writes them."""
from __future__ import annotations

import logging
import re

SECRET_PARAMETERS = ("api_key", "apikey", "key", "token", "access_token", "kiosk", "hub.verify_token",
                     "password", "secret", "signature", "auth")
_SECRET_VALUE = re.compile(r"(?i)([?&;](?:%s)=)[^&\s\"'#]*" % "|".join(re.escape(p) for p in SECRET_PARAMETERS))
ACCESS_LOGGERS = ("werkzeug", "gunicorn.access")


def redact(text: str) -> str:
    return _SECRET_VALUE.sub(r"\1[redacted]", text)


class RedactSecrets(logging.Filter):
    """Rewrites a record's message with secret query values replaced (the arguments are folded in)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a record that cannot be formatted is left to the handler
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


def install() -> None:
    """Add the filter to the access loggers once (idempotent)."""
    for name in ACCESS_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())
