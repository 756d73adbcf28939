"""The run object, without a pytest subprocess: start, probe, ledger, drain, cleanup, outcome and exit codes."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Any

import pytest

from cmdb_contract.client import CreatesClosed, TargetUnavailable
from cmdb_contract.options import (
    EXIT_CONTRACT,
    EXIT_INTERRUPTED,
    EXIT_NO_TESTS,
    EXIT_OK,
    EXIT_SUITE_ERROR,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    RunConfig,
)
from cmdb_contract.oracles import violation
from cmdb_contract.outcomes import SUITE_ERROR, UNAVAILABLE, VIOLATION, Outcome, classify
from cmdb_contract.run import Run, RunError
from cmdb_contract.strategies import base_params, minimal_data
from cmdb_emulator.server import Emulator

from .conftest import APP_CODE, APP_SECRET, sets_in

SECRET = 'run"object\\secret é'


def config(tmp: Path, **overrides: Any) -> RunConfig:
    base = RunConfig(target_url=None, bk_biz_id=2, bk_parent_id=2, set_template_id=None, cmdb_version="3.14", error_codes="strict",
                     supplier=None, allow_writes=True, rate_limit=0.0, request_timeout=10.0, concurrency=2, denied_username=None,
                     cleanup_only=False, reports_dir=tmp, emulator_faults=(), profile="quick", seed=42, biz_given=False)
    return dataclasses.replace(base, **overrides)


def _leftovers() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("cmdb-contract-*")}


def test_embedded_run_starts_creates_cleans_up_and_stops(tmp_path: Path) -> None:
    """Entering starts the emulator and probes it; leaving deletes what the run created, removes the ledger and stops it."""
    before = _leftovers()
    run = Run(config(tmp_path), {"BK_APP_SECRET": SECRET})
    with run:
        assert run.url.startswith("http://127.0.0.1:") and run.probe is not None
        h = run.harness
        assert h is not None
        ex = h.send_create(h.fill(base_params(h.ctx, minimal_data(h.ctx))))
        assert ex.json["result"] is True
        assert run.ledger is not None and run.ledger.path.exists()
        process = run.emulator.process if run.emulator else None
        assert process is not None and process.poll() is None
    assert run.outcome.cleanup is not None and run.outcome.cleanup.complete
    assert run.outcome.cleanup.count("deleted") == 1
    assert not run.ledger.path.exists()
    assert process.poll() is not None
    assert _leftovers() <= before
    assert SECRET not in repr(run) and SECRET not in repr(run.credentials) and SECRET not in repr(run.harness)


def test_drain_closes_creates_but_not_searches(real_target: Emulator, tmp_path: Path) -> None:
    """After drain no create may start (cleanup is about to read the ledger); searches and deletes still go out."""
    env = {"BK_APP_CODE": APP_CODE, "BK_APP_SECRET": APP_SECRET, "BK_USERNAME": "admin"}
    run = Run(config(tmp_path, target_url=real_target.url, biz_given=True), env)
    with run:
        h = run.harness
        assert h is not None
        run.drain()
        with pytest.raises(CreatesClosed):
            h.send_create(h.fill(base_params(h.ctx, minimal_data(h.ctx))))
        assert h.find_by_name(2, "ct-never-created") == []
    assert [s["bk_set_id"] for s in sets_in(real_target.url)] == [2]


def test_missing_credentials_are_a_run_error(tmp_path: Path) -> None:
    """A real target without a secret and a user is refused before anything starts, naming both variables."""
    with pytest.raises(RunError, match="BK_APP_SECRET, and BK_USERNAME or BK_TOKEN"):
        Run(config(tmp_path, target_url="http://127.0.0.1:9"), {"BK_APP_CODE": "x"})


def test_unreachable_target_is_known_at_start(tmp_path: Path) -> None:
    """The first probe trips the breaker: the run knows the target is unavailable and exits 3, cleanup has nothing to do."""
    env = {"BK_APP_CODE": APP_CODE, "BK_APP_SECRET": APP_SECRET, "BK_USERNAME": "admin"}
    run = Run(config(tmp_path, target_url="http://127.0.0.1:9", request_timeout=2.0), env)
    with run:
        assert run.outcome.unavailable is not None
        assert run.target is not None and run.target.unavailable is not None
    assert run.outcome.exit_code(EXIT_INTERRUPTED) == EXIT_UNAVAILABLE
    assert run.outcome.cleanup is not None and run.outcome.cleanup.complete


def test_replay_arguments_carry_every_option_that_shaped_the_run(tmp_path: Path) -> None:
    """The replay command names the interpreter, target, business, parent, template, version, error mode, supplier,
    denied user, allow-writes, rate limit, concurrency, fault, profile, seed and a reports directory of its own."""
    cfg = config(tmp_path, target_url="https://cmdb.example.com", bk_biz_id=7, bk_parent_id=70, set_template_id=5, cmdb_version="3.13",
                 error_codes="documented", supplier="0", allow_writes=True, rate_limit=20.0, concurrency=8, denied_username="nobody",
                 profile="ci", seed=99, biz_given=True)
    args = cfg.replay_args("contract_tests/test_valid.py::test_minimal_set_is_created")
    text = " ".join(args)
    for needle in ("--target-url https://cmdb.example.com", "--allow-writes", "--bk-biz-id 7", "--bk-parent-id 70", "--set-template-id 5",
                   "--cmdb-version 3.13", "--error-codes documented", "--bk-supplier-account 0", "--denied-username nobody",
                   "--rate-limit 20", "--concurrency 8", "--hypothesis-profile=ci", "--hypothesis-seed=99"):
        assert needle in text, needle
    assert args[0].endswith("python") or "python" in Path(args[0]).name
    assert args[args.index("--reports-dir") + 1] != str(tmp_path)
    embedded = config(tmp_path, emulator_faults=("data-desc-dropped",)).replay_args("x")
    assert "--emulator-fault" in embedded and "--target-url" not in embedded and "--allow-writes" not in embedded


def _outcome(*kinds: str, unavailable: bool = False, interrupted: bool = False) -> Outcome:
    out = Outcome()
    for i, kind in enumerate(kinds):
        exc: BaseException | None = None
        if kind == VIOLATION:
            exc = violation("envelope.http-200", expected=200, received=500)
        elif kind == UNAVAILABLE:
            exc = TargetUnavailable("down")
        elif kind == SUITE_ERROR:
            exc = TypeError("bug")
        out.record(f"t{i}", kind, exc)
    if unavailable:
        out.unavailable = TargetUnavailable("down")
    out.interrupted = interrupted
    return out


@pytest.mark.parametrize(("kinds", "flags", "pytest_status", "code"), [
    ((), {}, EXIT_OK, EXIT_OK),
    ((VIOLATION,), {}, EXIT_CONTRACT, EXIT_CONTRACT),
    ((VIOLATION, SUITE_ERROR), {}, EXIT_CONTRACT, EXIT_SUITE_ERROR),
    ((VIOLATION, UNAVAILABLE), {}, EXIT_CONTRACT, EXIT_UNAVAILABLE),
    ((), {"unavailable": True}, EXIT_INTERRUPTED, EXIT_UNAVAILABLE),
    ((VIOLATION,), {"interrupted": True}, EXIT_INTERRUPTED, EXIT_INTERRUPTED),
    ((), {}, EXIT_NO_TESTS, EXIT_NO_TESTS),
    ((), {}, EXIT_USAGE, EXIT_USAGE),
], ids=["pass", "broken", "suite-error-wins", "unavailable-wins", "stopped-for-unavailability", "interrupted", "nothing-ran", "usage"])
def test_exit_code_precedence(kinds: tuple[str, ...], flags: dict[str, bool], pytest_status: int, code: int) -> None:
    """Usage, interruption, unavailability, suite error, broken contract, nothing ran, pass: in that order."""
    assert _outcome(*kinds, **flags).exit_code(pytest_status) == code


def test_classification_tells_the_three_failures_apart() -> None:
    """A violation, an unavailable target and any other exception are three different outcomes; a group of violations is one."""
    v = violation("envelope.http-200", expected=200, received=500)
    assert classify(v, "failed") == VIOLATION
    assert classify(ExceptionGroup("two", [v, violation("envelope.code-integer", expected="int", received="0")]), "failed") == VIOLATION
    assert classify(ExceptionGroup("mixed", [v, TypeError("x")]), "failed") == SUITE_ERROR
    assert classify(TargetUnavailable("down"), "failed") == UNAVAILABLE
    assert classify(AssertionError("plain"), "failed") == SUITE_ERROR


def test_a_crash_in_cleanup_keeps_the_ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """If cleanup itself fails, the run says so, exits 1 and keeps the ledger for --cleanup-only."""
    import cmdb_contract.run as run_module

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(run_module, "clean_run", broken)
    run = Run(config(tmp_path), {})
    with run:
        h = run.harness
        assert h is not None
        h.send_create(h.fill(base_params(h.ctx, minimal_data(h.ctx))))
    assert run.outcome.cleanup is not None and not run.outcome.cleanup.complete
    assert "disk on fire" in run.outcome.cleanup.summary()
    assert run.ledger is not None and run.ledger.path.exists()
    assert run.outcome.exit_code(EXIT_OK) == EXIT_CONTRACT
