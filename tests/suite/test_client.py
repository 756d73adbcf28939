"""The client: redaction, replay lines, rate limiting, retries, the breaker, the deadline, caps and uncertain creates."""

from __future__ import annotations

import base64
import json
import resource
import shlex
import subprocess
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from cmdb_contract import client as C
from cmdb_contract.cleanup import SetOutcome, clean_run
from cmdb_contract.credentials import BODY, HEADER, Auth, Credentials
from cmdb_contract.harness import Harness
from cmdb_contract.ledger import Ledger, read_ledger
from cmdb_contract.oracles import Judging
from cmdb_contract.strategies import GenContext

SECRET = 's3cr"et$'
CREDS = Credentials("app", SECRET, "admin")
MIB = 1024 * 1024


@dataclass(frozen=True)
class Trickle:
    """Reply slowly: one byte of a JSON answer every ``interval`` seconds, framed by Content-Length, chunks or the connection's close."""

    framing: str
    interval: float = 0.3
    body: bytes = b'{"result":true,"x":1}'


Reply = tuple[Any, ...]  # (status, body) or (status, body, headers); body "hang" never answers
Script = Callable[[str, Any], Reply]
Received = list[dict[str, Any]]


@pytest.fixture
def scripted() -> Iterator[Callable[..., str]]:
    """A loopback server answering each request with a scripted reply, optionally recording what it receives."""
    servers: list[ThreadingHTTPServer] = []

    def start(script: Script, record: Received | None = None) -> str:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if record is not None:
                    record.append({"method": self.command, "path": self.path, "headers": dict(self.headers), "body": raw.decode("utf-8", "replace")})
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                reply = script(self.path.rstrip("/").rsplit("/", 1)[-1], body)
                status, payload, headers = reply[0], reply[1], dict(reply[2]) if len(reply) > 2 else {}
                if isinstance(payload, str) and payload == "hang":
                    time.sleep(1.5)
                    return
                try:
                    if isinstance(payload, Trickle):
                        self._trickle(status, payload)
                    else:
                        self._answer(status, payload, headers)
                except OSError:
                    pass  # the client stopped reading (a cap or the deadline): nothing more to send

            def do_GET(self) -> None:
                self.do_POST()

            def _answer(self, status: int, payload: Any, headers: dict[str, str]) -> None:
                if isinstance(payload, bytes):
                    data = payload
                elif isinstance(payload, str):
                    data = payload.encode()
                else:
                    data = json.dumps(payload).encode()
                self.send_response(status)
                if not any(k.lower() == "content-type" for k in headers):
                    self.send_header("Content-Type", "application/json")
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _trickle(self, status: int, t: Trickle) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if t.framing == "chunked":
                    self.send_header("Transfer-Encoding", "chunked")
                else:
                    self.send_header("Content-Length", str(len(t.body)))
                if t.framing == "close":
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                for byte in t.body:  # bounded: len(body) bytes
                    piece = bytes([byte])
                    self.wfile.write(b"1\r\n" + piece + b"\r\n" if t.framing == "chunked" else piece)
                    self.wfile.flush()
                    time.sleep(t.interval)
                if t.framing == "chunked":
                    self.wfile.write(b"0\r\n\r\n")

            def log_message(self, *args: Any) -> None:
                pass

        srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        srv.daemon_threads = True
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return f"http://127.0.0.1:{srv.server_address[1]}"

    try:
        yield start
    finally:
        for srv in servers:
            srv.shutdown()
            srv.server_close()


@pytest.fixture
def targets() -> Iterator[Callable[..., C.Target]]:
    """Targets with the test credentials, closed at the end of the test."""
    made: list[C.Target] = []

    def make(url: str, credentials: Credentials = CREDS, **kw: Any) -> C.Target:
        target = C.Target(url, credentials, **kw)
        made.append(target)
        return target

    try:
        yield make
    finally:
        for target in made:
            target.close()


OK = {"result": True, "code": 0, "data": {"count": 0, "info": []}, "message": "success", "permission": None, "request_id": "0" * 32}
CREATE = C.Request("create_set", {"bk_biz_id": 2, "data": {"bk_parent_id": 2, "bk_set_name": "ctabcdef0001"}})
SEARCH = C.Request("search_set", {"bk_biz_id": 2, "condition": {}})


def secret_forms(secret: str) -> list[str]:
    """The forms of a secret a record could leak: raw, JSON-escaped both ways, URL-encoded, base64, repr."""
    raw = secret.encode()
    return [secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1], quote(secret, safe=""), quote_plus(secret),
            base64.b64encode(raw).decode().rstrip("="), repr(secret)[1:-1]]


def test_secrets_are_redacted_raw_and_json_escaped() -> None:
    """The app secret is redacted both as written and as it appears inside JSON."""
    escaped = json.dumps({"k": SECRET})
    text = f"raw {SECRET} and json {escaped}"
    assert "s3cr" not in CREDS.redact(text)


def _recorded(request: C.Request) -> C.Exchange:
    headers, body = request.render(CREDS.placeholders())
    return C.Exchange(request.api, request.method, "http://h/x/", headers, body)


def test_replay_line_reads_secrets_from_the_environment() -> None:
    """The curl line carries ${BK_APP_SECRET}, never the secret, keeps shell metacharacters inert, and fills the secret from the environment."""
    params = {"bk_biz_id": 2, "data": {"bk_set_name": "a$b`c"}}
    body_ex, header_ex = _recorded(C.Request("create_set", params)), _recorded(C.Request("create_set", params, auth=HEADER))
    line = C.Exchange("create_set", "POST", "http://h/x/", header_ex.request_headers, body_ex.request_body).curl()
    header_record = header_ex.request_headers["X-Bkapi-Authorization"]
    assert "s3cr" not in line
    for recorded in (header_record, body_ex.request_body):
        assert recorded.count('"${BK_APP_SECRET}"') == 1 and shlex.quote(recorded) in line
    # Run the line with printf in curl's place: every argument comes out as the shell passes it to curl.
    assert line.startswith("curl ")
    out = subprocess.run(["bash", "-c", "printf '%s\\0' " + line.removeprefix("curl ")], capture_output=True, timeout=30, check=True,
                         env={"PATH": "/usr/bin:/bin", "BK_APP_SECRET": SECRET}).stdout.decode().split("\0")
    sent_body = json.loads(out[out.index("--data-binary") + 1])
    header = next(arg for arg in out if arg.startswith("X-Bkapi-Authorization: "))
    assert sent_body["bk_app_secret"] == SECRET and sent_body["data"]["bk_set_name"] == "a$b`c"
    assert "${BK_APP_SECRET}" not in "".join(out)
    assert json.loads(header.split(": ", 1)[1])["bk_app_secret"] == SECRET


def test_rate_limiter_spaces_requests() -> None:
    """At N requests per second, consecutive requests are 1/N seconds apart."""
    now = [100.0]
    slept: list[float] = []

    def sleep(d: float) -> None:
        slept.append(d)
        now[0] += d

    limiter = C.RateLimiter(4, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        limiter.wait()
    assert slept == pytest.approx([0.25, 0.25, 0.25, 0.25])


@pytest.mark.parametrize("limited", [(429, {"message": "too many"}), (200, {"result": False, "code": 1642903, "data": None, "message": "rate"}),
                                     (200, {"result": False, "code": 1306429, "data": None, "message": "rate"})], ids=["http-429", "1642903", "1306429"])
def test_rate_limited_answers_are_retried(scripted: Callable[..., str], targets: Callable[..., C.Target], limited: Reply) -> None:
    """A rate-limit answer (HTTP 429 or a gateway rate-limit code) is retried after a back-off, even for a create."""
    calls: list[str] = []

    def script(api: str, body: Any) -> Reply:
        calls.append(api)
        return limited if len(calls) < 3 else (200, OK)

    ex = targets(scripted(script), retries=4).send(C.Request("create_set", {"bk_biz_id": 2}))
    assert ex.json["result"] is True and calls == ["create_set"] * 3


@pytest.mark.parametrize("reply", [(502, "<html>Bad Gateway</html>", {"Content-Type": "text/html"}),
                                   (200, {"result": False, "code": 1306201, "data": None, "message": "x"})], ids=["http-502", "1306201"])
def test_gateway_errors_mean_unavailable_and_trip_the_breaker(scripted: Callable[..., str], targets: Callable[..., C.Target], reply: Reply) -> None:
    """502/504 and code 1306201 are 'target unavailable', not answers to judge; every later request fails fast without being sent."""
    calls: list[str] = []

    def script(api: str, body: Any) -> Reply:
        calls.append(api)
        return reply

    target = targets(scripted(script))
    with pytest.raises(C.TargetUnavailable, match="could not reach the backend") as first:
        target.send(CREATE)
    assert target.unavailable is first.value
    with pytest.raises(C.TargetUnavailable) as later:
        target.send(SEARCH)
    assert later.value.reason == first.value.reason and calls == ["create_set"]


def test_search_is_retried_after_a_lost_answer(scripted: Callable[..., str], targets: Callable[..., C.Target]) -> None:
    """An idempotent call (search) that got no answer is retried."""
    calls: list[str] = []

    def script(api: str, body: Any) -> Reply:
        calls.append(api)
        return (200, "hang") if len(calls) == 1 else (200, OK)

    ex = targets(scripted(script), timeout=0.5).send(SEARCH)
    assert ex.json["result"] is True and len(calls) == 2


def test_create_without_an_answer_is_not_resent(scripted: Callable[..., str], targets: Callable[..., C.Target]) -> None:
    """A create that got no answer is sent once only: it may have landed, so resending could create a second set."""
    calls: list[str] = []

    def script(api: str, body: Any) -> Reply:
        calls.append(api)
        return 200, "hang"

    with pytest.raises(C.TargetUnavailable, match="no answer"):
        targets(scripted(script), timeout=0.5, retries=4).send(CREATE)
    assert calls == ["create_set"]


def _matches(doc: dict[str, Any], condition: dict[str, Any]) -> bool:
    return all(doc.get(k) in v["$in"] if isinstance(v, dict) else doc.get(k) == v for k, v in condition.items())


def test_uncertain_create_is_in_the_ledger_and_settled_by_cleanup(scripted: Callable[..., str], targets: Callable[..., C.Target],
                                                                   tmp_path: Path) -> None:
    """A create that gets no answer is never resent and its name is pending in the ledger; cleanup finds it by name with search_set and deletes it."""
    calls: list[tuple[str, Any]] = []
    name = "ctabcdef0001"
    landed = {"bk_set_id": 77, "bk_set_name": name, "bk_biz_id": 2}
    deleted: set[int] = set()

    def script(api: str, body: Any) -> Reply:
        calls.append((api, body.get("condition", body.get("delete"))))
        if api == "create_set":
            return 200, "hang"
        if api == "batch_delete_set":
            deleted.update(body["delete"]["inst_ids"])
            return 200, {**OK, "data": None}
        info = [d for d in (landed,) if d["bk_set_id"] not in deleted and _matches(d, body["condition"])]
        return 200, {**OK, "data": {"count": len(info), "info": info}}

    url = scripted(script)
    target = targets(url, timeout=0.5)
    path = tmp_path / "ledger-abcdef.jsonl"
    ledger = Ledger(path, run_id="abcdef", target=target.identity, bk_biz_id=2, prefix="ctabcdef")
    harness = Harness(target, GenContext(2, 2), Judging(), run_id="abcdef", ledger=ledger)
    with pytest.raises(C.TargetUnavailable, match="its name is in the ledger"):
        harness.send_create({"bk_biz_id": 2, "data": {"bk_parent_id": 2, "bk_set_name": name}})
    ledger.close()
    assert calls == [("create_set", None)] and target.unavailable is not None
    record = read_ledger(path)
    assert record.pending == [(2, name)] and record.created == []
    assert record.target == target.identity and record.prefix == "ctabcdef"

    result = clean_run(targets(url, timeout=5.0), record)
    assert calls[1:] == [
        ("search_set", {"bk_set_name": {"$in": [name]}}),
        ("search_set", {"bk_set_id": {"$in": [77]}}),
        ("batch_delete_set", {"inst_ids": [77]}),
        ("search_set", {"bk_set_id": {"$in": [77]}}),
    ]
    assert result.outcomes == [SetOutcome(2, 77, name, "deleted")]
    assert result.complete and not path.exists()


@pytest.mark.parametrize("status", [302, 307])
def test_redirect_is_never_followed(scripted: Callable[..., str], targets: Callable[..., C.Target], status: int) -> None:
    """A redirect is 'target unavailable' naming its Location, and the other origin receives nothing, credentials least of all."""
    received: Received = []
    other = scripted(lambda api, body: (200, OK), received)
    location = f"{other}/api/c/compapi/v2/cc/create_set/"
    target = targets(scripted(lambda api, body: (status, "", {"Location": location})))
    with pytest.raises(C.TargetUnavailable, match="redirected") as err:
        target.send(CREATE)
    assert location in err.value.reason and f"HTTP {status}" in err.value.reason
    assert received == []


def _max_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def test_oversized_answer_is_unavailable(scripted: Callable[..., str], targets: Callable[..., C.Target]) -> None:
    """An answer of more than 8 MiB is 'target unavailable', read no further than the cap."""
    target = targets(scripted(lambda api, body: (200, b'{"x": "' + b"x" * (9 * MIB) + b'"}')))
    with pytest.raises(C.TargetUnavailable, match="larger than 8 MiB"):
        target.send(CREATE)


@pytest.fixture(scope="module")
def gzip_bomb() -> tuple[bytes, int]:
    """A gzip stream of 256 MiB of zeros (about 250 KiB compressed) and its expanded size."""
    size = 256 * MIB
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(MIB)
    data = b"".join(packer.compress(block) for _ in range(size // MIB)) + packer.flush()
    return data, size


def test_gzip_bomb_is_cut_at_the_cap_in_small_memory(scripted: Callable[..., str], targets: Callable[..., C.Target],
                                                     gzip_bomb: tuple[bytes, int]) -> None:
    """A small gzip answer that expands past the cap is 'target unavailable', and memory grows by far less than its expanded size."""
    bomb, expanded = gzip_bomb
    target = targets(scripted(lambda api, body: (200, bomb, {"Content-Encoding": "gzip"})))
    before = _max_rss_bytes()
    with pytest.raises(C.TargetUnavailable, match="larger than 8 MiB"):
        target.send(CREATE)
    assert _max_rss_bytes() - before < expanded // 4


@pytest.mark.parametrize("framing", [
    "length",
    "chunked",
    "close",
])
def test_trickling_answer_is_cut_at_the_deadline(scripted: Callable[..., str], targets: Callable[..., C.Target], framing: str) -> None:
    """An answer trickling one byte every 0.3 s is cut at the whole-request deadline and is 'target unavailable'."""
    target = targets(scripted(lambda api, body: (200, Trickle(framing))), timeout=1.0)
    start = time.monotonic()
    try:
        target.send(CREATE)
    except C.TargetUnavailable as err:
        outcome: C.TargetUnavailable | None = err
    else:
        outcome = None
    elapsed = time.monotonic() - start
    assert outcome is not None and "within --request-timeout 1 s" in outcome.reason
    assert elapsed < 6.0


def test_html_page_with_200_is_unavailable(scripted: Callable[..., str], targets: Callable[..., C.Target]) -> None:
    """An HTML page answered with HTTP 200 (a login page in front of the gateway) is 'target unavailable'."""
    page = "<!DOCTYPE html><html><body><form>Sign in</form></body></html>"
    target = targets(scripted(lambda api, body: (200, page, {"Content-Type": "text/html; charset=utf-8"})))
    with pytest.raises(C.TargetUnavailable, match="HTML page came back with HTTP 200"):
        target.send(CREATE)


@pytest.mark.parametrize("reply", [(200, "plain words", {"Content-Type": "text/plain"}), (200, [1, 2])], ids=["text", "json-array"])
def test_probe_refuses_an_answer_that_is_not_a_json_object(scripted: Callable[..., str], targets: Callable[..., C.Target], reply: Reply) -> None:
    """probe() raises 'target unavailable' for an answer that is not a JSON object."""
    with pytest.raises(C.TargetUnavailable, match="not a JSON object"):
        targets(scripted(lambda api, body: reply)).probe(SEARCH)


def test_probe_closes_the_breaker_on_an_api_answer(scripted: Callable[..., str], targets: Callable[..., C.Target]) -> None:
    """After the breaker tripped, a probe answered like an API closes it and requests are sent again."""
    replies = iter([(502, "<html>Bad Gateway</html>", {"Content-Type": "text/html"}), (200, OK), (200, OK)])
    target = targets(scripted(lambda api, body: next(replies)))
    with pytest.raises(C.TargetUnavailable):
        target.send(SEARCH)
    assert target.unavailable is not None
    target.probe(SEARCH)
    assert target.unavailable is None and target.send(SEARCH).json["result"] is True


HOSTILE = 'Cq"7\\x%2B é+z'
HOSTILE_TOKEN = "t'ok\\en \"%20+ü"


@pytest.mark.parametrize("auth", [BODY, HEADER], ids=["body", "header"])
def test_record_never_holds_the_secret(scripted: Callable[..., str], targets: Callable[..., C.Target], auth: Auth) -> None:
    """The exchange recorded for a request holds only placeholders where the secret and token went, even when the target echoes them."""
    received: Received = []

    def echo(api: str, body: Any) -> Reply:
        fields = json.loads(received[-1]["headers"]["X-Bkapi-Authorization"]) if auth.where == "header" else body
        return 200, {**OK, "message": f"echo {fields['bk_app_secret']} {fields['bk_token']}", "data": fields}

    creds = Credentials("app", HOSTILE, "admin", token=HOSTILE_TOKEN)
    target = targets(scripted(echo, received), creds)
    records: list[C.Exchange] = []
    target.listeners.append(records.append)
    ex = target.send(C.Request("create_set", {"bk_biz_id": 2, "data": {"bk_parent_id": 2, "bk_set_name": "x"}}, auth=auth))
    assert records == [ex]
    wire = received[0]["body"] if auth.where == "body" else received[0]["headers"]["X-Bkapi-Authorization"]
    assert json.loads(wire)["bk_app_secret"] == HOSTILE, "the wire carries the real secret"
    carried = ex.request_json if auth.where == "body" else json.loads(ex.request_headers["X-Bkapi-Authorization"])
    assert carried["bk_app_secret"] == "${BK_APP_SECRET}" and carried["bk_token"] == "${BK_TOKEN}"
    text = json.dumps(ex.as_dict(), ensure_ascii=False) + repr(ex) + ex.curl() + str(ex.__dict__)
    leaks = [form for secret in (HOSTILE, HOSTILE_TOKEN) for form in secret_forms(secret) if form in text]
    assert leaks == []


def test_closed_creates_raise_while_searches_work(scripted: Callable[..., str], targets: Callable[..., C.Target]) -> None:
    """After close_creates every create_set raises CreatesClosed without being sent, and searches still go out."""
    calls: list[str] = []

    def script(api: str, body: Any) -> Reply:
        calls.append(api)
        return 200, OK

    target = targets(scripted(script))
    target.close_creates("the run is stopping")
    with pytest.raises(C.CreatesClosed, match="the run is stopping"):
        target.send(CREATE)
    assert target.search_sets(2, {}).json["result"] is True
    assert calls == ["search_set"]


@pytest.mark.parametrize(("url", "identity"), [
    ("HTTP://CMDB.Example.COM:80/", "http://cmdb.example.com"),
    ("https://cmdb.example.com:443/esb/", "https://cmdb.example.com/esb"),
    ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
    ("  http://h/p?x=1#frag ", "http://h/p"),
    ("https://h:8443/a/b//", "https://h:8443/a/b"),
    ("http://user:pw@h:80/", "http://h"),
    ("http://[::1]:8080/", "http://[::1]:8080"),
])
def test_normalise_url(url: str, identity: str) -> None:
    """The target's identity has a lower-case scheme and host, no default port, user info, query or trailing slash."""
    assert C.normalise_url(url) == identity
