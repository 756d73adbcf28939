"""Operator options and limits (issues 9, 10, 11): idle timeout, connection cap, latency,
credentials from the environment, --log, the Server header, bad option values.

Bounded loops against 127.0.0.1 only.  Time bounds are generous: a lower bound
only where the emulator itself waits (a delay, a timeout), an upper bound many
times what the emulator needs.
"""

from __future__ import annotations

import errno
import http.client
import json
import re
import resource
import select
import socket
import threading
import time
from typing import Any
from urllib.parse import urlparse

import pytest
import requests

from cmdb_emulator.server import DEFAULT_IDLE_TIMEOUT, default_max_connections

from .helpers import AUTH, BIZ, call, path, run_cli
from .test_cli import stop_and_read


def _address(url: str) -> tuple[str, int]:
    parsed = urlparse(url)
    assert parsed.hostname and parsed.port
    return parsed.hostname, parsed.port


def _request(body: dict[str, Any] | None = None, component: str = "search_business") -> bytes:
    data = json.dumps({**AUTH, **(body or {})}).encode()
    return (f"POST {path(component)} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(data)}\r\n\r\n").encode() + data


def _read_answer(sock: socket.socket) -> tuple[int, dict[str, str], Any]:
    """One Content-Length framed answer from a raw socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed after {data!r}"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    length = int(headers["content-length"])
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk
        rest += chunk
    return int(lines[0].split()[1]), headers, json.loads(rest[:length])


# ------------------------------------------------------------------ idle timeout
def test_silent_connection_is_closed_after_the_idle_timeout(cli: Any) -> None:
    """Issue 11: a connection that sends nothing is closed once --idle-timeout (1 s) has passed."""
    process = cli("--port", "0", "--idle-timeout", "1")
    with socket.create_connection(_address(process.url), timeout=10) as sock:
        started = time.monotonic()
        assert sock.recv(1) == b""  # closed by the server, not by our 10 s timeout
        assert 0.9 <= time.monotonic() - started < 10


def test_trickled_request_is_closed_after_the_idle_timeout(cli: Any) -> None:
    """Issue 11: a request trickled one byte at a time, each within the timeout, is still closed after 1 s overall."""
    process = cli("--port", "0", "--idle-timeout", "1")
    request = _request()
    with socket.create_connection(_address(process.url), timeout=10) as sock:
        started = time.monotonic()
        closed = False
        for byte in request[:25]:  # 25 bytes x 0.2 s: 5 s, far beyond the timeout
            try:
                sock.send(bytes([byte]))
            except OSError:
                closed = True
                break
            readable, _, _ = select.select([sock], [], [], 0.2)
            if readable:
                assert sock.recv(65536) == b""
                closed = True
                break
        assert closed and time.monotonic() - started < 4


def test_keep_alive_client_idle_within_the_timeout_is_undisturbed(cli: Any) -> None:
    """A keep-alive client pausing (0.5 s) well within the idle timeout (3 s) keeps its one connection."""
    process = cli("--port", "0", "--idle-timeout", "3")
    host, port = _address(process.url)
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        sockets = []
        for _ in range(4):
            conn.request("POST", path("search_business"), body=json.dumps(AUTH))
            answer = conn.getresponse()
            assert answer.status == 200 and json.loads(answer.read())["code"] == 0
            sockets.append(conn.sock)
            threading.Event().wait(0.5)  # pacing, not synchronisation: 6x inside the timeout
        assert all(s is sockets[0] for s in sockets)
    finally:
        conn.close()


def test_defaults_never_disturb_a_normal_client() -> None:
    """The defaults: an idle timeout of at least 60 s (nginx keeps 75 s) and a cap well below the descriptor limit."""
    assert DEFAULT_IDLE_TIMEOUT >= 60
    limit = default_max_connections()
    assert 1 <= limit <= 1024
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY:
        assert limit <= soft // 2


# ------------------------------------------------------------------ connection cap
def test_connections_beyond_the_cap_are_refused_cleanly(cli: Any) -> None:
    """Issue 11: with --max-connections 5 a 6th connection gets a 503 JSON envelope and is closed; the 5 keep being served."""
    process = cli("--port", "0", "--max-connections", "5")
    address = _address(process.url)
    held = [socket.create_connection(address, timeout=10) for _ in range(5)]
    try:
        for sock in held:  # each one accepted and answered: the server counts 5 open connections
            sock.sendall(_request())
            assert _read_answer(sock)[0] == 200
        refused = requests.post(process.url + path("search_business"), data=json.dumps(AUTH), timeout=10)
        assert refused.status_code == 503 and refused.headers["Connection"] == "close"
        assert refused.headers["Content-Type"] == "application/json; charset=utf-8"
        assert refused.headers["X-Bkapi-Error-Code"] == "1650300"
        assert refused.json() == {"result": False, "code": 1650300, "code_name": "SERVICE_UNAVAILABLE", "data": None,
                                  "message": 'Service Unavailable [reason="too many open connections, the limit is 5"]'}
        held[0].sendall(_request())  # the 5 are still served
        assert _read_answer(held[0])[2]["code"] == 0
        held.pop().close()
        deadline = time.monotonic() + 10  # the freed slot is reusable once the server has seen the close
        while True:
            answer = requests.post(process.url + path("search_business"), data=json.dumps(AUTH), timeout=10)
            if answer.status_code == 200 or time.monotonic() > deadline:
                break
            threading.Event().wait(0.05)
        assert answer.status_code == 200 and answer.json()["code"] == 0
    finally:
        for sock in held:
            sock.close()


class _FailingAccept:
    """A listening socket whose accept() always fails with EMFILE (out of descriptors)."""

    def __init__(self, real: socket.socket) -> None:
        self.real = real
        self.calls = 0

    def fileno(self) -> int:
        return self.real.fileno()

    def accept(self) -> Any:
        self.calls += 1
        raise OSError(errno.EMFILE, "Too many open files")

    def close(self) -> None:
        self.real.close()


def test_accept_loop_backs_off_when_out_of_descriptors(make_server: Any) -> None:
    """Issue 11: while accept() fails with EMFILE the loop pauses between tries instead of spinning a CPU, and recovers."""
    server = make_server()
    failing = _FailingAccept(server.httpd.socket)
    server.httpd.socket = failing
    try:
        pending = socket.create_connection(_address(server.url), timeout=10)  # keeps the listener readable
        threading.Event().wait(1.0)
        assert 1 <= failing.calls <= 100  # a spinning loop makes tens of thousands of calls a second
    finally:
        server.httpd.socket = failing.real
    with pending:
        pending.sendall(_request())
        assert _read_answer(pending)[2]["code"] == 0


# ------------------------------------------------------------------ latency
def _timed_post(url: str, component: str = "search_business") -> float:
    started = time.monotonic()
    response = requests.post(url + path(component), data=json.dumps(AUTH), timeout=30)
    assert response.headers["Content-Type"].startswith("application/json")
    return time.monotonic() - started


def test_latency_delays_every_api_answer(make_server: Any) -> None:
    """Issue 9: --latency-ms 1000 delays every answer under /api/c/compapi/ (errors too) by about 1 s, and nothing else."""
    server = make_server(latency_ms=1000)
    assert 1.0 <= _timed_post(server.url) < 10
    assert 1.0 <= _timed_post(server.url, "no_such_component") < 10
    started = time.monotonic()
    assert requests.post(server.url + "/favicon.ico", timeout=30).status_code == 404
    assert time.monotonic() - started < 0.5


def test_jitter_spreads_the_delay_and_never_goes_below_zero(make_server: Any) -> None:
    """Issue 9: the delay is uniform in N ± M ms, clamped at 0 (here N=100, M=300: many zeros, none above 0.4 s)."""
    server = make_server(latency_ms=100, jitter_ms=300)
    delays = [server.httpd.delay() for _ in range(2000)]
    assert min(delays) == 0.0 and max(delays) <= 0.4
    assert 0.3 < sum(1 for d in delays if d == 0.0) / len(delays) < 0.7  # P(N - M + U(2M) < 0) = 1/3
    assert len(set(delays)) > 1000


def test_concurrent_requests_overlap_their_delays(make_server: Any) -> None:
    """Issue 9: the delay is slept outside every lock: 8 concurrent requests at 500 ms take far less than 8 x 500 ms."""
    server = make_server(latency_ms=500)
    times: list[float] = []
    barrier = threading.Barrier(8)

    def client() -> None:
        barrier.wait()
        body = {"bk_biz_id": BIZ, "data": {"bk_parent_id": BIZ, "bk_set_name": f"lat-{threading.get_ident()}"}}
        started = time.monotonic()
        answer = requests.post(server.url + path("create_set"), data=json.dumps({**AUTH, **body}), timeout=30).json()
        assert answer["code"] == 0
        times.append(time.monotonic() - started)

    started = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    wall = time.monotonic() - started
    assert len(times) == 8 and min(times) >= 0.5
    assert wall < 2.5  # serialised it would be 4 s


# ------------------------------------------------------------------ credentials
def test_empty_environment_variables_mean_the_defaults(cli: Any) -> None:
    """Issue 9: BK_APP_SECRET= (CI's unset secret), BK_APP_CODE= and BK_TOKEN= mean the defaults, and the start-up lines say so."""
    process = cli("--port", "0", env={"BK_APP_CODE": "", "BK_APP_SECRET": "", "BK_TOKEN": ""})
    assert call(process.url, "search_business", {})["code"] == 0  # the default code and secret
    empty = call(process.url, "search_business", {"bk_app_secret": ""})
    assert empty["code"] == 1306000 and empty["message"].startswith("Signature [bk_signature]")
    code, out, err = stop_and_read(process)
    assert code == 0 and err == ""
    assert out.splitlines() == [
        'app code: "cmdb-emulator" (the default: BK_APP_CODE is unset or empty)',
        "app secret: the default (BK_APP_SECRET is unset or empty), never printed",
        "bk_token: the seed's tokens (BK_TOKEN is unset or empty)",
    ]
    assert "emulator-secret" not in out + err


def test_environment_credentials_are_named_never_printed(cli: Any) -> None:
    """Issue 9: the first line stays 'listening on ...'; the next name the app code and where each credential came from, never a secret."""
    secret, token = 'Cq"7\\x%2B é+z', "tok-9f3a"
    process = cli("--port", "0", env={"BK_APP_CODE": "my-app", "BK_APP_SECRET": secret, "BK_TOKEN": token})
    assert re.fullmatch(r"listening on http://127\.0\.0\.1:\d+\n", process.first_line)
    auth = {"bk_app_code": "my-app", "bk_app_secret": secret, "bk_token": token}
    assert call(process.url, "search_business", auth, auth=False)["code"] == 0
    code, out, err = stop_and_read(process)
    assert code == 0
    assert out.splitlines() == [
        'app code: "my-app" (from BK_APP_CODE)',
        "app secret: from BK_APP_SECRET, never printed",
        "bk_token: the seed's tokens and BK_TOKEN (never printed)",
    ]
    for form in (secret, json.dumps(secret), token, "Cq", "tok-"):
        assert form not in out + err


# ------------------------------------------------------------------ --log and headers
def test_log_shows_the_blueking_code_never_queries_or_secrets(cli: Any) -> None:
    """Issue 10: --log lines carry the BlueKing code of each answer (code=- when there is none) and never a query string or secret."""
    process = cli("--port", "0", "--log")
    call(process.url, "create_set", {"bk_biz_id": BIZ, "data": {"bk_parent_id": BIZ, "bk_set_name": "bad/name"}})
    requests.get(process.url + path("search_business") + "?bk_app_secret=emulator-secret&bk_app_code=x", timeout=10)
    requests.post(process.url + "/favicon.ico", timeout=10)
    with socket.create_connection(_address(process.url), timeout=10) as sock:
        sock.sendall(b"GARBAGE?bk_app_secret=leak\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 400 ")
    code, _, err = process.terminate()
    assert code == 0
    lines = err.splitlines()
    assert re.fullmatch(r"POST /api/c/compapi/v2/cc/create_set/ 200 code=1199011 \d+\.\dms", lines[0]), lines
    assert re.fullmatch(r"GET /api/c/compapi/v2/cc/search_business/ 200 code=1306000 \d+\.\dms", lines[1]), lines
    assert re.fullmatch(r"POST /favicon\.ico 404 code=- \d+\.\dms", lines[2]), lines
    assert re.fullmatch(r"- - 400 code=1640001 \d+\.\dms", lines[3]), lines
    assert len(lines) == 4 and "secret" not in err and "leak" not in err and "?" not in err


def test_server_header_has_no_trailing_space(url: str) -> None:
    """Issue 10: the Server header is exactly 'cmdb-emulator' (it was 'cmdb-emulator ')."""
    with socket.create_connection(_address(url), timeout=10) as sock:
        sock.sendall(_request())
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
    assert b"\r\nServer: cmdb-emulator\r\n" in data


# ------------------------------------------------------------------ bad option values
@pytest.mark.parametrize(("option", "value"), [
    ("--port", "abc"), ("--port", "70000"), ("--port", "-1"),
    ("--idle-timeout", "0"), ("--idle-timeout", "-1"), ("--idle-timeout", "nan"), ("--idle-timeout", "inf"),
    ("--idle-timeout", "soon"),
    ("--max-connections", "0"), ("--max-connections", "1.5"), ("--max-connections", "-3"), ("--max-connections", "many"),
    ("--latency-ms", "-1"), ("--latency-ms", "1.5"), ("--latency-ms", "600001"), ("--latency-ms", "fast"),
    ("--jitter-ms", "-5"), ("--jitter-ms", "x"), ("--cmdb-version", "9.9"),
])
def test_bad_option_values_are_one_line_exit_2(option: str, value: str) -> None:
    """Issues 9 and 10: a bad option value is one stderr line naming the option, exit 2, no traceback, nothing on stdout."""
    result = run_cli(option, value, "--port", "0") if option != "--port" else run_cli(option, value)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1 and option in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""


def test_help_documents_the_new_options() -> None:
    """--help lists the limits and latency options with their defaults."""
    out = run_cli("--help").stdout
    for text in ("--idle-timeout", "(default: 75)", "--max-connections", "--latency-ms", "--jitter-ms", "code=<BlueKing code>"):
        assert text in out
