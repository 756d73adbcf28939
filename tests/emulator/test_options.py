"""Operator options (issues 10, 11): --log, the Server header, bad option values.

Bounded loops against 127.0.0.1 only.  Time bounds are generous: a lower bound
only where the emulator itself waits (a delay, a timeout), an upper bound many
times what the emulator needs.
"""

from __future__ import annotations

import json
import re
import socket
from typing import Any
from urllib.parse import urlparse

import pytest
import requests

from .helpers import AUTH, BIZ, call, path, run_cli


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


# ------------------------------------------------------------------ --log and headers
def test_log_shows_the_bluekking_code_never_queries_or_secrets(cli: Any) -> None:
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
    ("--cmdb-version", "9.9"),
])
def test_bad_option_values_are_one_line_exit_2(option: str, value: str) -> None:
    """Issues 10 and 11: a bad option value is one stderr line naming the option, exit 2, no traceback, nothing on stdout."""
    result = run_cli(option, value, "--port", "0") if option != "--port" else run_cli(option, value)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1 and option in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""
