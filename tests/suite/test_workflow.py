"""The nightly workflow is safe for production: no default business, exit codes kept, secrets scoped, artifacts kept."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

WORKFLOW = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "nightly.yml"
TEXT = WORKFLOW.read_text(encoding="utf-8")


def test_nightly_workflow_runs_the_suite_with_secrets_and_uploads_reports() -> None:
    """The workflow is scheduled, reads target and credentials from secrets, allows writes, sweeps and uploads always."""
    for needle in ("schedule:", "cron:", "secrets.CMDB_TARGET_URL", "secrets.BK_APP_SECRET", "secrets.BK_APP_CODE",
                   "--allow-writes", "--hypothesis-profile=nightly", "--cleanup-only", "actions/upload-artifact",
                   "reports/contract-report.html", "reports/contract-junit.xml", "if: always()"):
        assert needle in TEXT, needle


def test_the_run_keeps_the_suites_exit_code() -> None:
    """The contract step calls cmdb-contract run (make would turn every failure into 2)."""
    assert "cmdb-contract run" in TEXT
    steps = [ln for ln in TEXT.splitlines() if ln.strip().startswith("run:")]
    assert not any("make report" in ln for ln in steps)


def test_there_is_no_default_business() -> None:
    """Without CMDB_BIZ_ID the job stops first with a message that says why; the run passes the variable, never a literal 2."""
    assert "vars.CMDB_BIZ_ID || '2'" not in TEXT and "--bk-biz-id=2" not in TEXT
    guard = TEXT.index('if [ -z "$CMDB_BIZ_ID" ]')
    assert guard < TEXT.index("actions/checkout")
    assert "platform's own business" in TEXT[guard:guard + 600]


def test_the_guard_script_stops_without_a_business(tmp_path: Path) -> None:
    """The guard step's script exits non-zero with an error line when CMDB_BIZ_ID is empty, and passes when it is set."""
    block = TEXT[TEXT.index("Refuse to run without a business"):TEXT.index("actions/checkout")]
    script = block.split("run: |", 1)[1]
    lines = [ln[10:] if ln.startswith(" " * 10) else ln.strip() for ln in script.splitlines() if ln.strip() and not ln.strip().startswith("- ")]
    (tmp_path / "guard.sh").write_text("\n".join(lines) + "\n", encoding="utf-8")
    empty = subprocess.run(["bash", str(tmp_path / "guard.sh")], capture_output=True, text=True, env={"CMDB_BIZ_ID": ""}, timeout=30)
    assert empty.returncode != 0 and "CMDB_BIZ_ID" in empty.stdout
    given = subprocess.run(["bash", str(tmp_path / "guard.sh")], capture_output=True, text=True, env={"CMDB_BIZ_ID": "3"}, timeout=30)
    assert given.returncode == 0


def test_secrets_reach_only_the_steps_that_need_them() -> None:
    """Secrets are step-level environment of the sweep and the run only, never job-level, echoed or on a command line."""
    assert "echo $BK_APP_SECRET" not in TEXT and "${{ secrets.BK_APP_SECRET }}\"" not in TEXT
    for line in TEXT.splitlines():
        if "secrets." in line:
            assert line.strip().startswith(("CMDB_TARGET_URL:", "BK_APP_CODE:", "BK_APP_SECRET:", "BK_USERNAME:", "BK_TOKEN:", "#")), line
            assert line.startswith(" " * 10) or line.strip().startswith("#"), f"not a step-level env: {line}"
    job_env = re.search(r"\n    env:\n", TEXT)
    assert job_env is None, "a job-level env would hand the secrets to every step"
    steps_with_secrets = TEXT.count("BK_APP_SECRET: ${{ secrets.BK_APP_SECRET }}")
    assert steps_with_secrets == 2


def test_one_run_per_business_and_utc_is_explained() -> None:
    """A concurrency group keeps two runs off one business, and the cron line says its time is UTC."""
    assert "concurrency:" in TEXT and "group: nightly-contract-${{ vars.CMDB_BIZ_ID }}" in TEXT
    cron = TEXT.index("cron:")
    assert "UTC" in TEXT[cron - 200:cron]
