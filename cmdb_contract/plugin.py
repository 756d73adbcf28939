"""The pytest plugin of the contract suite: options, target, fixtures, report.

Loaded by the root ``conftest.py``. It only acts on a *contract run* (a run
that collects ``contract_tests/``): it then configures the target (a real
CMDB, or the emulator it starts), the Hypothesis profile, the HTML report and
JUnit XML under ``reports/``, the ledger of created sets and the cleanup.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings

from .client import (
    ENV_APP_CODE,
    ENV_APP_SECRET,
    ENV_USERNAME,
    Exchange,
    Ledger,
    Recorder,
    Target,
    TargetUnavailable,
    chunks,
    configure_credentials,
    redact,
)
from .harness import Harness
from .oracles import ContractViolation
from .spec import VERSIONS, doc_rows
from .strategies import GenContext

ROOT = Path(__file__).resolve().parent.parent
CONTRACT_DIR = ROOT / "contract_tests"
REPORTS = ROOT / "reports"
EXIT_TARGET_UNAVAILABLE = 3
EMBEDDED_APP_CODE = "cmdb-contract-suite"
DEFAULT_DENIED_USER = "contract-denied-user"

# No example database: runs against different targets must not replay each other's
# failures; the seed in the report makes a run reproducible instead. No explain
# phase: its line listing speaks of our code, not of the target.
_COMMON: dict[str, Any] = {
    "deadline": None,
    "database": None,
    "phases": [Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.differing_executors],
}
settings.register_profile("quick", max_examples=25, **_COMMON)
settings.register_profile("ci", max_examples=100, **_COMMON)
settings.register_profile("nightly", max_examples=1500, **_COMMON)
# Deterministic coverage: the same explicit examples on every run, no shrinking detours.
DETERMINISTIC = settings(derandomize=True, phases=[Phase.explicit, Phase.generate], max_examples=2)


# -- option types: bad values are a one-line usage error ---------------------------------------


def _url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(f"'{value}' is not an http(s) URL (example: https://paas.example.com)")
    return value.rstrip("/")


def _positive_int(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{value}' is not a whole number") from None
    if n <= 0:
        raise argparse.ArgumentTypeError(f"'{value}' must be a positive whole number")
    return n


def _rate(value: str) -> float:
    try:
        n = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{value}' is not a number of requests per second") from None
    if n < 0:
        raise argparse.ArgumentTypeError("the rate limit cannot be negative (0 means no limit)")
    return n


def _seconds(value: str) -> float:
    n = _rate(value)
    if n <= 0:
        raise argparse.ArgumentTypeError("the timeout must be a positive number of seconds")
    return n


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("create_set contract", "create_set contract suite (target, versions, safety)")
    group.addoption("--target-url", type=_url, default=None,
                    help="base URL of the ESB in front of CMDB (env CMDB_TARGET_URL). Default: start the emulator on a free port")
    group.addoption("--bk-biz-id", type=_positive_int, default=2, help="business to create sets in (default: 2)")
    group.addoption("--bk-parent-id", type=_positive_int, default=None, help="parent of the created sets (default: the business id)")
    group.addoption("--set-template-id", type=_positive_int, default=None,
                    help="a set template of that business; template tests skip without it on a real target (embedded emulator: 1)")
    group.addoption("--cmdb-version", choices=VERSIONS, default="3.14", help="CMDB version whose error codes to expect (default: 3.14)")
    group.addoption("--error-codes", choices=("strict", "documented"), default="strict",
                    help="strict: expect the catalogue's code per version; documented: only code > 0 (default: strict)")
    group.addoption("--bk-supplier-account", default=None, help="bk_supplier_account to send (default: not sent, the server uses \"0\")")
    group.addoption("--allow-writes", action="store_true", default=False,
                    help="allow creating (and then deleting) sets on a target other than the embedded emulator")
    group.addoption("--rate-limit", type=_rate, default=0.0, help="at most N requests per second (default: 0, no limit)")
    group.addoption("--request-timeout", type=_seconds, default=15.0, help="seconds to wait for one answer (default: 15)")
    group.addoption("--denied-username", default=None,
                    help="a user known to lack create permission, to check 9900403 (embedded emulator: seeded automatically)")
    group.addoption("--cleanup-only", action="store_true", default=False,
                    help="run no test: delete the sets recorded in leftover ledgers under reports/ and exit")
    group.addoption("--reports-dir", default=None, metavar="DIR",
                    help="where the HTML report, JUnit XML and ledger go (default: reports/)")
    group.addoption("--emulator-fault", action="append", default=[], metavar="NAME",
                    help="start the embedded emulator with this injected fault (mutation self-test)")


# -- the run's configuration, kept in config.stash ------------------------------------------------


@dataclass
class RunState:
    embedded: bool
    url: str = ""
    version: str = "3.14"
    error_codes: str = "strict"
    profile: str = "quick"
    seed: int = 0
    allow_writes: bool = False
    denied_user: str | None = None
    run_id: str = field(default_factory=lambda: secrets.token_hex(3))
    reports: Path = REPORTS
    process: subprocess.Popen[str] | None = None
    target: Target | None = None
    harness: Harness | None = None
    unavailable: TargetUnavailable | None = None
    cleanup_note: str = ""
    started: float = field(default_factory=time.time)
    violations: Counter[str] = field(default_factory=Counter)


STATE = pytest.StashKey[RunState]()
_CURRENT: list[RunState] = []


def current_context() -> GenContext:
    """The generation context of the running contract session (for module-level strategies)."""
    if not _CURRENT or _CURRENT[-1].harness is None:
        raise RuntimeError("no contract session is running: run python -m pytest contract_tests")
    return _CURRENT[-1].harness.ctx


def _is_contract_run(config: pytest.Config) -> bool:
    for arg in config.args:
        path = Path(arg.split("::", 1)[0])
        path = path if path.is_absolute() else Path(config.invocation_params.dir) / path
        try:
            path.resolve().relative_to(CONTRACT_DIR)
            return True
        except ValueError:
            if path.resolve() == CONTRACT_DIR:
                return True
    return False


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    if not _is_contract_run(config):
        return
    opt = config.option
    url = opt.target_url or os.environ.get("CMDB_TARGET_URL") or None
    if url:
        url = _checked_env_url(url)
    state = RunState(embedded=url is None, url=url or "", version=opt.cmdb_version, error_codes=opt.error_codes)
    if opt.cleanup_only and state.embedded:
        raise pytest.UsageError("--cleanup-only needs --target-url (or CMDB_TARGET_URL): the embedded emulator keeps nothing")
    if opt.emulator_fault and not state.embedded:
        raise pytest.UsageError("--emulator-fault only applies to the embedded emulator; drop --target-url")
    if state.embedded:
        env = dict(os.environ)
        env.setdefault(ENV_APP_CODE, EMBEDDED_APP_CODE)
        env.setdefault(ENV_APP_SECRET, secrets.token_hex(16))
        if not env.get(ENV_USERNAME) and not env.get("BK_TOKEN"):
            env[ENV_USERNAME] = "admin"
        configure_credentials(env)
        state.allow_writes = True
        state.denied_user = opt.denied_username or DEFAULT_DENIED_USER
        config.stash[_EMU_ENV] = {ENV_APP_CODE: env[ENV_APP_CODE], ENV_APP_SECRET: env[ENV_APP_SECRET]}
    else:
        missing = configure_credentials()
        if missing:
            raise pytest.UsageError(
                f"missing {', '.join(missing)}: credentials come only from the environment, e.g. "
                f"export BK_APP_CODE=... BK_APP_SECRET=... BK_USERNAME=..."
            )
        state.allow_writes = bool(opt.allow_writes)
        state.denied_user = opt.denied_username
    # Profile and seed: a run is reproducible from the seed the report shows.
    profile = opt.hypothesis_profile if getattr(opt, "hypothesis_profile", None) else ("ci" if os.environ.get("CI") else "quick")
    if not getattr(opt, "hypothesis_profile", None):
        settings.load_profile(profile)
    state.profile = profile
    if getattr(opt, "hypothesis_seed", None) is None:
        opt.hypothesis_seed = str(secrets.randbelow(2**31))
    state.seed = int(opt.hypothesis_seed)
    # Reports: self-contained HTML and JUnit XML under reports/ unless told otherwise.
    state.reports = Path(opt.reports_dir).resolve() if opt.reports_dir else REPORTS
    try:
        state.reports.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise pytest.UsageError(f"--reports-dir {opt.reports_dir}: cannot create it ({exc.strerror})") from None
    if getattr(opt, "htmlpath", None) is None and config.pluginmanager.hasplugin("html"):
        opt.htmlpath = str(state.reports / "contract-report.html")
    if getattr(opt, "htmlpath", None):
        opt.self_contained_html = True
    if not getattr(opt, "xmlpath", None):
        opt.xmlpath = str(state.reports / "contract-junit.xml")
    if getattr(opt, "tbstyle", "auto") == "auto":
        opt.tbstyle = "short"  # the violation text is the story; long frames only repeat it
    config.stash[STATE] = state


def _checked_env_url(url: str) -> str:
    try:
        return _url(url)
    except argparse.ArgumentTypeError as exc:
        raise pytest.UsageError(f"CMDB_TARGET_URL: {exc}") from None


_EMU_ENV = pytest.StashKey[dict[str, str]]()


def _start_emulator(config: pytest.Config, state: RunState, tmp: Path) -> str:
    seed_file = tmp / "emulator-seed.json"
    seed = json.loads((ROOT / "cmdb_emulator" / "default_seed.json").read_text(encoding="utf-8"))
    seed["users_without_permission"] = sorted({*seed.get("users_without_permission", []), state.denied_user or DEFAULT_DENIED_USER})
    seed_file.write_text(json.dumps(seed, ensure_ascii=False), encoding="utf-8")
    cmd = [sys.executable, "-m", "cmdb_emulator", "--host", "127.0.0.1", "--port", "0",
           "--cmdb-version", state.version, "--seed", str(seed_file)]
    for fault in config.option.emulator_fault:
        cmd += ["--fault", fault]
    env: dict[str, str] = {**os.environ, "PYTHONUNBUFFERED": "1"}
    emu_env: dict[str, str] = config.stash[_EMU_ENV]
    env.update(emu_env)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    state.process = proc
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on "):
        err = proc.stderr.read() if proc.stderr else ""
        proc.kill()
        raise pytest.UsageError(f"the embedded emulator did not start: {redact(line or err.strip()[-500:])}")
    return line.split("listening on ", 1)[1]


def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    if STATE not in config.stash:
        return
    state = config.stash[STATE]
    ledger = Ledger(state.reports / f"ledger-{state.run_id}.jsonl")
    if config.option.cleanup_only:
        target = Target(state.url, timeout=config.option.request_timeout, rate_limit=config.option.rate_limit)
        note = sweep_ledgers(target, state.reports)
        target.close()
        pytest.exit(note, returncode=0 if note.startswith("cleanup complete") else 1)
    if state.embedded:
        tmp = Path(tempfile.mkdtemp(prefix="cmdb-contract-"))
        state.url = _start_emulator(config, state, tmp)
    target = Target(state.url, timeout=config.option.request_timeout, rate_limit=config.option.rate_limit,
                    recorder=Recorder(), ledger=ledger)
    state.target = target
    opt = config.option
    templates: tuple[int, ...] = ()
    if opt.set_template_id:
        templates = (opt.set_template_id,)
    elif state.embedded:
        templates = (1,)
    ctx = GenContext(bk_biz_id=opt.bk_biz_id, bk_parent_id=opt.bk_parent_id or opt.bk_biz_id,
                     set_template_ids=templates, bk_supplier_account=opt.bk_supplier_account)
    state.harness = Harness(target, ctx, state.version, state.error_codes, run_id=state.run_id)
    _CURRENT.append(state)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if STATE not in config.stash:
        return
    state = config.stash[STATE]
    if not state.allow_writes:
        skip = pytest.mark.skip(reason=f"read-only run: pass --allow-writes to create (and then delete) sets on {state.url}")
        for item in items:
            if item.get_closest_marker("writes"):
                item.add_marker(skip)
    # Cheap deterministic checks first, so a run stopped at its first failure stops early.
    order = {"test_envelope": 0, "test_invalid": 1, "test_valid": 2, "test_state": 3, "test_deviations": 4}
    items.sort(key=lambda it: order.get(Path(str(it.fspath)).stem, 5))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if STATE not in config.stash:
        return
    state = config.stash[STATE]
    target = state.target
    try:
        if target is not None and target.ledger is not None and state.unavailable is None:
            state.cleanup_note = cleanup(target, target.ledger)
            if not state.cleanup_note.startswith("cleanup complete") and session.exitstatus == 0:
                session.exitstatus = 1
    finally:
        if state.harness is not None:
            state.harness.close()
        if target is not None:
            target.close()
        if state.process is not None:
            state.process.terminate()
            try:
                state.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                state.process.kill()
    if state.unavailable is not None:
        session.exitstatus = EXIT_TARGET_UNAVAILABLE


# -- cleanup -------------------------------------------------------------------------------------


def cleanup(target: Target, ledger: Ledger) -> str:
    """Delete exactly the sets in the ledger and prove through search_set that none remain."""
    target.unavailable = None
    entries = ledger.entries()
    if not entries:
        if ledger.path.exists():
            ledger.path.unlink()
        return "cleanup complete: the run created no set"
    by_biz: dict[int, list[int]] = {}
    for e in entries:
        by_biz.setdefault(int(e["bk_biz_id"]), []).append(int(e["bk_set_id"]))
    remaining: list[int] = []
    try:
        for biz, ids in by_biz.items():
            ids = sorted(set(ids))
            remaining += _delete_and_verify(target, biz, ids)
    except TargetUnavailable as exc:
        return f"cleanup incomplete: target unavailable ({exc.reason}); ledger kept at {ledger.path}"
    total = sum(len(set(v)) for v in by_biz.values())
    if remaining:
        return f"cleanup incomplete: {len(remaining)} of {total} created sets remain ({sorted(remaining)[:20]}); ledger kept at {ledger.path}"
    ledger.path.unlink()
    return f"cleanup complete: deleted and verified {total} sets"


def _ok(ex: Exchange) -> bool:
    body = ex.json
    return isinstance(body, dict) and body.get("result") is True


def _found_ids(ex: Exchange) -> set[int] | None:
    body = ex.json
    data = body.get("data") if isinstance(body, dict) and body.get("result") is True else None
    info = data.get("info") if isinstance(data, dict) else None
    if not isinstance(info, list):
        return None
    return {int(d["bk_set_id"]) for d in info if isinstance(d, dict) and str(d.get("bk_set_id", "")).isdigit()}


def _delete_and_verify(target: Target, biz: int, ids: list[int]) -> list[int]:
    """Delete ``ids`` (batch where the target supports it) and return those still found."""
    for part in chunks(ids, 100):
        if not _ok(target.batch_delete_sets(biz, part)):
            for set_id in part:
                target.delete_set(biz, set_id)
    remaining: list[int] = []
    for part in chunks(ids, 100):
        found = _found_ids(target.search_sets(biz, {"bk_set_id": {"$in": part}}))
        if found is None:  # no $in support: ask one id at a time
            for set_id in part:
                one = _found_ids(target.search_sets(biz, {"bk_set_id": set_id}))
                if one is None or set_id in one:
                    remaining.append(set_id)
        else:
            # Intersect: a target that ignores the condition returns other sets too.
            remaining += sorted(found & set(part))
    return remaining


def sweep_ledgers(target: Target, folder: Path) -> str:
    """Clean up every ledger an interrupted run left behind."""
    ledgers = sorted(folder.glob("ledger-*.jsonl"))
    if not ledgers:
        return "cleanup complete: no leftover ledger under reports/"
    notes = [cleanup(target, Ledger(p)) for p in ledgers]
    bad = [n for n in notes if not n.startswith("cleanup complete")]
    return "; ".join(bad) if bad else f"cleanup complete: swept {len(ledgers)} ledger(s)"


# -- fixtures ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def run_state(request: pytest.FixtureRequest) -> RunState:
    if STATE not in request.config.stash:
        pytest.skip("contract fixtures only exist in a contract run (python -m pytest contract_tests)")
    return request.config.stash[STATE]


@pytest.fixture(scope="session")
def harness(run_state: RunState) -> Harness:
    """The harness bound to the configured target (no credentials inside)."""
    assert run_state.harness is not None
    return run_state.harness


@pytest.fixture(scope="session")
def ctx(harness: Harness) -> GenContext:
    return harness.ctx


@pytest.fixture(scope="session")
def template_id(run_state: RunState, ctx: GenContext) -> int:
    if not ctx.set_template_ids:
        pytest.skip("no set template on this target: pass --set-template-id to test creation from a template")
    return ctx.set_template_ids[0]


@pytest.fixture(scope="session")
def denied_user(run_state: RunState) -> str:
    if not run_state.denied_user:
        pytest.skip("no user known to lack permission: pass --denied-username to check 9900403")
    return run_state.denied_user


@pytest.fixture(autouse=True)
def _fresh_recording(request: pytest.FixtureRequest) -> Iterator[None]:
    state = request.config.stash.get(STATE, None)
    if state is not None and state.target is not None:
        state.target.recorder.clear()
    yield


# -- reporting ---------------------------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    config = item.config
    if STATE not in config.stash:
        return report
    state = config.stash[STATE]
    excinfo = call.excinfo
    if excinfo is not None and isinstance(excinfo.value, TargetUnavailable):
        err = excinfo.value
        state.unavailable = err
        if state.target is not None:
            state.target.mark_unavailable(err)
        item.session.shouldstop = f"target unavailable: {err.reason}"
        report.longrepr = f"TARGET UNAVAILABLE (not a contract violation): {redact(err.reason)}"
    if report.failed and excinfo is not None:
        violation = _find_violation(excinfo.value)
        if violation is not None:
            state.violations[violation.rule] += 1
        exchanges = state.target.recorder.exchanges if state.target is not None else []
        if violation is not None and violation.exchange is not None:
            # The exchange that broke the rule comes first, then what preceded it.
            exchanges = [violation.exchange, *[e for e in exchanges if e is not violation.exchange]][:3]
        _attach_extras(report, exchanges, state, item.nodeid, violation)
    # Defence in depth: nothing that pytest prints or stores may carry a secret.
    if isinstance(report.longrepr, tuple):  # a skip: (path, line, reason)
        path, line, reason = report.longrepr
        report.longrepr = (redact(path), line, redact(reason))
    elif report.longrepr is not None:
        text = str(report.longrepr)
        if redact(text) != text:  # keep pytest's structured repr unless it carries a secret
            report.longrepr = redact(text)
    report.sections = [(title, redact(text)) for title, text in report.sections]
    return report


def _find_violation(exc: BaseException) -> ContractViolation | None:
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        e = stack.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, ContractViolation):
            return e
        stack += [x for x in (e.__cause__, e.__context__) if x is not None]
        stack += list(getattr(e, "exceptions", ()))
    return None


def _pretty(text: str) -> str:
    try:
        return json.dumps(json.loads(text), ensure_ascii=False, indent=2)
    except ValueError:
        return text


def _exchange_html(i: int, ex: Exchange) -> str:
    d = ex.as_dict()
    req_headers = "".join(f"{k}: {v}\n" for k, v in ex.request_headers.items())
    resp_headers = "".join(f"{k}: {v}\n" for k, v in ex.response_headers.items())
    answer = f"HTTP {ex.status}" if ex.status is not None else f"no answer ({ex.error})"
    return (
        f"<details open><summary><b>Exchange {i}</b>: {html.escape(ex.method)} {html.escape(ex.api)} → "
        f"{html.escape(answer)} in {d['elapsed_ms']} ms</summary>"
        f"<p><b>Request</b></p><pre>{html.escape(ex.method)} {html.escape(ex.url)}\n{html.escape(req_headers)}\n"
        f"{html.escape(_pretty(ex.request_body))}</pre>"
        f"<p><b>Response</b></p><pre>{html.escape(answer)}\n{html.escape(resp_headers)}\n"
        f"{html.escape(_pretty(ex.response_text[:20000]))}</pre>"
        f"<p><b>Replay with curl</b> (export BK_APP_SECRET / BK_TOKEN first; they are never written here)</p>"
        f"<pre>{html.escape(d['curl'])}</pre></details>"
    )


def _attach_extras(report: pytest.TestReport, exchanges: list[Exchange], state: RunState, nodeid: str,
                   violation: ContractViolation | None) -> None:
    try:
        from pytest_html import extras
    except ImportError:  # pragma: no cover - pytest-html is a dependency
        return
    parts = []
    if violation is not None:
        rows = [("Broken rule", violation.rule), ("Breaks", violation.breaks), ("Rule source", violation.source),
                ("Expected", str(violation.expected)), ("Received", str(violation.received))]
        if violation.detail:
            rows.insert(1, ("What was sent", violation.detail))
        parts.append("<table>" + "".join(f"<tr><td><b>{k}</b></td><td>{html.escape(v)}</td></tr>" for k, v in rows) + "</table>")
    target = "" if state.embedded else f" --target-url {html.escape(state.url)}"
    parts.append(f"<p><b>Replay this test:</b> <code>python -m pytest '{html.escape(nodeid)}' --hypothesis-seed={state.seed}"
                 f"{target} --cmdb-version {state.version}</code></p>")
    shown = exchanges[:3] if violation is not None and violation.exchange is not None else exchanges[-3:]
    parts += [_exchange_html(i, ex) for i, ex in enumerate(shown, 1)]
    # pytest-html reads the extras attribute it documents for this hook.
    setattr(report, "extras", [*getattr(report, "extras", []), extras.html(redact("".join(parts)))])  # noqa: B010


def pytest_html_report_title(report: Any) -> None:
    report.title = "create_set contract report"


def pytest_html_results_summary(prefix: list[str], summary: list[str], postfix: list[str], session: pytest.Session) -> None:
    config = session.config
    if STATE not in config.stash:
        return
    state = config.stash[STATE]
    h = state.harness
    writes = "writes allowed" if state.allow_writes else "READ-ONLY (no --allow-writes): tests that create sets were skipped"
    prefix.append(
        "<h2>Run</h2><table>"
        f"<tr><td>Target</td><td>{html.escape(state.url)}{' (embedded emulator)' if state.embedded else ''}</td></tr>"
        f"<tr><td>CMDB version</td><td>{state.version}</td></tr>"
        f"<tr><td>Error codes</td><td>{state.error_codes}</td></tr>"
        f"<tr><td>Hypothesis profile</td><td>{state.profile}</td></tr>"
        f"<tr><td>Seed</td><td>{state.seed} (replay: --hypothesis-seed={state.seed})</td></tr>"
        f"<tr><td>Writes</td><td>{writes}</td></tr>"
        f"<tr><td>Cleanup</td><td>{html.escape(state.cleanup_note or 'not run')}</td></tr>"
        + (f"<tr><td><b>Target unavailable</b></td><td>{html.escape(redact(state.unavailable.reason))}</td></tr>" if state.unavailable else "")
        + "</table>"
    )
    if state.violations:
        rows = "".join(f"<tr><td>{html.escape(r)}</td><td>{n}</td></tr>" for r, n in state.violations.most_common())
        prefix.append(f"<h2>Broken rules</h2><table><tr><th>rule</th><th>failing tests</th></tr>{rows}</table>")
    if h is not None:
        counts = h.rows
        trs = []
        for row in doc_rows():
            n = counts.get(row.key, 0)
            trs.append(f"<tr><td>{html.escape(row.table)}</td><td>{html.escape(row.field)}</td><td>{html.escape(row.type)}</td>"
                       f"<td>{'yes' if row.required else 'no'}</td><td>{n}</td></tr>")
        defects = sum(v for k, v in counts.items() if k.startswith("defect:"))
        prefix.append(
            f"<h2>Documentation rows exercised</h2><p>{h.examples} create_set requests; {defects} of them invalid "
            f"(one defect each, {len([k for k in counts if k.startswith('defect:')])} defect classes).</p>"
            "<table><tr><th>table</th><th>field</th><th>type</th><th>required</th><th>examples</th></tr>"
            + "".join(trs) + "</table>"
        )


def pytest_report_header(config: pytest.Config) -> list[str]:
    if STATE not in config.stash:
        return []
    s = config.stash[STATE]
    target = "embedded emulator (started on a free port)" if s.embedded else s.url
    return [f"create_set contract: target={target} cmdb-version={s.version} error-codes={s.error_codes} "
            f"profile={s.profile} seed={s.seed} writes={'yes' if s.allow_writes else 'no (read-only)'}"]


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if STATE not in config.stash:
        return
    s = config.stash[STATE]
    tr = terminalreporter
    if s.unavailable is not None:
        tr.write_line(f"TARGET UNAVAILABLE: {redact(s.unavailable.reason)} (exit code {EXIT_TARGET_UNAVAILABLE})", red=True)
    if s.cleanup_note:
        tr.write_line(s.cleanup_note)
    if s.harness is not None:
        tr.write_line(f"create_set requests: {s.harness.examples}; report: {config.option.htmlpath or '(no html)'}")
