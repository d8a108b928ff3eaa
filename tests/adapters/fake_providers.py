"""A local HTTP server standing in for the Twilio, Meta Graph and X REST APIs: it records every
request exactly as sent (method, path, query, headers, body) and answers from a small script of
responses in each provider's documented wire format."""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Recorded:
    method: str
    path: str
    query: dict
    headers: dict
    body: bytes

    @property
    def form(self) -> dict:
        return {k: v[0] for k, v in parse_qs(self.body.decode(), keep_blank_values=True).items()}

    @property
    def json(self):
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    body: object = field(default_factory=dict)
    headers: dict = field(default_factory=dict)
    content_type: str = "application/json"


class FakeProvider:
    """Routes: (method, path prefix) -> a list of replies (the last one repeats) or a function."""

    def __init__(self):
        self.requests: list[Recorded] = []
        self.routes: dict[tuple[str, str], object] = {}
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                rec = Recorded(self.command, parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()},
                               dict(self.headers.items()), body)
                with fake._lock:
                    fake.requests.append(rec)
                    reply = fake._reply_for(rec)
                data = reply.body if isinstance(reply.body, bytes) else (
                    json.dumps(reply.body).encode() if reply.content_type == "application/json"
                    else str(reply.body).encode())
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(data)))
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def on(self, method: str, path_prefix: str, *replies) -> None:
        self.routes[(method, path_prefix)] = list(replies)

    def _reply_for(self, rec: Recorded) -> Reply:
        best = None
        for (method, prefix), replies in self.routes.items():
            if method == rec.method and rec.path.startswith(prefix) and (best is None or len(prefix) > len(best[0])):
                best = (prefix, replies)
        if best is None:
            return Reply(404, {"message": "no such route in the fake"})
        replies = best[1]
        if callable(replies):
            return replies(rec)
        return replies.pop(0) if len(replies) > 1 else replies[0]

    def matching(self, method: str, path_prefix: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
