"""The suite as a user runs it: options, credentials, write guard, exit codes, the report, replay lines."""

from __future__ import annotations

import importlib.util
import re
import shlex
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from cmdb_emulator.server import Emulator

from .conftest import APP_SECRET, REAL_ARGS, REPO, Watched, creds_env, esb, report_text, run_suite, sets_in

QUICK = ["-k", "test_minimal_set_is_created or test_catalogued_defect_is_rejected and auth"]


def _one_line_error(out: str) -> str:
    lines = [ln for ln in out.splitlines() if ln.startswith("ERROR:")]
    assert len(lines) == 1, out
    assert "Traceback" not in out and "INTERNALERROR" not in out
    return lines[0]


def junit_cases(path: Path) -> dict[str, ET.Element]:
    """Test cases of a JUnit file by 'classname::name'."""
    return {f"{c.get('classname')}::{c.get('name')}": c for c in ET.parse(path).getroot().iter("testcase")}


def properties(case: ET.Element) -> list[tuple[str, str]]:
    return [(p.get("name") or "", p.get("value") or "") for p in case.iter("property")]


def test_bad_target_url_is_a_usage_error() -> None:
    """A --target-url that is not http(s) is a one-line usage error (exit 4), not a traceback."""
    res = run_suite("--target-url", "ftp://x")
    assert res.returncode == 4
    assert "is not an http(s) URL" in res.stderr and "Traceback" not in res.stderr


@pytest.mark.parametrize("args", [["--bk-biz-id", "x"], ["--rate-limit", "-1"], ["--cmdb-version", "9.9"], ["--error-codes", "loose"],
                                  ["--concurrency", "0"], ["--request-timeout", "0"], ["--rate-limit", "nan"]],
                         ids=lambda a: " ".join(a))
def test_bad_option_values_are_usage_errors(args: list[str]) -> None:
    """Non-numeric ids, negative rates, zero concurrency or timeout and unknown versions are rejected at start."""
    res = run_suite(*args)
    assert res.returncode == 4, (args, res.stderr[-500:])
    assert "Traceback" not in res.stderr


def test_unknown_profile_is_a_one_line_usage_error(tmp_path: Path) -> None:
    """An unknown --hypothesis-profile is one ERROR line naming the profiles, exit 4 (not an INTERNALERROR, exit 3)."""
    res = run_suite("--hypothesis-profile=nope", f"--reports-dir={tmp_path}")
    assert res.returncode == 4, res.stdout[-2000:] + res.stderr[-2000:]
    line = _one_line_error(res.stdout + res.stderr)
    assert "nope" in line and "quick" in line and "nightly" in line


def test_missing_credentials_name_the_fix(tmp_path: Path) -> None:
    """Against a real target, a missing credential is one ERROR line naming the variables to set."""
    env = creds_env()
    del env["BK_APP_SECRET"]
    res = run_suite("--target-url", "http://127.0.0.1:9", f"--reports-dir={tmp_path}", env=env)
    assert res.returncode == 4
    line = _one_line_error(res.stdout + res.stderr)
    assert "BK_APP_SECRET" in line and "export" in line
    env.pop("BK_USERNAME")
    line = _one_line_error((lambda r: r.stdout + r.stderr)(run_suite("--target-url", "http://127.0.0.1:9", env=env)))
    assert "BK_APP_SECRET, and BK_USERNAME or BK_TOKEN" in line


def test_empty_variable_counts_as_unset(tmp_path: Path) -> None:
    """BK_APP_SECRET= (what CI gives for an unset secret) is unset: the embedded run passes, a real target asks for it."""
    res = run_suite(f"--reports-dir={tmp_path}", *QUICK, env=creds_env(BK_APP_SECRET="", BK_USERNAME="", BK_TOKEN=""))
    assert res.returncode == 0, res.stdout[-3000:]
    res = run_suite("--target-url", "http://127.0.0.1:9", f"--reports-dir={tmp_path}", env=creds_env(BK_APP_SECRET=""))
    assert res.returncode == 4 and "BK_APP_SECRET" in _one_line_error(res.stdout + res.stderr)


def test_writes_to_a_real_target_need_a_business(tmp_path: Path) -> None:
    """--allow-writes against a real target without --bk-biz-id stops: there is no default business to write to."""
    res = run_suite("--target-url", "http://127.0.0.1:9", "--allow-writes", f"--reports-dir={tmp_path}")
    assert res.returncode == 4
    assert "--bk-biz-id" in _one_line_error(res.stdout + res.stderr)


def test_xdist_is_refused(tmp_path: Path) -> None:
    """-n N is refused with a message pointing at --concurrency (the summary could not cover every worker)."""
    res = run_suite("-n", "2", f"--reports-dir={tmp_path}")
    assert res.returncode == 4
    if importlib.util.find_spec("xdist") is None:  # not a dependency: pytest itself refuses the option
        assert "unrecognized arguments: -n" in res.stderr
    else:
        assert "--concurrency" in _one_line_error(res.stdout + res.stderr)


def test_help_lists_credentials_exit_codes_and_profiles() -> None:
    """pytest contract_tests --help names the credential variables, the exit codes and the profile sizes."""
    res = run_suite("--help")
    text = " ".join(res.stdout.split())
    for needle in ("BK_APP_SECRET", "BK_USERNAME or BK_TOKEN", "3 the target was unavailable", "nightly = 1500", "--concurrency"):
        assert needle in text, needle


def test_read_only_run_creates_nothing(real_target: Emulator, tmp_path: Path) -> None:
    """Without --allow-writes a real target gets no create that could succeed, and the report says read-only."""
    before = sets_in(real_target.url)
    res = run_suite("--target-url", real_target.url, f"--reports-dir={tmp_path}")
    assert res.returncode == 0, res.stdout[-3000:]
    assert "--allow-writes" in res.stdout and "skipped" in res.stdout
    assert sets_in(real_target.url) == before
    assert "READ-ONLY" in (tmp_path / "contract-report.html").read_text(encoding="utf-8")


def test_created_sets_are_deleted_at_the_end(real_target: Emulator, tmp_path: Path) -> None:
    """With --allow-writes every set the run created is deleted and verified gone; other sets are untouched."""
    other = esb(real_target.url, "create_set", {"bk_biz_id": 2, "data": {"bk_parent_id": 2, "bk_set_name": "not-ours"}})["data"]
    res = run_suite("--target-url", real_target.url, "--allow-writes", "--bk-biz-id", "2", f"--reports-dir={tmp_path}",
                    "-k", "test_valid or test_state")
    assert res.returncode == 0, res.stdout[-3000:]
    assert "cleanup complete:" in res.stdout and "deleted and verified gone" in res.stdout
    remaining = sets_in(real_target.url)
    assert sorted(s["bk_set_id"] for s in remaining) == sorted([2, other["bk_set_id"]])
    assert not list(tmp_path.glob("ledger-*"))


def test_unreachable_target_is_reported_as_unavailable(tmp_path: Path) -> None:
    """Connection refused is 'target unavailable' (exit 3, a JUnit error) with evidence in the report, not a contract violation."""
    res = run_suite("--target-url", "http://127.0.0.1:9", "--allow-writes", "--bk-biz-id", "2", f"--reports-dir={tmp_path}", *QUICK)
    assert res.returncode == 3, res.stdout[-2000:]
    assert "TARGET UNAVAILABLE" in res.stdout
    assert "Contract broken" not in res.stdout
    report = (tmp_path / "contract-report.html").read_text(encoding="utf-8")
    assert "Target unavailable" in report and "ConnectionError" in report
    root = ET.parse(tmp_path / "contract-junit.xml").getroot()
    assert not list(root.iter("failure"))


class _Login(BaseHTTPRequestHandler):
    """A login page in front of the gateway: HTTP 200, HTML, whatever is asked."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        page = b"<!DOCTYPE html><html><body><form>Please log in</form></body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)

    def log_message(self, *args: Any) -> None:
        pass


def test_login_page_is_unavailable_not_a_hundred_failures(tmp_path: Path) -> None:
    """An HTML page with HTTP 200 on every request is 'target unavailable' (exit 3), with no contract failure."""
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Login)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        res = run_suite("--target-url", f"http://127.0.0.1:{srv.server_address[1]}", "--allow-writes", "--bk-biz-id", "2",
                        f"--reports-dir={tmp_path}")
    finally:
        srv.shutdown()
        srv.server_close()
    assert res.returncode == 3, res.stdout[-2000:]
    assert "Contract broken" not in res.stdout and "HTML page" in res.stdout


def test_run_command_keeps_the_exit_code(tmp_path: Path) -> None:
    """cmdb-contract run passes its options to pytest and exits with the suite's own code (3 for an unreachable target)."""
    cmd = [sys.executable, "-m", "cmdb_contract.cli", "run", "--target-url", "http://127.0.0.1:9", "--allow-writes", "--bk-biz-id", "2",
           f"--reports-dir={tmp_path}",
           "-p", "no:cacheprovider", *QUICK]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=creds_env(), timeout=300)
    assert res.returncode == 3, res.stdout[-2000:] + res.stderr[-2000:]


def test_two_broken_rules_are_two_failures_in_junit(tmp_path: Path) -> None:
    """A server breaking two rules at once gets separate failures, each named by its rule id in the JUnit XML and the summary."""
    res = run_suite("--emulator-fault", "data-desc-dropped", "--emulator-fault", "data-capacity-string", f"--reports-dir={tmp_path}")
    assert res.returncode == 1, res.stdout[-3000:]
    cases = junit_cases(tmp_path / "contract-junit.xml")
    rules = {v for c in cases.values() if c.find("failure") is not None for k, v in properties(c) if k == "rule"}
    assert rules == {"data.echoed-as-stored", "success.schema"}, (rules, res.stdout[-3000:])
    desc = cases["contract_tests.test_valid::test_explicit_null_is_stored_as_null[bk_set_desc=null]"]
    capacity = cases["contract_tests.test_valid::test_integer_boundary_is_accepted[bk_capacity=1]"]
    assert {v for k, v in properties(desc) if k == "rule"} == {"data.echoed-as-stored"}
    assert {v for k, v in properties(capacity) if k == "rule"} == {"success.schema"}
    assert "broken rule data.echoed-as-stored" in res.stdout and "broken rule success.schema" in res.stdout


def test_deviation_counts_only_when_the_deviation_is_seen(tmp_path: Path) -> None:
    """A known deviation's strict xfail fails (not xfails) when the create itself fails: a crash is not the deviation."""
    res = run_suite("--emulator-fault", "reject-body-auth", f"--reports-dir={tmp_path}", "-k", "test_documented_type_holds")
    assert res.returncode == 1, res.stdout[-3000:]
    cases = junit_cases(tmp_path / "contract-junit.xml")
    mine = [c for k, c in cases.items() if "test_documented_type_holds" in k]
    assert mine and all(c.find("failure") is not None for c in mine)


def test_failure_report_shows_rule_exchange_replay_and_seed(tmp_path: Path) -> None:
    """A failing run's report names the rule, its source, expected/received as JSON, the exchange, a curl line and the seed."""
    res = run_suite("--emulator-fault", "data-env-default-2", f"--reports-dir={tmp_path}", "-x", "--hypothesis-seed=12345")
    assert res.returncode == 1
    text = report_text(tmp_path / "contract-report.html")
    for needle in ("Contract broken: bk_set_env gets its default [data.default-applied]", "Rule source:", 'Expected: "3"',
                   'Received: "2"', "curl -sS -X POST", "--hypothesis-seed=12345", "Documentation rows exercised", "CMDB version"):
        assert needle in text, needle
    assert APP_SECRET not in text


def test_replay_line_from_junit_reproduces_the_failure(watched: Callable[..., Watched], tmp_path: Path) -> None:
    """The replay command of a failure against a real target, taken from JUnit and run as printed, fails the same test on the same rule."""
    target = watched(faults=("data-desc-dropped",))
    first = tmp_path / "first"
    res = run_suite("--target-url", target.url, *REAL_ARGS, f"--reports-dir={first}", "-k", "test_every_optional_field_is_stored")
    assert res.returncode == 1, res.stdout[-3000:]
    cases = junit_cases(first / "contract-junit.xml")
    case = cases["contract_tests.test_valid::test_every_optional_field_is_stored"]
    replay = dict(properties(case))["replay"]
    rules = {v for k, v in properties(case) if k == "rule"}
    for needle in ("--target-url", "--allow-writes", "--bk-biz-id 2", "--set-template-id 1", "--reports-dir", "--hypothesis-seed=",
                   "--concurrency", REPO.joinpath(".venv").name):
        assert needle in replay, needle
    again = subprocess.run(["bash", "-c", replay], capture_output=True, text=True, env=creds_env(), timeout=300)
    assert again.returncode == 1, again.stdout[-3000:]
    replay_dir = Path(shlex.split(replay.split("&&", 1)[1])[-1])
    assert replay_dir != first and (replay_dir / "contract-junit.xml").exists()
    replayed = junit_cases(replay_dir / "contract-junit.xml")["contract_tests.test_valid::test_every_optional_field_is_stored"]
    assert replayed.find("failure") is not None
    assert {v for k, v in properties(replayed) if k == "rule"} == rules


def test_junit_tells_unavailable_from_broken(tmp_path: Path) -> None:
    """A broken contract is a JUnit <failure> with its rule; the JSON summary of outcomes agrees."""
    res = run_suite("--emulator-fault", "data-desc-dropped", f"--reports-dir={tmp_path}", "-k", "test_every_optional_field_is_stored")
    assert res.returncode == 1
    case = junit_cases(tmp_path / "contract-junit.xml")["contract_tests.test_valid::test_every_optional_field_is_stored"]
    assert case.find("failure") is not None and case.find("error") is None
    assert ("outcome", "violation") in properties(case)


def test_falsifying_example_names_the_name_actually_sent(tmp_path: Path) -> None:
    """Hypothesis' failing case shows the drawn slot, and a note names the bk_set_name actually sent."""
    res = run_suite("--emulator-fault", "data-desc-dropped", f"--reports-dir={tmp_path}", "-k", "test_valid_payloads_are_created")
    assert res.returncode == 1, res.stdout[-3000:]
    sent = re.findall(r"the failing request sent bk_set_name = '([^']*)'", res.stdout)
    assert sent and all(name.strip(" ").startswith("ct") and "@" not in name for name in sent), res.stdout[-3000:]
