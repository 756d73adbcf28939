"""The suite as a user runs it: options, credentials, write guard, cleanup, unavailability, secrets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cmdb_emulator.server import Emulator

from .conftest import APP_SECRET, creds_env, esb, run_suite, sets_in

QUICK = ["-k", "test_minimal_set_is_created or test_catalogued_defect_is_rejected and auth"]


def _one_line_error(out: str) -> str:
    lines = [ln for ln in out.splitlines() if ln.startswith("ERROR:")]
    assert len(lines) == 1, out
    assert "Traceback" not in out
    return lines[0]


def test_bad_target_url_is_a_usage_error() -> None:
    """A --target-url that is not http(s) is a one-line usage error (exit 4), not a traceback."""
    res = run_suite("--target-url", "ftp://x")
    assert res.returncode == 4
    assert "is not an http(s) URL" in res.stderr and "Traceback" not in res.stderr


def test_bad_option_values_are_usage_errors() -> None:
    """Non-numeric ids, negative rates and unknown versions are rejected at start."""
    for args in (["--bk-biz-id", "x"], ["--rate-limit", "-1"], ["--cmdb-version", "9.9"], ["--error-codes", "loose"]):
        res = run_suite(*args)
        assert res.returncode == 4, (args, res.stderr[-500:])
        assert "Traceback" not in res.stderr


def test_missing_credentials_name_the_fix(tmp_path: Path) -> None:
    """Against a real target, a missing credential is one ERROR line naming the variable to set."""
    env = creds_env()
    del env["BK_APP_SECRET"]
    res = run_suite("--target-url", "http://127.0.0.1:9", f"--reports-dir={tmp_path}", env=env)
    assert res.returncode == 4
    line = _one_line_error(res.stdout + res.stderr)
    assert "BK_APP_SECRET" in line and "export" in line


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
    res = run_suite("--target-url", real_target.url, "--allow-writes", f"--reports-dir={tmp_path}",
                    "-k", "test_valid or test_state")
    assert res.returncode == 0, res.stdout[-3000:]
    assert "cleanup complete: deleted and verified" in res.stdout
    remaining = sets_in(real_target.url)
    assert sorted(s["bk_set_id"] for s in remaining) == sorted([2, other["bk_set_id"]])
    assert not list(tmp_path.glob("ledger-*"))


def test_interrupted_run_is_swept_by_cleanup_only(real_target: Emulator, tmp_path: Path) -> None:
    """--cleanup-only deletes exactly the sets listed in leftover ledgers."""
    ours = [esb(real_target.url, "create_set", {"bk_biz_id": 2, "data": {"bk_parent_id": 2, "bk_set_name": f"ctleft{i}"}})["data"] for i in range(3)]
    theirs = esb(real_target.url, "create_set", {"bk_biz_id": 2, "data": {"bk_parent_id": 2, "bk_set_name": "someone-elses"}})["data"]
    ledger = tmp_path / "ledger-abc123.jsonl"
    ledger.write_text("".join(json.dumps({"bk_biz_id": 2, "bk_set_id": s["bk_set_id"], "bk_set_name": s["bk_set_name"]}) + "\n" for s in ours))
    res = run_suite("--target-url", real_target.url, "--cleanup-only", f"--reports-dir={tmp_path}")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "cleanup complete" in res.stdout + res.stderr
    ids = {s["bk_set_id"] for s in sets_in(real_target.url)}
    assert not ids & {s["bk_set_id"] for s in ours}
    assert theirs["bk_set_id"] in ids and 2 in ids
    assert not ledger.exists()


def test_unreachable_target_is_reported_as_unavailable(tmp_path: Path) -> None:
    """Connection refused is 'target unavailable' (exit 3) with evidence in the report, not a contract violation."""
    res = run_suite("--target-url", "http://127.0.0.1:9", "--allow-writes", f"--reports-dir={tmp_path}", *QUICK)
    assert res.returncode == 3, res.stdout[-2000:]
    assert "TARGET UNAVAILABLE" in res.stdout
    assert "Contract broken" not in res.stdout
    report = (tmp_path / "contract-report.html").read_text(encoding="utf-8")
    assert "Target unavailable" in report and "ConnectionError" in report


@pytest.mark.parametrize("fault", ["data-desc-dropped", "accept-wrong-secret"])
def test_no_secret_reaches_any_artifact(tmp_path: Path, fault: str) -> None:
    """A planted canary secret and token appear in no report file and no output, even in failing runs with locals shown."""
    secret, token = "CANARY-SECRET-7f3a9c", "CANARY-TOKEN-51be02"
    env = creds_env(BK_APP_SECRET=secret, BK_TOKEN=token)
    res = run_suite("--emulator-fault", fault, f"--reports-dir={tmp_path}", "-l", "-rA", "--tb=long", env=env)
    assert res.returncode == 1, res.stdout[-2000:]
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "contract-report.html" for p in files)
    for text in [res.stdout, res.stderr, *(p.read_text(encoding="utf-8", errors="replace") for p in files)]:
        assert secret not in text and token not in text
    html = (tmp_path / "contract-report.html").read_text(encoding="utf-8")
    assert "curl -sS" in html
    if fault == "data-desc-dropped":  # the failing exchange carried the real credentials
        assert "${BK_APP_SECRET}" in html and "${BK_TOKEN}" in html


def test_failure_report_shows_rule_exchange_replay_and_seed(tmp_path: Path) -> None:
    """A failing run's report names the rule, its source, expected/received, the exchange, a curl line and the seed."""
    res = run_suite("--emulator-fault", "data-env-default-2", f"--reports-dir={tmp_path}", "-x", "--hypothesis-seed=12345")
    assert res.returncode == 1
    html = (tmp_path / "contract-report.html").read_text(encoding="utf-8")
    for needle in ("Contract broken: bk_set_env gets its default", "Rule source:", "Expected: 3", "Received: 2",
                   "curl -sS -X POST", "--hypothesis-seed=12345", "Documentation rows exercised", "CMDB version"):
        assert needle in html, needle
    assert APP_SECRET not in html
