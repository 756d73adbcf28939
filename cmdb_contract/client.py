"""Talk to a target (a real ESB + CMDB or the emulator) and record every exchange.

Boundary: HTTP only. Credentials are read from the environment here and kept in
this module; they are injected into a request at the moment it is sent and
redacted from everything recorded, so no object a test receives, no Hypothesis
example and no report can carry them. Judging responses is ``oracles``' job.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

API_PREFIX = "/api/c/compapi/v2/cc/"
REDACTED = "***"
# Codes a gateway uses to say "too many requests": the request was not processed.
RATE_LIMIT_CODES = frozenset({1306429, 1642901, 1642902, 1642903})
# Codes a gateway uses to say "the backend did not answer".
UNAVAILABLE_CODES = frozenset({1306201, 1650200, 1650201, 1650300, 1650401})
UNAVAILABLE_STATUSES = frozenset({502, 503, 504})

ENV_APP_CODE = "BK_APP_CODE"
ENV_APP_SECRET = "BK_APP_SECRET"
ENV_USERNAME = "BK_USERNAME"
ENV_TOKEN = "BK_TOKEN"


class TargetUnavailable(Exception):
    """The target did not answer like a server at all (refused, timed out, gateway page)."""

    def __init__(self, reason: str, exchange: Exchange | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.exchange = exchange

    def __str__(self) -> str:
        return self.reason


class _Secrets:
    """The credentials and every string that must never be printed."""

    def __init__(self) -> None:
        self._values: dict[str, str] = {}
        self._forms: tuple[str, ...] = ()
        self._lock = threading.Lock()

    def set(self, app_code: str, app_secret: str, username: str, token: str) -> None:
        # The forms to redact are fixed when the credentials are: every exchange is redacted.
        secrets = sorted((v for v in (app_secret, token) if v), key=len, reverse=True)
        forms = []
        for secret in secrets:  # longest first, so a secret containing another goes whole
            forms.append(secret)
            escaped = json.dumps(secret)[1:-1]
            if escaped != secret:
                forms.append(escaped)
        with self._lock:
            self._values = {"app_code": app_code, "app_secret": app_secret, "username": username, "token": token}
            self._forms = tuple(forms)

    def get(self, key: str) -> str:
        return self._values.get(key, "")

    def redaction_forms(self) -> tuple[str, ...]:
        """Each secret as written and as it appears inside JSON."""
        return self._forms

    def __repr__(self) -> str:  # pragma: no cover - defensive only
        return "<secrets redacted>"


SECRETS = _Secrets()


def configure_credentials(environ: dict[str, str] | os._Environ[str] | None = None) -> list[str]:
    """Read credentials from the environment; return the names of missing variables."""
    env = os.environ if environ is None else environ
    app_code = env.get(ENV_APP_CODE, "")
    app_secret = env.get(ENV_APP_SECRET, "")
    username = env.get(ENV_USERNAME, "")
    token = env.get(ENV_TOKEN, "")
    SECRETS.set(app_code, app_secret, username, token)
    missing = [name for name, value in ((ENV_APP_CODE, app_code), (ENV_APP_SECRET, app_secret)) if not value]
    if not (username or token):
        missing.append(f"{ENV_USERNAME} or {ENV_TOKEN}")
    return missing


def redact(text: str) -> str:
    """Replace every secret (app secret, token) in ``text``, also JSON-escaped."""
    for form in SECRETS.redaction_forms():
        text = text.replace(form, REDACTED)
    return text


@dataclass
class Exchange:
    """One request and its answer, already redacted, as the report shows it."""

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

    _json_cache: Any = field(default=None, repr=False)
    _json_parsed: bool = field(default=False, repr=False)

    @property
    def json(self) -> Any:
        """The parsed response body, or None when it is not JSON."""
        if not self._json_parsed:
            self._json_parsed = True
            try:
                self._json_cache = json.loads(self.response_text)
            except ValueError:
                self._json_cache = None
        return self._json_cache

    @property
    def content_type(self) -> str:
        for k, v in self.response_headers.items():
            if k.lower() == "content-type":
                return v
        return ""

    def curl(self) -> str:
        """A shell line that replays the request with secrets read from the environment."""
        return to_curl(self)

    def as_dict(self) -> dict[str, Any]:
        return {
            "api": self.api,
            "request": {"method": self.method, "url": self.url, "headers": self.request_headers, "body": self.request_body},
            "response": {"status": self.status, "headers": self.response_headers, "body": self.response_text[:20000]},
            "elapsed_ms": round(self.elapsed_ms, 2),
            "error": self.error,
            "curl": self.curl(),
        }


def to_curl(ex: Exchange) -> str:
    """Build a replay line; the redacted secrets become environment references."""
    parts = ["curl", "-sS", "-X", ex.method, shlex.quote(ex.url)]
    for k, v in ex.request_headers.items():
        if k.lower() in {"content-length", "connection", "accept-encoding", "accept", "user-agent"}:
            continue
        parts += ["-H", '"' + _restore_placeholders(_shell_escape(f"{k}: {v}")) + '"']
    if not ex.request_body:
        return " ".join(parts)
    body = _restore_placeholders(_shell_escape(ex.request_body, quotes=False))
    return " ".join(parts) + " --data-binary @- <<EOF\n" + body + "\nEOF"


def _shell_escape(text: str, quotes: bool = True) -> str:
    # Escapes for a double-quoted string (quotes=True) or an unquoted heredoc.
    text = text.replace("\\", "\\\\").replace("$", "\\$").replace("`", "\\`")
    return text.replace('"', '\\"') if quotes else text


def _restore_placeholders(escaped: str) -> str:
    # A redacted secret field becomes a reference to its environment variable.
    for key, var in (("bk_app_secret", "BK_APP_SECRET"), ("bk_token", "BK_TOKEN")):
        for q in ('\\"', '"'):
            escaped = escaped.replace(f"{q}{key}{q}: {q}{REDACTED}{q}", f"{q}{key}{q}: {q}${{{var}}}{q}")
    return escaped


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


class Recorder:
    """Keeps the last exchanges of the current test, from every thread (the report shows them)."""

    def __init__(self, keep: int = 6) -> None:
        self.keep = keep
        self._items: list[Exchange] = []
        self._lock = threading.Lock()

    @property
    def exchanges(self) -> list[Exchange]:
        with self._lock:
            return list(self._items)

    def add(self, ex: Exchange) -> None:
        with self._lock:
            self._items.append(ex)
            if len(self._items) > self.keep:
                del self._items[0]

    def clear(self) -> None:
        with self._lock:
            self._items = []


class Ledger:
    """Append-only record of every set the run created, written as it happens.

    Each line is flushed to the operating system before the create is judged,
    so a suite that is killed still leaves a complete ledger for --cleanup-only.
    (No fsync per line: that guards against a power cut, not an interrupted run,
    and costs more than the request itself.)
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._fh: Any = None

    def __repr__(self) -> str:
        return f"Ledger({str(self.path)!r})"

    def record(self, bk_biz_id: int, bk_set_id: int, name: str) -> None:
        line = json.dumps({"bk_biz_id": bk_biz_id, "bk_set_id": bk_set_id, "bk_set_name": name}, ensure_ascii=False)
        with self._lock:
            if self._fh is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fh = self.path.open("a", encoding="utf-8")
            self._fh.write(line + "\n")
            self._fh.flush()

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                os.fsync(self._fh.fileno())
                self._fh.close()
                self._fh = None

    def entries(self) -> list[dict[str, Any]]:
        self.close()
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue
        return out


@dataclass
class Target:
    """A configured create_set endpoint and the session used to reach it."""

    url: str
    timeout: float = 15.0
    rate_limit: float = 0.0
    retries: int = 4
    language: str = ""
    recorder: Recorder = field(default_factory=Recorder)
    ledger: Ledger | None = None

    def __post_init__(self) -> None:
        self.url = self.url.rstrip("/")
        # Read proxy and CA settings from the environment once, not on every request
        # (requests' trust_env looks them up per call, a measurable share of a fast run).
        self._proxies = requests.utils.get_environ_proxies(self.url)
        self._verify: bool | str = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        self._session = self._new_session()
        self._limiter = RateLimiter(self.rate_limit)
        self.unavailable: TargetUnavailable | None = None
        self._tls = threading.local()

    def __repr__(self) -> str:
        return f"Target({self.url!r})"

    def close(self) -> None:
        self._session.close()

    def _new_session(self) -> requests.Session:
        session = requests.Session()
        session.trust_env = False
        session.proxies.update(self._proxies)
        session.verify = self._verify
        return session

    # -- sessions: one per thread, since requests.Session is not thread-safe ----
    @property
    def session(self) -> requests.Session:
        if threading.current_thread() is threading.main_thread():
            return self._session
        s = getattr(self._tls, "session", None)
        if s is None:
            s = self._new_session()
            self._tls.session = s
        return s

    # -- building requests ---------------------------------------------------
    @staticmethod
    def auth_fields(mode: str = "body") -> dict[str, str]:
        """The credential fields for ``mode`` (a defect name or body/header)."""
        code, secret = SECRETS.get("app_code"), SECRETS.get("app_secret")
        user, token = SECRETS.get("username"), SECRETS.get("token")
        fields: dict[str, str] = {"bk_app_code": code, "bk_app_secret": secret}
        if token:
            fields["bk_token"] = token
        else:
            fields["bk_username"] = user
        if mode == "missing-secret":
            del fields["bk_app_secret"]
        elif mode == "missing-app-code":
            fields["bk_app_code"] = ""
        elif mode == "unknown-app-code":
            fields["bk_app_code"] = "zz-contract-unknown-app"
        elif mode == "wrong-secret":
            fields["bk_app_secret"] = "zz-contract-wrong-secret"
        elif mode == "missing-user":
            fields.pop("bk_token", None)
            fields.pop("bk_username", None)
        elif mode == "invalid-token":
            fields["bk_token"] = "zz-contract-invalid-token"
        elif mode.startswith("user:"):
            # Act as another user: bk_token would win over bk_username, so drop it.
            fields.pop("bk_token", None)
            fields["bk_username"] = mode.split(":", 1)[1]
        return fields

    def call(
        self,
        api: str,
        params: dict[str, Any] | None = None,
        *,
        auth: str = "body",
        raw_body: str | None = None,
        headers: dict[str, str] | None = None,
        method: str = "POST",
        retry: bool = True,
    ) -> Exchange:
        """Send one request to ``api``; ``auth`` is body, header, none or a defect name."""
        # Like the real clients: bkapi-component-open (header auth) sends a JSON
        # Content-Type; blueking.component (body auth) sends none.
        hdrs: dict[str, str] = {}
        if auth in ("header", "header-not-json"):
            hdrs["Content-Type"] = "application/json"
        if self.language:
            hdrs["Blueking-Language"] = self.language
        body_obj = dict(params or {})
        if auth in ("header", "header-not-json"):
            value = "{not json" if auth == "header-not-json" else json.dumps(self.auth_fields("body"))
            hdrs["X-Bkapi-Authorization"] = value
        elif auth != "none":
            body_obj = {**self.auth_fields(auth), **body_obj}
        if headers:
            hdrs.update(headers)
        body = raw_body if raw_body is not None else json.dumps(body_obj, ensure_ascii=False)
        url = f"{self.url}{API_PREFIX}{api}/"
        # Rate-limit answers mean "not processed": any call may be retried after them.
        # A call that got no answer is retried only if it is idempotent; a create never is.
        idempotent = api != "create_set"
        attempt = 0
        while True:
            try:
                ex = self._send(api, method, url, hdrs, body)
            except TargetUnavailable:
                if retry and idempotent and attempt < min(self.retries, 2) and self.unavailable is None:
                    attempt += 1
                    time.sleep(0.5 * attempt)
                    continue
                raise
            if retry and attempt < self.retries and self._rate_limited(ex):
                attempt += 1
                time.sleep(min(0.2 * 2**attempt, 5.0))
                continue
            return ex

    @staticmethod
    def _rate_limited(ex: Exchange) -> bool:
        if ex.status == 429:
            return True
        body = ex.json
        return isinstance(body, dict) and body.get("code") in RATE_LIMIT_CODES

    def _send(self, api: str, method: str, url: str, headers: dict[str, str], body: str) -> Exchange:
        if self.unavailable is not None:
            raise TargetUnavailable(self.unavailable.reason, self.unavailable.exchange)
        self._limiter.wait()
        ex = Exchange(
            api=api,
            method=method,
            url=url,
            request_headers={k: redact(v) for k, v in headers.items()},
            request_body=redact(body),
        )
        start = time.perf_counter()
        try:
            resp = self.session.request(method, url, data=body.encode("utf-8"), headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            ex.elapsed_ms = (time.perf_counter() - start) * 1000
            ex.error = redact(f"{type(exc).__name__}: {exc}")
            self.recorder.add(ex)
            raise TargetUnavailable(f"no answer from {self.url}: {ex.error}", ex) from None
        ex.elapsed_ms = (time.perf_counter() - start) * 1000
        ex.status = resp.status_code
        ex.response_headers = {k: redact(v) for k, v in resp.headers.items()}
        ex.response_text = redact(resp.content.decode("utf-8", errors="replace"))
        self.recorder.add(ex)
        self._check_available(ex)
        return ex

    def _check_available(self, ex: Exchange) -> None:
        body = ex.json
        code = body.get("code") if isinstance(body, dict) else None
        if ex.status in UNAVAILABLE_STATUSES or code in UNAVAILABLE_CODES:
            raise TargetUnavailable(f"the gateway could not reach the backend (HTTP {ex.status}, code {code})", ex)
        looks_like_page = "html" in ex.content_type.lower() and re.search(r"(?i)bad gateway|gateway time|nginx|service unavailable", ex.response_text)
        if looks_like_page:
            raise TargetUnavailable(f"a gateway error page came back instead of an API answer (HTTP {ex.status})", ex)

    def mark_unavailable(self, err: TargetUnavailable) -> None:
        self.unavailable = err

    # -- the documented companion APIs -------------------------------------------
    def search_sets(self, bk_biz_id: int, condition: dict[str, Any], supplier: str | None = None) -> Exchange:
        params: dict[str, Any] = {"bk_biz_id": bk_biz_id, "fields": [], "condition": condition, "page": {"start": 0, "limit": 200}}
        if supplier:
            params["bk_supplier_account"] = supplier
        return self.call("search_set", params)

    def delete_set(self, bk_biz_id: int, bk_set_id: int) -> Exchange:
        return self.call("delete_set", {"bk_biz_id": bk_biz_id, "bk_set_id": bk_set_id})

    def batch_delete_sets(self, bk_biz_id: int, ids: list[int]) -> Exchange:
        return self.call("batch_delete_set", {"bk_biz_id": bk_biz_id, "delete": {"inst_ids": ids}})


def chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
