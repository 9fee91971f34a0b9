"""A misbehaving HTTP gateway for the "no request vanishes" tests: raw sockets on 127.0.0.1.

It answers by path (the request mix of the test scenario names one path per kind):

======================  =======================================================================
``/ok``                 200 JSON ``{"answer": "A"}``, ``X-Served-By: legacy``
``/bad-utf8``           503 with a body that is not valid UTF-8 (``upstream failed \\xff\\xfe``)
``/truncated``          200 with ``Content-Length: 100``, 10 bytes sent, then the connection closed
``/bad-status``         an invalid status line, then the connection closed
``/reset``              200 headers (``Content-Length: 50``), then a TCP reset (``SO_LINGER`` 0)
======================  =======================================================================

It counts every complete request it received, per path: an independent count of what the load
sent. Every answer closes the connection (``Connection: close``), so no client reuses a socket a
misbehaving answer left in a strange state. Runs as a thread of the test process (no Locust
there) or as ``python -m tests.load.support_gateway`` (prints its URL, counts on ``/_counts``).
"""

from __future__ import annotations

import json
import socket
import socketserver
import struct
import sys
import threading
from collections import Counter

KINDS = ("ok", "bad-utf8", "truncated", "bad-status", "reset")


class _Handler(socketserver.StreamRequestHandler):
    server: MisbehavingGateway

    def handle(self) -> None:
        line = self.rfile.readline(65536)
        if not line:
            return
        try:
            _method, target, _ = line.decode("latin-1").split(" ", 2)
        except ValueError:
            return
        length = 0
        preflight = False
        while True:
            header = self.rfile.readline(65536)
            if header in (b"\r\n", b"\n", b""):
                break
            key, _, value = header.decode("latin-1").partition(":")
            if key.strip().lower() == "content-length":
                length = int(value.strip() or 0)
            preflight |= key.strip().lower() == "x-dualsys-preflight"
        if length:
            self.rfile.read(length)
        path = target.split("?", 1)[0]
        if not preflight:  # the harness's check before the load is not load
            self.server.count(path)
        if path == "/_counts":
            self._send(200, json.dumps(self.server.snapshot()).encode(), "application/json")
        elif path == "/ok":
            self._send(200, b'{"answer": "A"}', "application/json", b"X-Served-By: legacy\r\n")
        elif path == "/bad-utf8":
            self._send(503, b"upstream failed \xff\xfe", "text/plain")
        elif path == "/truncated":
            head = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\n"
            self.wfile.write(head + b"0123456789")
        elif path == "/bad-status":
            self.wfile.write(b"HTTP/1.1 OOPS not a status\r\nConnection: close\r\n\r\n")
        elif path == "/reset":
            head = b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\nConnection: close\r\n\r\n"
            self.wfile.write(head)
            self.wfile.flush()
            # SO_LINGER with a zero timeout: close() sends RST instead of FIN.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        else:
            self._send(404, b'{"error": "unknown path"}', "application/json")

    def _send(self, status: int, body: bytes, ctype: str, extra: bytes = b"") -> None:
        reason = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}[status]
        head = (
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n"
        ).encode()
        self.wfile.write(head + extra + b"\r\n" + body)


class MisbehavingGateway(socketserver.ThreadingTCPServer):
    """The gateway; ``start()`` serves in a daemon thread, ``counts`` is what it received."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL of the gateway."""
        return f"http://127.0.0.1:{self.server_address[1]}"

    def count(self, path: str) -> None:
        """Count one complete request (the control path ``/_counts`` is not load)."""
        if path != "/_counts":
            with self._lock:
                self.counts[path] += 1

    def snapshot(self) -> dict[str, int]:
        """The counts so far, per path."""
        with self._lock:
            return dict(self.counts)

    def start(self) -> MisbehavingGateway:
        """Serve in a daemon thread."""
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.shutdown()
        self.server_close()


def main() -> int:
    """Serve until killed; print the URL first (for a subprocess's parent to read)."""
    gw = MisbehavingGateway()
    print(gw.url, flush=True)
    gw.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
