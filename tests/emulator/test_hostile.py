"""The emulator under hostile input (issue 11): no freeze, no 500, no invalid JSON, no smuggling.

Bounded loops against 127.0.0.1 only; time bounds are generous (seconds where
the fixed emulator needs milliseconds) so a loaded CI machine cannot flake them.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import pytest
import requests

from cmdb_emulator import esb, store
from cmdb_emulator.esb import MAX_JSON_DEPTH
from cmdb_emulator.server import Emulator, start_server

from .helpers import AUTH, BIZ, IDLE_SET_ID, call, create, create_ok, find_set, path, unique

MALFORMED = "Request JSON string is wrong in format, which cannot be analyzed."


def _strict(text: str) -> Any:
    """json.loads that refuses NaN / Infinity (what strict parsers do)."""
    def refuse(name: str) -> Any:
        raise ValueError(f"not JSON: {name}")
    return json.loads(text, parse_constant=refuse)


def _raw_post(url: str, component: str, body: str, timeout: float = 10) -> requests.Response:
    return requests.post(url + path(component), data=body.encode("utf-8"), timeout=timeout)


def _auth_prefix(**extra: Any) -> str:
    """The JSON text of AUTH (plus extra keys) without its closing brace."""
    return json.dumps({**AUTH, **extra})[:-1]


def _serves(url: str) -> None:
    """The server still creates a set."""
    assert create_ok(url)["bk_set_id"] > 0


# ------------------------------------------------------------------ 1. regex
EVIL_NAME = "a" * 28 + "X"  # ^(a+)+$ backtracks 2^28 ways on this in Python's re


def test_catastrophic_regex_stalls_neither_others_nor_itself(cli: Any) -> None:
    """Issue 11: while a backtracking-prone $regex search runs, another client's search is answered within 2 s, and the regex answers too."""
    # A separate process: in-process, the GIL that `re` holds would freeze this test's clock too.
    server = cli("--port", "0")
    assert create(server.url, {"bk_parent_id": BIZ, "bk_set_name": EVIL_NAME})["code"] == 0
    evil: dict[str, Any] = {}

    def run_evil() -> None:
        body = {**AUTH, "bk_biz_id": BIZ, "condition": {"bk_set_name": {"$regex": "^(a+)+$"}}}
        try:
            evil["body"] = requests.post(server.url + path("search_set"), data=json.dumps(body), timeout=30).json()
        except requests.RequestException as exc:
            evil["error"] = exc

    thread = threading.Thread(target=run_evil)
    thread.start()
    waits: list[float] = []
    plain = json.dumps({**AUTH, "bk_biz_id": BIZ, "condition": {"bk_set_id": IDLE_SET_ID}})
    deadline = time.monotonic() + 3
    with requests.Session() as other:
        while time.monotonic() < deadline and (thread.is_alive() or not waits):
            started = time.monotonic()
            try:
                answer = other.post(server.url + path("search_set"), data=plain, timeout=2).json()
            except requests.Timeout:
                pytest.fail("another client's plain search waited more than 2 s during the $regex search")
            waits.append(time.monotonic() - started)
            assert answer["data"]["count"] == 1
    thread.join(35)
    assert not thread.is_alive() and "error" not in evil, evil
    assert evil["body"]["result"] is True and evil["body"]["data"]["count"] == 0


@pytest.mark.parametrize("pattern", [r"(a)\1", r"(?=a)a", r"(?<!b)a", r"(?>a+)", r"a++", r"\p{L}", r"(?R)"],
                         ids=["backreference", "lookahead", "lookbehind", "atomic", "possessive", "unicode-property",
                              "recursion"])
def test_unsupported_regex_syntax_is_a_bad_condition(url: str, pattern: str) -> None:
    """Issue 11: syntax outside the linear-time subset is 1199011 'condition', like an invalid pattern."""
    body = call(url, "search_set", {"bk_biz_id": BIZ, "condition": {"bk_set_name": {"$regex": pattern}}})
    assert (body["code"], body["message"]) == (1199011, "'condition' the parameter is invalid or does not exist")


def test_regex_finds_what_it_should(url: str) -> None:
    """Mongo $regex semantics: anchors, classes, alternation and $options "i" select the right sets."""
    name = unique("Rx")
    made = create_ok(url, {"bk_set_name": name})
    cases = [({"$regex": f"^{name}$"}, True), ({"$regex": "^rx-"}, False), ({"$regex": "^rx-", "$options": "i"}, True),
             ({"$regex": r"-\d+-\d+$"}, True), ({"$regex": "^(Rx|Qx)-[0-9]+"}, True), ({"$regex": "^Qx"}, False)]
    for regex, expected in cases:
        condition = {"bk_set_name": regex, "bk_set_id": made["bk_set_id"]}
        body = call(url, "search_set", {"bk_biz_id": BIZ, "condition": condition})
        assert body["data"]["count"] == (1 if expected else 0), regex


def test_options_without_regex_is_a_bad_condition(url: str) -> None:
    """Mongo: "$options needs a $regex", so the condition is 1199011."""
    body = call(url, "search_set", {"bk_biz_id": BIZ, "condition": {"bk_set_name": {"$options": "i"}}})
    assert body["code"] == 1199011


@pytest.fixture(scope="module")
def crowded() -> Iterator[Emulator]:
    """A private emulator whose business 2 holds 1,000 sets (bodies below stay under the 1 MiB limit)."""
    server = start_server()
    try:
        with requests.Session() as session:
            for i in range(1000):
                body = {**AUTH, "bk_biz_id": BIZ, "data": {"bk_parent_id": BIZ, "bk_set_name": f"crowd-{i}"}}
                assert session.post(server.url + path("create_set"), data=json.dumps(body), timeout=10).json()["code"] == 0
        yield server
    finally:
        server.stop()


def test_long_in_list_is_answered_promptly(crowded: Emulator) -> None:
    """Issue 11: a 100,000-element $in over 1,000 sets is a hash lookup per set: answered within 3 s (it took 8 s, 0.1 s now)."""
    ids = [*range(10**5, 2 * 10**5), IDLE_SET_ID]
    payload = json.dumps({**AUTH, "bk_biz_id": BIZ, "condition": {"bk_set_id": {"$in": ids}}})
    answer = requests.post(crowded.url + path("search_set"), data=payload, timeout=3).json()
    assert [s["bk_set_id"] for s in answer["data"]["info"]] == [IDLE_SET_ID]


def test_many_rules_exhaust_the_query_budget(crowded: Emulator) -> None:
    """Issue 11: a filter too costly to evaluate (15,000 rules x 1,000 sets) is 1199011 'filter', not minutes of work."""
    rules = [{"field": "bk_biz_id", "operator": "equal", "value": BIZ}] * 15_000
    body = call(crowded.url, "search_set", {"bk_biz_id": BIZ, "filter": {"condition": "AND", "rules": rules}})
    assert (body["code"], body["message"]) == (1199011, "'filter' the parameter is invalid or does not exist")


def test_more_sort_keys_than_mongo_allows_is_1199011(crowded: Emulator) -> None:
    """Issue 11: a sort on more than 32 distinct keys (Mongo's limit) is 1199011 'page', not one sort per key."""
    sort = ",".join(f"k{i}" for i in range(100_000))
    body = call(crowded.url, "search_set", {"bk_biz_id": BIZ, "page": {"start": 0, "limit": 1, "sort": sort}})
    assert (body["code"], body["message"]) == (1199011, "'page' the parameter is invalid or does not exist")


def test_repeated_sort_keys_sort_once(crowded: Emulator) -> None:
    """A sort key repeated 80,000 times orders like the key once, answered promptly."""
    sort = ",".join(["-bk_set_id"] * 80_000)
    body = call(crowded.url, "search_set", {"bk_biz_id": BIZ, "page": {"start": 0, "limit": 3, "sort": sort}})
    ids = [s["bk_set_id"] for s in body["data"]["info"]]
    assert ids == sorted(ids, reverse=True) and body["data"]["count"] == 1001


def test_long_fields_list_projects_correctly(crowded: Emulator) -> None:
    """A 120,000-entry fields list over 1,000 sets keeps exactly the listed keys, plus the default core adds (its cost: test_query)."""
    fields = ["x"] * 120_000 + ["bk_set_id"]
    payload = json.dumps({**AUTH, "bk_biz_id": BIZ, "fields": fields, "page": {"start": 0, "limit": 2000}})
    answer = requests.post(crowded.url + path("search_set"), data=payload, timeout=10).json()
    assert answer["data"]["count"] == 1001
    rows = answer["data"]["info"]
    assert all(set(row) == {"bk_set_id", "default"} for row in rows if row["default"] != 1)
    # The idle set is renamed on every read, so it gains its name (research cmdb §6.1 TranslateInstanceName).
    assert [set(row) for row in rows if row["default"] == 1] == [{"bk_set_id", "default", "bk_set_name"}]


# ------------------------------------------------------------------ 3. nesting
def _nested(depth: int, leaf: str = "") -> str:
    return "[" * depth + leaf + "]" * depth


@pytest.mark.parametrize("depth", [480, 490, 495, 498, 499, 500, 510, 600])
def test_deep_json_with_a_lone_surrogate_gets_an_envelope(url: str, depth: int) -> None:
    """Issue 11: a lone \\ud800 nested ~490 deep (recursive surrogate fix -> 500) is answered as the shallow body is, or as too deep."""
    name = unique("deep")
    raw = _auth_prefix(bk_biz_id=BIZ, data={"bk_parent_id": BIZ, "bk_set_name": name}) + ', "x": ' + _nested(depth, '"\\ud800"') + "}"
    response = _raw_post(url, "create_set", raw)
    assert response.status_code == 200
    body = response.json()
    if depth + 1 <= MAX_JSON_DEPTH:  # the unused key "x" does not matter
        assert body["code"] == 0 and body["data"]["bk_set_name"] == name
    else:
        assert body == {"result": False, "code": 1306000, "data": None, "message": MALFORMED}
    _serves(url)


@pytest.mark.parametrize("depth", [497, 498, 499, 975, 979, 980, 981, 982, 983, 990, 10**5])
def test_deep_json_in_a_stored_key_gets_an_envelope(url: str, depth: int) -> None:
    """Issue 11: plain nesting in a pass-through key (980-983 deep -> 500 once stored) is stored up to the bound, else 1306000."""
    name = unique("nest")
    data = json.dumps({"bk_parent_id": BIZ, "bk_set_name": name})[:-1] + ', "bk_inst_id": ' + _nested(depth) + "}"
    raw = _auth_prefix(bk_biz_id=BIZ) + ', "data": ' + data + "}"
    response = _raw_post(url, "create_set", raw)
    assert response.status_code == 200
    body = response.json()
    if depth + 2 <= MAX_JSON_DEPTH:
        assert body["code"] == 0
        stored = find_set(url, body["data"]["bk_set_id"])
        assert stored is not None and json.dumps(stored["bk_inst_id"]) == json.dumps(json.loads(_nested(depth)))
    else:
        assert body == {"result": False, "code": 1306000, "data": None, "message": MALFORMED}
    _serves(url)


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH - 1, MAX_JSON_DEPTH, 980, 10**4])
def test_deep_authorization_header_is_1306406(url: str, depth: int) -> None:
    """Research esb §1.2: an X-Bkapi-Authorization nested beyond the bound is "not a valid JSON format string", never a 500."""
    header = json.dumps(AUTH)[:-1] + ', "x": ' + _nested(depth) + "}"
    response = requests.post(url + path("search_business"), json={}, headers={"X-Bkapi-Authorization": header}, timeout=10)
    assert response.status_code == 200
    body = response.json()
    if depth + 1 <= MAX_JSON_DEPTH:
        assert body["code"] == 0
    else:
        assert body["code"] == 1306406 and "request_id" not in body


# ------------------------------------------------------------------ 4. non-finite numbers
# Research cmdb §1.1 T1 + esb §2.3: ESB decodes the body with Python's json.loads
# (1e400 -> inf, NaN/Infinity literals accepted), validates its form, then sends
# what it forwards to CMDB re-serialised with json.dumps, which writes Infinity /
# NaN.  CMDB's jsoniter decoder rejects those tokens before any rule runs:
# 1199000 "Deserializing JSON data failed" (zh 反序列化JSON数据失败), nothing stored.
NON_FINITE = ["1e400", "-1e999", "Infinity", "-Infinity", "NaN", "1" + "0" * 400 + ".0"]


@pytest.mark.parametrize("key", ["bk_inst_id", "set_template_version", "bk_capacity", "unknown_key"])
@pytest.mark.parametrize("number", NON_FINITE)
def test_create_with_a_non_finite_number_is_1199000_and_stores_nothing(url: str, key: str, number: str) -> None:
    """CMDB cannot decode ESB's re-serialised Infinity/NaN in data: 1199000, and no set is created."""
    name = unique("inf")
    data = json.dumps({"bk_parent_id": BIZ, "bk_set_name": name})[:-1] + f', "{key}": {number}' + "}"
    body = _raw_post(url, "create_set", _auth_prefix(bk_biz_id=BIZ) + ', "data": ' + data + "}").json()
    assert (body["result"], body["code"], body["data"]) == (False, 1199000, None)
    assert body["message"] == "Deserializing JSON data failed" and len(body["request_id"]) == 32
    found = call(url, "search_set", {"bk_biz_id": BIZ, "condition": {"bk_set_name": name}})
    assert found["data"]["count"] == 0


def test_non_finite_message_in_chinese(url: str) -> None:
    """The 1199000 text follows Blueking-Language: 反序列化JSON数据失败."""
    raw = _auth_prefix(bk_biz_id=BIZ) + ', "data": {"bk_parent_id": 2, "bk_set_name": "x", "bk_inst_id": 1e400}}'
    response = requests.post(url + path("create_set"), data=raw, headers={"Blueking-Language": "zh-cn"}, timeout=10)
    assert (response.json()["code"], response.json()["message"]) == (1199000, "反序列化JSON数据失败")


@pytest.mark.parametrize("key", ["create_time", "bk_inst_id", "set_template_version", "bk_capacity"])
def test_update_with_a_non_finite_number_is_1199000_and_changes_nothing(url: str, key: str) -> None:
    """update_set forwards data the same way: 1199000 and the stored set is unchanged."""
    made = create_ok(url)
    raw = _auth_prefix(bk_biz_id=BIZ, bk_set_id=made["bk_set_id"]) + f', "data": {{"{key}": 1e400, "bk_set_desc": "changed"}}}}'
    body = _raw_post(url, "update_set", raw).json()
    assert body["code"] == 1199000
    assert find_set(url, made["bk_set_id"]) == made


def test_search_with_a_non_finite_number_is_1199000(url: str) -> None:
    """search_set forwards its condition as JSON too: 1199000."""
    raw = _auth_prefix(bk_biz_id=BIZ) + ', "condition": {"bk_capacity": {"$lt": 1e400}}}'
    assert _raw_post(url, "search_set", raw).json()["code"] == 1199000


def test_non_finite_numbers_keep_esb_precedence(url: str) -> None:
    """ESB's own checks come first: auth, then the form (IntegerField: "Enter a whole number."); an unforwarded key is ignored."""
    data = ', "data": {"bk_parent_id": 2, "bk_set_name": "%s", "bk_inst_id": 1e400}}'
    wrong_secret = json.dumps({**AUTH, "bk_app_secret": "wrong", "bk_biz_id": BIZ})[:-1] + data % unique()
    assert _raw_post(url, "create_set", wrong_secret).json()["message"].startswith("APP Secret verification failed")
    bad_biz = _auth_prefix() + ', "bk_biz_id": 1e400' + data % unique()
    assert _raw_post(url, "create_set", bad_biz).json()["message"] == "business id [bk_biz_id] Enter a whole number."
    name = unique()
    unforwarded = _auth_prefix(bk_biz_id=BIZ, data={"bk_parent_id": BIZ, "bk_set_name": name}) + ', "extra": -1e999}'
    assert _raw_post(url, "create_set", unforwarded).json()["code"] == 0


def test_search_answers_stay_strict_json(url: str) -> None:
    """After every non-finite attempt, search_set of the business parses with a parser that refuses NaN/Infinity."""
    for key in ("bk_inst_id", "set_template_version"):
        raw = _auth_prefix(bk_biz_id=BIZ) + f', "data": {{"bk_parent_id": 2, "bk_set_name": "{unique()}", "{key}": 1e400}}}}'
        _raw_post(url, "create_set", raw)
    payload = json.dumps({**AUTH, "bk_biz_id": BIZ, "page": {"start": 0, "limit": 5000}})
    text = requests.post(url + path("search_set"), data=payload, timeout=10).text
    assert _strict(text)["result"] is True


@pytest.mark.parametrize("encode", [esb.dumps, store._dumps], ids=["esb.dumps", "store._dumps"])
@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")], ids=["inf", "-inf", "nan"])
def test_encoders_refuse_non_finite_numbers(encode: Any, value: float) -> None:
    """allow_nan=False: a bug that tries to answer or store a non-finite number fails loudly."""
    with pytest.raises(ValueError):
        encode({"x": [value]})


# ------------------------------------------------------------------ 5. HTTP framing
def _exchange(url: str, raw: bytes, timeout: float = 10) -> bytes:
    """Send raw bytes, then read until the server closes (or `timeout`)."""
    parsed = urlparse(url)
    with socket.create_connection((parsed.hostname, parsed.port), timeout=timeout) as sock:
        sock.sendall(raw)
        data = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                return data
            data += chunk
    pytest.fail(f"the server did not close the connection within {timeout} s; received {data[:300]!r}")


def _responses(data: bytes) -> list[tuple[int, dict[str, str], Any]]:
    """Split a byte stream into (status, headers, JSON body) answers (Content-Length framed)."""
    out = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        assert sep, f"no complete HTTP head in {data[:200]!r}"
        lines = head.decode("latin-1").split("\r\n")
        assert lines[0].startswith("HTTP/1.1 "), f"no status line: {data[:200]!r}"
        headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        length = int(headers["content-length"])
        out.append((int(lines[0].split()[1]), headers, json.loads(rest[:length])))
        data = rest[length:]
    return out


SEARCH = b"GET /api/c/compapi/v2/cc/search_business/ HTTP/1.1\r\nHost: x\r\n\r\n"


def _post(headers: str, body: bytes = b"") -> bytes:
    return b"POST /api/c/compapi/v2/cc/search_business/ HTTP/1.1\r\nHost: x\r\n" + headers.encode() + b"\r\n" + body


def _assert_refused(data: bytes, reason: str) -> None:
    """Exactly one answer: 400, the gateway envelope naming `reason`, Connection: close."""
    answers = _responses(data)
    assert len(answers) == 1, answers
    status, headers, body = answers[0]
    assert status == 400 and headers["connection"] == "close"
    assert headers["content-type"] == "application/json; charset=utf-8" and headers["x-bkapi-error-code"] == "1640001"
    assert body == {"result": False, "code": 1640001, "code_name": "INVALID_ARGS", "data": None,
                    "message": f'Parameters error [reason="{reason}"]'}


@pytest.mark.parametrize("line", [b"GARBAGE", b"GET /", b"POST / HTTP/1.1 extra", b"GET / HTTP/abc", b"GET / FTP/1.1",
                                  b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"],
                         ids=["one-word", "http-0.9", "four-words", "bad-version", "not-http", "tls-hello"])
def test_malformed_request_line_gets_a_400_status_line(url: str, line: bytes) -> None:
    """Issue 11: a malformed request line is answered HTTP/1.1 400 with the JSON envelope, then closed (it had no status line)."""
    _assert_refused(_exchange(url, line + b"\r\n\r\n" + SEARCH), "malformed request line")
    _serves(url)


@pytest.mark.parametrize("encoding", ["gzip, chunked", "xchunked", "chunked, gzip", "identity", "chunked;x", "gzip"])
def test_other_transfer_encodings_are_refused_not_ignored(url: str, encoding: str) -> None:
    """Issue 11 (smuggling): a Transfer-Encoding other than chunked is 400 and close; the bytes after it are never a second request."""
    smuggled = _post(f"Transfer-Encoding: {encoding}\r\n", b"0\r\n\r\n" + SEARCH)
    _assert_refused(_exchange(url, smuggled), "unsupported Transfer-Encoding (only chunked is accepted)")


@pytest.mark.parametrize("encoding", ["chunked", "Chunked", "CHUNKED", " chunked ", "chunked\t"])
def test_chunked_is_accepted_case_insensitively_and_trimmed(url: str, encoding: str) -> None:
    """Chunked bodies, however the token is cased or padded, are read and answered."""
    body = json.dumps(AUTH).encode()
    chunked = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    answers = _responses(_exchange(url, _post(f"Transfer-Encoding: {encoding}\r\nConnection: close\r\n", chunked)))
    assert [(status, body["code"]) for status, _, body in answers] == [(200, 0)]


def test_two_transfer_encoding_headers_are_refused(url: str) -> None:
    """Two Transfer-Encoding headers (chunked applied twice) are 400 and close."""
    raw = _post("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n")
    _assert_refused(_exchange(url, raw), "unsupported Transfer-Encoding (only chunked is accepted)")


def test_transfer_encoding_with_content_length_is_refused(url: str) -> None:
    """Issue 11 (smuggling): Transfer-Encoding together with Content-Length is 400 and close."""
    raw = _post("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", b"0\r\n\r\n" + SEARCH)
    _assert_refused(_exchange(url, raw), "Transfer-Encoding together with Content-Length")


@pytest.mark.parametrize("lengths", [("5", "6"), ("0", "44"), ("5, 6",)], ids=["two-headers", "zero-and-more", "list"])
def test_conflicting_content_lengths_are_refused(url: str, lengths: tuple[str, ...]) -> None:
    """Issue 11: conflicting Content-Length values (the first used to win) are 400 and close."""
    raw = _post("".join(f"Content-Length: {value}\r\n" for value in lengths), b"{}\r\n" + SEARCH)
    _assert_refused(_exchange(url, raw), "conflicting Content-Length headers")


def test_identical_content_lengths_are_accepted(url: str) -> None:
    """Two identical Content-Length headers delimit the body unambiguously and are accepted."""
    body = json.dumps(AUTH).encode()
    raw = _post(f"Content-Length: {len(body)}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n", body)
    assert [(status, answer["code"]) for status, _, answer in _responses(_exchange(url, raw))] == [(200, 0)]


@pytest.mark.parametrize("value", ["abc", "+5", "5_0", "-1", "0x10", ""])
def test_invalid_content_length_is_refused(url: str, value: str) -> None:
    """A Content-Length that is not a decimal number is 400 and close (it used to mean an empty body)."""
    _assert_refused(_exchange(url, _post(f"Content-Length: {value}\r\n", b"{}")), "invalid Content-Length")


@pytest.mark.parametrize("header", ["Transfer-Encoding : chunked", "NoColonHere", "Content-Length\t: 2"])
def test_malformed_header_lines_are_refused(url: str, header: str) -> None:
    """A header line the parser cannot read (it silently dropped every header after it) is 400 and close."""
    raw = _post(f"{header}\r\nContent-Length: 2\r\n", b"{}" + SEARCH)
    _assert_refused(_exchange(url, raw), "malformed header line")


def test_folded_header_is_refused(url: str) -> None:
    """An obsolete line fold (RFC 9112 §5.2) is 400 and close, never a value with CRLF inside."""
    raw = _post("Transfer-Encoding: chunked\r\n gzip\r\n", b"0\r\n\r\n")
    _assert_refused(_exchange(url, raw), "folded header line")


@pytest.mark.parametrize("chunks", [b"zz\r\n{}\r\n0\r\n\r\n", b"2\r\n{}XX0\r\n\r\n", b"-2\r\n{}\r\n0\r\n\r\n"],
                         ids=["bad-size", "no-crlf-after-data", "negative-size"])
def test_malformed_chunks_are_refused(url: str, chunks: bytes) -> None:
    """A chunked body that does not parse is 400 and close (it used to be an empty body)."""
    reason = "chunk data not followed by CRLF" if b"XX" in chunks else "bad chunk size"
    _assert_refused(_exchange(url, _post("Transfer-Encoding: chunked\r\n", chunks)), reason)


def test_truncated_body_gets_no_answer(url: str) -> None:
    """A client that closes before its Content-Length arrived is not answered as if the body were complete."""
    parsed = urlparse(url)
    with socket.create_connection((parsed.hostname, parsed.port), timeout=10) as sock:
        sock.sendall(_post("Content-Length: 100\r\n", b'{"bk_app_code"'))
        sock.shutdown(socket.SHUT_WR)
        assert sock.recv(65536) == b""
    _serves(url)
