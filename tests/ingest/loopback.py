"""A loopback HTTP server that answers with recorded payloads of the Korean open-data APIs.

Routes map a path to a list of fixture answers served in turn (the last one repeats);
every request is logged with its query, so tests can check what the adapter asked for.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ingest"


class Recorded:
    def __init__(self) -> None:
        self.routes: dict[str, list[tuple[int, bytes, str]]] = {}
        self.requests: list[tuple[str, dict[str, list[str]]]] = []
        self.port = 0

    def serve(self, path: str, *answers: str | bytes, status: int = 200) -> None:
        """Answer ``path`` with fixture files (``"airkorea/x.json"``) or raw bytes, in turn."""
        out = []
        for a in answers:
            body = a if isinstance(a, bytes) else (FIXTURES / a).read_bytes()
            kind = "text/xml" if body.lstrip().startswith(b"<") else "application/json"
            out.append((status, body, kind))
        self.routes[path] = out

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@contextmanager
def recorded_api() -> Iterator[Recorded]:
    rec = Recorded()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            rec.requests.append((parts.path, parse_qs(parts.query)))
            answers = rec.routes.get(parts.path)
            if not answers:
                self.send_response(404)
                self.end_headers()
                return
            status, body, kind = answers.pop(0) if len(answers) > 1 else answers[0]
            self.send_response(status)
            self.send_header("Content-Type", f"{kind};charset=UTF-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    rec.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()
