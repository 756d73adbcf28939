"""HTTP server: a ThreadingHTTPServer speaking HTTP/1.1 keep-alive.

Boundary: sockets, request framing (Content-Length, chunked, size limit),
connection limits (idle timeout, open-connection cap), simulated latency,
logging, start/stop.  Every request is handed to `esb.Esb.handle`.  Also the
in-process API for tests: `start_server(...)` returns a handle with `.url`,
`.port` and `.stop()`.

Answers the HTTP layer gives itself (bad framing, too many connections) use
the envelope of the API gateway in front of ESB (research esb §1.5): JSON,
`code`/`code_name`, `X-Bkapi-Error-*` headers, then the connection closes.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import random
import re
import resource
import socket
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .cmdb import Cmdb
from .esb import JSON_TYPE, MAX_BODY, PREFIX, Esb, dumps, over_json
from .faults import Faults
from .query import request_scope
from .store import Store
from .world import World, load_world

DEFAULT_APP_CODE = "cmdb-emulator"
DEFAULT_APP_SECRET = "emulator-secret"
SERVER_NAME = "cmdb-emulator"
# nginx's keepalive_timeout: long enough that no keep-alive client notices.
DEFAULT_IDLE_TIMEOUT = 75.0
MAX_LATENCY_MS = 600_000
# Gateway error codes (research esb §1.5) for the answers this layer gives itself.
INVALID_ARGS = (1640001, "INVALID_ARGS", "Parameters error")
URI_TOO_LARGE = (1641401, "URI_SIZE_LIMIT_EXCEED", "Request uri size too large.")
UNAVAILABLE = (1650300, "SERVICE_UNAVAILABLE", "Service Unavailable")
# An ESB envelope names its code right after `result`; faulty ones may quote it.
_CODE_IN_HEAD = re.compile(rb'"code": "?(-?\d+)')
_DIGITS = re.compile(r"[0-9]+")
_HEX = re.compile(rb"[0-9a-fA-F]{1,16}")
_GONE = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


def default_max_connections() -> int:
    """Half the soft descriptor limit (at most 1024): the rest stays for SQLite, logs and headroom."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft <= 0:
        return 1024
    return max(1, min(1024, soft // 2))


# ------------------------------------------------------------------ credentials
@dataclass(frozen=True)
class Credentials:
    """The app code, app secret and extra bk_token the emulator accepts, and where each came from."""

    app_code: str
    app_secret: str = field(repr=False)
    token: str | None = field(repr=False)
    app_code_from_env: bool
    secret_from_env: bool

    def describe(self) -> list[str]:
        """Start-up lines naming the app code and the sources; never a secret or a token."""
        code = dumps(self.app_code).decode("utf-8")  # quoted: an odd value cannot forge a line
        return [
            f"app code: {code} " + ("(from BK_APP_CODE)" if self.app_code_from_env
                                     else "(the default: BK_APP_CODE is unset or empty)"),
            "app secret: " + ("from BK_APP_SECRET" if self.secret_from_env
                              else "the default (BK_APP_SECRET is unset or empty)") + ", never printed",
            "bk_token: " + ("the seed's tokens and BK_TOKEN (never printed)" if self.token
                            else "the seed's tokens (BK_TOKEN is unset or empty)"),
        ]


def credentials_from_env(environ: Mapping[str, str] | None = None) -> Credentials:
    """Credentials from BK_APP_CODE / BK_APP_SECRET / BK_TOKEN; an empty variable counts as unset.

    CI expands a repository secret that is not set to "", which must mean the
    default, exactly as the contract suite reads it.
    """
    env = os.environ if environ is None else environ
    code, secret, token = env.get("BK_APP_CODE", ""), env.get("BK_APP_SECRET", ""), env.get("BK_TOKEN", "")
    return Credentials(code or DEFAULT_APP_CODE, secret or DEFAULT_APP_SECRET, token or None,
                       bool(code), bool(secret))


# ------------------------------------------------------------------ framing
class _BadFraming(Exception):
    """The request cannot be delimited safely: answered 400, connection closed."""


class _ClientGone(Exception):
    """The client closed its side before its request was complete."""


class _DeadlineReader(io.RawIOBase):
    """The socket as a raw stream whose reads give up at a deadline.

    The socket's timeout (the idle timeout, set once per connection) bounds
    each wait, but alone it would let a client trickle one byte just inside
    it forever; the deadline bounds their sum.  So a request that is not
    complete within the idle timeout ends at the latest one more wait later,
    at no per-read system call.
    """

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.deadline: float | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.deadline is not None and time.monotonic() >= self.deadline:
            raise TimeoutError("idle timeout")
        return self._sock.recv_into(buffer)


def _gateway_body(error: tuple[int, str, str], reason: str) -> tuple[bytes, dict[str, str]]:
    """A gateway error envelope and its headers (research esb §1.5)."""
    code, name, base = error
    message = f'{base} [reason="{reason}"]'
    body = dumps({"result": False, "code": code, "code_name": name, "data": None, "message": message})
    return body, {"X-Bkapi-Error-Code": str(code), "X-Bkapi-Error-Message": message}


def _printable(text: str) -> str:
    # A path in a log line must not carry terminal control sequences.
    return "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in text)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # http.server answers errors in the client's version, HTTP/0.9 (no status line)
    # when the request line is malformed: answer those as HTTP/1.1 instead.
    default_request_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else Nagle + delayed ACK cost ~40 ms per request
    server_version = SERVER_NAME
    sys_version = ""
    server: EmulatorHTTPServer

    def setup(self) -> None:
        super().setup()
        # Every wait on this connection, reads and writes, ends after the idle timeout.
        self.connection.settimeout(self.server.idle_timeout)
        self.rfile.close()  # the makefile() reader holds a reference on the socket
        self._reader = _DeadlineReader(self.connection)
        self.rfile = io.BufferedReader(self._reader)
        self._started = time.perf_counter()
        self._length: int | None = None
        self._chunked = False
        self._headers: dict[str, str] = {}

    def handle_one_request(self) -> None:
        # The idle timeout runs from here until the whole request has arrived.
        self._reader.deadline = time.monotonic() + self.server.idle_timeout
        self._started = time.perf_counter()
        self._length, self._chunked = None, False
        super().handle_one_request()

    # ------------------------------------------------------------ parsing
    def parse_request(self) -> bool:
        words = self.raw_requestline.split()
        if words and (len(words) != 3 or not words[2].startswith(b"HTTP/")):
            # HTTP/0.9 lines and junk alike: a status line, a JSON body, close.
            self.command, self.request_version = None, "HTTP/1.1"  # type: ignore[assignment]
            self._reject(400, INVALID_ARGS, "malformed request line")
            return False
        if not super().parse_request():
            return False
        problem = self._framing_problem()
        if problem is not None:
            self._reject(400, INVALID_ARGS, problem)
            return False
        return True

    def handle_expect_100(self) -> bool:
        # No "100 Continue" for a request that is refused anyway (parse_request checks next).
        return True if self._framing_problem() is not None else super().handle_expect_100()

    def _framing_problem(self) -> str | None:
        """Why this request's body cannot be delimited without ambiguity, or None."""
        if self.headers.defects:
            # The parser stops at a malformed line and drops every header after it,
            # Transfer-Encoding and Content-Length included: a smuggling vector.
            return "malformed header line"
        items = self.headers.items()
        self._headers = lowered = {name.lower(): value for name, value in items}  # what ESB gets
        if "\n" in "".join(value for _, value in items):
            return "folded header line"
        if len(lowered) == len(items):  # no name twice: the common, cheap case
            encodings = [lowered["transfer-encoding"]] if "transfer-encoding" in lowered else []
            lengths = [lowered["content-length"]] if "content-length" in lowered else []
        else:
            encodings = self.headers.get_all("Transfer-Encoding") or []
            lengths = self.headers.get_all("Content-Length") or []
        if encodings:
            if lengths:
                return "Transfer-Encoding together with Content-Length"
            if len(encodings) != 1 or encodings[0].strip().lower() != "chunked":
                return "unsupported Transfer-Encoding (only chunked is accepted)"
            if self.request_version == "HTTP/1.0":
                return "Transfer-Encoding in an HTTP/1.0 request"
            self._chunked = True
        elif lengths:
            values = {part.strip() for value in lengths for part in value.split(",")}
            if len(values) != 1:
                return "conflicting Content-Length headers"
            value = values.pop()
            if not _DIGITS.fullmatch(value):
                return "invalid Content-Length"
            self._length = int(value)
        return None

    def _read_body(self) -> bytes | None:
        """The request body; None when it exceeds MAX_BODY (connection then closes)."""
        if self._chunked:
            return self._read_chunked()
        length = self._length or 0
        if length > MAX_BODY:
            self.close_connection = True
            return None
        body = self.rfile.read(length) if length else b""
        if len(body) < length:
            raise _ClientGone
        return body

    def _read_chunked(self) -> bytes | None:
        chunks: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1026)
            if not line:
                raise _ClientGone
            if not line.endswith(b"\n"):
                raise _BadFraming("bad chunk size line")
            size_text = line.split(b";", 1)[0].strip()
            if not _HEX.fullmatch(size_text):
                raise _BadFraming("bad chunk size")
            size = int(size_text, 16)
            if size == 0:
                for _ in range(64):  # trailers up to the blank line
                    trailer = self.rfile.readline(8192)
                    if trailer in (b"\r\n", b"\n"):
                        return b"".join(chunks)
                    if not trailer:
                        raise _ClientGone
                    if not trailer.endswith(b"\n"):
                        raise _BadFraming("bad trailer line")
                raise _BadFraming("too many trailer lines")
            total += size
            if total > MAX_BODY:
                self.close_connection = True
                return None
            data = self.rfile.read(size)
            if len(data) < size:
                raise _ClientGone
            chunks.append(data)
            if self.rfile.readline(3) not in (b"\r\n", b"\n"):
                raise _BadFraming("chunk data not followed by CRLF")

    # ------------------------------------------------------------ answering
    def _serve(self) -> None:
        method = self.command
        path, _, query = self.path.partition("?")
        try:
            body = self._read_body()
        except _BadFraming as bad:
            self._reject(400, INVALID_ARGS, str(bad))
            return
        except _ClientGone:
            self.close_connection = True
            return
        self._reader.deadline = None  # the request is in
        with request_scope():
            reply = self.server.esb.handle(method, path, query, self._headers, body)
        if self.server.latency and path.startswith(PREFIX):
            # In this request's own thread and outside every lock: concurrent
            # requests wait side by side, as on a loaded CMDB.
            time.sleep(self.server.delay())
        # Logged before it is sent: a client holding its answer can rely on the line.
        self._log(method, path, reply.status, reply.body)
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        # Head and body in one write: with Nagle off, two writes are two packets.
        self._headers_buffer.append(b"\r\n")
        if method != "HEAD":
            self._headers_buffer.append(reply.body)
        self.flush_headers()

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _serve  # noqa: N815 - http.server dispatches on these names

    def __getattr__(self, name: str) -> Any:
        # Any other method (TRACE, PROPFIND, ...) gets ESB's 404 envelope like PUT does
        # (research esb §1.1), not http.server's HTML 501 page.
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def version_string(self) -> str:
        return self.server_version  # http.server appends " " + sys_version, a trailing space here

    def send_response(self, code: int, message: str | None = None) -> None:
        # Skip BaseHTTPRequestHandler's per-request access log line.
        self.send_response_only(code, message)
        self.send_header("Server", self.version_string())
        self.send_header("Date", self.date_time_string())

    def log_message(self, format: str, *args: Any) -> None:
        # http.server's own lines quote the request line, query string (and any
        # secret in it) included; --log writes `_log` lines only.
        pass

    def _log(self, method: str | None, path: str | None, status: int, body: bytes) -> None:
        if not self.server.log_requests:
            return
        found = _CODE_IN_HEAD.search(body, 0, 200)
        code = found.group(1).decode("ascii") if found else "-"
        ms = (time.perf_counter() - self._started) * 1000
        # Path only, never a query string or body: they can carry app secrets.
        sys.stderr.write(f"{method or '-'} {_printable(path) if path else '-'} {status} code={code} {ms:.1f}ms\n")

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # http.server's own errors (request line too long, too many headers, HTTP/2.0):
        # its messages quote client input, so each status gets a fixed reason.
        if code == 414:
            self._reject(414, URI_TOO_LARGE, "request line too long")
        elif code == 431:
            self._reject(431, INVALID_ARGS, "header line too long or too many headers")
        elif code == 505:
            self._reject(505, INVALID_ARGS, "HTTP version not supported")
        else:  # its 400s: bad version, bad syntax, HTTP/0.9 type
            self._reject(code, INVALID_ARGS, "malformed request line")

    def _reject(self, status: int, error: tuple[int, str, str], reason: str) -> None:
        """Answer a request this layer refuses with a gateway envelope, then close."""
        body, extra = _gateway_body(error, reason)
        self.close_connection = True
        self._log(self.command, self.path.partition("?")[0] if self.command else None, status, body)
        try:
            self.send_response(status)
            self.send_header("Content-Type", JSON_TYPE)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except OSError:
            pass


class EmulatorHTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer carrying the ESB application, with connection limits."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], esb: Esb, log_requests: bool = False,
                 idle_timeout: float = DEFAULT_IDLE_TIMEOUT, max_connections: int | None = None,
                 latency_ms: int = 0, jitter_ms: int = 0) -> None:
        self.esb = esb
        self.log_requests = log_requests
        esb.log_errors = log_requests
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections if max_connections is not None else default_max_connections()
        self.latency_ms, self.jitter_ms = latency_ms, jitter_ms
        self.latency = bool(latency_ms or jitter_ms)
        self._random = random.Random()
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def delay(self) -> float:
        """One answer's simulated latency in seconds: uniform in N ± M ms, never negative."""
        low, high = self.latency_ms - self.jitter_ms, self.latency_ms + self.jitter_ms
        return max(0.0, self._random.uniform(low, high)) / 1000

    def get_request(self) -> tuple[socket.socket, Any]:
        try:
            return super().get_request()
        except OSError as exc:
            if exc.errno in _GONE:
                # Out of descriptors: the listening socket stays readable, so
                # without a pause serve_forever would retry accept() at full CPU.
                time.sleep(0.05)
            raise

    def verify_request(self, request: Any, client_address: Any) -> bool:
        with self._open_lock:
            if len(self._open) < self.max_connections:
                self._open.add(request)
                return True
        self._refuse(request)
        return False  # socketserver then shuts the socket down and closes it

    def _refuse(self, sock: socket.socket) -> None:
        """A 503 gateway envelope, sent without blocking the accept loop."""
        body, extra = _gateway_body(UNAVAILABLE, f"too many open connections, the limit is {self.max_connections}")
        head = ["HTTP/1.1 503 Service Unavailable", f"Server: {SERVER_NAME}",
                f"Date: {formatdate(usegmt=True)}", f"Content-Type: {JSON_TYPE}",
                f"Content-Length: {len(body)}", "Connection: close",
                *(f"{name}: {value}" for name, value in extra.items())]
        if self.log_requests:
            sys.stderr.write("- - 503 code=1650300 0.0ms\n")
        try:
            sock.setblocking(False)
            with contextlib.suppress(OSError):
                sock.recv(65536)  # what has arrived: closing on unread data would reset the connection
            sock.send(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        except OSError:
            pass

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def server_close(self) -> None:
        super().server_close()
        # Wake the handler threads still waiting on idle keep-alive connections.
        with self._open_lock:
            still_open = list(self._open)
        for sock in still_open:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

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
                 env_token: str | None = None, idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
                 max_connections: int | None = None, latency_ms: int = 0, jitter_ms: int = 0) -> None:
        self.faults = Faults(faults)
        self.world = world if world is not None else load_world()
        self.store = Store(self.world, self.faults, db or ":memory:")
        cmdb = Cmdb(self.store, self.world, self.faults, cmdb_version)
        self.credentials = credentials_from_env()
        esb = Esb(over_json(cmdb), self.world, self.faults,
                  app_code if app_code is not None else self.credentials.app_code,
                  app_secret if app_secret is not None else self.credentials.app_secret,
                  env_token if env_token is not None else self.credentials.token)
        try:
            self.httpd = EmulatorHTTPServer((host, port), esb, log, idle_timeout, max_connections,
                                            latency_ms, jitter_ms)
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
