"""What the target stores, read back through the documented search_set and delete_set.

Each test is a scenario: act (create, search, delete), then judge every answer
with named oracles. Every set created here is in the run's ledger and deleted
at the end of the session.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from cmdb_contract.client import Exchange, Request
from cmdb_contract.credentials import BODY
from cmdb_contract.harness import Harness
from cmdb_contract.oracles import (
    REJECTION_ORACLES,
    SUCCESS_ORACLES,
    Expectation,
    created_set_is_found,
    delete_is_acknowledged,
    deleted_set_is_gone,
    new_id_is_not_the_deleted_one,
    nothing_is_stored,
    one_concurrent_create_wins,
    stored_set_equals_created,
)
from cmdb_contract.strategies import ValidCase, base_params, full_data, minimal_data

pytestmark = [pytest.mark.writes, pytest.mark.state]
DUPLICATE = "state.duplicate-name"
STORED = (created_set_is_found, stored_set_equals_created)


def _case(harness: Harness, data: dict[str, Any]) -> ValidCase:
    return ValidCase(params=base_params(harness.ctx, data))


def _create_named(harness: Harness, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    ex, sent = harness.create(_case(harness, minimal_data(harness.ctx, name)))
    return ex.json["data"], sent


def _stored(harness: Harness, created: dict[str, Any], search: Exchange, sent: Any) -> None:
    harness.judge(STORED, search, Expectation.state(sent, harness.judging, stored=created))


def test_created_set_is_found_by_search(harness: Harness) -> None:
    """A created set is found by search_set with the same fields the create returned."""
    ex, sent = harness.create(_case(harness, full_data(harness.ctx)))
    created = ex.json["data"]
    _stored(harness, created, harness.search(harness.ctx.bk_biz_id, {"bk_set_id": created["bk_set_id"]}), sent)


def test_duplicate_name_is_rejected_and_leaves_one_set(harness: Harness) -> None:
    """A second set with the same name under the same parent is rejected (1101108) and one set remains."""
    created, sent = _create_named(harness, harness.token() + "-dup")
    again = harness.send_create(sent)
    harness.judge(REJECTION_ORACLES, again, Expectation.refusal(sent, harness.judging, DUPLICATE))
    _stored(harness, created, harness.search(harness.ctx.bk_biz_id, {"bk_set_name": created["bk_set_name"]}), sent)


def test_padded_duplicate_name_is_rejected(harness: Harness) -> None:
    """Uniqueness compares trimmed names: ' x ' after 'x' is a duplicate."""
    created, sent = _create_named(harness, harness.token() + "-trim")
    padded = {**sent, "data": {**sent["data"], "bk_set_name": "  " + created["bk_set_name"] + " "}}
    again = harness.send_create(padded)
    harness.judge(REJECTION_ORACLES, again, Expectation.refusal(padded, harness.judging, DUPLICATE))
    _stored(harness, created, harness.search(harness.ctx.bk_biz_id, {"bk_set_name": created["bk_set_name"]}), sent)


def test_names_differing_in_case_are_distinct(harness: Harness) -> None:
    """Uniqueness is case-sensitive: 'abc' and 'ABC' under one parent are two sets."""
    token = harness.token()
    _create_named(harness, token + "-case")
    _create_named(harness, token + "-CASE")


@pytest.mark.serial  # with other creates in flight, a server reusing ids would hand the deleted id to another set
def test_deleted_name_can_be_reused(harness: Harness) -> None:
    """After delete_set the set is gone, its name can be used again, and its id is not reused."""
    created, sent = _create_named(harness, harness.token() + "-reuse")
    biz = harness.ctx.bk_biz_id
    deleted = harness.delete(biz, created["bk_set_id"])
    harness.judge((delete_is_acknowledged,), deleted, Expectation.state(None, harness.judging))
    search = harness.search(biz, {"bk_set_name": created["bk_set_name"]})
    harness.judge((deleted_set_is_gone,), search, Expectation.state(sent, harness.judging))
    again = harness.send_create(sent)
    harness.judge(SUCCESS_ORACLES, again, Expectation.success(sent, harness.judging))
    harness.judge((new_id_is_not_the_deleted_one,), again, Expectation.state(sent, harness.judging, deleted_id=created["bk_set_id"]))


# Serial: other tests' requests in flight would hold the in-flight slots and spread the racing creates apart.
@pytest.mark.serial
def test_concurrent_creates_of_one_name_yield_one_set(harness: Harness) -> None:
    """Several concurrent creates of one name: exactly one succeeds, the others get 1101108."""
    width = min(8, harness.concurrency)
    if width < 2:
        pytest.skip("--concurrency 1 is strictly serial: a race needs at least two requests in flight")
    name = harness.token() + "-race"
    sent = harness.fill(base_params(harness.ctx, minimal_data(harness.ctx, name)))
    answers: list[Exchange | None] = [None] * width
    barrier = threading.Barrier(width)

    def worker(i: int) -> None:
        barrier.wait()
        answers[i] = harness.send_create(sent)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(width)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = [a for a in answers if a is not None]
    search = harness.search(harness.ctx.bk_biz_id, {"bk_set_name": name})
    harness.judge((one_concurrent_create_wins,), search, Expectation.state(sent, harness.judging, answers=got))
    for a in got:
        if a.json.get("result") is not True:
            harness.judge(REJECTION_ORACLES, a, Expectation.refusal(sent, harness.judging, DUPLICATE))
    winner = next(a for a in got if a.json.get("result") is True)
    _stored(harness, winner.json["data"], search, sent)


def test_denied_user_gets_no_permission(harness: Harness, denied_user: str) -> None:
    """A user without the create permission gets 9900403 with a permission object, and nothing is stored."""
    sent = harness.fill(base_params(harness.ctx, minimal_data(harness.ctx)))
    ex = harness.send(Request("create_set", sent, auth=BODY.as_user(denied_user)))
    harness.judge(REJECTION_ORACLES, ex, Expectation.refusal(sent, harness.judging, "state.no-permission"))
    search = harness.search(harness.ctx.bk_biz_id, {"bk_set_name": sent["data"]["bk_set_name"]})
    harness.judge((nothing_is_stored,), search, Expectation.state(sent, harness.judging, what="state.no-permission"))


def test_search_answers_with_count_and_info(harness: Harness) -> None:
    """search_set answers {count, info} for a name that does not exist."""
    search = harness.search(harness.ctx.bk_biz_id, {"bk_set_name": harness.token() + "-none"})
    harness.judge((nothing_is_stored,), search, Expectation.state(None, harness.judging, what="a name never created"))
