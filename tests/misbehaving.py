"""A real HTTP server that misbehaves on purpose: huge bodies (generated, never held in memory), bodies sent one
byte at a time, endless Retry-After, and error pages that echo the request's headers back."""

from __future__ import annotations

import contextlib
import gzip
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

CHUNK = b"x" * 65536
BOMB_SIZE = 40 * 1024 * 1024
_BOMB: list[bytes] = []


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients that hang up on a huge or slow answer are the point, not an error


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        mode = urlsplit(self.path).path.strip("/").split("/")[0]  # an absolute URL when we are the proxy
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up, as it should
            getattr(self, f"_{mode}", self._huge)()

    do_POST = do_GET
    do_PATCH = do_GET

    def _huge(self) -> None:
        """600 MB of a JSON string, generated as it is sent."""
        total = 600 * 1024 * 1024
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(total))
        self.end_headers()
        self.wfile.write(b'{"next": null, "results": "')
        sent = 27
        while sent < total - 2:
            piece = CHUNK[: min(len(CHUNK), total - 2 - sent)]
            self.wfile.write(piece)
            sent += len(piece)
        self.wfile.write(b'"}')

    def _chunked(self) -> None:
        """A huge body without Content-Length: only counting while reading can stop it."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for _ in range(600 * 16):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK))

    def _bomb(self) -> None:
        """A small gzip body that inflates to 40 MB."""
        if not _BOMB:
            _BOMB.append(gzip.compress(b"0" * BOMB_SIZE, compresslevel=9))
        body = _BOMB[0]
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _drip(self) -> None:
        """Headers at once, then one byte every 0.2 s: no single read ever times out."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "1000000")
        self.end_headers()
        for _ in range(600):
            self.wfile.write(b" ")
            self.wfile.flush()
            time.sleep(0.2)

    def _dripheaders(self) -> None:
        """The status line itself, one byte every 0.2 s."""
        for byte in b"HTTP/1.1 200 OK\r\nX-Padding: " + b"a" * 1000:
            self.wfile.write(bytes([byte]))
            self.wfile.flush()
            time.sleep(0.2)

    def _retryforever(self) -> None:
        body = b'{"detail": "slow down"}'
        self.send_response(429)
        self.send_header("Retry-After", "99999999999")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _echo(self) -> None:
        """Reads see an empty platform; a write gets a 400 whose error text repeats every request header, as some
        platforms' debug pages do."""
        if self.command == "GET":
            body = b'{"next": null, "results": []}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps({"detail": "bad request; you sent " + json.dumps(dict(self.headers.items()))}).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@dataclass
class Misbehaving:
    url: str

    def at(self, mode: str) -> str:
        """The base URL under which every request gets `mode`'s answer."""
        return f"{self.url}/{mode}"


@contextlib.contextmanager
def misbehaving_server() -> Iterator[Misbehaving]:
    server = _Server(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Misbehaving(f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()
