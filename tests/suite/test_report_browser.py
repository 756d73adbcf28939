"""The HTML report as a reviewer sees it, in headless Chromium: verdict, rule rows, visible whitespace, groups, no errors, no network.

Two real suite runs against the embedded emulator: a passing one, and a failing
one with two injected faults, one that echoes the set name untrimmed (a
whitespace difference) and one that defaults bk_set_env to "2" (many identical
failures, collapsed into one group). Screenshots land in reports/ for a
reviewer of a change to look at.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .chromium_cdp import Chromium, Page, chromium, find_chromium
from .conftest import APP_SECRET, REPO, run_suite

SHOTS = REPO / "reports"
FAULTS = ("--emulator-fault", "data-name-untrimmed", "--emulator-fault", "data-env-default-2")


@pytest.fixture(scope="module")
def browser() -> Iterator[Chromium]:
    """One headless Chromium for the module; without one the tests skip, except under CI where they fail."""
    executable = find_chromium()
    if executable is None:
        reason = "no Chromium found (apt-get install chromium fonts-noto-cjk, or set CHROMIUM=/path/to/chromium)"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser test: {reason}; .ci/run installs it")
        pytest.skip(reason)
    with chromium(executable) as b:
        yield b


def _report(tmp_path_factory: pytest.TempPathFactory, name: str, *args: str, code: int) -> Path:
    out = tmp_path_factory.mktemp(name)
    res = run_suite(f"--reports-dir={out}", "--hypothesis-seed=20261201", *args)
    assert res.returncode == code, res.stdout[-3000:]
    return out / "contract-report.html"


@pytest.fixture(scope="module")
def passing(tmp_path_factory: pytest.TempPathFactory, browser: Chromium) -> tuple[Page, dict[str, Any]]:
    """The passing run's report, opened at 1280 px, with what the page shows."""
    path = _report(tmp_path_factory, "pass", code=0)
    browser.open(path.as_uri())
    seen = browser.evaluate(SEEN)
    browser.screenshot(SHOTS / "screenshot-pass.png", height=2600)
    return browser.page(), seen


@pytest.fixture(scope="module")
def failing(tmp_path_factory: pytest.TempPathFactory, browser: Chromium) -> tuple[Page, dict[str, Any]]:
    """The failing run's report, opened at 1280 px, with what the page shows."""
    path = _report(tmp_path_factory, "fail", *FAULTS, code=1)
    browser.open(path.as_uri())
    seen = browser.evaluate(SEEN)
    browser.screenshot(SHOTS / "screenshot-fail.png", height=2600)
    browser.screenshot(SHOTS / "screenshot-fail-failures.png", top=seen["failures_top"], height=3200)
    return browser.page(), seen


# What a person sees, read in the page after pytest-html's script has drawn it: innerText skips what is hidden.
SEEN = r"""
(() => {
  const text = (e) => e ? e.innerText.trim() : null;
  const row = (id) => {
    const tr = document.getElementById("rule-" + id);
    return tr ? [...tr.cells].map((c) => c.innerText.trim()) : null;
  };
  const link = (id) => {
    const a = document.getElementById("rule-" + id)?.querySelector("a[href^='#fail-']");
    return a ? {href: a.getAttribute("href"), target: !!document.getElementById(a.getAttribute("href").slice(1))} : null;
  };
  const groups = [...document.querySelectorAll(".group[data-count]")].map((g) => ({
    id: g.id, count: text(g.querySelector(".count")), listed: g.querySelectorAll(".tests li").length,
    rule: g.closest("section")?.id, expected: text(g.querySelector("pre.expected")), received: text(g.querySelector("pre.received")),
    subject: text(g.querySelector("h4 code")),
  }));
  return {
    body: document.body.innerText, verdict: text(document.getElementById("ct-verdict")),
    rules: {held: row("envelope.http-200"), echoed: row("data.echoed-as-stored"), defaulted: row("data.default-applied")},
    links: {echoed: link("data.echoed-as-stored"), defaulted: link("data.default-applied")},
    groups, failedRows: document.querySelectorAll("#results-table tbody.failed").length,
    scrollWidth: document.documentElement.scrollWidth,
    failures_top: document.getElementById("ct-failures").getBoundingClientRect().top + window.scrollY,
  };
})()
"""
# The rules table's columns, as rendered.
STATE, PASSED, FAILED, TESTS = 1, 3, 4, 5  # rule, state (and first-failure link), says, passed, failed, tests


def test_passing_report_opens_with_the_verdict_and_the_run(passing: tuple[Page, dict[str, Any]]) -> None:
    """The passing report shows PASS before anything else, then the run facts; pytest-html's Environment block is hidden."""
    _, seen = passing
    assert seen["verdict"] == "PASS"
    body = seen["body"]
    assert body.index("PASS") < body.index("Target") < body.index("Requests sent") < body.index("Rules")
    assert "Environment" not in body
    for fact in ("Target", "CMDB version", "Hypothesis profile", "Seed", "20261201", "Writes", "Concurrency", "Cleanup", "Duration"):
        assert fact in body, fact
    assert "Platform" not in body and "Packages" not in body


def test_passing_report_shows_a_held_rule_with_its_counts(passing: tuple[Page, dict[str, Any]]) -> None:
    """The row of envelope.http-200 reads 'held' with a positive count of passed checks and none failed."""
    row = passing[1]["rules"]["held"]
    assert row is not None and row[STATE] == "held"
    assert int(row[PASSED]) > 0 and row[FAILED] == "0" and row[TESTS] == "0"


def test_failing_report_names_the_verdict_and_the_broken_rules(failing: tuple[Page, dict[str, Any]]) -> None:
    """The failing report opens with CONTRACT BROKEN (2 rules, n tests) and both rule rows read BROKEN with their counts."""
    seen = failing[1]
    assert seen["verdict"].startswith("CONTRACT BROKEN (2 rules, ")
    for name in ("echoed", "defaulted"):
        row = seen["rules"][name]
        assert row is not None and row[STATE].splitlines()[0] == "BROKEN", row
        assert int(row[FAILED]) > 0 and int(row[TESTS]) > 0
        assert seen["links"][name]["target"], f"the first-failure link of {name} points nowhere"
    # A test can break both rules: the verdict counts tests, the rows count tests per rule.
    per_rule = int(seen["rules"]["echoed"][TESTS]) + int(seen["rules"]["defaulted"][TESTS])
    assert seen["verdict"] == f"CONTRACT BROKEN (2 rules, {seen['failedRows']} tests)"
    assert max(int(seen["rules"]["echoed"][TESTS]), int(seen["rules"]["defaulted"][TESTS])) <= seen["failedRows"] <= per_rule


def test_failing_report_shows_the_untrimmed_name_with_its_spaces(failing: tuple[Page, dict[str, Any]]) -> None:
    """For the untrimmed name, expected and received differ visibly: the received value's spaces show as ␣."""
    groups = [g for g in failing[1]["groups"] if g["rule"] == "failures-data.echoed-as-stored" and g["subject"] == "bk_set_name"]
    padded = [g for g in groups if g["received"].startswith('"␣')]
    assert padded, groups
    g = padded[0]
    assert g["expected"].startswith('"ct') and "␣" not in g["expected"]
    assert g["received"].replace("␣", "") == g["expected"]


def test_failing_report_collapses_identical_failures_with_a_count(failing: tuple[Page, dict[str, Any]]) -> None:
    """The identical bk_set_env failures are one group whose visible count matches the test ids it lists."""
    groups = [g for g in failing[1]["groups"] if g["rule"] == "failures-data.default-applied"]
    assert len(groups) == 1, groups
    g = groups[0]
    n = int(g["count"].removeprefix("× "))
    assert n > 1 and g["listed"] == n
    assert g["expected"] == '"3"' and g["received"] == '"2"'


@pytest.mark.parametrize("which", ["passing", "failing"])
def test_report_makes_no_console_error_and_no_network_request(which: str, request: pytest.FixtureRequest) -> None:
    """Opening the report logs no console error and requests nothing but the file itself (no network, no external asset)."""
    page, _ = request.getfixturevalue(which)
    assert page.console_errors == []
    assert page.requests and all(url.startswith(("file://", "data:", "about:")) for url in page.requests), page.requests


@pytest.mark.parametrize("which", ["passing", "failing"])
def test_report_fits_1280_pixels(which: str, request: pytest.FixtureRequest) -> None:
    """At 1280 px nothing scrolls sideways: long lines (curl, replay, names) wrap."""
    assert request.getfixturevalue(which)[1]["scrollWidth"] <= 1280


def test_report_carries_no_secret(failing: tuple[Page, dict[str, Any]]) -> None:
    """What the failing page shows holds no app secret (the curl line names the variable instead)."""
    assert APP_SECRET not in failing[1]["body"]
