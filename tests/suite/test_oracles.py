"""The oracles accept a faithful answer and name the rule a broken one breaks."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from cmdb_contract import oracles
from cmdb_contract.client import Exchange
from cmdb_contract.oracles import ContractViolation, Expectation
from cmdb_contract.spec import load_spec
from cmdb_contract.strategies import GenContext

CTX = GenContext(bk_biz_id=2, bk_parent_id=2, set_template_ids=(1,))
SENT = {"bk_biz_id": 2, "data": {"bk_parent_id": 2, "bk_set_name": "  ctabc-name ", "bk_capacity": 10, "bk_set_desc": " d "}}
SET = {
    "bk_biz_id": 2, "bk_capacity": 10, "bk_parent_id": 2, "bk_service_status": "1", "bk_set_desc": "d", "bk_set_env": "3",
    "bk_set_id": 7, "bk_set_name": "ctabc-name", "bk_supplier_account": "0", "create_time": "2022-02-22T20:34:01.386+08:00",
    "default": 0, "description": "", "last_time": "2022-02-22T20:34:01.386+08:00", "set_template_id": 0,
    "set_template_version": None, "bk_created_at": "2022-02-22T20:34:01.386+08:00", "bk_created_by": "admin",
    "bk_updated_at": "2022-02-22T20:34:01.386+08:00", "bk_updated_by": None,
}
SUCCESS = {"result": True, "code": 0, "data": SET, "message": "success", "permission": None, "request_id": "e43da4ef221746868dc4c837d36f3807"}
FAILURE = {"result": False, "code": 1199011, "data": None, "message": "'x' invalid", "permission": None, "request_id": "e43da4ef221746868dc4c837d36f3807"}


def exchange(body: Any, status: int = 200, ctype: str = "application/json; charset=utf-8") -> Exchange:
    text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
    return Exchange("create_set", "POST", "http://t/api/c/compapi/v2/cc/create_set/", {}, "{}", status=status,
                    response_headers={"Content-Type": ctype}, response_text=text)


def expect(**kw: Any) -> Expectation:
    return Expectation(ctx=CTX, sent=copy.deepcopy(SENT), seen_ids=oracles.SeenIds(), **kw)


def mutated(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(base)
    node = out
    keys = path.split(".")
    for k in keys[:-1]:
        node = node[k]
    if value is DELETE:
        del node[keys[-1]]
    else:
        node[keys[-1]] = value
    return out


DELETE = object()


def test_faithful_success_passes_every_success_oracle() -> None:
    """A faithful success answer passes every success oracle."""
    oracles.run_oracles(oracles.SUCCESS_ORACLES, exchange(SUCCESS), expect())


def test_faithful_rejection_passes_the_rejection_oracles() -> None:
    """A faithful rejection with the catalogued code passes."""
    ec = load_spec().error_class("data.bk_set_name.forbidden-char")
    oracles.run_oracles(oracles.REJECTION_ORACLES, exchange(FAILURE), expect(error_class=ec, expected_code=1199011))


def test_esb_error_without_permission_and_request_id_passes() -> None:
    """ESB middleware errors may lack permission and request_id (registered deviations)."""
    body = {"result": False, "code": 1306406, "data": None, "message": "Parameters error"}
    oracles.envelope_is_consistent(exchange(body), expect())


BROKEN_ENVELOPES: list[tuple[str, Callable[[], Exchange], str]] = [
    ("status 500", lambda: exchange(SUCCESS, status=500), "HTTP 200"),
    ("html content type", lambda: exchange(SUCCESS, ctype="text/html"), "JSON content type"),
    ("not json", lambda: exchange("<html>oops</html>"), "JSON object"),
    ("result as string", lambda: exchange(mutated(SUCCESS, "result", "true")), "result is a boolean"),
    ("code as string", lambda: exchange(mutated(SUCCESS, "code", "0")), "code is an integer"),
    ("code as bool", lambda: exchange(mutated(FAILURE, "code", True)), "code is an integer"),
    ("result true with code", lambda: exchange(mutated(FAILURE, "result", True)), "result is true exactly when code is 0"),
    ("empty message on failure", lambda: exchange(mutated(FAILURE, "message", "")), "carries a message"),
    ("data on failure", lambda: exchange(mutated(FAILURE, "data", {})), "data is null on failure"),
    ("missing request_id", lambda: exchange(mutated(SUCCESS, "request_id", DELETE)), "request_id"),
    ("dashed request_id", lambda: exchange(mutated(SUCCESS, "request_id", "e43da4ef-2217-4686-8dc4-c837d36f3807")), "32 lowercase hex"),
    ("permission on success", lambda: exchange(mutated(SUCCESS, "permission", {})), "permission is null on success"),
    ("9900403 without permission", lambda: exchange(mutated(FAILURE, "code", 9900403)), "permission to apply for"),
]


@pytest.mark.parametrize(("make", "rule"), [pytest.param(m, r, id=i) for i, m, r in BROKEN_ENVELOPES])
def test_broken_envelope_is_caught(make: Callable[[], Exchange], rule: str) -> None:
    """Each broken envelope rule raises a violation naming it."""
    with pytest.raises(ContractViolation, match=rule):
        oracles.envelope_is_consistent(make(), expect())


BROKEN_SUCCESS = [
    ("data.set_template_version", [], "set_template_version", "set-template-version-null"),
    ("data.bk_set_id", "7", "bk_set_id", ""),
    ("data.bk_capacity", "10", "bk_capacity", ""),
    ("data.default", DELETE, "default", ""),
]


@pytest.mark.parametrize(("path", "value", "field", "deviation"), BROKEN_SUCCESS, ids=[b[0] for b in BROKEN_SUCCESS])
def test_success_data_off_schema_is_caught(path: str, value: Any, field: str, deviation: str) -> None:
    """Success data that breaks the schema fails, naming the row (and the deviation where one applies)."""
    with pytest.raises(ContractViolation) as err:
        oracles.success_matches_schema(exchange(mutated(SUCCESS, path, value)), expect())
    assert field in str(err.value)
    assert deviation in str(err.value)


ECHO = [
    ("data.bk_set_name", "  ctabc-name ", "bk_set_name is echoed as stored"),
    ("data.bk_set_env", "2", "bk_set_env gets its default"),
    ("data.bk_set_desc", "", "bk_set_desc is echoed as stored"),
    ("data.bk_biz_id", 3, "bk_biz_id"),
    ("data.bk_supplier_account", "", "bk_supplier_account"),
    ("data.zz_contract_unknown_field", "x", None),
]


@pytest.mark.parametrize(("path", "value", "rule"), ECHO, ids=[e[0] for e in ECHO])
def test_wrong_echo_or_default_is_caught(path: str, value: Any, rule: str | None) -> None:
    """A stored value other than the sent (trimmed) value or the documented default fails."""
    e = expect()
    if rule is None:
        e.sent["data"]["zz_contract_unknown_field"] = "x"
        rule = "unknown field zz_contract_unknown_field is dropped"
    with pytest.raises(ContractViolation, match=rule):
        oracles.created_set_echoes_request(exchange(mutated(SUCCESS, path, value)), e)


def test_reused_set_id_is_caught() -> None:
    """A bk_set_id seen earlier in the run fails."""
    e = expect()
    oracles.set_id_is_new(exchange(SUCCESS), e)
    with pytest.raises(ContractViolation, match="never reused"):
        oracles.set_id_is_new(exchange(SUCCESS), e)


def test_non_rfc3339_time_is_caught() -> None:
    """A create_time that is not RFC 3339 fails."""
    with pytest.raises(ContractViolation, match="create_time is an RFC 3339 time"):
        oracles.times_are_rfc3339(exchange(mutated(SUCCESS, "data.create_time", "2022-02-22 20:34:01")), expect())


def test_utc_time_is_accepted() -> None:
    """A UTC time (the newer mongo driver's format) is RFC 3339 too."""
    oracles.times_are_rfc3339(exchange(mutated(SUCCESS, "data.create_time", "2022-02-22T12:34:01.386Z")), expect())


def test_accepted_invalid_request_is_caught() -> None:
    """A success answer to an invalid request fails the rejection oracle."""
    ec = load_spec().error_class("data.bk_capacity.above-maximum")
    with pytest.raises(ContractViolation, match="an invalid request is rejected"):
        oracles.invalid_request_is_rejected(exchange(SUCCESS), expect(error_class=ec, expected_code=1199011))


def test_wrong_version_code_is_caught_only_in_strict_mode() -> None:
    """Strict mode demands the version's code; documented mode only code > 0."""
    ec = load_spec().error_class("data.bk_capacity.above-maximum")
    body = mutated(FAILURE, "code", 1199006)
    with pytest.raises(ContractViolation, match=r"3\.14's code"):
        oracles.invalid_request_is_rejected(exchange(body), expect(error_class=ec, expected_code=1199011))
    oracles.invalid_request_is_rejected(exchange(body), expect(error_class=ec, expected_code=1199011, error_codes="documented"))


def test_message_marker_is_required_in_strict_mode() -> None:
    """A too-long-name rejection whose message does not name the 256 limit fails in strict mode."""
    ec = load_spec().error_class("data.bk_set_name.too-many-chars")
    with pytest.raises(ContractViolation, match="names the rule"):
        oracles.invalid_request_is_rejected(exchange(FAILURE), expect(error_class=ec, expected_code=1199011))


def test_state_oracles_catch_mismatch_and_leftovers() -> None:
    """A stored set differing from the created one, or a set left by a rejection, fails."""
    oracles.stored_set_matches(SET, [SET])
    with pytest.raises(ContractViolation, match="stored bk_set_desc"):
        oracles.stored_set_matches(SET, [{**SET, "bk_set_desc": "other"}])
    with pytest.raises(ContractViolation, match="found by search_set"):
        oracles.stored_set_matches(SET, [])
    oracles.nothing_stored([], "x")
    with pytest.raises(ContractViolation, match="leaves nothing behind"):
        oracles.nothing_stored([SET], "x")


def test_violation_text_reads_as_a_report() -> None:
    """A violation renders headline, what it breaks, its source, expected and received."""
    text = ContractViolation("rule r", "doc row", oracles.DOCUMENTATION, 1, 2).render()
    assert text.splitlines() == ["Contract broken: rule r", "Breaks: documentation", "Rule source: doc row", "Expected: 1", "Received: 2"]
