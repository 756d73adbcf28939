"""``cmdb-contract diff``: do two targets behave the same? One command, one report, one exit code.

Runs the contract suite against target A and replays every request it sent
against target B (and again against A, to measure noise), then exits on the
differences alone: 0 when A and B behave the same, 1 when they differ, 3 when
either is unavailable, 4 on a usage error (2 interrupted and 6 suite error
pass through from the suite). A's own contract verdict is in the report but
does not decide the exit code. Either side may be the embedded emulator:
``embedded`` (its version from --version-a/--version-b, default 3.14) or
``embedded:3.13``. Boundary: argument parsing and the one pytest
subprocess; the work is the suite's (``regression``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import NoReturn

from .differences import NO_CHANGE
from .options import EXIT_INTERRUPTED, EXIT_SUITE_ERROR, EXIT_UNAVAILABLE, EXIT_USAGE, PROFILES, diff_target_type
from .spec import VERSIONS

ROOT = Path(__file__).resolve().parent.parent
EXIT_SAME, EXIT_DIFFER = 0, 1


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error exits 4 like every usage error of the suite (argparse's own is 2)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


class UsageError(Exception):
    """A bad combination of options (the message names the fix)."""


def build_parser() -> argparse.ArgumentParser:
    """The diff command's options (anything else goes to pytest)."""
    p = _Parser(prog="cmdb-contract diff", description=__doc__.split("\n\n")[0] + " Every option not listed here goes to pytest "
                "(e.g. --hypothesis-seed, --set-template-id, --rate-limit).",
                epilog="Credentials: A takes BK_APP_CODE, BK_APP_SECRET and BK_USERNAME or BK_TOKEN; B takes BK_APP_CODE_B, "
                       "BK_APP_SECRET_B and BK_USERNAME_B or BK_TOKEN_B when any of them is set, else the same as A. "
                       "Exit codes: 0 same behaviour, 1 different, 2 interrupted, 3 a target unavailable, 4 usage error, 6 suite error.")
    p.add_argument("--a", required=True, metavar="URL|embedded[:V]", type=diff_target_type, help="target A, the reference (e.g. staging on the old version)")
    p.add_argument("--b", required=True, metavar="URL|embedded[:V]", type=diff_target_type, help="target B, the candidate (e.g. staging on the new version)")
    p.add_argument("--version-a", choices=VERSIONS, default=None, help="CMDB version A is judged as, and emulates when embedded (default: 3.14)")
    p.add_argument("--version-b", choices=VERSIONS, default=None, help="CMDB version B is judged as, and emulates when embedded (default: --version-a)")
    p.add_argument("--fault-a", action="append", default=[], metavar="NAME", help="an injected fault of an embedded A (see cmdb-emulator --list-faults)")
    p.add_argument("--fault-b", action="append", default=[], metavar="NAME", help="an injected fault of an embedded B")
    p.add_argument("--concurrency", type=int, default=4, help="requests in flight per target (default: %(default)s)")
    p.add_argument("--profile", choices=sorted(PROFILES), default=None, help="Hypothesis profile: how many requests (default: quick, ci when CI is set)")
    p.add_argument("--allow-writes", action="store_true", help="allow creating (and then deleting) sets on a real target; without it only "
                   "requests that cannot write are compared")
    p.add_argument("--bk-biz-id", type=int, default=None,
                   help="business to create sets in on the real target(s) (needed with --allow-writes; for a B with "
                        "another business add --diff-bk-biz-id N, and --diff-set-template-id, --diff-denied-username)")
    p.add_argument("-o", "--output", default=None, metavar="FILE", help="the HTML report (default: diff-report.html in the reports dir)")
    p.add_argument("--summary", default=None, metavar="FILE", help="the JSON summary of the differences (default: the report's name with .json)")
    p.add_argument("--reports-dir", default=None, metavar="DIR", help="where ledgers and JUnit go (default: reports/)")
    return p


def _side(spec: str, version: str | None) -> tuple[str | None, str]:
    """(URL or None for the embedded emulator, CMDB version) of one side."""
    url, _, pinned = spec.partition(":") if spec.startswith("embedded") else (spec, "", "")
    if pinned and version and pinned != version:
        raise UsageError(f"{spec} emulates {pinned} but its --version option says {version}: drop one")
    return (None if url == "embedded" else spec), (pinned or version or "3.14")


def pytest_args(args: argparse.Namespace) -> tuple[list[str], Path]:
    """The suite's command line for this comparison, and where its summary will be."""
    a_url, a_version = _side(args.a, args.version_a)
    b_url, b_version = _side(args.b, args.version_b or (a_version if not args.b.startswith("embedded:") else None))
    if args.fault_a and a_url is not None:
        raise UsageError("--fault-a only applies to an embedded A")
    if args.fault_b and b_url is not None:
        raise UsageError("--fault-b only applies to an embedded B")
    if args.concurrency <= 0:
        raise UsageError("--concurrency must be a positive whole number")
    reports = Path(args.reports_dir).resolve() if args.reports_dir else ROOT / "reports"
    output = Path(args.output).resolve() if args.output else reports / "diff-report.html"
    summary = Path(args.summary).resolve() if args.summary else output.with_suffix(".json")
    cmd = ["contract_tests", "-p", "no:cacheprovider", "--cmdb-version", a_version, "--diff-target", b_url or "embedded",
           "--diff-cmdb-version", b_version, "--concurrency", str(args.concurrency), "--reports-dir", str(reports),
           f"--html={output}", "--differences-json", str(summary)]
    if a_url is not None:
        cmd += ["--target-url", a_url]
    cmd += [x for f in args.fault_a for x in ("--emulator-fault", f)]
    cmd += [x for f in args.fault_b for x in ("--diff-emulator-fault", f)]
    if args.profile:
        cmd.append(f"--hypothesis-profile={args.profile}")
    if args.allow_writes:
        cmd.append("--allow-writes")
    if args.bk_biz_id is not None:
        # It names a business of the real installation(s); an embedded side keeps the emulator's own.
        cmd += ["--bk-biz-id" if a_url is not None else "--diff-bk-biz-id", str(args.bk_biz_id)]
    return cmd, summary


def main(argv: list[str]) -> int:
    """Run the comparison and return its exit code."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    try:
        cmd, summary = pytest_args(args)
    except UsageError as exc:
        parser.error(str(exc))
    if not (ROOT / "contract_tests").is_dir():
        print(f"cmdb-contract diff: no contract_tests/ beside {ROOT}: run it from a checkout of this project", file=sys.stderr)
        return EXIT_USAGE
    summary.unlink(missing_ok=True)  # a summary left by an earlier run must not decide this one's exit code
    code = subprocess.call([sys.executable, "-m", "pytest", *cmd, *extra], cwd=ROOT)
    if code in (EXIT_INTERRUPTED, EXIT_UNAVAILABLE, EXIT_USAGE):
        return code
    try:
        verdict = json.loads(summary.read_text(encoding="utf-8"))["verdict"]
    except (OSError, ValueError, KeyError):
        print(f"cmdb-contract diff: no comparison was made (no {summary}); see the report", file=sys.stderr)
        return code if code not in (EXIT_SAME, EXIT_DIFFER) else EXIT_SUITE_ERROR
    print(f"cmdb-contract diff: {verdict}; summary: {summary}")
    return EXIT_SAME if verdict == NO_CHANGE else EXIT_DIFFER
