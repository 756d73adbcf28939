"""The nightly workflow is ready to adopt: scheduled, secrets from the repository, artifacts kept."""

from __future__ import annotations

from pathlib import Path

WORKFLOW = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "nightly.yml"


def test_nightly_workflow_runs_the_suite_with_secrets_and_uploads_reports() -> None:
    """The workflow is scheduled, reads target and credentials from secrets, allows writes, sweeps and uploads."""
    text = WORKFLOW.read_text(encoding="utf-8")
    for needle in ("schedule:", "cron:", "secrets.CMDB_TARGET_URL", "secrets.BK_APP_SECRET", "secrets.BK_APP_CODE",
                   "make report", "--allow-writes", "--hypothesis-profile=nightly", "--cleanup-only",
                   "actions/upload-artifact", "reports/contract-report.html", "reports/contract-junit.xml", "if: always()"):
        assert needle in text, needle
    # A secret must never be echoed or put on a command line.
    assert "echo $BK_APP_SECRET" not in text and "${{ secrets.BK_APP_SECRET }}\"" not in text
    for line in text.splitlines():
        if "secrets." in line:
            assert line.strip().startswith(("CMDB_TARGET_URL:", "BK_APP_CODE:", "BK_APP_SECRET:", "BK_USERNAME:", "BK_TOKEN:", "#")), line
