"""Mutation self-test: the suite against the faithful emulator and every injected fault.

The faithful run must pass (zero false alarms); every fault run must fail with
a broken contract (a test failure whose text is a contract violation), not a
crash, a usage error or an unavailable target. Prints the mutation score and
the time per fault. Boundary: runs ``python -m pytest contract_tests`` in
subprocesses against the embedded emulator; judges only exit codes and JUnit XML.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# A fault that only exists under one version is run under that version.
FAULT_ARGS = {"version-314-codes-under-313": ["--cmdb-version", "3.13"]}
DETECTION_MARKERS = ("Contract broken:", "AssertionError", "XPASS(strict)")


@dataclass(frozen=True)
class Outcome:
    """How one suite run against one emulator ended."""

    fault: str
    returncode: int
    seconds: float
    failed_test: str
    reason: str

    @property
    def detected(self) -> bool:
        return self.returncode == 1 and bool(self.failed_test) and any(m in self.reason for m in DETECTION_MARKERS)


def list_faults() -> list[str]:
    out = subprocess.run([sys.executable, "-m", "cmdb_emulator", "--list-faults"], capture_output=True, text=True, check=True, cwd=ROOT)
    return [line.split()[0] for line in out.stdout.splitlines() if line.strip()]


def run_suite(fault: str | None, profile: str = "quick", stop_first: bool = True) -> Outcome:
    """Run the contract suite once against the embedded emulator with ``fault`` injected."""
    with tempfile.TemporaryDirectory(prefix="selftest-") as tmp:
        junit = Path(tmp) / "contract-junit.xml"
        cmd = [sys.executable, "-m", "pytest", "contract_tests", "-q", "-p", "no:cacheprovider",
               f"--hypothesis-profile={profile}", f"--reports-dir={tmp}"]
        if stop_first:
            cmd.append("-x")
        if fault:
            cmd += ["--emulator-fault", fault, *FAULT_ARGS.get(fault, [])]
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600)
        seconds = time.perf_counter() - start
        failed, reason = _first_failure(junit)
        if not failed and proc.returncode not in (0, 1):
            reason = ((proc.stdout + proc.stderr).strip().splitlines()[-1:] and (proc.stdout + proc.stderr).strip().splitlines()[-1]) or ""
        return Outcome(fault or "(faithful)", proc.returncode, seconds, failed, reason)


def _first_failure(junit: Path) -> tuple[str, str]:
    if not junit.exists():
        return "", ""
    for case in ET.parse(junit).getroot().iter("testcase"):
        for tag in ("failure", "error"):
            node = case.find(tag)
            if node is not None:
                name = f"{case.get('classname')}::{case.get('name')}"
                text = (node.get("message") or "") + "\n" + (node.text or "")
                return (name if tag == "failure" else ""), text
    return "", ""


def _headline(reason: str) -> str:
    for line in reason.splitlines():
        if "Contract broken:" in line:
            return line.split("Contract broken:", 1)[1].strip()
    for line in reason.splitlines():
        if line.strip():
            return line.strip()[:120]
    return ""


def main(workers: int = 2, faults: list[str] | None = None, profile: str = "quick", out: Path | None = None) -> int:
    """Run the self-test, print the score table, return 0 when the score is 100% with no false alarm."""
    names = faults or list_faults()
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        faithful_future = pool.submit(run_suite, None, profile, False)
        outcomes = list(pool.map(lambda f: run_suite(f, profile), names))
        faithful = faithful_future.result()
    total = time.perf_counter() - start
    detected = [o for o in outcomes if o.detected]
    lines = [
        "# Mutation self-test",
        "",
        f"Faithful emulator: {'PASS (no false alarm)' if faithful.returncode == 0 else 'FAIL (false alarm): ' + _headline(faithful.reason)}"
        f" in {faithful.seconds:.1f} s",
        f"Mutation score: {len(detected)}/{len(outcomes)} faults detected ({100 * len(detected) / max(1, len(outcomes)):.0f}%),"
        f" mean {sum(o.seconds for o in outcomes) / max(1, len(outcomes)):.1f} s per fault, {total:.0f} s wall with {workers} workers",
        "",
        "| fault | detected | seconds | first broken rule |",
        "|---|---|---|---|",
    ]
    for o in outcomes:
        verdict = "yes" if o.detected else f"NO (exit {o.returncode})"
        lines.append(f"| {o.fault} | {verdict} | {o.seconds:.1f} | {_headline(o.reason).replace('|', '/')} |")
    text = "\n".join(lines)
    print(text)
    target = out or ROOT / "reports" / "mutation-score.md"
    target.parent.mkdir(exist_ok=True)
    target.write_text(text + "\n", encoding="utf-8")
    return 0 if faithful.returncode == 0 and len(detected) == len(outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
