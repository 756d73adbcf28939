"""The oracles accept a faithful answer and name the rule a broken one breaks."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import json
import pickle
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cmdb_contract import oracles
from cmdb_contract.client import Exchange
from cmdb_contract.oracles import ContractViolation, Expectation, Judging, RuleCounts, judge, violation, violation_class
from cmdb_contract.spec import load_spec

SENT: dict[str, Any] = {"bk_biz_id": 2, "data": {"bk_parent_id": 2, "bk_set_name": "  ctabc-name ", "bk_capacity": 10, "bk_set_desc": " d "}}
SET = {
    "bk_biz_id": 2, "bk_capacity": 10, "bk_parent_id": 2, "bk_service_status": "1", "bk_set_desc": "d", "bk_set_env": "3",
    "bk_set_id": 7, "bk_set_name": "ctabc-name", "bk_supplier_account": "0", "create_time": "2022-02-22T20:34:01.386+08:00",
    "default": 0, "description": "", "last_time": "2022-02-22T20:34:01.386+08:00", "set_template_id": 0,
    "set_template_version": None, "bk_created_at": "2022-02-22T20:34:01.386+08:00", "bk_created_by": "admin",
    "bk_updated_at": "2022-02-22T20:34:01.386+08:00", "bk_updated_by": None,
}
REQUEST_ID = "e43da4ef221746868dc4c837d36f3807"
SUCCESS = {"result": True, "code": 0, "data": SET, "message": "success", "permission": None, "request_id": REQUEST_ID}
FAILURE = {"result": False, "code": 1199011, "data": None, "message": "'x' invalid", "permission": None, "request_id": REQUEST_ID}
DUPLICATE = {**FAILURE, "code": 1101108, "message": "duplicated"}


def exchange(body: Any, status: int = 200, ctype: str = "application/json; charset=utf-8", api: str = "create_set") -> Exchange:
    text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
    return Exchange(api, "POST", f"http://t/api/c/compapi/v2/cc/{api}/", {}, "{}", status=status,
                    response_headers={"Content-Type": ctype}, response_text=text)


def search(info: list[dict[str, Any]]) -> Exchange:
    """A search_set answer finding ``info``."""
    return exchange({**SUCCESS, "data": {"count": len(info), "info": info}}, api="search_set")


def sent(**data: Any) -> dict[str, Any]:
    out = copy.deepcopy(SENT)
    out["data"].update(data)
    return out


def success(sent_params: dict[str, Any] | None = None, judging: Judging | None = None) -> Expectation:
    return Expectation.success(sent_params if sent_params is not None else sent(), judging or Judging())


def rejection(class_id: str, **judging: Any) -> Expectation:
    return Expectation.rejection(sent(), Judging(**judging), load_spec().error_class(class_id))


def state(**facts: Any) -> Expectation:
    return Expectation.state(sent(), Judging(), **facts)


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
    judge(oracles.SUCCESS_ORACLES, exchange(SUCCESS), success())


def test_faithful_rejection_passes_the_rejection_oracles() -> None:
    """A faithful rejection with the catalogued code passes."""
    judge(oracles.REJECTION_ORACLES, exchange(FAILURE), rejection("data.bk_set_name.forbidden-char"))


def test_esb_error_without_permission_and_request_id_passes() -> None:
    """ESB middleware errors may lack permission and request_id (registered deviations)."""
    body = {"result": False, "code": 1306406, "data": None, "message": "Parameters error"}
    judge(oracles.ENVELOPE_ORACLES, exchange(body), state())


BROKEN_ENVELOPES: list[tuple[str, Callable[[], Exchange], str, str]] = [
    ("status 500", lambda: exchange(SUCCESS, status=500), "HTTP 200", "envelope.http-200"),
    ("html content type", lambda: exchange(SUCCESS, ctype="text/html"), "JSON content type", "envelope.json-content-type"),
    ("not json", lambda: exchange("<html>oops</html>"), "JSON object", "envelope.json-object"),
    ("result as string", lambda: exchange(mutated(SUCCESS, "result", "true")), "result is a boolean", "envelope.result-boolean"),
    ("code as string", lambda: exchange(mutated(SUCCESS, "code", "0")), "code is an integer", "envelope.code-integer"),
    ("code as bool", lambda: exchange(mutated(FAILURE, "code", True)), "code is an integer", "envelope.code-integer"),
    ("result true with code", lambda: exchange(mutated(FAILURE, "result", True)), "result is true exactly when code is 0",
     "envelope.result-matches-code"),
    ("empty message on failure", lambda: exchange(mutated(FAILURE, "message", "")), "carries a message", "envelope.failure-has-message"),
    ("data on failure", lambda: exchange(mutated(FAILURE, "data", {})), "data is null on failure", "envelope.data-null-on-failure"),
    ("missing request_id", lambda: exchange(mutated(SUCCESS, "request_id", DELETE)), "request_id", "envelope.request-id-present"),
    ("dashed request_id", lambda: exchange(mutated(SUCCESS, "request_id", "e43da4ef-2217-4686-8dc4-c837d36f3807")), "32 lowercase hex",
     "envelope.request-id-format"),
    ("permission on success", lambda: exchange(mutated(SUCCESS, "permission", {})), "permission is null on success",
     "envelope.permission-null-on-success"),
    ("9900403 without permission", lambda: exchange(mutated(FAILURE, "code", 9900403)), "permission to apply for",
     "envelope.permission-on-no-permission"),
]
BROKEN_PARAMS = [pytest.param(m, h, r, id=i) for i, m, h, r in BROKEN_ENVELOPES]


@pytest.mark.parametrize(("make", "headline", "rule_id"), BROKEN_PARAMS)
def test_broken_envelope_is_caught(make: Callable[[], Exchange], headline: str, rule_id: str) -> None:
    """Each broken envelope rule raises a violation naming it, headline and rule id."""
    with pytest.raises(ContractViolation, match=headline) as err:
        judge(oracles.ENVELOPE_ORACLES, make(), state())
    assert err.value.rule_id == rule_id
    assert str(err.value).startswith(f"Contract broken: {err.value.headline} [{rule_id}]")


@pytest.mark.parametrize(("make", "headline", "rule_id"), BROKEN_PARAMS)
def test_each_oracle_raises_only_its_own_rule(make: Callable[[], Exchange], headline: str, rule_id: str) -> None:
    """Every envelope oracle judging a broken envelope either passes or raises its own rule id, and the broken rule's oracle raises."""
    raised = []
    for oracle in oracles.ENVELOPE_ORACLES:
        try:
            oracle(make(), state())
        except ContractViolation as broken:
            assert broken.rule_id == oracles.rule_of(oracle), oracle.__name__
            assert type(broken) is violation_class(broken.rule_id, broken.subject)
            raised.append(broken.rule_id)
    assert rule_id in raised


BROKEN_SUCCESS = [
    pytest.param("data.set_template_version", [], "set_template_version", "set-template-version-null", id="data.set_template_version"),
    pytest.param("data.bk_set_id", "7", "bk_set_id", "", id="data.bk_set_id"),
    pytest.param("data.bk_capacity", "10", "bk_capacity", "", id="data.bk_capacity"),
    pytest.param("data.default", DELETE, "default", "", id="data.default"),
]


@pytest.mark.parametrize(("path", "value", "field", "deviation"), BROKEN_SUCCESS)
def test_success_data_off_schema_is_caught(path: str, value: Any, field: str, deviation: str) -> None:
    """Success data that breaks the schema fails, naming the row (and the deviation where one applies)."""
    with pytest.raises(ContractViolation) as err:
        oracles.success_matches_schema(exchange(mutated(SUCCESS, path, value)), success())
    assert err.value.rule_id == "success.schema"
    assert field in str(err.value)
    assert deviation in str(err.value)


ECHO = [
    ("data.bk_set_name", "  ctabc-name ", "bk_set_name is echoed as stored", "data.echoed-as-stored"),
    ("data.bk_set_env", "2", "bk_set_env gets its default", "data.default-applied"),
    ("data.bk_set_desc", "", "bk_set_desc is echoed as stored", "data.echoed-as-stored"),
    ("data.bk_biz_id", 3, "bk_biz_id", "data.echoed-as-stored"),
    ("data.bk_supplier_account", "", "bk_supplier_account", "data.echoed-as-stored"),
    ("data.zz_contract_unknown_field", "x", None, "data.unknown-field-dropped"),
]
ECHO_ORACLES = (oracles.fields_are_echoed_as_stored, oracles.absent_fields_get_defaults, oracles.unknown_fields_are_dropped)


@pytest.mark.parametrize(("path", "value", "headline", "rule_id"), ECHO, ids=[e[0] for e in ECHO])
def test_wrong_echo_or_default_is_caught(path: str, value: Any, headline: str | None, rule_id: str) -> None:
    """A stored value other than the sent (trimmed) value or the documented default fails."""
    params = sent()
    if headline is None:
        params["data"]["zz_contract_unknown_field"] = "x"
        headline = "unknown field zz_contract_unknown_field is dropped"
    e = success(params)
    with pytest.raises(ContractViolation, match=headline) as err:
        judge(ECHO_ORACLES, exchange(mutated(SUCCESS, path, value)), e)
    assert err.value.rule_id == rule_id
    assert err.value.subject == path.split(".", 1)[1]


def test_reused_set_id_is_caught() -> None:
    """A bk_set_id seen earlier in the run fails."""
    e = success()
    oracles.set_id_is_new(exchange(SUCCESS), e)
    with pytest.raises(ContractViolation, match="never reused") as err:
        oracles.set_id_is_new(exchange(SUCCESS), e)
    assert err.value.rule_id == "data.set-id-new"


def test_non_rfc3339_time_is_caught() -> None:
    """A create_time that is not RFC 3339 fails."""
    with pytest.raises(ContractViolation, match="create_time is an RFC 3339 time") as err:
        oracles.times_are_rfc3339(exchange(mutated(SUCCESS, "data.create_time", "2022-02-22 20:34:01")), success())
    assert err.value.rule_id == "data.time-rfc3339"


def test_utc_time_is_accepted() -> None:
    """A UTC time (the newer mongo driver's format) is RFC 3339 too."""
    oracles.times_are_rfc3339(exchange(mutated(SUCCESS, "data.create_time", "2022-02-22T12:34:01.386Z")), success())


def test_accepted_invalid_request_is_caught() -> None:
    """A success answer to an invalid request fails the rejection oracle."""
    with pytest.raises(ContractViolation, match="an invalid request is rejected") as err:
        oracles.invalid_request_is_rejected(exchange(SUCCESS), rejection("data.bk_capacity.above-maximum"))
    assert err.value.rule_id == "rejection.rejected"


def test_wrong_version_code_is_caught_only_in_strict_mode() -> None:
    """Strict mode demands the version's code; documented mode only code > 0."""
    body = mutated(FAILURE, "code", 1199006)
    with pytest.raises(ContractViolation, match=r"3\.14's code") as err:
        judge(oracles.REJECTION_ORACLES, exchange(body), rejection("data.bk_capacity.above-maximum"))
    assert err.value.rule_id == "rejection.code"
    assert 'Expected: 1199011' in str(err.value)
    judge(oracles.REJECTION_ORACLES, exchange(body), rejection("data.bk_capacity.above-maximum", error_codes="documented"))


def test_message_marker_is_required_in_strict_mode() -> None:
    """A too-long-name rejection whose message does not name the 256 limit fails in strict mode."""
    with pytest.raises(ContractViolation, match="names the rule") as err:
        judge(oracles.REJECTION_ORACLES, exchange(FAILURE), rejection("data.bk_set_name.too-many-chars"))
    assert err.value.rule_id == "rejection.message"


def test_state_oracles_catch_mismatch_and_leftovers() -> None:
    """A stored set differing from the created one, or a set left by a rejection, fails."""
    stored = (oracles.created_set_is_found, oracles.stored_set_equals_created)
    judge(stored, search([SET]), state(stored=SET))
    with pytest.raises(ContractViolation, match="stored bk_set_desc") as err:
        judge(stored, search([{**SET, "bk_set_desc": "other"}]), state(stored=SET))
    assert err.value.rule_id == "state.stored-equals-created"
    with pytest.raises(ContractViolation, match="found by search_set") as err:
        judge(stored, search([]), state(stored=SET))
    assert err.value.rule_id == "state.created-is-found"
    judge((oracles.nothing_is_stored,), search([]), state(what="x"))
    with pytest.raises(ContractViolation, match="leaves nothing behind") as err:
        judge((oracles.nothing_is_stored,), search([SET]), state(what="x"))
    assert err.value.rule_id == "state.nothing-stored-on-rejection"


def test_violation_text_reads_as_a_report() -> None:
    """A violation renders headline and rule id, what it breaks, its source, and expected and received as JSON."""
    cls = violation_class("envelope.http-200")
    text = cls(headline="rule r", breaks=oracles.DOCUMENTATION, source="doc row", sources=(), expected=1, received=2).render()
    assert text.splitlines() == ["Contract broken: rule r [envelope.http-200]", "Breaks: documentation (the promise)", "Rule source: doc row",
                                 "Expected: 1", "Received: 2"]
    quoted = cls(headline="rule r", breaks=oracles.SERVER, source="doc row", sources=(), expected="3", received=3).render()
    assert 'Expected: "3"' in quoted.splitlines() and "Received: 3" in quoted.splitlines()


def test_violation_by_rule_id_cites_the_rule_and_its_sources() -> None:
    """A violation made from a rule id carries the rule's headline, research fact and public source links."""
    broken = violation("envelope.http-200", expected=200, received=500)
    lines = str(broken).splitlines()
    assert lines[0] == "Contract broken: the answer is HTTP 200 [envelope.http-200]"
    assert "Rule source: research: every ESB channel answer, errors included, is HTTP 200" in lines
    url = load_spec().sources["esb-json-response"].url
    assert f"  see {url} (JsonResponse)" in lines


def test_violation_keeps_its_class_across_pickling() -> None:
    """A pickled violation comes back as the same per-rule class with the same text."""
    broken = violation("data.echoed-as-stored", subject="bk_set_name", expected="a", received="b")
    again = pickle.loads(pickle.dumps(broken))
    assert type(again) is type(broken) is violation_class("data.echoed-as-stored", "bk_set_name")
    assert str(again) == str(broken)


def test_unknown_rule_id_is_a_suite_error() -> None:
    """Asking for the class of a rule that rules.json does not list is a KeyError, not a violation."""
    with pytest.raises(KeyError):
        violation_class("envelope.no-such-rule")


def test_two_broken_rules_are_two_distinct_hypothesis_failures() -> None:
    """Two rules broken by one server raise two exception classes, and Hypothesis reports them as two separate failures."""

    def server(n: int) -> Exchange:
        # Breaks result-boolean for large inputs and code-integer for very negative ones, answers faithfully otherwise.
        if n >= 1000:
            return exchange(mutated(SUCCESS, "result", "true"))
        if n <= -1000:
            return exchange(mutated(SUCCESS, "code", "0"))
        return exchange(SUCCESS)

    with pytest.raises(ContractViolation) as a:
        judge(oracles.ENVELOPE_ORACLES, server(1000), state())
    with pytest.raises(ContractViolation) as b:
        judge(oracles.ENVELOPE_ORACLES, server(-1000), state())
    first, second = a.value, b.value
    assert type(first) is not type(second)
    assert (first.rule_id, second.rule_id) == ("envelope.result-boolean", "envelope.code-integer")

    @settings(database=None, max_examples=200, derandomize=True, report_multiple_bugs=True, deadline=None)
    @given(st.integers())
    def against_server(n: int) -> None:
        judge(oracles.ENVELOPE_ORACLES, server(n), state())

    with pytest.raises(ExceptionGroup) as group:
        against_server()
    found = [e for e in group.value.exceptions if isinstance(e, ContractViolation)]
    assert len(found) == len(group.value.exceptions) == 2
    assert sorted(e.rule_id for e in found) == ["envelope.code-integer", "envelope.result-boolean"]


def test_expectation_is_frozen() -> None:
    """An Expectation cannot be changed after construction, neither its fields nor the stored set."""
    e = success()
    with pytest.raises(dataclasses.FrozenInstanceError):
        e.sent = {}  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        e.code = 1  # type: ignore[misc]
    assert e.stored is not None
    with pytest.raises(TypeError):
        e.stored["bk_set_name"] = "other"  # type: ignore[index]
    with pytest.raises(TypeError):
        state(what="x").facts["what"] = "y"  # type: ignore[index]


def test_judge_counts_passes_and_failures_per_rule() -> None:
    """judge() counts one pass per rule checked and one failure for the rule broken, and stops there."""
    counts = RuleCounts()
    names = [oracles.rule_of(o) for o in oracles.ENVELOPE_ORACLES]
    judge(oracles.ENVELOPE_ORACLES, exchange(SUCCESS), state(), counts)
    assert counts.passed == Counter(names) and not counts.failed
    broken = exchange(mutated(SUCCESS, "result", "true"))
    with pytest.raises(ContractViolation) as err:
        judge(oracles.ENVELOPE_ORACLES, broken, state(), counts)
    cut = names.index("envelope.result-boolean")
    assert counts.failed == Counter({"envelope.result-boolean": 1})
    assert counts.passed == Counter(names) + Counter(names[:cut])
    assert err.value.exchange is broken and err.value.sent == sent()


def test_concurrency_oracle_shows_each_code_and_what_search_found() -> None:
    """The concurrency oracle passes one winner and one set, and otherwise labels each request's code and lists the sets found."""
    answers = [exchange(SUCCESS), exchange(DUPLICATE)]
    oracles.one_concurrent_create_wins(search([SET]), state(answers=answers))
    with pytest.raises(ContractViolation) as one_win_two_sets:
        oracles.one_concurrent_create_wins(search([SET, {**SET, "bk_set_id": 8}]), state(answers=answers))
    assert one_win_two_sets.value.rule_id == "state.one-concurrent-create-wins"
    answers = [exchange(SUCCESS), exchange(mutated(SUCCESS, "data.bk_set_id", 8)), exchange(DUPLICATE),
               exchange("<html>Bad Gateway</html>", status=502, ctype="text/html")]
    with pytest.raises(ContractViolation) as err:
        oracles.one_concurrent_create_wins(search([SET, {**SET, "bk_set_id": 8}]), state(answers=answers))
    assert err.value.received == {
        "creates": [
            {"request": 1, "code": 0, "message": "success", "result": True},
            {"request": 2, "code": 0, "message": "success", "result": True},
            {"request": 3, "code": 1101108, "message": "duplicated", "result": False},
            {"request": 4, "http": 502},
        ],
        "search_set finds": [{"bk_set_id": 7, "bk_set_name": "ctabc-name"}, {"bk_set_id": 8, "bk_set_name": "ctabc-name"}],
    }
    assert 'Received: {"creates": [{"code": 0, "message": "success", "request": 1, "result": true}' in str(err.value)
    assert '"search_set finds": [{"bk_set_id": 7, "bk_set_name": "ctabc-name"}' in str(err.value)


def test_documented_type_holds_raises_the_per_field_class() -> None:
    """documented_type_holds raises the class of its rule and field, the one xfail(raises=...) names, and passes the documented type."""
    facts = {"field": "set_template_version", "type": "array", "deviation": "set-template-version-null"}
    mine = violation_class("deviation.documented-type-holds", "set_template_version")
    other = violation_class("deviation.documented-type-holds", "bk_capacity")
    with pytest.raises(mine) as err:
        oracles.documented_type_holds(exchange(SUCCESS), state(**facts))
    assert type(err.value) is mine and not isinstance(err.value, other)
    assert "Known deviation set-template-version-null" in str(err.value)
    oracles.documented_type_holds(exchange(mutated(SUCCESS, "data.set_template_version", [])), state(**facts))


def test_every_oracle_function_names_its_rule() -> None:
    """Every oracle function in the module carries a rule id of rules.json and raises only that id in its source."""
    functions = [f for f in vars(oracles).values() if inspect.isfunction(f) and hasattr(f, "rule_id")]
    assert set(functions) == set(oracles.ALL_ORACLES)
    for fn in functions:
        load_spec().rule(fn.rule_id)
        raised = {line.split('violation("', 1)[1].split('"', 1)[0] for line in inspect.getsource(fn).splitlines() if 'violation("' in line}
        assert raised == {fn.rule_id}, fn.__name__


def test_oracles_do_not_import_strategies() -> None:
    """Importing the oracles loads neither the strategies nor Hypothesis."""
    probe = ("import json, sys, cmdb_contract.oracles; "
             "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('cmdb_contract.', 'hypothesis')))))")
    loaded = json.loads(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60).stdout)
    assert "cmdb_contract.oracles" in loaded
    assert "cmdb_contract.strategies" not in loaded
    assert not [m for m in loaded if m.startswith("hypothesis")]
