"""The regression hooks (issue 13): record a baseline, replay one, compare two targets.

Boundary: pytest hooks and the one fixture the regression tests take; the
work is in ``regression``, the HTML section in ``diffreport``. ``plugin``
registers this module for every contract run (it does nothing
when no regression option is given, beyond leaving the regression tests out).
Hook order matters and is stated where it does: B starts after A is entered
and stops after A is cleaned up, and both happen before pytest-html writes
the report.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from .options import EXIT_CONTRACT, EXIT_OK
from .regression import Regression
from .run import Run, RunError

STATE = pytest.StashKey[tuple[Regression, Run]]()
MODULE = "test_regression.py"


def register(config: pytest.Config, run: Run) -> None:
    """Build the run's regression (RunError on a bad baseline or B's missing credentials) and register these hooks."""
    config.stash[STATE] = (Regression(run.config, os.environ), run)
    config.pluginmanager.register(sys.modules[__name__], "cmdb-contract-regression")


def _state(config: pytest.Config) -> tuple[Regression, Run] | None:
    return config.stash.get(STATE, None)


def report_section(config: pytest.Config) -> str:
    """The HTML differences section ('' when the run compared nothing)."""
    from .diffreport import section

    state = _state(config)
    if state is None or state[0].comparison is None:
        return ""
    return state[0].redact(section(state[0]))


@pytest.hookimpl(trylast=True)  # after plugin's: A is entered and probed, so its probe is not recorded
def pytest_sessionstart(session: pytest.Session) -> None:
    state = _state(session.config)
    if state is None:
        return
    regression, run = state
    try:
        regression.start(run)
    except RunError as exc:  # B's emulator did not start: a usage error, like A's
        # pytest skips sessionfinish when sessionstart fails: stop A (its emulator) here.
        run.__exit__(None, None, None)
        raise pytest.UsageError(run.redact(regression.redact(str(exc)))) from None
    err = run.outcome.unavailable
    if err is not None and not session.shouldstop:
        session.shouldstop = f"target unavailable: {run.redact(regression.redact(err.reason))}"


@pytest.hookimpl(trylast=True)  # after plugin's ordering; the pipeline only sees what is kept
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    state = _state(config)
    if state is None:
        return
    options = state[0].options
    ours = [Path(str(it.fspath)).name == MODULE for it in items]
    if not options.compares:
        keep = [not o for o in ours]  # nothing to compare: the regression tests are not this run's
    elif options.baseline is not None:
        keep = ours  # a replay sends exactly the baseline's requests, nothing generated
    else:
        keep = [True] * len(items)
    dropped = [it for it, k in zip(items, keep, strict=True) if not k]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [it for it, k in zip(items, keep, strict=True) if k]


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session) -> Generator[None, object, object]:
    try:
        return (yield)
    finally:
        state = _state(session.config)
        if state is not None:
            state[0].tests_done()


# Normal priority: after plugin's tryfirst sessionfinish (A drained and cleaned up, exit code set),
# before pytest-html's trylast one (which renders the report, B's cleanup line included).
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = _state(session.config)
    if state is None:
        return
    regression, run = state
    regression.finish(run)
    b = regression.b
    if b is not None and b.outcome.cleanup is not None and not b.outcome.cleanup.complete and session.exitstatus == EXIT_OK:
        session.exitstatus = EXIT_CONTRACT


@pytest.hookimpl(trylast=True)  # after the contract verdict
def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = _state(config)
    if state is None:
        return
    for line in state[0].lines():
        terminalreporter.write_line(state[1].redact(line))


def pytest_report_header(config: pytest.Config) -> list[str]:
    state = _state(config)
    if state is None:
        return []
    regression = state[0]
    o = regression.options
    parts = []
    if o.baseline is not None:
        parts.append(f"replaying baseline {o.baseline}")
    if o.diff_target is not None:
        b = regression.b
        parts.append(f"diff-target={o.diff_target} diff-cmdb-version={b.config.cmdb_version if b else o.diff_version}")
    if o.record_baseline is not None:
        parts.append(f"recording baseline {o.record_baseline}")
    if o.compares:
        parts.append(f"fail-on={o.fail_on}")
    return [f"create_set regression: {' '.join(parts)}"] if parts else []


@pytest.fixture(scope="session")
def regression(request: pytest.FixtureRequest) -> Regression:
    """The run's regression with its comparison done: the reference replayed against the target(s)."""
    state = _state(request.config)
    if state is None:
        pytest.skip("regression fixtures only exist in a contract run")
    state[0].compare(state[1])
    return state[0]
