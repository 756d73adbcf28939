"""The emulator under hostile input (issue 11): no freeze, no 500, no invalid JSON, no smuggling.

Bounded loops against 127.0.0.1 only; time bounds are generous (seconds where
the fixed emulator needs milliseconds) so a loaded CI machine cannot flake them.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from cmdb_emulator.server import Emulator, start_server

from .helpers import AUTH, BIZ, IDLE_SET_ID, call, create, create_ok, path, unique

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
    """A 120,000-entry fields list over 1,000 sets keeps exactly the listed keys (its cost: test_query)."""
    fields = ["x"] * 120_000 + ["bk_set_id"]
    payload = json.dumps({**AUTH, "bk_biz_id": BIZ, "fields": fields, "page": {"start": 0, "limit": 2000}})
    answer = requests.post(crowded.url + path("search_set"), data=payload, timeout=10).json()
    assert answer["data"]["count"] == 1001
    assert all(set(row) == {"bk_set_id"} for row in answer["data"]["info"])
