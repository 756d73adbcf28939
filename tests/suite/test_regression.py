"""Regression end to end: baselines recorded and replayed, two targets compared, and the diff command's exit codes."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cmdb_contract.options import RegressionConfig, RunConfig
from cmdb_contract.regression import b_config
from cmdb_contract.spec import load_spec

from .conftest import REAL_ARGS, REPO, Watched, creds_env, esb, run_suite
from .test_runs import junit_cases, properties

WRAP_SUFFIX = "' the parameter is invalid or does not exist"


def diff(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``cmdb-contract diff`` as a user runs it."""
    cmd = [sys.executable, "-m", "cmdb_contract.cli", "diff", *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env if env is not None else creds_env(), timeout=600)


def summary(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def rows(s: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(d["kind"], d["field"]): d for d in s["differences"]}


def _config(**regression: Any) -> RunConfig:
    return RunConfig(target_url="https://a.example.com", bk_biz_id=3, bk_parent_id=4, set_template_id=12, cmdb_version="3.13",
                     error_codes="strict", supplier=None, allow_writes=True, rate_limit=0.0, request_timeout=15.0, concurrency=4,
                     denied_username="nobody", cleanup_only=False, reports_dir=Path("/tmp"), emulator_faults=(), profile="quick",
                     seed=1, regression=RegressionConfig(**regression))


@pytest.mark.parametrize(("regression", "want"), [
    ({"diff_target": "embedded", "diff_version": "3.14"}, (None, 2, 2, (1,), "contract-denied-user", "3.14")),
    ({"diff_target": "https://b.example.com"}, ("https://b.example.com", 3, 4, (12,), "nobody", "3.13")),
    ({"diff_target": "https://b.example.com", "diff_biz": 9, "diff_template": 7, "diff_denied": "x"}, ("https://b.example.com", 9, 9, (7,), "x", "3.13")),
], ids=["embedded-b-keeps-its-own", "real-b-takes-a's", "real-b-overridden"])
def test_b_takes_its_own_business_template_and_user(regression: dict[str, Any], want: tuple[Any, ...]) -> None:
    """An embedded B keeps the emulator's business, template and denied user; a real B takes A's unless --diff-* name its own."""
    a = _config(**regression)
    b = b_config(a)
    assert (b.target_url, b.bk_biz_id, b.bk_parent_id, b.template_ids, b.denied_user, b.cmdb_version) == want
    assert b.run_id != a.run_id and not b.regression.active


# The types of the emulator's default custom model (cmdb_emulator/default_seed.json).
DEFAULT_MODEL_TYPES = {a["bk_property_type"] for a in json.loads((REPO / "cmdb_emulator" / "default_seed.json").read_text(encoding="utf-8"))
                       .get("set_attributes", [])}


def test_versions_313_and_314_differ_exactly_in_the_wrapped_codes(tmp_path: Path) -> None:
    """3.13 against 3.14 shows each catalogued code 3.14 wraps into 1199011, its wrapped message, and nothing else, all as drift."""
    res = diff("--a", "embedded:3.13", "--b", "embedded:3.14", "--reports-dir", str(tmp_path), "--hypothesis-seed=13")
    assert res.returncode == 1, res.stdout[-3000:] + res.stderr[-2000:]
    s = summary(tmp_path / "diff-report.json")
    assert s["verdict"] == "drift only" and s["noise_cancelled"] == 0 and not s["skipped"]
    found = rows(s)
    assert set(found) == {("code-changed", "code"), ("message-changed", "message")}, sorted(found)
    assert all(d["break_contract"] == 0 for d in found.values())
    wrapped = {(c.codes["3.13"], c.codes["3.14"]) for c in load_spec().error_classes if c.codes["3.13"] != c.codes["3.14"]}
    # The default world's custom model: its attributes' type rules wrap too (a regex, a bool, ...).
    rules = [r["codes"] for r in load_spec().errors["attribute_rules"] if r["type"] in DEFAULT_MODEL_TYPES]
    wrapped |= {(c["3.13"], c["3.14"]) for c in rules if c["3.13"] != c["3.14"]}
    pairs = {(c["reference"], c["candidate"]) for c in found["code-changed", "code"]["changes"]}
    assert pairs == wrapped, "every code 3.14 wraps, and only those"
    for change in found["message-changed", "message"]["changes"]:
        assert change["candidate"] == f"'{change['reference']}{WRAP_SUFFIX}", change


def test_emulator_against_itself_reports_nothing_at_ci_depth(tmp_path: Path) -> None:
    """The same emulator version on both sides: zero differences, zero noise, both sides' sets cleaned up (ci profile)."""
    res = diff("--a", "embedded", "--b", "embedded", "--profile", "ci", "--reports-dir", str(tmp_path))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    s = summary(tmp_path / "diff-report.json")
    assert s["verdict"] == "no behavioural change" and s["differences"] == [] and s["noise_cancelled"] == 0
    assert s["compared"] > 500 and not s["skipped"] and not s["newly_broken_rules"]
    assert "target B: cleanup complete" in res.stdout and not list(tmp_path.glob("ledger-*"))


def test_data_and_message_faults_are_reported_as_contract_breaking_differences(tmp_path: Path) -> None:
    """A B that drops bk_set_desc, empties error messages and defaults bk_set_env to "2" shows each, and nothing unrelated."""
    faults = ["data-desc-dropped", "envelope-empty-message-on-error", "data-env-default-2"]
    res = diff("--a", "embedded", "--b", "embedded", *(x for f in faults for x in ("--fault-b", f)), "--reports-dir", str(tmp_path))
    assert res.returncode == 1, res.stdout[-3000:]
    s = summary(tmp_path / "diff-report.json")
    assert s["verdict"] == "contract broken"
    found = rows(s)
    for key, rule in ((("stored-value-changed", "data.bk_set_desc"), "data.echoed-as-stored"),
                      (("message-changed", "message"), "envelope.failure-has-message"),
                      (("default-changed", "data.bk_set_env"), "data.default-applied")):
        assert key in found and found[key]["break_contract"] > 0 and rule in found[key]["contract_rules"], (key, sorted(found))
    assert {f for _, f in found} <= {"data.bk_set_desc", "message", "data.bk_set_env", "data.info[].bk_set_env"}, sorted(found)
    assert found["default-changed", "data.bk_set_env"]["changes"][0] == {"reference": "3", "candidate": "2",
                                                                        "requests": found["default-changed", "data.bk_set_env"]["requests"]}
    html = (tmp_path / "diff-report.html").read_text(encoding="utf-8")
    assert "Differences from the reference" in html and "contract broken" in html


def _noisy(target: Watched) -> None:
    """Make a server volatile the way real ones are: a fresh trace_id in every answer, search results in random order."""
    original = target.emulator.httpd.esb.handle

    def handle(method: str, path: str, query: str, headers: Any, body: bytes | None) -> Any:
        reply = original(method, path, query, headers, body)
        try:
            answer = json.loads(reply.body)
        except ValueError:
            return reply
        if isinstance(answer, dict):
            answer["trace_id"] = uuid.uuid4().hex[:16]
            info = (answer.get("data") or {}).get("info") if isinstance(answer.get("data"), dict) else None
            if isinstance(info, list):
                random.shuffle(info)
            reply.body = json.dumps(answer, ensure_ascii=False).encode("utf-8")
        return reply

    target.emulator.httpd.esb.handle = handle  # type: ignore[method-assign]


def test_two_independent_noisy_servers_compare_as_the_same(watched: Callable[..., Watched], tmp_path: Path) -> None:
    """Two separate servers, ids apart, with a random trace_id in every answer: no difference; the trace_id is counted as noise."""
    a, b = watched(), watched()
    for i in range(3):  # B's ids run ahead of A's: an id never identifies a set across targets
        esb(b.url, "create_set", {"bk_biz_id": 2, "data": {"bk_parent_id": 2, "bk_set_name": f"someone-elses-{i}"}})
    _noisy(a)
    _noisy(b)
    res = diff("--a", a.url, "--b", b.url, "--allow-writes", *REAL_ARGS[1:], "--reports-dir", str(tmp_path),
               "-k", "test_valid or test_state or test_regression")
    assert res.returncode == 0, res.stdout[-3000:]
    s = summary(tmp_path / "diff-report.json")
    assert s["verdict"] == "no behavioural change" and s["compared"] > 100
    assert s["noise_cancelled"] >= s["compared"] and {n["field"] for n in s["noise"]} == {"trace_id"}


def test_unavailable_b_and_usage_errors_have_their_exit_codes(tmp_path: Path) -> None:
    """An unreachable B exits 3 (not 'they differ'); a missing or contradictory option exits 4 with one line."""
    res = diff("--a", "embedded", "--b", "http://127.0.0.1:9", "--allow-writes", "--bk-biz-id", "2", "--reports-dir", str(tmp_path))
    assert res.returncode == 3, res.stdout[-2000:]
    assert "target B (http://127.0.0.1:9)" in res.stdout
    for args in (["--a", "embedded"], ["--a", "embedded:3.13", "--b", "embedded", "--version-a", "3.14"]):
        res = diff(*args, "--reports-dir", str(tmp_path))
        assert res.returncode == 4, (args, res.stderr)
        assert "error:" in res.stderr and "Traceback" not in res.stderr
    res = run_suite(f"--reports-dir={tmp_path}", "--diff-target", "embedded", "--diff-emulator-fault", "no-such-fault")
    assert res.returncode == 4 and "unknown fault 'no-such-fault'" in res.stdout + res.stderr, res.stdout[-2000:]


# -- a baseline recorded on the faithful emulator ----------------------------------------------------------


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A baseline of a quick run against the faithful embedded emulator."""
    folder = tmp_path_factory.mktemp("baseline")
    res = run_suite(f"--reports-dir={folder}", "--record-baseline", str(folder / "baseline.jsonl"), "--hypothesis-seed=7")
    assert res.returncode == 0, res.stdout[-3000:]
    return folder / "baseline.jsonl"


def test_replay_against_the_same_target_reports_nothing(recorded: Path, tmp_path: Path) -> None:
    """Replaying a faithful baseline on the faithful emulator finds no difference, and recording the replay writes the same lines."""
    again = tmp_path / "again.jsonl"
    res = run_suite(f"--reports-dir={tmp_path}", "--baseline", str(recorded), "--record-baseline", str(again))
    assert res.returncode == 0, res.stdout[-3000:]
    s = summary(tmp_path / "differences.json")
    first = recorded.read_text(encoding="utf-8").splitlines()
    head = json.loads(first[0])
    assert {k: head[k] for k in ("baseline", "target", "cmdb_version", "profile", "seed")} == {
        "baseline": 1, "target": "embedded emulator 3.14", "cmdb_version": "3.14", "profile": "quick", "seed": 7}
    assert s["verdict"] == "no behavioural change" and s["compared"] == head["exchanges"] == len(first) - 1 > 300
    generated = int(re.search(r"(\d+) deselected", res.stdout).group(1))  # type: ignore[union-attr]
    assert not s["skipped"] and generated > 200, "nothing is generated: only the baseline's requests are sent"
    assert again.read_text(encoding="utf-8").splitlines()[1:] == first[1:], "tokens, ids, times and order leave no trace"


def test_replay_against_a_faulty_target_reports_the_fault(recorded: Path, tmp_path: Path) -> None:
    """Replaying against an emulator that drops bk_set_desc fails on drift.stored-value-changed, which breaks data.echoed-as-stored."""
    res = run_suite(f"--reports-dir={tmp_path}", "--baseline", str(recorded), "--emulator-fault", "data-desc-dropped")
    assert res.returncode == 1, res.stdout[-3000:]
    found = rows(summary(tmp_path / "differences.json"))
    assert found["stored-value-changed", "data.bk_set_desc"]["contract_rules"] == ["data.echoed-as-stored"]
    case = junit_cases(tmp_path / "contract-junit.xml")["contract_tests.test_regression::test_replay_shows_no_difference_of_kind[stored-value-changed]"]
    assert case.find("failure") is not None and ("rule", "drift.stored-value-changed") in properties(case)
    assert "--baseline" in dict(properties(case))["replay"]


def test_fail_on_decides_whether_drift_fails_the_run(recorded: Path, tmp_path: Path) -> None:
    """A 3.14 baseline replayed on 3.13 is drift (exit 0, or 1 with --fail-on drift); unwrapped codes judged as 3.14 break the contract."""
    drift = run_suite(f"--reports-dir={tmp_path / 'c'}", "--baseline", str(recorded), "--cmdb-version", "3.13")
    assert drift.returncode == 0, drift.stdout[-3000:]
    assert summary(tmp_path / "c" / "differences.json")["verdict"] == "drift only" and "DRIFT ONLY" in drift.stdout
    strict = run_suite(f"--reports-dir={tmp_path / 'd'}", "--baseline", str(recorded), "--cmdb-version", "3.13", "--fail-on", "drift")
    assert strict.returncode == 1 and "BROKEN drift.code-changed" in strict.stdout, strict.stdout[-3000:]
    broken = run_suite(f"--reports-dir={tmp_path / 'e'}", "--baseline", str(recorded), "--emulator-fault", "version-313-codes-under-314")
    assert broken.returncode == 1, broken.stdout[-3000:]
    s = summary(tmp_path / "e" / "differences.json")
    assert s["verdict"] == "contract broken" and rows(s)["code-changed", "code"]["contract_rules"] == ["rejection.code"]


def test_nightly_workflow_records_keeps_and_replays_the_baseline() -> None:
    """The nightly job records tonight's baseline, keeps it for tomorrow, and replays last night's (when there is one) with pytest's exit code."""
    text = (REPO / ".github" / "workflows" / "nightly.yml").read_text(encoding="utf-8")
    for needle in ("--record-baseline=reports/baseline.jsonl", "restore-keys: contract-baseline-", "key: contract-baseline-${{ github.run_id }}",
                   "hashFiles('reports/baseline-last.jsonl') != ''", ".venv/bin/cmdb-contract run --baseline=reports/baseline-last.jsonl",
                   "--fail-on=", "reports/differences.json", "name: contract-regression"):
        assert needle in text, needle
    replay = text[text.index("--baseline=reports/baseline-last.jsonl"):]
    assert "make " not in replay.split("- name:", 1)[0], "make would turn every exit code into 2"
