"""A webhook receiver for Alertmanager that records every notification.

POST /          one Alertmanager webhook payload -> appended to a JSON-lines file with the time
GET  /notifications   every recorded notification (what drills read)
GET  /healthz   liveness
The file survives restarts of the sink, so nothing Alertmanager delivered is lost.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def serve(host: str, port: int, record: Path) -> ThreadingHTTPServer:
    lock = threading.Lock()
    record.parent.mkdir(parents=True, exist_ok=True)
    record.touch()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: object) -> None:  # quiet: the file is the log
            pass

        def _send(self, code: int, body: bytes, ctype: str = "application/json") -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/healthz":
                self._send(200, b"ok\n", "text/plain")
            elif self.path == "/notifications":
                with lock:
                    lines = record.read_text(encoding="utf-8").splitlines()
                self._send(200, ("[" + ",".join(lines) + "]").encode())
            else:
                self._send(404, b'{"error": "not found"}')

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                payload = json.loads(self.rfile.read(length) or b"{}")
            except json.JSONDecodeError:
                self._send(400, b'{"error": "body is not JSON"}')
                return
            entry = {"received_at": time.time(), "path": self.path, "payload": payload}
            with lock, record.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(entry, separators=(",", ":")) + "\n")
            self._send(200, b'{"status": "recorded"}')

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--record", type=Path, required=True)
    args = parser.parse_args()
    serve(args.host, args.port, args.record).serve_forever()


if __name__ == "__main__":
    main()
