"""A real HTTP server on 127.0.0.1 for the tests of our outbound HTTP clients (the `http`
grader, the model judge, ...): each test module writes only its handler's routes."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class RecordingServer(ThreadingHTTPServer):
    """Counts requests per path and keeps the last JSON body and headers it was sent."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.requests: Counter[str] = Counter()
        self.last_body: dict | None = None
        self.last_headers: dict[str, str] = {}
        self.lock = threading.Lock()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


class RecordingHandler(BaseHTTPRequestHandler):
    server: RecordingServer

    def log_message(self, format, *args):  # keep test output quiet
        pass

    def record(self, path: str) -> int:
        """Read and remember the request body; return how many times `path` has been asked."""
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with self.server.lock:
            self.server.requests[path] += 1
            self.server.last_body = json.loads(raw)
            self.server.last_headers = {name.lower(): value for name, value in self.headers.items()}
            return self.server.requests[path]

    def reply(self, status: int, body: str) -> None:
        data = body.encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up first (the timeout tests): nothing to answer


@contextmanager
def serving(handler: type[RecordingHandler]) -> Iterator[RecordingServer]:
    server = RecordingServer(handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
