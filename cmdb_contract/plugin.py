"""The pytest plugin of the contract suite: hooks and fixtures only.

Loaded by the root ``conftest.py``. It acts only on a *contract run* (a run
that collects ``contract_tests/``): it builds the run's configuration and the
``Run`` (``run``) in ``pytest_configure``, enters it at session start and
leaves it at session finish (drain, cleanup, verification), pipelines the
scenario tests (``pipeline``), classifies every outcome (``outcomes``) and
hands pytest-html and JUnit what ``report`` renders. The options are in
``options``, cleanup in ``cleanup``.
"""

from __future__ import annotations

import functools
import os
import signal
import threading
import xml.etree.ElementTree as ET
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from . import regression_plugin, report
from .cleanup import sweep
from .client import Target
from .credentials import Credentials
from .harness import Harness, Recorder, recording
from .options import EXIT_UNAVAILABLE, add_options, build_config
from .oracles import BREAKS, show
from .outcomes import (
    DEVIATION_GONE,
    SUITE_ERROR,
    UNAVAILABLE,
    VIOLATION,
    XFAILED,
    TestOutcome,
    classify,
    junit_kinds,
    unavailable_in,
    violations_in,
)
from .run import Run, RunError
from .spec import Spec, load_spec
from .strategies import GenContext

ROOT = Path(__file__).resolve().parent.parent
CONTRACT_DIR = ROOT / "contract_tests"
RUN = pytest.StashKey[Run]()
RECORDER = pytest.StashKey[Recorder]()
# nodeid -> the evidence of a failed test, for the report's summary (grouped failures).
EVIDENCE = pytest.StashKey[dict[str, "report.FailedTest"]]()
# The report attribute holding a test's log text for pytest-html's log area.
LOG_ATTR = "contract_log"
# The terminal shows this many cleanup lines; the rest are in the report and the ledger.
CLEANUP_LINES = 8
# Session values a pipelined test may take as arguments (anything else runs in pytest's thread).
_PIPELINE_ARGS = frozenset({"harness", "ctx", "run", "template_id", "denied_user"})


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def _is_contract_run(config: pytest.Config) -> bool:
    for arg in config.args:
        path = Path(arg.split("::", 1)[0])
        path = path if path.is_absolute() else Path(config.invocation_params.dir) / path
        resolved = path.resolve()
        if resolved == CONTRACT_DIR or CONTRACT_DIR in resolved.parents:
            return True
    return False


def _run(config: pytest.Config) -> Run | None:
    return config.stash.get(RUN, None)


def run_spec(config: pytest.Config) -> Spec:
    """The run's spec (its set model included) for a test module's pytest_generate_tests; the static spec outside a run.

    The run reads the model at session start, which pytest runs before collection.
    """
    run = _run(config)
    return run.spec if run is not None else load_spec()


# -- --cleanup-only: no session, just the sweep ---------------------------------------------------


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> int | None:
    if not config.option.cleanup_only or not _is_contract_run(config):
        return None
    cfg = build_config(config)
    creds = Credentials.from_env(os.environ)
    missing = creds.missing()
    if missing:
        raise pytest.UsageError(f"missing {missing}: --cleanup-only searches and deletes with your credentials, e.g. "
                                "export BK_APP_CODE=... BK_APP_SECRET=... BK_USERNAME=...")
    assert cfg.target_url is not None
    target = Target(cfg.target_url, creds, timeout=cfg.request_timeout, rate_limit=cfg.rate_limit, concurrency=cfg.concurrency)
    try:
        result = sweep(target, cfg.reports_dir, cfg.supplier)
    finally:
        target.close()
    for line in result.lines():
        print(creds.redact(line))
    if not result.swept and not result.skipped:
        print(f"(no leftover ledger under {cfg.reports_dir})")
    if result.error:
        return EXIT_UNAVAILABLE
    return 0 if result.complete else 1


# -- configuration and the run's lifetime ---------------------------------------------------------


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    if not _is_contract_run(config):
        return
    cfg = build_config(config)
    try:
        run = Run(cfg, os.environ)
    except RunError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[RUN] = run
    # Regression (issue 13): baselines and differential runs hook in through their own plugin object.
    try:
        regression_plugin.register(config, run)
    except RunError as exc:
        raise pytest.UsageError(str(exc)) from None
    from hypothesis import settings

    settings.load_profile(cfg.profile)
    config.option.hypothesis_seed = str(cfg.seed)
    opt = config.option
    if getattr(opt, "htmlpath", None) is None and config.pluginmanager.hasplugin("html"):
        opt.htmlpath = str(cfg.reports_dir / "contract-report.html")
    if getattr(opt, "htmlpath", None):
        opt.self_contained_html = True
    if not getattr(opt, "xmlpath", None):
        opt.xmlpath = str(cfg.reports_dir / "contract-junit.xml")
    if getattr(opt, "tbstyle", "auto") == "auto":
        opt.tbstyle = "short"  # the violation text is the story; long frames only repeat it
    if threading.current_thread() is threading.main_thread():
        # SIGTERM (what CI sends on cancel or timeout) ends the run like Ctrl-C: drained, reported, cleaned up.
        signal.signal(signal.SIGTERM, _sigterm)
        # A run started in the background of a non-interactive shell inherits SIGINT ignored; it still stops on it.
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt("SIGTERM")


def pytest_sessionstart(session: pytest.Session) -> None:
    run = _run(session.config)
    if run is None:
        return
    try:
        run.__enter__()
    except RunError as exc:
        raise pytest.UsageError(str(exc)) from None
    _describe_environment(session.config, run)
    if run.outcome.unavailable is not None:
        session.shouldstop = f"target unavailable: {run.redact(run.outcome.unavailable.reason)}"


def _describe_environment(config: pytest.Config, run: Run) -> None:
    """pytest-html's environment table shows the run, not Python/Platform/pluggy."""
    try:
        from pytest_metadata.plugin import metadata_key  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - pytest-html depends on it
        return
    metadata = config.stash.get(metadata_key, None)
    if metadata is not None:
        metadata.clear()
        metadata.update({k.replace("_", " "): str(v) for k, v in run.describe().items()})


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    run = _run(session.config)
    if run is None:
        return
    if exitstatus == 2 and not session.shouldstop:
        # A real Ctrl-C or SIGTERM (pytest's own stop after an unavailable target sets shouldstop).
        run.outcome.interrupted = True
    run.__exit__(None, None, None)
    session.exitstatus = run.outcome.exit_code(int(session.exitstatus))


def pytest_unconfigure(config: pytest.Config) -> None:
    run = _run(config)
    if run is None:
        return
    xml = getattr(config.option, "xmlpath", None)
    if xml:
        _junit_errors(Path(xml), junit_kinds(run.outcome))


def _junit_errors(path: Path, kinds: dict[str, str]) -> None:
    """In the JUnit XML, 'target unavailable' and suite errors are <error>, a broken contract a <failure>."""
    if not kinds or not path.exists():
        return
    tree = ET.parse(path)
    names = {_junit_name(nodeid) for nodeid in kinds}
    changed = 0
    for case in tree.getroot().iter("testcase"):
        if (case.get("classname"), case.get("name")) not in names:
            continue
        for node in case.findall("failure"):
            node.tag = "error"
            changed += 1
    if not changed:
        return
    for suite in tree.getroot().iter("testsuite"):
        suite.set("failures", str(max(0, int(suite.get("failures", "0")) - changed)))
        suite.set("errors", str(int(suite.get("errors", "0")) + changed))
    tree.write(path, encoding="utf-8", xml_declaration=True)


def _junit_name(nodeid: str) -> tuple[str, str]:
    path, _, name = nodeid.partition("::")
    names = name.split("::")
    classname = ".".join([path.replace("/", ".").removesuffix(".py"), *names[:-1]])
    return classname, names[-1]


# -- collection and running ------------------------------------------------------------------------


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    run = _run(config)
    if run is None:
        return
    if run.read_only:
        skip = pytest.mark.skip(reason=f"read-only run: pass --allow-writes to create (and then delete) sets on {run.url or 'the target'}")
        for item in items:
            if item.get_closest_marker("writes"):
                item.add_marker(skip)
    # Cheap deterministic checks first, so a run stopped at its first failure stops early.
    order = {"test_invalid": 0, "test_valid": 1, "test_state": 2, "test_deviations": 3}
    items.sort(key=lambda it: order.get(Path(str(it.fspath)).stem, 4))


def _session_value(run: Run, name: str) -> tuple[bool, Any]:
    h = run.harness
    if name == "harness":
        return True, h
    if name == "ctx":
        return True, h.ctx if h is not None else None
    if name == "run":
        return True, run
    if name == "template_id":
        ids = run.config.template_ids
        return bool(ids), ids[0] if ids else None
    if name == "denied_user":
        user = run.config.denied_user
        return bool(user), user
    return False, None


def pytest_collection_finish(session: pytest.Session) -> None:
    run = _run(session.config)
    if run is None or run.pipeline is None or run.outcome.unavailable is not None:
        return
    for item in session.items:
        if (not isinstance(item, pytest.Function) or item.get_closest_marker("skip") or item.get_closest_marker("serial")
                or getattr(item.obj, "is_hypothesis_test", False)):
            continue
        callspec = getattr(item, "callspec", None)
        params = dict(callspec.params) if callspec is not None else {}
        kwargs: dict[str, Any] = {}
        ok = True
        for name in item._fixtureinfo.argnames:
            if name in params:
                kwargs[name] = params[name]
                continue
            known, value = _session_value(run, name) if name in _PIPELINE_ARGS else (False, None)
            if not known:
                ok = False
                break
            kwargs[name] = value
        if ok:
            run.pipeline.submit(item.nodeid, functools.partial(item.obj, **kwargs))


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    run = _run(pyfuncitem.config)
    if run is not None and run.pipeline is not None and pyfuncitem.get_closest_marker("serial"):
        run.pipeline.wait_idle()  # a serial scenario runs with nothing else in flight
    future = run.pipeline.future(pyfuncitem.nodeid) if run is not None and run.pipeline is not None else None
    if future is None:
        return None
    if future.cancelled():
        raise KeyboardInterrupt("the run stopped before this test started")
    error = future.exception()
    if error is not None:
        raise error
    return True


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    if _run(item.config) is None:
        return (yield)
    recorder = item.stash.setdefault(RECORDER, Recorder())
    with recording(recorder):
        return (yield)


# -- fixtures ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def run(request: pytest.FixtureRequest) -> Run:
    """The contract run (configuration, target, outcome); no credential is reachable from it in a repr."""
    value = _run(request.config)
    if value is None:
        pytest.skip("contract fixtures only exist in a contract run (python -m pytest contract_tests)")
    return value


@pytest.fixture(scope="session")
def harness(run: Run) -> Harness:
    """The harness bound to the configured target (no credentials inside)."""
    assert run.harness is not None
    return run.harness


@pytest.fixture(scope="session")
def ctx(harness: Harness) -> GenContext:
    return harness.ctx


@pytest.fixture(scope="session")
def template_id(run: Run) -> int:
    ids = run.config.template_ids
    if not ids:
        pytest.skip("no set template on this target: pass --set-template-id to test creation from a template")
    return ids[0]


@pytest.fixture(scope="session")
def denied_user(run: Run) -> str:
    user = run.config.denied_user
    if not user:
        pytest.skip("no user known to lack permission: pass --denied-username to check 9900403")
    return user


# -- outcomes and the report ------------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    rep = yield
    run = _run(item.config)
    if run is None:
        return rep
    exc = call.excinfo.value if call.excinfo is not None else None
    if rep.when != "call" and not rep.failed:
        return _scrub(rep, run)
    kind = classify(exc, rep.outcome, xfail=hasattr(rep, "wasxfail"))
    test = run.outcome.record(item.nodeid, kind, exc)
    if kind == UNAVAILABLE:
        err = unavailable_in(exc)
        assert err is not None
        item.session.shouldstop = f"target unavailable: {run.redact(err.reason)}"
        rep.longrepr = f"TARGET UNAVAILABLE (not a contract violation): {run.redact(err.reason)}"
    elif kind == VIOLATION:
        # A few lines per broken rule: why it exists, its sources and the exchange are in the
        # HTML report, once per rule, and the terminal summary names each rule's source once.
        # Hypothesis' notes (the falsifying example, the name actually sent) say how to reproduce it.
        rep.longrepr = "\n\n".join([*(_compact(v) for v in test.violations), *_notes(exc, test.violations)])
    if kind == XFAILED:
        found = violations_in(exc)
        lead = f"strict expected failure ({getattr(rep, 'wasxfail', '') or 'xfail'}): the server still does what the registry says"
        setattr(rep, LOG_ATTR, run.redact(report.log_text(found, [], lead)))
    if rep.failed:
        replay = run.config.replay(item.nodeid)
        # JUnit writes the item's properties (the report's own list is a copy).
        props = [*(("rule", r) for r in test.rules), ("outcome", kind), ("replay", replay)]
        item.user_properties += props
        rep.user_properties += props
        _attach_extras(item, rep, run, test, replay, kind, exc)
    return _scrub(rep, run)


def _notes(exc: BaseException | None, violations: list[Any]) -> list[str]:
    own = {n for v in violations for n in getattr(v, "__notes__", ())}
    return [n for n in getattr(exc, "__notes__", ()) if n not in own] + [n for v in violations for n in getattr(v, "__notes__", ())]


def _compact(v: Any) -> str:
    """A violation in a few lines: headline and rule, detail, expected, received (values shortened)."""
    lines = [f"Contract broken: {v.headline} [{v.rule_id}]", *([v.detail] if v.detail else []),
             f"Expected: {show(v.expected, 300)}", f"Received: {show(v.received, 300)}",
             f"Breaks: {BREAKS.get(v.breaks, v.breaks)}; why the rule exists and its sources: the report's rules table"]
    return "\n".join(lines)


def _scrub(rep: pytest.TestReport, run: Run) -> pytest.TestReport:
    # Second net: nothing pytest prints or stores may carry a secret.
    if isinstance(rep.longrepr, tuple):  # a skip: (path, line, reason)
        path, line, reason = rep.longrepr
        rep.longrepr = (run.redact(path), line, run.redact(reason))
    elif rep.longrepr is not None:
        text = str(rep.longrepr)
        if run.redact(text) != text:  # keep pytest's structured repr unless it carries a secret
            rep.longrepr = run.redact(text)
    rep.sections = [(title, run.redact(text)) for title, text in rep.sections]
    return rep


def _attach_extras(item: pytest.Item, rep: pytest.TestReport, run: Run, test: TestOutcome, replay: str, kind: str,
                   exc: BaseException | None) -> None:
    """Keep the failed test's evidence for the summary, and give its results-table row a pointer and a short log."""
    recorder = (run.pipeline.recorder(item.nodeid) if run.pipeline is not None else None) or item.stash.get(RECORDER, None)
    exchanges = recorder.exchanges if recorder is not None else []
    err = unavailable_in(exc) if kind == UNAVAILABLE else None
    if err is not None and err.exchange is not None:
        exchanges = [err.exchange, *[e for e in exchanges if e is not err.exchange]]
    if err is not None:
        reason = run.redact(err.reason)
    elif kind == SUITE_ERROR and exc is not None:
        reason = run.redact(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")[:500]
    elif kind == DEVIATION_GONE:
        reason = "the strict expected failure passed: the server no longer shows the known deviation"
    else:
        reason = ""
    failed = report.FailedTest(item.nodeid, kind, tuple(test.violations), tuple(exchanges[-4:]), replay, reason)
    item.config.stash.setdefault(EVIDENCE, {})[item.nodeid] = failed
    if kind in (VIOLATION, UNAVAILABLE, DEVIATION_GONE):
        # The log area shows our few lines; a suite error keeps pytest's traceback there.
        lead = f"TARGET UNAVAILABLE (not a contract violation): {reason}" if kind == UNAVAILABLE else reason
        setattr(rep, LOG_ATTR, run.redact(report.log_text(test.violations, _notes(exc, test.violations), lead)))
    try:
        from pytest_html import extras
    except ImportError:  # pragma: no cover - pytest-html is a dependency
        return
    # pytest-html reads the extras attribute it documents for this hook.
    setattr(rep, "extras", [*getattr(rep, "extras", []), extras.html(run.redact(report.row_extras_html(failed)))])  # noqa: B010


def pytest_html_results_table_html(report: pytest.TestReport, data: list[str]) -> None:
    """A contract failure's log area shows the suite's few lines instead of repeating the evidence."""
    text = getattr(report, LOG_ATTR, None)
    if text is not None and report.when == "call":
        data[:] = [text]


def pytest_html_report_title(report: Any) -> None:
    report.title = "create_set contract report"


def pytest_html_results_summary(prefix: list[str], summary: list[str], postfix: list[str], session: pytest.Session) -> None:
    run = _run(session.config)
    if run is None:
        return
    cleanup = run.outcome.cleanup
    notes = run.notes
    if run.outcome.unavailable is not None:
        notes.insert(0, f"Target unavailable: {run.outcome.unavailable.reason}")
    evidence = session.config.stash.get(EVIDENCE, {})
    failed = [evidence[n] for n in run.outcome.tests if n in evidence]
    view = report.ReportView(
        facts=run.describe(), verdict=run.outcome.verdict(run.read_only), outcome=run.outcome,
        counts=run.harness.counts if run.harness is not None else None,
        coverage=run.harness.coverage if run.harness is not None else None, failed=failed,
        cleanup=cleanup.summary() if cleanup is not None else "", cleanup_lines=cleanup.lines() if cleanup is not None else (),
        duration=run.duration, requests=run.requests_sent, notes=notes, spec=run.spec)
    parts = report.summary_parts(view)
    # Regression (issue 13): the differences section, rendered by diffreport ('' when nothing was compared).
    differences = regression_plugin.report_section(session.config)
    if differences:
        parts.insert(1, differences)
    prefix.extend(run.redact(p) for p in parts)


def pytest_report_header(config: pytest.Config) -> list[str]:
    run = _run(config)
    if run is None:
        return []
    c = run.config
    target = "embedded emulator (started on a free port)" if c.embedded else c.target_url
    return [f"create_set contract: target={target} cmdb-version={c.cmdb_version} error-codes={c.error_codes} "
            f"profile={c.profile} seed={c.seed} concurrency={c.concurrency} writes={'yes' if c.allow_writes else 'no (read-only)'}"]


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """The verdict and the rules table in a few lines: each broken rule once, with its source; then cleanup and replay."""
    run = _run(config)
    if run is None:
        return
    tr = terminalreporter
    verdict = run.outcome.verdict(run.read_only)
    tr.write_sep("=", f"create_set contract: {verdict}", red=not verdict.startswith("PASS"), green=verdict.startswith("PASS"))
    if run.outcome.unavailable is not None:
        tr.write_line(f"TARGET UNAVAILABLE: {run.redact(run.outcome.unavailable.reason)} (exit code {EXIT_UNAVAILABLE})", red=True)
    for line in report.terminal_rules(run.harness.counts if run.harness is not None else None, run.outcome):
        tr.write_line(run.redact(line), red=line.startswith("  BROKEN"))
    for test in run.outcome.of(SUITE_ERROR):
        tr.write_line(f"  suite error in {test.nodeid}", red=True)
    if run.outcome.cleanup is not None:
        lines = run.outcome.cleanup.lines()
        for line in lines[:CLEANUP_LINES]:
            tr.write_line(run.redact(line))
        if len(lines) > CLEANUP_LINES:
            tr.write_line(f"  … {len(lines) - CLEANUP_LINES} more cleanup line(s) in the HTML report's run table and the ledger")
    tr.write_line(f"requests sent: {run.requests_sent}; report: {config.option.htmlpath or '(no html)'}")
    for test in run.outcome.tests.values():
        if test.kind in (VIOLATION, UNAVAILABLE, SUITE_ERROR):
            tr.write_line(f"  replay {test.nodeid}: {run.config.replay(test.nodeid)}")
            break
