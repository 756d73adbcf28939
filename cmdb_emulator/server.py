"""HTTP server: a ThreadingHTTPServer speaking HTTP/1.1 keep-alive.

Boundary: sockets, request framing (Content-Length, chunked, size limit),
logging, start/stop.  Every request is handed to `esb.Esb.handle`.  Also the
in-process API for tests: `start_server(...)` returns a handle with `.url`,
`.port` and `.stop()`.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .cmdb import Cmdb
from .esb import JSON_TYPE, MAX_BODY, Esb, dumps, over_json
from .faults import Faults
from .query import request_scope
from .store import Store
from .world import World, load_world

DEFAULT_APP_CODE = "cmdb-emulator"
DEFAULT_APP_SECRET = "emulator-secret"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else Nagle + delayed ACK cost ~40 ms per request
    server_version = "cmdb-emulator"
    sys_version = ""
    server: EmulatorHTTPServer

    def _read_body(self) -> bytes | None:
        """The request body; None when it exceeds MAX_BODY (connection then closes)."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            total = 0
            while True:
                line = self.rfile.readline(1024)
                try:
                    size = int(line.split(b";")[0].strip() or b"0", 16)
                except ValueError:
                    self.close_connection = True
                    return b""
                if size <= 0:
                    # trailers until the blank line
                    while self.rfile.readline(1024).strip():
                        pass
                    break
                total += size
                if total > MAX_BODY:
                    self.close_connection = True
                    return None
                chunks.append(self.rfile.read(size))
                self.rfile.readline(16)
            return b"".join(chunks)
        raw = self.headers.get("Content-Length")
        if raw is None:
            return b""
        try:
            length = int(raw)
        except ValueError:
            self.close_connection = True
            return b""
        if length < 0:
            self.close_connection = True
            return b""
        if length > MAX_BODY:
            self.close_connection = True
            return None
        return self.rfile.read(length) if length else b""

    def _serve(self) -> None:
        started = time.perf_counter()
        method = self.command
        path, _, query = self.path.partition("?")
        body = self._read_body()
        headers = {k.lower(): v for k, v in self.headers.items()}
        with request_scope():  # one query work budget per request
            reply = self.server.esb.handle(method, path, query, headers, body)
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(reply.body)
        if self.server.log_requests:
            ms = (time.perf_counter() - started) * 1000
            # Path only: query strings and bodies can carry app secrets.
            sys.stderr.write(f"{method} {path} {reply.status} {ms:.1f}ms\n")

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _serve  # noqa: N815 - http.server dispatches on these names

    def __getattr__(self, name: str) -> Any:
        # Any other method (TRACE, PROPFIND, ...) gets ESB's 404 envelope like PUT does
        # (research esb §1.1), not http.server's HTML 501 page.
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def send_response(self, code: int, message: str | None = None) -> None:
        # Skip BaseHTTPRequestHandler's per-request access log line.
        self.send_response_only(code, message)
        self.send_header("Server", self.version_string())
        self.send_header("Date", self.date_time_string())

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.log_requests:
            sys.stderr.write("%s\n" % (format % args))

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # Malformed request lines etc.: answer with the JSON 404-style envelope, never HTML.
        body = dumps({"result": False, "data": None, "message": message or "Bad request"})
        self.close_connection = True
        try:
            self.send_response(code, message)
            self.send_header("Content-Type", JSON_TYPE)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD" and code >= 200 and code not in (204, 304):
                self.wfile.write(body)
        except OSError:
            pass


class EmulatorHTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer carrying the ESB application."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], esb: Esb, log_requests: bool = False) -> None:
        self.esb = esb
        self.log_requests = log_requests
        esb.log_errors = log_requests
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Client disconnects etc. are not worth a traceback on stderr.
        if self.log_requests:
            super().handle_error(request, client_address)


class Emulator:
    """A built emulator (store + CMDB + ESB + HTTP server), not yet serving."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, cmdb_version: str = "3.14",
                 db: str | None = None, world: World | None = None,
                 faults: Iterable[str] = (), log: bool = False,
                 app_code: str | None = None, app_secret: str | None = None,
                 env_token: str | None = None) -> None:
        self.faults = Faults(faults)
        self.world = world if world is not None else load_world()
        self.store = Store(self.world, self.faults, db or ":memory:")
        cmdb = Cmdb(self.store, self.world, self.faults, cmdb_version)
        esb = Esb(over_json(cmdb), self.world, self.faults,
                  app_code if app_code is not None else os.environ.get("BK_APP_CODE", DEFAULT_APP_CODE),
                  app_secret if app_secret is not None else os.environ.get("BK_APP_SECRET", DEFAULT_APP_SECRET),
                  env_token if env_token is not None else os.environ.get("BK_TOKEN"))
        try:
            self.httpd = EmulatorHTTPServer((host, port), esb, log)
        except BaseException:
            self.store.close()
            raise
        self.host = host
        self.port: int = self.httpd.server_address[1]
        self.url = f"http://{host}:{self.port}"
        self._thread: threading.Thread | None = None

    def serve_forever(self) -> None:
        """Serve in the calling thread until shutdown()."""
        self.httpd.serve_forever(poll_interval=0.05)

    def start(self) -> Emulator:
        """Serve in a daemon thread."""
        self._thread = threading.Thread(target=self.serve_forever, name="cmdb-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the socket and the database."""
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(5)
            self._thread = None
        self.httpd.server_close()
        self.store.close()

    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_server(host: str = "127.0.0.1", port: int = 0, cmdb_version: str = "3.14",
                 faults: Iterable[str] = (), db: str | None = None, world: World | None = None,
                 **kwargs: Any) -> Emulator:
    """Start an emulator in-process on a background thread; returns it serving."""
    return Emulator(host=host, port=port, cmdb_version=cmdb_version, db=db, world=world,
                    faults=faults, **kwargs).start()
