"""What the target stores, read back through the documented search_set and delete_set.

Creates are judged by the success oracles first; the searches that follow are
judged by the state oracles. Every set created here is in the run's ledger and
deleted at the end of the session.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from cmdb_contract.harness import Harness
from cmdb_contract.oracles import (
    REJECTION_ORACLES,
    SUCCESS_ORACLES,
    ContractViolation,
    Expectation,
    nothing_stored,
    run_oracles,
    search_info,
    stored_set_matches,
)
from cmdb_contract.spec import load_spec
from cmdb_contract.strategies import ValidCase, base_params, full_data, minimal_data

pytestmark = [pytest.mark.writes, pytest.mark.state]
DUPLICATE = "state.duplicate-name"


def _case(harness: Harness, data: dict[str, Any]) -> ValidCase:
    return ValidCase(params=base_params(harness.ctx, data))


def _expect_duplicate(harness: Harness, sent: dict[str, Any]) -> Expectation:
    spec = load_spec()
    expect = harness.expectation(sent)
    expect.expected_code = spec.state_code(DUPLICATE, harness.version)
    expect.code_source = f"spec/errors.json {DUPLICATE}: {spec.state_source(DUPLICATE)}"
    return expect


def _create_named(harness: Harness, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    ex, sent = harness.create_valid(_case(harness, minimal_data(harness.ctx, name)))
    return ex.json["data"], sent


def test_created_set_is_found_by_search(harness: Harness) -> None:
    """A created set is found by search_set with the same fields the create returned."""
    ex, _ = harness.create_valid(_case(harness, full_data(harness.ctx)))
    created = ex.json["data"]
    stored_set_matches(created, harness.find_by_id(harness.ctx.bk_biz_id, created["bk_set_id"]))


def test_duplicate_name_is_rejected_and_leaves_one_set(harness: Harness) -> None:
    """A second set with the same name under the same parent is rejected (1101108) and one set remains."""
    created, sent = _create_named(harness, harness.token() + "-dup")
    ex = harness.send_create(sent)
    run_oracles(REJECTION_ORACLES, ex, _expect_duplicate(harness, sent))
    found = harness.find_by_name(harness.ctx.bk_biz_id, created["bk_set_name"])
    stored_set_matches(created, found)


def test_padded_duplicate_name_is_rejected(harness: Harness) -> None:
    """Uniqueness compares trimmed names: ' x ' after 'x' is a duplicate."""
    created, sent = _create_named(harness, harness.token() + "-trim")
    padded = {**sent, "data": {**sent["data"], "bk_set_name": "  " + created["bk_set_name"] + " "}}
    ex = harness.send_create(padded)
    run_oracles(REJECTION_ORACLES, ex, _expect_duplicate(harness, padded))
    stored_set_matches(created, harness.find_by_name(harness.ctx.bk_biz_id, created["bk_set_name"]))


def test_names_differing_in_case_are_distinct(harness: Harness) -> None:
    """Uniqueness is case-sensitive: 'abc' and 'ABC' under one parent are two sets."""
    token = harness.token()
    _create_named(harness, token + "-case")
    _create_named(harness, token + "-CASE")


def test_deleted_name_can_be_reused(harness: Harness) -> None:
    """After delete_set the set is gone, its name can be used again, and its id is not reused."""
    created, sent = _create_named(harness, harness.token() + "-reuse")
    biz = harness.ctx.bk_biz_id
    ex = harness.target.delete_set(biz, created["bk_set_id"])
    body = ex.json if isinstance(ex.json, dict) else {}
    if body.get("result") is not True:
        raise ContractViolation("delete_set deletes a set the suite created", "research cmdb §6 delete_set",
                                "research (the real server's behaviour)", "result true", body or ex.response_text[:300])
    nothing_stored(harness.find_by_name(biz, created["bk_set_name"]), "after delete_set")
    again = harness.send_create(sent)
    run_oracles(SUCCESS_ORACLES, again, harness.expectation(sent))
    if again.json["data"]["bk_set_id"] == created["bk_set_id"]:
        raise ContractViolation("bk_set_id is never reused", "research cmdb §4: ids come from a sequence, never reused",
                                "research (the real server's behaviour)", f"an id other than {created['bk_set_id']}", again.json["data"]["bk_set_id"])


def test_concurrent_creates_of_one_name_yield_one_set(harness: Harness) -> None:
    """Several concurrent creates of one name: exactly one succeeds, the others get 1101108."""
    name = harness.token() + "-race"
    sent = harness.fill(base_params(harness.ctx, minimal_data(harness.ctx, name)))
    answers: list[Any] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        answers.append(harness.send_create(sent))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wins = [a for a in answers if isinstance(a.json, dict) and a.json.get("result") is True]
    if len(wins) != 1:
        raise ContractViolation("concurrent creates of one name yield exactly one set",
                                "research cmdb §5: unique index (bk_parent_id, bk_set_name)",
                                "research (the real server's behaviour)", "1 success, 7 × 1101108",
                                [a.json.get("code") if isinstance(a.json, dict) else a.status for a in answers])
    for a in answers:
        if a is not wins[0]:
            run_oracles(REJECTION_ORACLES, a, _expect_duplicate(harness, sent))
    found = harness.find_by_name(harness.ctx.bk_biz_id, name)
    stored_set_matches(wins[0].json["data"], found)


def test_denied_user_gets_no_permission(harness: Harness, denied_user: str) -> None:
    """A user without the create permission gets 9900403 with a permission object, and nothing is stored."""
    spec = load_spec()
    sent = harness.fill(base_params(harness.ctx, minimal_data(harness.ctx)))
    ex = harness.target.call("create_set", sent, auth=f"user:{denied_user}")
    expect = harness.expectation(sent)
    expect.expected_code = spec.state_code("state.no-permission", harness.version)
    expect.code_source = f"spec/errors.json state.no-permission: {spec.state_source('state.no-permission')}"
    run_oracles(REJECTION_ORACLES, ex, expect)
    nothing_stored(harness.find_by_name(harness.ctx.bk_biz_id, sent["data"]["bk_set_name"]), "no permission")


def test_search_answers_with_count_and_info(harness: Harness) -> None:
    """search_set answers {count, info} for a name that does not exist."""
    assert search_info(harness.target.search_sets(harness.ctx.bk_biz_id, {"bk_set_name": harness.token() + "-none"})) == []
