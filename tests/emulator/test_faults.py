"""Fault injection: every catalogued fault switches on an observable behaviour.

Each probe asserts the faulty behaviour; the test runs it against a clean
emulator (it must fail there) and against one started with just that fault
(it must pass).  The probe table must cover the whole catalogue.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from cmdb_emulator.faults import CATALOGUE, SEAMS, Faults, UnknownFault
from cmdb_emulator.postprocess import POSTPROCESSORS, REPLY_POSTPROCESSORS
from cmdb_emulator.rules import OVERRIDES
from cmdb_emulator.server import Emulator, start_server
from cmdb_emulator.world import parse_world

from .helpers import AUTH, BIZ, REPO, call, create, find_set, path, post, unique

# The default world (its custom set model included) plus a user without permission.
SEED = {**json.loads((REPO / "cmdb_emulator" / "default_seed.json").read_text("utf-8")),
        "users_without_permission": ["nobody"]}
Probe = Callable[[str], object]  # return values are ignored
_NUMBERS = itertools.count(10**12 + os.getpid() * 10**4)


def ok(url: str, data: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
    """Create a valid set with overrides; return the whole envelope."""
    return create(url, {"bk_parent_id": BIZ, "bk_set_name": unique("f"), **(data or {})}, **kwargs)


def created(url: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
    """Create and assert the set was accepted (code 0 or the faulty 1); return its data."""
    body = ok(url, data)
    assert body["code"] in (0, 1, "0") and body["data"], body
    result: dict[str, Any] = body["data"]
    return result


def rejected(url: str, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Create and assert the request was refused."""
    body = ok(url, data, **kwargs)
    assert body["result"] is False and body["code"] != 0, body
    return body


def bad_request(url: str) -> dict[str, Any]:
    """A create_set that CMDB refuses (missing name -> 1199010)."""
    return create(url, {"bk_parent_id": BIZ})


def _race(url: str) -> None:
    name = unique("race")
    codes: list[int] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        with requests.Session() as session:
            barrier.wait()
            codes.append(session.post(url + path("create_set"), timeout=20, json={
                **AUTH, "bk_biz_id": BIZ, "data": {"bk_parent_id": BIZ, "bk_set_name": name}}).json()["code"])

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert codes.count(0) > 1, codes
    assert create(url, {"bk_parent_id": BIZ, "bk_set_name": name})["code"] == 1101108


def _persist_on_error(url: str) -> None:
    name = unique("persist")
    assert create(url, {"bk_parent_id": BIZ, "bk_set_name": name, "bk_capacity": 0})["code"] != 0
    found = call(url, "search_set", {"bk_biz_id": BIZ, "condition": {"bk_set_name": name}})
    assert found["data"]["count"] == 1


def _delete_noop(url: str) -> None:
    made = created(url)
    assert call(url, "delete_set", {"bk_biz_id": BIZ, "bk_set_id": made["bk_set_id"]})["code"] == 0
    assert find_set(url, made["bk_set_id"]) is not None


def _id_reuse(url: str) -> None:
    made = created(url)
    call(url, "delete_set", {"bk_biz_id": BIZ, "bk_set_id": made["bk_set_id"]})
    assert created(url)["bk_set_id"] == made["bk_set_id"]


def _case_insensitive(url: str) -> None:
    name = unique("MiXeD")
    created(url, {"bk_set_name": name})
    assert ok(url, {"bk_set_name": name.lower()})["code"] == 1101108


def _duplicates(url: str) -> None:
    name = unique("dup")
    created(url, {"bk_set_name": name})
    created(url, {"bk_set_name": name})


def _raw(url: str, body: str, headers: dict[str, str] | None = None) -> requests.Response:
    return requests.post(url + path("create_set"), data=body.encode(), headers=headers or {}, timeout=10)


PROBES: dict[str, tuple[Probe, str]] = {
    # envelope
    "envelope-result-string": (lambda u: assert_(call(u, "search_business", {})["result"] == "true"), "3.14"),
    "envelope-code-string": (lambda u: assert_(call(u, "search_business", {})["code"] == "0"), "3.14"),
    "envelope-result-true-on-error": (lambda u: assert_(bad_request(u)["result"] is True), "3.14"),
    "envelope-code-nonzero-on-success": (lambda u: assert_(ok(u)["code"] == 1), "3.14"),
    "envelope-no-request-id": (lambda u: assert_("request_id" not in ok(u)), "3.14"),
    "envelope-request-id-dashed": (lambda u: assert_(len(ok(u)["request_id"]) == 36), "3.14"),
    "envelope-empty-message-on-error": (lambda u: assert_(bad_request(u)["message"] == ""), "3.14"),
    "envelope-data-on-error": (lambda u: assert_(bad_request(u)["data"] == {}), "3.14"),
    "envelope-permission-null-on-403": (lambda u: _perm_null(u), "3.14"),
    "envelope-permission-on-success": (lambda u: assert_(ok(u)["permission"] == {}), "3.14"),
    "envelope-content-type-html": (lambda u: assert_(
        post(u, "search_business", {}).headers["Content-Type"].startswith("text/html")), "3.14"),
    "envelope-http-400-on-error": (lambda u: assert_(
        post(u, "create_set", {"bk_biz_id": BIZ, "data": {"bk_parent_id": BIZ}}).status_code == 400), "3.14"),
    # success data
    "data-capacity-string": (lambda u: assert_(created(u, {"bk_capacity": 5})["bk_capacity"] == "5"), "3.14"),
    "data-set-id-string": (lambda u: assert_(isinstance(created(u)["bk_set_id"], str)), "3.14"),
    "data-name-untrimmed": (lambda u: assert_(
        (lambda n: created(u, {"bk_set_name": f" {n} "})["bk_set_name"] == f" {n} ")(unique())), "3.14"),
    "data-desc-dropped": (lambda u: assert_(created(u, {"bk_set_desc": "d"})["bk_set_desc"] == ""), "3.14"),
    "data-env-default-2": (lambda u: assert_(created(u)["bk_set_env"] == "2"), "3.14"),
    "data-status-default-2": (lambda u: assert_(created(u)["bk_service_status"] == "2"), "3.14"),
    "data-default-missing": (lambda u: assert_("default" not in created(u)), "3.14"),
    "data-template-version-array": (lambda u: assert_(created(u)["set_template_version"] == []), "3.14"),
    "data-time-not-rfc3339": (lambda u: assert_("T" not in created(u)["create_time"]), "3.14"),
    "data-unknown-field-kept": (lambda u: assert_(created(u, {"foo": 1}).get("foo") == 1), "3.14"),
    "data-capacity-default-0": (lambda u: assert_(created(u)["bk_capacity"] == 0), "3.14"),
    "data-template-id-dropped": (lambda u: assert_(created(u, {"set_template_id": 1})["set_template_id"] == 0),
                                 "3.14"),
    "data-supplier-account-empty": (lambda u: assert_(created(u)["bk_supplier_account"] == ""), "3.14"),
    # accepting invalid input
    "accept-forbidden-chars": (lambda u: created(u, {"bk_set_name": unique("a/b")}), "3.14"),
    # 257 runes are >= 257 bytes, so the byte limit (1199015) now catches what 1199073 did.
    "accept-long-name": (lambda u: assert_("Data out of bounds" in rejected(
        u, {"bk_set_name": (unique() + "x" * 300)[:257]})["message"]), "3.14"),
    "accept-long-name-bytes": (lambda u: created(u, {"bk_set_name": unique() + "汉" * 86}), "3.14"),
    "accept-blank-name": (lambda u: created(u, {"bk_set_name": "   "}), "3.14"),
    "accept-capacity-out-of-range": (lambda u: created(u, {"bk_capacity": 0}), "3.14"),
    "accept-bad-enum": (lambda u: created(u, {"bk_set_env": "9"}), "3.14"),
    "accept-missing-parent": (lambda u: assert_(create(u, {"bk_set_name": unique()})["code"] == 0), "3.14"),
    "accept-unknown-business": (lambda u: assert_(ok(u, biz=999999)["code"] == 0), "3.14"),
    "accept-wrong-secret": (lambda u: assert_(call(u, "create_set", {
        "bk_biz_id": BIZ, "data": {"bk_parent_id": BIZ, "bk_set_name": unique()},
        "bk_app_secret": "wrong"})["code"] == 0), "3.14"),
    "accept-missing-user": (lambda u: assert_(call(u, "create_set", {
        "bk_app_code": AUTH["bk_app_code"], "bk_app_secret": AUTH["bk_app_secret"], "bk_biz_id": BIZ,
        "data": {"bk_parent_id": BIZ, "bk_set_name": unique()}}, auth=False)["code"] == 0), "3.14"),
    "accept-empty-data": (lambda u: assert_(create(u, {})["code"] == 1199010), "3.14"),
    "accept-long-desc": (lambda u: created(u, {"bk_set_desc": "d" * 300}), "3.14"),
    "accept-unknown-template": (lambda u: created(u, {"set_template_id": 999}), "3.14"),
    "accept-bad-default": (lambda u: assert_(created(u, {"default": "abc"})["default"] == 0), "3.14"),
    "accept-non-string-name": (lambda u: created(u, {"bk_set_name": next(_NUMBERS)}), "3.14"),
    # rejecting valid input
    "reject-name-256": (lambda u: rejected(u, {"bk_set_name": (unique() + "x" * 300)[:256]}), "3.14"),
    "reject-multibyte-name": (lambda u: rejected(u, {"bk_set_name": unique("集群")}), "3.14"),
    "reject-padded-name": (lambda u: rejected(u, {"bk_set_name": f" {unique()} "}), "3.14"),
    "reject-capacity-max": (lambda u: rejected(u, {"bk_capacity": 999999999}), "3.14"),
    "reject-capacity-min": (lambda u: rejected(u, {"bk_capacity": 1}), "3.14"),
    "reject-header-auth": (lambda u: assert_(call(u, "create_set", {
        "bk_biz_id": BIZ, "data": {"bk_parent_id": BIZ, "bk_set_name": unique()}}, auth=False,
        headers={"X-Bkapi-Authorization": json.dumps(AUTH)})["code"] == 1306000), "3.14"),
    "reject-body-auth": (lambda u: assert_(bad_auth_code(ok(u))), "3.14"),
    "reject-description": (lambda u: rejected(u, {"description": "d"}), "3.14"),
    "reject-template": (lambda u: assert_(rejected(u, {"set_template_id": 1})["code"] == 1199019), "3.14"),
    "reject-env-test": (lambda u: rejected(u, {"bk_set_env": "1"}), "3.14"),
    "reject-no-content-type": (lambda u: assert_(_raw(u, json.dumps({
        **AUTH, "bk_biz_id": BIZ, "data": {"bk_parent_id": BIZ, "bk_set_name": unique()}})).json()["code"]
        == 1306000), "3.14"),
    # state
    "state-persist-on-error": (_persist_on_error, "3.14"),
    "state-not-persisted": (lambda u: assert_(find_set(u, created(u)["bk_set_id"]) is None), "3.14"),
    "state-duplicate-allowed": (_duplicates, "3.14"),
    "state-race-duplicate": (_race, "3.14"),
    "state-case-insensitive-names": (_case_insensitive, "3.14"),
    "state-delete-noop": (_delete_noop, "3.14"),
    "state-id-reuse": (_id_reuse, "3.14"),
    # versions
    "version-313-codes-under-314": (lambda u: assert_(rejected(u, {"bk_set_env": "9"})["code"] == 1199006),
                                    "3.14"),
    "version-314-codes-under-313": (lambda u: assert_(rejected(u, {"bk_set_env": "9"})["code"] == 1199011),
                                    "3.13"),
    # the set model
    "model-regex-not-enforced": (lambda u: created(u, {"region": "Guangzhou"}), "3.14"),
    "model-range-not-enforced": (lambda u: created(u, {"cost_centre": 5}), "3.14"),
    "model-default-not-applied": (lambda u: assert_(created(u)["monitored"] is False), "3.14"),
    "model-biz-attr-everywhere": (lambda u: assert_(create(u, {"bk_parent_id": 1, "bk_set_name": unique("pool")},
                                                          biz=1)["data"].get("zone") == "cn"), "3.14"),
    "model-float-string-coerced": (lambda u: assert_(created(u, {"weight": "1.5"})["weight"] == 1.5), "3.14"),
    "model-313-codes-under-314": (lambda u: assert_(rejected(u, {"service_level": "platinum"})["code"] == 1199006),
                                  "3.14"),
    "model-recorded-fields-not-validated": (lambda u: created(u, {"bk_created_by": "张三"}), "3.14"),
    "model-bool-string-accepted": (lambda u: assert_(created(u, {"monitored": "true"})["monitored"] == "true"), "3.14"),
    "model-error-arg-property-id": (lambda u: assert_(
        "'service_level'" in rejected(u, {"service_level": "platinum"})["message"]), "3.14"),
    "model-int-fraction-rejected": (lambda u: assert_(rejected(u, {"cost_centre": 1000.5})["code"] == 1199009), "3.13"),
    # robustness
    "robust-html-500-on-bad-json": (lambda u: assert_(
        (lambda r: r.status_code == 500 and r.headers["Content-Type"].startswith("text/html"))(
            _raw(u, '{"bk_app_code":'))), "3.14"),
    "robust-500-on-list-data": (lambda u: assert_(
        (lambda r: r.status_code == 500 and r.headers["Content-Type"].startswith("text/plain"))(
            post(u, "create_set", {"bk_biz_id": BIZ, "data": [1]}))), "3.14"),
}


def assert_(condition: bool) -> None:
    """Assert as a function, for the one-line probes above."""
    assert condition


def bad_auth_code(body: dict[str, Any]) -> bool:
    """Whether the envelope is an ESB auth refusal."""
    return body["code"] == 1306000 and "Signature" in body["message"]


def _perm_null(url: str) -> None:
    body = call(url, "create_set", {"bk_biz_id": BIZ, "bk_username": "nobody",
                                    "data": {"bk_parent_id": BIZ, "bk_set_name": unique()}})
    assert body["code"] == 9900403 and body["permission"] is None


@pytest.fixture(scope="module")
def clean() -> Iterator[dict[str, Emulator]]:
    """Fault-free emulators with the probe seed, one per version."""
    started: dict[str, Emulator] = {}
    try:
        for version in ("3.13", "3.14"):
            started[version] = start_server(cmdb_version=version, world=parse_world(SEED))
        yield started
    finally:
        for emulator in started.values():
            emulator.stop()


def test_every_fault_has_a_probe() -> None:
    """Brief: all catalogued faults are exercised by this module (and nothing else)."""
    assert set(PROBES) == set(CATALOGUE)


@pytest.mark.parametrize("fault", list(PROBES))
def test_fault_changes_observable_behaviour(fault: str, clean: dict[str, Emulator],
                                            make_server: Callable[..., Emulator]) -> None:
    """Brief (issue 4): each --fault switches on the behaviour it names and a clean server lacks it."""
    probe, version = PROBES[fault]
    with pytest.raises(AssertionError):
        probe(clean[version].url)
    probe(make_server(faults=(fault,), seed=SEED, cmdb_version=version).url)


def test_every_fault_is_a_rule_a_post_processor_or_a_seam() -> None:
    """Issue 8 §5: each fault is exactly one of: a rule-table override, an answer post-processor, a named seam."""
    kinds = {"rule": set(OVERRIDES), "post": set(POSTPROCESSORS) | REPLY_POSTPROCESSORS, "seam": set(SEAMS)}
    for name in CATALOGUE:
        assert [k for k, names in kinds.items() if name in names] != [], name
        assert len([k for k, names in kinds.items() if name in names]) == 1, name
    assert set().union(*kinds.values()) == set(CATALOGUE)


def test_faithful_code_names_only_behavioural_faults() -> None:
    """Issue 8 §5: outside the rule table and the post-processors, code asks only about seam faults."""
    named: set[str] = set()
    for source in (REPO / "cmdb_emulator").glob("*.py"):
        if source.name not in ("rules.py", "postprocess.py", "faults.py"):
            named |= set(re.findall(r'faults\.on\("([a-z0-9-]+)"\)', source.read_text("utf-8")))
    assert named == SEAMS


def test_unknown_fault_is_refused() -> None:
    """Brief: an unknown fault name is an error, never silently ignored."""
    with pytest.raises(UnknownFault):
        Faults(["no-such-fault"])
