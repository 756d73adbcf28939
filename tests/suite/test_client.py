"""The client: redaction, replay lines, rate limiting, retries and uncertain creates."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from cmdb_contract import client as C
from cmdb_contract.harness import Harness
from cmdb_contract.strategies import GenContext

Reply = tuple[int, dict[str, Any] | str]


@pytest.fixture(autouse=True)
def _credentials() -> Iterator[None]:
    C.configure_credentials({"BK_APP_CODE": "app", "BK_APP_SECRET": 's3cr"et$', "BK_USERNAME": "admin"})
    yield
    C.configure_credentials({})


@pytest.fixture
def scripted() -> Iterator[Callable[[Callable[[str, dict[str, Any]], Reply]], str]]:
    """A loopback server answering each request with a scripted reply."""
    servers: list[ThreadingHTTPServer] = []

    def start(script: Callable[[str, dict[str, Any]], Reply]) -> str:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                status, reply = script(self.path.rstrip("/").rsplit("/", 1)[1], body)
                if reply == "hang":
                    time.sleep(1.5)
                    return
                data = (reply if isinstance(reply, str) else json.dumps(reply)).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        srv.daemon_threads = True
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return f"http://127.0.0.1:{srv.server_address[1]}"

    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


OK = {"result": True, "code": 0, "data": {"count": 0, "info": []}, "message": "success", "permission": None, "request_id": "0" * 32}


def test_secrets_are_redacted_raw_and_json_escaped() -> None:
    """The app secret is redacted both as written and as it appears inside JSON."""
    escaped = json.dumps({"k": 's3cr"et$'})
    text = f'raw s3cr"et$ and json {escaped}'
    assert "s3cr" not in C.redact(text)


def test_replay_line_reads_secrets_from_the_environment() -> None:
    """The curl line carries ${BK_APP_SECRET}, never the secret, and escapes shell metacharacters."""
    body = C.redact(json.dumps({**C.Target.auth_fields("body"), "data": {"bk_set_name": "a$b`c"}}))
    line = C.Exchange("create_set", "POST", "http://h/x/", {"X-Bkapi-Authorization": C.redact(json.dumps(C.Target.auth_fields()))}, body).curl()
    assert "s3cr" not in line and line.count("${BK_APP_SECRET}") == 2
    assert "a\\$b\\`c" in line


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
def test_rate_limited_answers_are_retried(scripted: Callable[..., str], limited: Reply) -> None:
    """A rate-limit answer (HTTP 429 or a gateway rate-limit code) is retried after a back-off, even for a create."""
    calls: list[str] = []

    def script(api: str, body: dict[str, Any]) -> Reply:
        calls.append(api)
        return limited if len(calls) < 3 else (200, OK)

    target = C.Target(scripted(script), retries=4)
    ex = target.call("create_set", {"bk_biz_id": 2})
    assert ex.json["result"] is True and calls == ["create_set"] * 3


def test_uncertain_create_is_settled_by_search(scripted: Callable[..., str], tmp_path: Path) -> None:
    """A create that gets no answer is never resent; search_set tells whether it landed, and it goes in the ledger."""
    calls: list[str] = []
    landed = {"bk_set_id": 77, "bk_set_name": "ctabcdef0001", "bk_biz_id": 2}

    def script(api: str, body: dict[str, Any]) -> Reply:
        calls.append(api)
        if api == "create_set":
            return 200, "hang"
        return 200, {**OK, "data": {"count": 1, "info": [landed]}}

    target = C.Target(scripted(script), timeout=0.5, ledger=C.Ledger(tmp_path / "ledger.jsonl"))
    harness = Harness(target, GenContext(2, 2), "3.14", "strict")
    with pytest.raises(C.TargetUnavailable, match="landed and was recorded"):
        harness.send_create({"bk_biz_id": 2, "data": {"bk_parent_id": 2, "bk_set_name": "ctabcdef0001"}})
    assert calls.count("create_set") == 1 and "search_set" in calls
    assert target.ledger is not None and target.ledger.entries()[0]["bk_set_id"] == 77


def test_gateway_errors_mean_unavailable(scripted: Callable[..., str]) -> None:
    """502/504 and code 1306201 are 'target unavailable', not answers to judge."""
    replies = iter([(502, "<html>Bad Gateway</html>"), (200, {"result": False, "code": 1306201, "data": None, "message": "x"})])
    url = scripted(lambda api, body: next(replies))
    for _ in range(2):
        with pytest.raises(C.TargetUnavailable):
            C.Target(url).call("create_set", {})


def test_search_is_retried_after_a_lost_answer(scripted: Callable[..., str]) -> None:
    """An idempotent call (search) that got no answer is retried."""
    calls: list[str] = []

    def script(api: str, body: dict[str, Any]) -> Reply:
        calls.append(api)
        return (200, "hang") if len(calls) == 1 else (200, OK)

    ex = C.Target(scripted(script), timeout=0.5).call("search_set", {})
    assert ex.json["result"] is True and len(calls) == 2
