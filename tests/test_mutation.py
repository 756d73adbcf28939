"""The mutation self-test: the suite passes the faithful emulator and catches every injected fault."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cmdb_contract import selftest


@pytest.mark.selftest
def test_suite_catches_every_fault_without_false_alarm(tmp_path: Path) -> None:
    """Every emulator fault makes the suite fail with a broken contract, and the faithful emulator passes."""
    out = selftest.ROOT / "reports" / "mutation-score.md"
    code = selftest.main(workers=2, out=out)
    text = out.read_text(encoding="utf-8")
    assert "PASS (no false alarm)" in text, text
    assert code == 0, "\n" + text


def test_unknown_fault_is_a_usage_error() -> None:
    """cmdb-contract selftest --fault with a name the emulator does not know exits 4 with one line, not a crash."""
    res = subprocess.run([sys.executable, "-m", "cmdb_contract.cli", "selftest", "--fault", "no-such-fault"],
                         capture_output=True, text=True, cwd=selftest.ROOT, timeout=120)
    assert res.returncode == 4
    assert "unknown fault 'no-such-fault'" in res.stderr and "Traceback" not in res.stderr


def test_detection_needs_a_contract_violation_with_a_rule(tmp_path: Path) -> None:
    """A fault counts as detected only through a JUnit failure whose outcome is a violation with a rule id."""
    junit = tmp_path / "j.xml"
    junit.write_text(
        '<testsuites><testsuite><testcase classname="c" name="a"><failure message="boom">TypeError</failure>'
        '<properties><property name="outcome" value="suite-error"/></properties></testcase>'
        '<testcase classname="c" name="b"><failure message="Contract broken: x">x</failure><properties>'
        '<property name="outcome" value="violation"/><property name="rule" value="envelope.http-200"/></properties></testcase>'
        "</testsuite></testsuites>", encoding="utf-8")
    failed, _, rules = selftest._first_failure(junit)
    assert failed == "c::b" and rules == ("envelope.http-200",)
    junit.write_text('<testsuites><testsuite><testcase classname="c" name="a"><failure message="AssertionError">x</failure>'
                     "</testcase></testsuite></testsuites>", encoding="utf-8")
    assert not selftest.Outcome("f", 1, 1.0, *selftest._first_failure(junit)).detected
