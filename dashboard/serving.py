"""The embedded default's production web server: `python app.py serve` (and `make run`) runs the web app
under waitress, a pure-Python WSGI server (no development-server warning), with the scheduler in the
same process (app.py). `gunicorn app:server` plus `python app.py worker` stay the scale-out path.

Sized for a control room: WEB_THREADS (default 16) requests at once, each short (the wall refreshes in
well under 150 ms), enough for a few dozen screens polling every 1-3 s; WEB_CONNECTION_LIMIT (default
500) open connections, since every browser keeps about six alive.

Slow clients cannot hold the server (slow-loris): waitress reads every connection asynchronously, so a
client dribbling bytes holds no request thread; a connection idle for WEB_CHANNEL_TIMEOUT seconds
(default 60) is closed, and one whose request headers have not all arrived WEB_HEADER_TIMEOUT seconds
(default 20) after its first byte is closed however steadily it dribbles. WEB_CLEANUP_INTERVAL (default
10 s) is how often idle connections are looked for.
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
import time
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
    channel_timeout: int = 60  # seconds an idle connection stays open
    header_timeout: int = 20  # seconds from a request's first byte to the end of its headers
    cleanup_interval: int = 10  # seconds between looks for idle connections
    max_request_body_size: int = 16_000_000

    @classmethod
    def from_env(cls, max_request_bytes: int = 16_000_000) -> "ServerOptions":
        return cls(threads=_env_int("WEB_THREADS", 16, 1, 256),
                   connection_limit=_env_int("WEB_CONNECTION_LIMIT", 500, 10, 10_000),
                   channel_timeout=_env_int("WEB_CHANNEL_TIMEOUT", 60, 1, 3600),
                   header_timeout=_env_int("WEB_HEADER_TIMEOUT", 20, 1, 600),
                   cleanup_interval=_env_int("WEB_CLEANUP_INTERVAL", 10, 1, 600),
                   max_request_body_size=max_request_bytes)


def _deadline_channel(header_timeout: float):
    """waitress's connection, closed when a request's headers take longer than `header_timeout` seconds
    from its first byte (waitress itself only closes connections that stay silent)."""
    from waitress.channel import HTTPChannel

    class DeadlineChannel(HTTPChannel):
        request_started: float | None = None

        def received(self, data):
            now = time.monotonic()
            if self.request is None:
                self.request_started = now
            elif (self.request_started is not None and not self.request.headers_finished
                  and now - self.request_started > header_timeout):
                log.info("closing %s: request headers still incomplete after %ss", self.addr, header_timeout)
                self.will_close = True  # the loop closes it at its next turn
                return False
            result = super().received(data)
            if self.request is None:
                self.request_started = None
            return result

    return DeadlineChannel


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
                           cleanup_interval=options.cleanup_interval,
                           max_request_body_size=options.max_request_body_size, ident="tlr",
                           expose_tracebacks=False, asyncore_use_poll=True,
                           # forwarded headers are the app's to trust or ignore (TRUSTED_PROXIES, ProxyFix)
                           clear_untrusted_proxy_headers=False)
    channel = _deadline_channel(options.header_timeout)
    for listener in [server, *getattr(server, "map", {}).values()]:  # one socket, or several (MultiSocketServer)
        if hasattr(listener, "channel_class"):
            listener.channel_class = channel
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
