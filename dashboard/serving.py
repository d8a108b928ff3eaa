"""The embedded default's production web server: `python app.py serve` (and `make run`) runs the web app
under waitress, a pure-Python WSGI server (no development-server warning), with the scheduler in the
same process (app.py). `gunicorn app:server` plus `python app.py worker` stay the scale-out path.

Sized for a control room: WEB_THREADS (default 16) requests at once, each short (the wall refreshes in
well under 150 ms), enough for a few dozen screens polling every 1-3 s; WEB_CONNECTION_LIMIT (default
500) open connections, since every browser keeps about six alive; idle connections close after 120 s.
Request bodies past MAX_REQUEST_BYTES are refused by waitress itself (413, chunked ones too), before
the app's own per-route caps (dashboard/limits.py). X-Forwarded-* headers reach the app, which trusts
them only behind TRUSTED_PROXIES proxies (dashboard/limits.py). One access line per request, secrets redacted
(dashboard/access_log.py). SIGTERM and Ctrl-C stop it gracefully: no new requests, running ones get
a few seconds, then the caller stops the scheduler.
"""
from __future__ import annotations

import logging
import os
import signal
import threading
from dataclasses import dataclass

from dashboard.access_log import AccessLog

log = logging.getLogger("tlr.server")


def _env_int(name: str, default: int, low: int, high: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"environment variable {name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise ValueError(f"environment variable {name} must be between {low} and {high}, got {value}")
    return value


@dataclass(frozen=True)
class ServerOptions:
    threads: int = 16
    connection_limit: int = 500
    channel_timeout: int = 120  # seconds an idle connection stays open
    max_request_body_size: int = 16_000_000

    @classmethod
    def from_env(cls, max_request_bytes: int = 16_000_000) -> "ServerOptions":
        return cls(threads=_env_int("WEB_THREADS", 16, 1, 256),
                   connection_limit=_env_int("WEB_CONNECTION_LIMIT", 500, 10, 10_000),
                   max_request_body_size=max_request_bytes)


def configure_logging() -> None:
    """Access lines and the worker's messages on stderr (once; an embedding app's own setup wins)."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "task queue depth" lines at every burst


def _stop(signum, _frame):
    raise SystemExit(0)  # waitress's loop catches it and shuts its threads down


def run(app, host: str, port: int, options: ServerOptions | None = None, *, ready=None) -> None:
    """Serve `app` until SIGTERM or Ctrl-C (SIGINT). Returns after the server stopped; `ready(server)`
    is called once it listens."""
    from waitress.server import create_server

    options = options or ServerOptions()
    server = create_server(AccessLog(app), host=host, port=port, threads=options.threads,
                           connection_limit=options.connection_limit, channel_timeout=options.channel_timeout,
                           max_request_body_size=options.max_request_body_size, ident="tlr",
                           expose_tracebacks=False, asyncore_use_poll=True,
                           # forwarded headers are the app's to trust or ignore (TRUSTED_PROXIES, ProxyFix)
                           clear_untrusted_proxy_headers=False)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop)
    log.info("serving on http://%s:%s/ (waitress, %d threads, up to %d connections)", host, port,
             options.threads, options.connection_limit)
    if ready is not None:
        ready(server)
    try:
        server.run()
    finally:
        server.close()
        log.info("web server stopped")
