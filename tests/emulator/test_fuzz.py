"""Robustness: a bounded, seeded fuzz of malformed requests never yields a 5xx,
HTML or a non-JSON body (brief: "aim for zero" ESB 500s).
"""

from __future__ import annotations

import json
import random
import socket
from typing import Any
from urllib.parse import urlparse

import pytest
import requests

from .helpers import AUTH, BIZ, path

COMPONENTS = ["create_set", "search_set", "update_set", "delete_set", "batch_delete_set",
              "search_business", "list_set_template", "search_biz_inst_topo", "nope"]
ATOMS: list[Any] = [None, True, False, 0, -1, 1, 2, 2**63, -(2**63) - 1, 1.5, 1e308, -0.0, "", " ", "2",
                    "abc", "\u0000", "\ud800", "空闲机池", "a" * 300, [], [1], {}, {"$in": 1}, {"$regex": "("},
                    {"condition": "OR", "rules": [{"field": 1}]}]
KEYS = ["bk_biz_id", "data", "bk_set_id", "bk_set_name", "bk_parent_id", "default", "set_template_id",
        "bk_capacity", "bk_set_env", "fields", "condition", "filter", "page", "delete", "inst_ids", "level",
        "set_template_ids", "bk_supplier_account", "bk_token", "bk_username", "bk_app_code"]


def value(rng: random.Random, depth: int = 0) -> Any:
    """A random JSON value biased towards awkward atoms."""
    roll = rng.random()
    if depth > 2 or roll < 0.6:
        return rng.choice(ATOMS)
    if roll < 0.8:
        return [value(rng, depth + 1) for _ in range(rng.randrange(3))]
    return {rng.choice(KEYS): value(rng, depth + 1) for _ in range(rng.randrange(4))}


def payload(rng: random.Random) -> dict[str, Any]:
    """Valid auth plus random parameters (so the CMDB layer is reached)."""
    body: dict[str, Any] = dict(AUTH) if rng.random() < 0.9 else {}
    for _ in range(rng.randrange(6)):
        body[rng.choice(KEYS)] = value(rng)
    if rng.random() < 0.5:
        body["bk_biz_id"] = BIZ
        body["data"] = {rng.choice(KEYS): value(rng) for _ in range(rng.randrange(5))}
    return body


def assert_sane(response: requests.Response) -> None:
    """A JSON envelope with status 200 or 404."""
    assert response.status_code in (200, 404), response.text[:300]
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    body = response.json()
    assert isinstance(body, dict) and body["result"] in (True, False)


@pytest.mark.parametrize("seed", range(4))
def test_random_json_payloads_never_crash(url: str, seed: int) -> None:
    """Brief: bad input never 5xx — random JSON parameters to every component."""
    rng = random.Random(seed)
    with requests.Session() as session:
        for _ in range(120):
            component = rng.choice(COMPONENTS)
            response = session.post(url + path(component), data=json.dumps(payload(rng)), timeout=10,
                                    headers={"Blueking-Language": rng.choice(["en", "zh-cn"])})
            assert_sane(response)


RAW_BODIES = [b"{", b"{}}", b'{"a":NaN}', b'{"a":Infinity}', b"\xff\xfe{", b"{\xff}", b'{"a":"\\ud800"}',
              b"  {  ", b"[" * 5000, b"{" * 5000, b'{"bk_biz_id":2,"data":{"bk_set_name":"\\udfff","bk_parent_id":2}}',
              b"\x00\x00", b"a=1&b=%zz", b'{"data":' + b"[" * 3000 + b"]" * 3000 + b"}"]


@pytest.mark.parametrize("body", RAW_BODIES, ids=[f"raw{i}" for i in range(len(RAW_BODIES))])
@pytest.mark.parametrize("header", [None, json.dumps(AUTH), "{", '{"bk_app_code": []}'],
                         ids=["no-header", "header-auth", "bad-header", "odd-header"])
def test_malformed_bodies_never_crash(url: str, body: bytes, header: str | None) -> None:
    """Brief: malformed bodies (bad JSON, bad UTF-8, lone surrogates, deep nesting) -> envelopes."""
    headers = {"X-Bkapi-Authorization": header} if header else {}
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    assert_sane(requests.post(url + path("create_set"), data=body, headers=headers, timeout=10))


def test_lone_surrogate_name_is_stored_as_replacement_char(url: str) -> None:
    """Go's JSON decoder turns a lone surrogate into U+FFFD; the emulator does the same."""
    auth = json.dumps({**AUTH, "bk_biz_id": 2})[:-1]
    raw = auth + ',"data":{"bk_parent_id":2,"bk_set_name":"s\\ud800-' + str(random.randrange(10**9)) + '"}}'
    body = requests.post(url + path("create_set"), data=raw, timeout=10).json()
    assert body["code"] == 0 and body["data"]["bk_set_name"].startswith("s\ufffd-")


@pytest.mark.parametrize("request_bytes", [
    b"GARBAGE\r\n\r\n", b"POST /api/c/compapi/v2/cc/create_set/ HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
    b"POST /api/c/compapi/v2/cc/create_set/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n0\r\n\r\n",
    b"POST /api/c/compapi/v2/cc/create_set/ HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n{}",
], ids=["garbage", "bad-length", "chunked", "huge-length"])
def test_odd_http_framing_gets_json(url: str, request_bytes: bytes) -> None:
    """Brief: never HTML — even malformed HTTP framing is answered with JSON or closed."""
    parsed = urlparse(url)
    with socket.create_connection((parsed.hostname, parsed.port), timeout=10) as sock:
        sock.sendall(request_bytes)
        sock.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    if data and not data.startswith(b"HTTP/"):
        json.loads(data)  # an HTTP/0.9-style answer: the JSON body alone
        return
    head, _, body = data.partition(b"\r\n\r\n")
    if head:
        assert b"text/html" not in head.lower()
        status = int(head.split()[1])
        assert status < 500
        json.loads(body.split(b"\r\n\r\n")[0] if body else b"{}")
