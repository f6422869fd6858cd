"""A loopback HTTP server for download tests, serving bytes with scripted failures."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ENDLESS_CHUNK = b"\x00" * 65536
# An endless body stops here if the client never hangs up, so a broken client fails instead of hanging.
ENDLESS_CAP_BYTES = 256 * 1024**2
HOLD_SECONDS = 10
# How often the serving loop looks for a shutdown; short, so each test tears its server down quickly.
POLL_SECONDS = 0.02


@dataclass
class Route:
    body: bytes = b""
    # Answers to the first requests, in order, before the body is served normally: an HTTP
    # status (503), or "truncate" (the full Content-Length, half the body, then hang up).
    failures: list = field(default_factory=list)
    # A Content-Length to announce instead of the body's; with ``endless``, none at all.
    announce: int | None = None
    endless: bool = False
    # Headers go out at once; the body only once this is set (or HOLD_SECONDS pass).
    hold: threading.Event | None = None


class LocalServer:
    """Serves ``routes`` on 127.0.0.1 and records what was asked and what was sent."""

    def __init__(self):
        self.routes: dict[str, Route] = {}
        self.requests: Counter[str] = Counter()
        self.bodies_started: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.owner = self
        self._thread = threading.Thread(target=self._server.serve_forever, args=(POLL_SECONDS,), daemon=True)

    def __enter__(self) -> LocalServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        for route in self.routes.values():
            if route.hold is not None:
                route.hold.set()
        self._server.shutdown()
        self._server.server_close()

    def url(self, path: str) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{path}"

    def serve(self, path: str, body: bytes = b"", **options) -> str:
        self.routes[path] = Route(body=body, **options)
        return self.url(path)

    def next_answer(self, path: str) -> tuple[Route | None, object]:
        with self._lock:
            self.requests[path] += 1
            route = self.routes.get(path)
            if route is None:
                return None, 404
            return route, route.failures.pop(0) if route.failures else "body"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        owner: LocalServer = self.server.owner
        route, answer = owner.next_answer(self.path)
        if isinstance(answer, int):
            self.send_response(answer)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if route.endless:
            self.send_header("Connection", "close")
        else:
            self.send_header("Content-Length", str(route.announce if route.announce is not None else len(route.body)))
        self.end_headers()
        self.wfile.flush()
        if route.hold is not None:
            route.hold.wait(HOLD_SECONDS)
        with owner._lock:
            owner.bodies_started[self.path] += 1
        try:
            if route.endless:
                sent = 0
                while sent < ENDLESS_CAP_BYTES:
                    self.wfile.write(ENDLESS_CHUNK)
                    sent += len(ENDLESS_CHUNK)
            elif answer == "truncate":
                self.wfile.write(route.body[: len(route.body) // 2])
            else:
                self.wfile.write(route.body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        if route.endless or answer == "truncate":
            self.close_connection = True

    def log_message(self, format, *args) -> None:
        pass


def closed_port_url(path: str = "/") -> str:
    """A loopback URL where nothing listens, so connecting fails at once."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"
