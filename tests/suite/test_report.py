"""The report's pure rendering: visible whitespace and types, character diffs, grouping, rule states, coverage hooks, terminal lines."""

from __future__ import annotations

import re
from typing import Any

from cmdb_contract import report
from cmdb_contract.harness import ANSWER_BUCKETS_MS, Coverage, answer_bucket
from cmdb_contract.oracles import MISSING, ContractViolation, RuleCounts, violation
from cmdb_contract.outcomes import VIOLATION, Outcome
from cmdb_contract.setmodel import SetModel
from cmdb_contract.spec import load_spec


def _v(expected: object, received: object, subject: str = "bk_set_name") -> ContractViolation:
    return violation("data.echoed-as-stored", subject=subject, expected=expected, received=received)


def _text(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html).replace("&quot;", '"')


def test_spaces_inside_strings_are_visible_and_outside_are_not() -> None:
    """A space inside a JSON string renders as ␣; the JSON's own spacing stays plain."""
    html = report.value_html({"a": " x "})
    assert _text(html).startswith('{"a": "␣x␣"}')


def test_diff_marks_only_the_characters_that_differ() -> None:
    """Expected 'ab' against received '  ab  ': only the four received spaces are marked, as inserted."""
    a_changed, b_changed = report.changes('"ab"', '"  ab  "')
    assert a_changed == [False] * 4
    assert b_changed == [False, True, True, False, False, True, True, False]
    a, b = report.diff_html('"ab"', '"  ab  "')
    assert "d-del" not in a and b.count('class="d-ins"') == 2
    assert _text(b) == '"␣␣ab␣␣"'


def test_same_text_different_type_is_called_out() -> None:
    """A number received where a string was expected shows both types and says the text is the same."""
    html = report.expected_received_html("999999999", 999999999)
    assert "type: string" in html and "type: integer" in html
    html = report.expected_received_html(1, "1")
    assert "different JSON type" not in html  # the texts differ ("1" has quotes): the diff shows it
    assert "type: absent" in report.expected_received_html(MISSING, 1)


def test_identical_failures_collapse_and_different_ones_do_not() -> None:
    """Two tests with the same rule, subject, expected and received are one group; a different received value is another."""
    same = [report.FailedTest(f"t{i}", VIOLATION, (_v("a", " a"),)) for i in range(3)]
    other = report.FailedTest("t9", VIOLATION, (_v("b", " b"),))
    groups = report.group_failures([*same, other])
    assert list(groups) == ["data.echoed-as-stored"]
    assert [len(g.tests) for g in groups["data.echoed-as-stored"]] == [3, 1]
    assert groups["data.echoed-as-stored"][0].anchor == report.group_anchor(same[0].violations[0])


def test_group_html_shows_the_count_and_every_test_id() -> None:
    """A collapsed group shows '× n' and lists its n test ids."""
    tests = [report.FailedTest(f"contract_tests/x.py::t{i}", VIOLATION, (_v("a", " a"),), replay="cd . && pytest x") for i in range(4)]
    html = report.group_html(report.group_failures(tests)["data.echoed-as-stored"][0])
    assert "× 4" in html and html.count("<li>") == 4


def test_schema_failure_shows_path_constraint_and_offending_value() -> None:
    """A schema failure renders its schema path, the constraint and the offending value, not a raw schema node."""
    v = violation("success.schema", subject="data/bk_capacity", expected={"type": ["integer", "null"]}, received="5",
                  detail="Schema path: properties/data/properties/bk_capacity/type: '5' is not of type 'integer', 'null'")
    html = report.violation_html(v)
    for needle in ("Schema path", "properties/data/properties/bk_capacity/type", "Constraint", "Offending value", "type: string"):
        assert needle in html, needle


def _counts(passed: dict[str, int], failed: dict[str, int]) -> RuleCounts:
    counts = RuleCounts()
    counts.passed.update(passed)
    counts.failed.update(failed)
    return counts


def test_rule_states_tell_broken_from_known_deviation_and_never() -> None:
    """A rule a failing test broke is broken; failed checks without a failing test are a known deviation; no check is never."""
    outcome = Outcome()
    outcome.record("t1", VIOLATION, _v("a", " a"))
    states = report.rule_states(_counts({"envelope.http-200": 3}, {"data.echoed-as-stored": 1, "deviation.documented-type-holds": 2}),
                                outcome)
    assert states["data.echoed-as-stored"] == report.BROKEN
    assert states["deviation.documented-type-holds"] == report.KNOWN
    assert states["envelope.http-200"] == report.HELD
    assert states["state.delete-acknowledged"] == report.NEVER


def test_terminal_names_each_broken_rule_once() -> None:
    """The terminal lines give the tally, then each broken rule once with its source, however many tests broke it."""
    outcome = Outcome()
    for i in range(5):
        outcome.record(f"t{i}", VIOLATION, _v("a", " a"))
    lines = report.terminal_rules(_counts({}, {"data.echoed-as-stored": 5}), outcome)
    assert lines[0].startswith("37 rules:") or "rules:" in lines[0]
    assert sum("data.echoed-as-stored" in line for line in lines) == 1
    assert any("https://github.com/" in line for line in lines)
    assert len(lines) <= 5


def test_log_text_has_no_line_pytest_html_would_paint_as_an_error() -> None:
    """pytest-html paints log lines starting with 'E' red; the suite's log lines never start with it."""
    text = report.log_text([_v("Expected-looking", "E")], ["Example note"], "Every lead")
    assert not [line for line in text.splitlines()[1:] if line.startswith("E")]


def test_model_table_lists_attributes_others_and_skips() -> None:
    """The set model section names each attribute with its definition and requests (zeros flagged), others' and skipped ones."""
    def item(pid: str, kind: str, **extra: Any) -> dict[str, Any]:
        return {"bk_biz_id": 0, "bk_obj_id": "set", "bk_property_id": pid, "bk_property_name": pid + "名", "bk_property_type": kind,
                "option": "", "ismultiple": False, "ispre": False, "isrequired": False, "editable": True, **extra}
    model = SetModel.of_items(2, [item("region", "singlechar", option="^[a-z]+$"), item("rack", "int"),
                                  item("asset", "id_rule", option={"rule": "A{{global.incr_id.6}}"})],
                              {1: [item("idc", "singlechar", bk_biz_id=1)]}, "a hand-written model")
    spec = load_spec().with_model(model)
    coverage = Coverage(spec)
    coverage.model.update({"region": 4})
    html = report.model_table(spec, coverage)
    assert "a hand-written model" in html and "region名" in html and "rack" in html
    assert 'class="zero"' in html  # rack: defined, never sent
    assert "idc" in html and "another business" in html
    assert "asset" in html and "skipped" in html


def test_answer_times_fall_in_fixed_buckets() -> None:
    """Answer times are counted in the fixed buckets: below the first edge, between edges, above the last."""
    assert answer_bucket(0.5) == 0
    assert answer_bucket(ANSWER_BUCKETS_MS[0]) == 1
    assert answer_bucket(10**9) == len(ANSWER_BUCKETS_MS)
    coverage = Coverage()
    coverage.answer_times.update({0: 2, 3: 5})
    svg = report.answer_time_chart(coverage)
    assert svg.startswith("<svg") and "7 answers" in svg


def _view(failed: list[report.FailedTest], outcome: Outcome) -> report.ReportView:
    facts = {"target": "http://t", "cmdb_version": "3.14", "error_codes": "strict", "profile": "quick", "seed": 1, "writes": "allowed",
             "business": 2, "concurrency": 4, "rate_limit": "none", "run_id": "abc123"}
    return report.ReportView(facts=facts, verdict=outcome.verdict(False), outcome=outcome, counts=RuleCounts(), coverage=Coverage(),
                             failed=failed)


def test_suite_errors_and_unavailability_are_listed_apart_from_broken_rules() -> None:
    """A suite error and an unavailable target each get their own heading with the reason, never a rule box."""
    outcome = Outcome()
    outcome.record("t-crash", "suite-error")
    failed = [report.FailedTest("t-crash", "suite-error", reason="HealthCheck: too slow", replay="cd . && pytest t-crash"),
              report.FailedTest("t-down", "unavailable", reason="no answer: ConnectionError", replay="cd . && pytest t-down")]
    html = "".join(report.summary_parts(_view(failed, outcome)))
    assert "SUITE ERROR (1 test)" in html and "Suite errors" in html and "HealthCheck: too slow" in html
    assert "Target unavailable (not a contract violation)" in html and "no answer: ConnectionError" in html
    assert 'class="rule-box"' not in html
