"""Talk to a target (a real ESB + CMDB or the emulator) and record every exchange.

Boundary: HTTP only. A request is described without credentials (``Request``);
the client renders it twice, with the real credentials for the wire and with
placeholders for the record, so nothing recorded can hold a secret. It bounds
every request as a whole (connect to last byte), never follows a redirect,
caps answers, keeps at most ``concurrency`` requests in flight within the rate
limit, and trips its own breaker when the target stops answering like an API.
Judging answers is ``oracles``' job.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import json
import os
import re
import shlex
import socket
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from .credentials import BODY, PLACEHOLDERS, Auth, Credentials

API_PREFIX = "/api/c/compapi/v2/cc/"
# Codes a gateway uses to say "too many requests": the request was not processed.
RATE_LIMIT_CODES = frozenset({1306429, 1642901, 1642902, 1642903})
# Codes a gateway uses to say "the backend did not answer".
UNAVAILABLE_CODES = frozenset({1306201, 1650200, 1650201, 1650300, 1650401})
UNAVAILABLE_STATUSES = frozenset({502, 503, 504})
MAX_ANSWER_BYTES = 8 * 1024 * 1024
# A keep-alive connection idle this long may have been closed by the server
# (nginx closes after 75 s); a create is never sent on one (it cannot be resent).
STALE_CONNECTION_SECONDS = 15.0
NON_IDEMPOTENT = frozenset({"create_set"})
_GATEWAY_PAGE = re.compile(r"(?i)bad gateway|gateway time|nginx|service unavailable")


class TargetUnavailable(Exception):
    """The target did not answer like a server at all (refused, timed out, redirected, gateway or login page)."""

    def __init__(self, reason: str, exchange: Exchange | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.exchange = exchange

    def __str__(self) -> str:
        return self.reason


class CreatesClosed(Exception):
    """The run is stopping: no new set may be created (cleanup is about to read the ledger)."""


def normalise_url(url: str) -> str:
    """The target's identity: lower-case scheme and host, no default port, no trailing slash."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    port = parts.port
    netloc = host if port is None or (scheme, port) in (("http", 80), ("https", 443)) else f"{host}:{port}"
    return urlunsplit((scheme, netloc, parts.path.rstrip("/"), "", ""))


@dataclass(frozen=True)
class Request:
    """One request without credentials: the API, its parameters and where the credentials go."""

    api: str
    params: Mapping[str, Any] = field(default_factory=dict)
    auth: Auth = BODY
    raw_body: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    method: str = "POST"

    @property
    def idempotent(self) -> bool:
        return self.api not in NON_IDEMPOTENT

    def render(self, credentials: Credentials) -> tuple[dict[str, str], str]:
        """Headers and body as sent with ``credentials`` (real ones for the wire, placeholders for the record)."""
        headers: dict[str, str] = {}
        body: dict[str, Any] = dict(self.params)
        if self.auth.where == "header":
            # Like bkapi-component-open: a JSON Content-Type, credentials in the header only.
            headers["Content-Type"] = "application/json"
            if self.auth.header_raw is not None:
                headers["X-Bkapi-Authorization"] = self.auth.header_raw
            else:
                headers["X-Bkapi-Authorization"] = json.dumps(credentials.fields(self.auth))
        elif self.auth.where == "body":
            # Like blueking.component: credentials first in the body, no Content-Type.
            body = {**credentials.fields(self.auth), **body}
        headers.update(self.headers)
        text = self.raw_body if self.raw_body is not None else json.dumps(body, ensure_ascii=False)
        return headers, text


def _strict_json(text: str) -> Any:
    def no_constants(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")
    return json.loads(text, parse_constant=no_constants)


@dataclass
class Exchange:
    """One request and its answer as the report shows it: built from the credential-free record."""

    api: str
    method: str
    url: str
    request_headers: dict[str, str]
    request_body: str
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    response_text: str = ""
    elapsed_ms: float = 0.0
    error: str = ""
    started: float = 0.0
    # The credential-free description it was rendered from (a baseline records it, not the rendered text).
    request: Request | None = field(default=None, repr=False, compare=False)

    _json_cache: Any = field(default=None, repr=False)
    _json_parsed: bool = field(default=False, repr=False)

    @property
    def json(self) -> Any:
        """The parsed response body (strict JSON: no NaN or Infinity), or None when it is not JSON."""
        if not self._json_parsed:
            self._json_parsed = True
            try:
                self._json_cache = _strict_json(self.response_text)
            except (ValueError, RecursionError):
                self._json_cache = None
        return self._json_cache

    @property
    def request_json(self) -> Any:
        """The request body parsed (placeholders where secrets went), or None when it was not JSON."""
        try:
            return json.loads(self.request_body)
        except ValueError:
            return None

    @property
    def content_type(self) -> str:
        for k, v in self.response_headers.items():
            if k.lower() == "content-type":
                return v
        return ""

    def curl(self, python: str = sys.executable) -> str:
        """A shell line that replays the request, reading the secrets from the environment."""
        return to_curl(self, python)

    def as_dict(self) -> dict[str, Any]:
        return {
            "api": self.api,
            "request": {"method": self.method, "url": self.url, "headers": self.request_headers, "body": self.request_body},
            "response": {"status": self.status, "headers": self.response_headers, "body": self.response_text[:20000]},
            "elapsed_ms": round(self.elapsed_ms, 2),
            "error": self.error,
            "curl": self.curl(),
        }


# A JSON-aware substitution: the placeholder "${BK_APP_SECRET}" (with its JSON quotes)
# becomes the secret from the environment, JSON-escaped, whatever characters it holds.
_FILL = ('import json,os,sys;d=json.dumps;e=os.environ.get;a={ascii};t=sys.argv[1]'
         '.replace(d("${{BK_APP_SECRET}}"),d(e("BK_APP_SECRET",""),ensure_ascii=a))'
         '.replace(d("${{BK_TOKEN}}"),d(e("BK_TOKEN",""),ensure_ascii=a));sys.stdout.write(t)')


def _has_placeholder(text: str) -> bool:
    return any(json.dumps(p) in text for p, _ in PLACEHOLDERS.values())


def to_curl(ex: Exchange, python: str = sys.executable) -> str:
    """A replay line; where a secret went, the shell fills it in from the environment, JSON-escaped."""
    parts = ["curl", "-sS", "-X", ex.method, shlex.quote(ex.url)]
    for k, v in ex.request_headers.items():
        if k.lower() in {"content-length", "connection", "accept-encoding", "accept", "user-agent"}:
            continue
        if _has_placeholder(v):
            fill = shlex.quote(_FILL.format(ascii=True))
            parts += ["-H", f'"{k}: $({shlex.quote(python)} -c {fill} {shlex.quote(v)})"']
        else:
            parts += ["-H", shlex.quote(f"{k}: {v}")]
    if ex.request_body:
        if _has_placeholder(ex.request_body):
            fill = shlex.quote(_FILL.format(ascii=False))
            parts += ["--data-binary", f'"$({shlex.quote(python)} -c {fill} {shlex.quote(ex.request_body)})"']
        else:
            parts += ["--data-binary", shlex.quote(ex.request_body)]
    return " ".join(parts)


class RateLimiter:
    """At most ``rate`` requests per second across threads (0 means no limit)."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._next = 0.0
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = self._clock()
            delay = self._next - now
            self._next = max(now, self._next) + self.interval
        if delay > 0:
            self._sleep(delay)


# -- bounding a whole request: a watchdog that shuts the socket down at the deadline ---------------

_TLS = threading.local()


class _Slot:
    """The connection one request is using, for the watchdog to cut."""

    __slots__ = ("conn", "expired", "sock")

    def __init__(self) -> None:
        self.conn: Any = None
        self.sock: Any = None
        self.expired = False


class _Watchdog:
    """One thread for all requests: at a request's deadline it shuts its socket down."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Slot]] = []
        self._seq = itertools.count()
        self._done: set[int] = set()
        self._thread: threading.Thread | None = None

    def arm(self, seconds: float, slot: _Slot) -> int:
        token = next(self._seq)
        with self._cond:
            heapq.heappush(self._heap, (time.monotonic() + seconds, token, slot))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="contract-watchdog", daemon=True)
                self._thread.start()
            self._cond.notify()
        return token

    def disarm(self, token: int) -> None:
        with self._cond:
            self._done.add(token)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap:
                    self._cond.wait()
                deadline, token, slot = self._heap[0]
                now = time.monotonic()
                if token in self._done:
                    heapq.heappop(self._heap)
                    self._done.discard(token)
                    continue
                if deadline > now:
                    self._cond.wait(deadline - now)
                    continue
                heapq.heappop(self._heap)
            slot.expired = True
            # http.client forgets conn.sock once an answer says Connection: close; the slot remembers it.
            for sock in {id(s): s for s in (getattr(slot.conn, "sock", None), slot.sock) if s is not None}.values():
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


_WATCHDOG = _Watchdog()


def _register(conn: Any) -> None:
    slot = getattr(_TLS, "slot", None)
    if slot is not None:
        slot.conn = conn
        if getattr(conn, "sock", None) is not None:
            slot.sock = conn.sock


class _Watched:
    """Tells the watchdog the socket of every connect and request (mixed into urllib3's connections)."""

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        _register(self)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _register(self)
        super().request(*args, **kwargs)  # type: ignore[misc]


class WatchedConnection(_Watched, HTTPConnection):
    pass


class WatchedTLSConnection(_Watched, HTTPSConnection):
    pass


class WatchedPool(HTTPConnectionPool):
    ConnectionCls = WatchedConnection


class WatchedTLSPool(HTTPSConnectionPool):
    ConnectionCls = WatchedTLSConnection


class _Adapter(HTTPAdapter):
    """requests' adapter whose connections tell the watchdog which socket a request uses."""

    _POOLS: ClassVar[dict[str, type[HTTPConnectionPool]]] = {"http": WatchedPool, "https": WatchedTLSPool}

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(self._POOLS)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = dict(self._POOLS)
        return manager


# -- the target ---------------------------------------------------------------------------------------


Listener = Callable[[Exchange], None]


class Target:
    """A configured ESB endpoint: sessions, limits, the breaker, and the listeners that record exchanges."""

    def __init__(self, url: str, credentials: Credentials, *, timeout: float = 15.0, rate_limit: float = 0.0,
                 concurrency: int = 4, retries: int = 4, max_answer_bytes: int = MAX_ANSWER_BYTES) -> None:
        self.url = url.rstrip("/")
        self.identity = normalise_url(self.url)
        self._credentials = credentials
        self._placeholders = credentials.placeholders()
        self.timeout = timeout
        self.retries = retries
        self.max_answer_bytes = max_answer_bytes
        self.concurrency = max(1, concurrency)
        # Read proxy and CA settings from the environment once, not on every request.
        self._proxies = requests.utils.get_environ_proxies(self.url)
        self._verify: bool | str = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        self._limiter = RateLimiter(rate_limit)
        self._in_flight = threading.BoundedSemaphore(self.concurrency)
        self._tls = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()
        self.listeners: list[Listener] = []
        self.unavailable: TargetUnavailable | None = None
        self._creates_closed: str | None = None
        self.sent = 0

    def __repr__(self) -> str:
        return f"Target({self.url!r})"

    @property
    def credentials_use_token(self) -> bool:
        return self._credentials.uses_token

    def redact(self, text: str) -> str:
        """The second net over free text (an exception message, a line of output)."""
        return self._credentials.redact(text)

    def close(self) -> None:
        with self._lock:
            for s in self._sessions:
                s.close()
            self._sessions.clear()

    def close_creates(self, reason: str) -> None:
        """From now on every create_set raises CreatesClosed (searches and deletes still work)."""
        self._creates_closed = reason

    # -- sessions: one per thread, since requests.Session is not thread-safe ----
    def _session(self, fresh: bool) -> requests.Session:
        s: requests.Session | None = getattr(self._tls, "session", None)
        last = getattr(self._tls, "last_used", 0.0)
        if s is not None and fresh and time.monotonic() - last > STALE_CONNECTION_SECONDS:
            s.close()
            s = None
        if s is None:
            s = requests.Session()
            s.trust_env = False
            s.proxies.update(self._proxies)
            s.verify = self._verify
            adapter = _Adapter()
            s.mount("http://", adapter)
            s.mount("https://", adapter)
            self._tls.session = s
            with self._lock:
                self._sessions.append(s)
        return s

    # -- sending -----------------------------------------------------------------
    def send(self, request: Request, *, retry: bool = True) -> Exchange:
        """Send one request; rate-limit answers are retried, no-answer only for idempotent APIs."""
        if request.api in NON_IDEMPOTENT and self._creates_closed is not None:
            raise CreatesClosed(self._creates_closed)
        attempt = 0
        while True:
            if self.unavailable is not None:
                raise TargetUnavailable(self.unavailable.reason, self.unavailable.exchange)
            ex = self._attempt(request)
            problem = self._unavailability(ex)
            if problem and ex.status is None and retry and request.idempotent and attempt < min(self.retries, 2):
                attempt += 1
                time.sleep(0.5 * attempt)
                continue
            if problem:
                err = TargetUnavailable(problem, ex)
                self.unavailable = err  # the breaker: every later request fails fast with this evidence
                raise err
            if retry and attempt < self.retries and self._rate_limited(ex):
                attempt += 1
                time.sleep(min(0.2 * 2**attempt, 5.0))
                continue
            return ex

    def probe(self, request: Request) -> Exchange:
        """Send a read-only request past the breaker; close the breaker when it is answered like an API."""
        ex = self._attempt(request)
        problem = self._unavailability(ex) or ("" if isinstance(ex.json, dict) else "the answer is not a JSON object")
        if problem:
            raise TargetUnavailable(problem, ex)
        self.unavailable = None
        return ex

    @staticmethod
    def _rate_limited(ex: Exchange) -> bool:
        if ex.status == 429:
            return True
        body = ex.json
        return isinstance(body, dict) and body.get("code") in RATE_LIMIT_CODES

    def _attempt(self, request: Request) -> Exchange:
        url = f"{self.url}{API_PREFIX}{request.api}/"
        headers, body = request.render(self._placeholders)
        ex = Exchange(api=request.api, method=request.method, url=url, request_headers=headers, request_body=body, request=request)
        with self._in_flight:
            self._limiter.wait()
            ex.started = time.time()
            start = time.perf_counter()
            outcome = self._transmit(request, url, fresh=not request.idempotent)
            ex.elapsed_ms = (time.perf_counter() - start) * 1000
        with self._lock:
            self.sent += 1
        ex.status = outcome.status
        ex.error = self._credentials.redact(outcome.error)
        ex.response_headers = {k: self._credentials.redact(v) for k, v in outcome.headers.items()}
        ex.response_text = self._credentials.redact(outcome.text)
        for listener in list(self.listeners):
            listener(ex)
        return ex

    def _transmit(self, request: Request, url: str, fresh: bool) -> _Wire:
        """The wire: the one place the real credentials are rendered. Returns the answer or what went wrong.

        It never raises (but for interrupts), so no traceback can show its locals.
        """
        headers, body = request.render(self._credentials)
        headers.setdefault("Accept-Encoding", "identity")
        slot = _Slot()
        _TLS.slot = slot
        token = _WATCHDOG.arm(self.timeout, slot)
        resp: requests.Response | None = None
        late = f"no complete answer within --request-timeout {self.timeout:g} s (connect to last byte)"
        try:
            session = self._session(fresh)
            resp = session.request(request.method, url, data=body.encode("utf-8"), headers=headers,
                                   timeout=(self.timeout, self.timeout), allow_redirects=False, stream=True)
            status, answer_headers, text = self._read(resp)
            if slot.expired:  # cut at the deadline, yet the read looked complete (e.g. Connection: close)
                return _Wire(error=late)
            self._tls.last_used = time.monotonic()
            return _Wire(status, answer_headers, text)
        except _TooLarge as exc:
            # An answer came, too large to judge: not "no answer", so it is not retried.
            return _Wire(resp.status_code if resp is not None else None, error=str(exc))
        except Exception as exc:  # requests, urllib3 (ProtocolError after a cut), OSError, zlib: all mean "no answer"
            return _Wire(error=late if slot.expired else f"{type(exc).__name__}: {exc}")
        finally:
            _WATCHDOG.disarm(token)
            _TLS.slot = None
            del headers, body
            if resp is not None:
                resp.close()

    def _read(self, resp: requests.Response) -> tuple[int, dict[str, str], str]:
        """The whole answer, at most max_answer_bytes after decompression."""
        cap = self.max_answer_bytes
        encoding = resp.headers.get("Content-Encoding", "").strip().lower()
        decompressor = zlib.decompressobj(47) if encoding in ("gzip", "x-gzip", "deflate") else None
        out = bytearray()
        raw = resp.raw
        while True:
            chunk = raw.read(16384, decode_content=False)
            if not chunk:
                break
            if decompressor is not None:
                out += decompressor.decompress(chunk, cap + 1 - len(out))
                if decompressor.unconsumed_tail:
                    out += b"x"  # more than the cap is waiting
            else:
                out += chunk
            if len(out) > cap:
                first = bytes(out[:300]).decode("utf-8", "replace")
                raise _TooLarge(f"the answer is larger than {cap // (1024 * 1024)} MiB (decompressed); it begins: {first!r}")
        return resp.status_code, dict(resp.headers), bytes(out).decode("utf-8", errors="replace")

    @staticmethod
    def _unavailability(ex: Exchange) -> str:
        """Why this answer says the target is not there at all ('' when it is an answer to judge)."""
        if ex.status is None:
            return f"no answer: {ex.error}"
        if ex.error:
            return ex.error
        body = ex.json
        code = body.get("code") if isinstance(body, dict) else None
        if 300 <= ex.status < 400:
            where = next((v for k, v in ex.response_headers.items() if k.lower() == "location"), "(no Location)")
            return f"the target redirected (HTTP {ex.status} to {where}); redirects are never followed, so no credential goes to another origin"
        if ex.status in UNAVAILABLE_STATUSES or code in UNAVAILABLE_CODES:
            return f"the gateway could not reach the backend (HTTP {ex.status}, code {code})"
        is_html = "html" in ex.content_type.lower() or ex.response_text.lstrip()[:1] == "<"
        if is_html and _GATEWAY_PAGE.search(ex.response_text):
            return f"a gateway error page came back instead of an API answer (HTTP {ex.status})"
        if is_html and ex.status == 200 and body is None:
            return "an HTML page came back with HTTP 200 (a login page in front of the gateway?) instead of an API answer"
        return ""

    # -- the documented companion APIs ------------------------------------------
    def search_sets(self, bk_biz_id: int, condition: dict[str, Any], supplier: str | None = None, limit: int = 200) -> Exchange:
        params: dict[str, Any] = {"bk_biz_id": bk_biz_id, "fields": [], "condition": condition, "page": {"start": 0, "limit": limit}}
        if supplier:
            params["bk_supplier_account"] = supplier
        return self.send(Request("search_set", params))

    def delete_set(self, bk_biz_id: int, bk_set_id: int) -> Exchange:
        return self.send(Request("delete_set", {"bk_biz_id": bk_biz_id, "bk_set_id": bk_set_id}))

    def batch_delete_sets(self, bk_biz_id: int, ids: list[int]) -> Exchange:
        return self.send(Request("batch_delete_set", {"bk_biz_id": bk_biz_id, "delete": {"inst_ids": ids}}))

    def search_object_attribute(self, bk_biz_id: int, supplier: str | None = None) -> Exchange:
        """The set model of a business as the model API shows it (research model §4): global + that business's."""
        params: dict[str, Any] = {"bk_obj_id": "set", "bk_biz_id": bk_biz_id}
        if supplier:
            params["bk_supplier_account"] = supplier
        return self.send(Request("search_object_attribute", params))

    def search_business(self, condition: dict[str, Any], limit: int = 50) -> Exchange:
        return self.send(Request("search_business", {"fields": ["bk_biz_id"], "condition": condition, "page": {"start": 0, "limit": limit}}))


def search_rows(ex: Exchange) -> tuple[list[dict[str, Any]], int] | None:
    """The rows and count of a successful search answer ({count, info}), or None: the one parser of search answers."""
    body = ex.json
    if not isinstance(body, dict) or body.get("result") is not True or not isinstance(body.get("data"), dict):
        return None
    info, count = body["data"].get("info"), body["data"].get("count")
    if not isinstance(info, list):
        return None
    rows = [d for d in info if isinstance(d, dict)]
    return rows, count if isinstance(count, int) and not isinstance(count, bool) else len(rows)


class _TooLarge(Exception):
    pass


@dataclass
class _Wire:
    """What the wire gave: an answer (status, headers, text) or what went wrong (error), or both (a refused answer)."""

    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    text: str = ""
    error: str = ""


def chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
