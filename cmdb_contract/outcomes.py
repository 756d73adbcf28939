"""How each test ended and what the run's verdict and exit code are: classified in one place.

Boundary: pure bookkeeping over pytest's reports and the exceptions they carry.
Three kinds of failure: a contract violation (the target broke a rule), the
target unavailable (it did not answer like a server: not a contract
violation), and a suite error (a Hypothesis health or flakiness error, or any
exception that is not a contract violation). Each has its own exit code,
report row and JUnit element (failure for a violation, error for the others).
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

from .cleanup import CleanupResult
from .client import TargetUnavailable
from .options import (
    EXIT_CODES,
    EXIT_CONTRACT,
    EXIT_INTERRUPTED,
    EXIT_NO_TESTS,
    EXIT_OK,
    EXIT_SUITE_ERROR,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
)
from .oracles import ContractViolation

PASSED, VIOLATION, UNAVAILABLE, SUITE_ERROR, SKIPPED, XFAILED = "passed", "violation", "unavailable", "suite-error", "skipped", "xfailed"
# A strict expected failure that passed: the server now keeps a promise it was known to break.
DEVIATION_GONE = "deviation-gone"


def violations_in(exc: BaseException | None) -> list[ContractViolation]:
    """Every contract violation in ``exc``: itself, its causes, and the members of exception groups."""
    out: list[ContractViolation] = []
    seen: set[int] = set()
    stack: list[BaseException] = [exc] if exc is not None else []
    while stack:
        e = stack.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, ContractViolation):
            out.append(e)
            continue
        stack += [x for x in (e.__cause__, e.__context__) if x is not None]
        stack += list(getattr(e, "exceptions", ()))
    return out


def unavailable_in(exc: BaseException | None) -> TargetUnavailable | None:
    stack: list[BaseException] = [exc] if exc is not None else []
    seen: set[int] = set()
    while stack:
        e = stack.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, TargetUnavailable):
            return e
        stack += [x for x in (e.__cause__, e.__context__) if x is not None]
        stack += list(getattr(e, "exceptions", ()))
    return None


def _only_violations(exc: BaseException) -> bool:
    """True when every leaf of ``exc`` is a contract violation (one, or a group of them)."""
    if isinstance(exc, ContractViolation):
        return True
    members = getattr(exc, "exceptions", None)
    if members:
        return all(_only_violations(m) for m in members)
    return False


def classify(exc: BaseException | None, outcome: str, xfail: bool = False) -> str:
    """The kind of one test phase's ending, from pytest's outcome and the exception it raised."""
    if outcome == "skipped":
        return XFAILED if xfail else SKIPPED
    if outcome == "passed":
        return PASSED
    if exc is None:
        return DEVIATION_GONE
    if unavailable_in(exc) is not None:
        return UNAVAILABLE
    if _only_violations(exc):
        return VIOLATION
    return SUITE_ERROR


@dataclass
class TestOutcome:
    """How one test ended, with the rules it broke."""

    nodeid: str
    kind: str
    rules: list[str] = field(default_factory=list)
    violations: list[ContractViolation] = field(default_factory=list)
    reason: str = ""


class Outcome:
    """The run's outcome: every test's ending, unavailability, cleanup, interruption."""

    def __init__(self) -> None:
        self.tests: dict[str, TestOutcome] = {}
        self.unavailable: TargetUnavailable | None = None
        self.cleanup: CleanupResult | None = None
        self.interrupted = False
        self.usage_error = ""
        self._lock = threading.Lock()

    def record(self, nodeid: str, kind: str, exc: BaseException | None = None, reason: str = "") -> TestOutcome:
        with self._lock:
            current = self.tests.get(nodeid)
            # A test's worst phase counts: a failing call is not undone by a passing teardown.
            if current is not None and _rank(current.kind) >= _rank(kind):
                return current
            found = violations_in(exc) if kind == VIOLATION else []
            test = TestOutcome(nodeid, kind, sorted({v.rule_id for v in found}), found, reason)
            self.tests[nodeid] = test
            if kind == UNAVAILABLE and self.unavailable is None:
                self.unavailable = unavailable_in(exc)
            return test

    def of(self, kind: str) -> list[TestOutcome]:
        return [t for t in self.tests.values() if t.kind == kind]

    @property
    def broken_rules(self) -> Counter[str]:
        """Failing tests per broken rule id."""
        out: Counter[str] = Counter()
        for t in self.of(VIOLATION):
            out.update(t.rules)
        return out

    def exit_code(self, pytest_status: int) -> int:
        """The documented exit code: usage, interrupted, unavailable, suite error, broken contract, nothing ran, pass."""
        if self.usage_error or pytest_status == EXIT_USAGE:
            return EXIT_USAGE
        if self.interrupted:
            return EXIT_INTERRUPTED
        if self.unavailable is not None or self.of(UNAVAILABLE):
            return EXIT_UNAVAILABLE  # pytest's own stop after it is 2: it is not an interruption
        if pytest_status == EXIT_INTERRUPTED:
            return EXIT_INTERRUPTED
        if self.of(SUITE_ERROR):
            return EXIT_SUITE_ERROR
        if self.of(VIOLATION) or self.of(DEVIATION_GONE) or (self.cleanup is not None and not self.cleanup.complete):
            return EXIT_CONTRACT
        if pytest_status == EXIT_NO_TESTS:
            return EXIT_NO_TESTS
        if pytest_status not in (EXIT_OK, EXIT_CONTRACT):
            return pytest_status
        return EXIT_CONTRACT if pytest_status == EXIT_CONTRACT else EXIT_OK

    def verdict(self, read_only: bool) -> str:
        """One line for the top of the report and the terminal."""
        violations = self.of(VIOLATION)
        if self.interrupted:
            head = "INTERRUPTED"
        elif self.unavailable is not None or self.of(UNAVAILABLE):
            head = "TARGET UNAVAILABLE"
        elif self.of(SUITE_ERROR):
            head = f"SUITE ERROR ({_count(len(self.of(SUITE_ERROR)), 'test')})"
        elif violations or self.of(DEVIATION_GONE):
            rules, tests = len(self.broken_rules) + len(self.of(DEVIATION_GONE)), len(violations) + len(self.of(DEVIATION_GONE))
            head = f"CONTRACT BROKEN ({_count(rules, 'rule')}, {_count(tests, 'test')})"
        elif self.cleanup is not None and not self.cleanup.complete:
            head = "CLEANUP INCOMPLETE"
        else:
            head = "PASS"
        return f"{head}{' — READ-ONLY' if read_only else ''}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _rank(kind: str) -> int:
    return {PASSED: 0, SKIPPED: 0, XFAILED: 1, DEVIATION_GONE: 2, VIOLATION: 2, SUITE_ERROR: 3, UNAVAILABLE: 4}.get(kind, 0)


def junit_kinds(outcome: Outcome) -> dict[str, str]:
    """nodeid -> kind, for the tests whose JUnit element must be an <error>."""
    return {t.nodeid: t.kind for t in outcome.tests.values() if t.kind in (UNAVAILABLE, SUITE_ERROR)}


def describe_exit(code: int) -> str:
    return EXIT_CODES.get(code, "")
