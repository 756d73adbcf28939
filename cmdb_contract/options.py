"""The suite's options and the frozen configuration of one run.

Boundary: option declarations (one titled group, defaults shown in --help),
option types with one-line errors, and ``RunConfig``: built once from the
options and the environment, bad combinations rejected with a message that
names the fix. It holds no credential (those live in ``credentials``).
"""

from __future__ import annotations

import argparse
import os
import secrets
import shlex
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings

from .credentials import ENV_APP_CODE, ENV_APP_SECRET, ENV_TOKEN, ENV_USERNAME, env_value
from .spec import VERSIONS

ROOT = Path(__file__).resolve().parent.parent
REPORTS = ROOT / "reports"
DEFAULT_BIZ = 2
EMBEDDED_APP_CODE = "cmdb-contract-suite"
DEFAULT_DENIED_USER = "contract-denied-user"

# Exit codes: pytest's 0, 1, 2 (interrupted), 4 (usage), 5 (nothing ran), and ours.
EXIT_OK = 0
EXIT_CONTRACT = 1
EXIT_INTERRUPTED = 2
EXIT_UNAVAILABLE = 3
EXIT_USAGE = 4
EXIT_NO_TESTS = 5
EXIT_SUITE_ERROR = 6
EXIT_CODES = {
    EXIT_OK: "every contract holds",
    EXIT_CONTRACT: "a contract is broken (or cleanup could not verify its deletions)",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C or SIGTERM; the report, JUnit and cleanup still ran)",
    EXIT_UNAVAILABLE: "the target was unavailable (not a contract violation)",
    EXIT_USAGE: "a usage error (bad option, missing credential)",
    EXIT_NO_TESTS: "no test selected",
    EXIT_SUITE_ERROR: "a suite error (a Hypothesis health or flakiness error, a crash that is not a contract violation)",
}

# Hypothesis profiles. No deadline anywhere: against a slow target the per-request
# timeout is the guard. No example database: runs against different targets must
# not replay each other's failures; the seed makes a run reproducible instead. No
# explain phase: its line listing speaks of our code, not of the target.
_COMMON: dict[str, Any] = {
    "deadline": None,
    "database": None,
    "phases": [Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.differing_executors],
}
PROFILES = {"quick": 25, "ci": 100, "nightly": 1500}
for _name, _n in PROFILES.items():
    settings.register_profile(_name, max_examples=_n, **_COMMON)


# -- option types: bad values are a one-line usage error ---------------------------------------


def url_type(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(f"'{value}' is not an http(s) URL (example: https://paas.example.com)")
    return value.rstrip("/")


def positive_int(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{value}' is not a whole number") from None
    if n <= 0:
        raise argparse.ArgumentTypeError(f"'{value}' must be a positive whole number")
    return n


def rate_type(value: str) -> float:
    try:
        n = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{value}' is not a number of requests per second") from None
    if not n >= 0 or n == float("inf"):
        raise argparse.ArgumentTypeError("the rate limit must be a finite number >= 0 (0 means no limit)")
    return n


def diff_target_type(value: str) -> str:
    """--diff-target: an http(s) URL, or the embedded emulator as ``embedded`` or ``embedded:VERSION``."""
    if value == "embedded" or value.startswith("embedded:"):
        version = value.partition(":")[2]
        if version and version not in VERSIONS:
            raise argparse.ArgumentTypeError(f"'{value}': the embedded emulator emulates {' or '.join(VERSIONS)} (example: embedded:3.13)")
        return value
    return url_type(value)


def seconds_type(value: str) -> float:
    try:
        n = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{value}' is not a number of seconds") from None
    if not 0 < n < float("inf"):
        raise argparse.ArgumentTypeError("the timeout must be a positive number of seconds")
    return n


_GROUP_HELP = (
    "create_set contract suite. Credentials come from the environment only: BK_APP_CODE, BK_APP_SECRET, "
    "and BK_USERNAME or BK_TOKEN (an empty variable counts as unset). Profiles (--hypothesis-profile): "
    + ", ".join(f"{k} = {v} random examples per property" for k, v in PROFILES.items())
    + " (default quick, ci when CI is set). Exit codes: "
    + "; ".join(f"{k} {v}" for k, v in EXIT_CODES.items())
)


def add_options(parser: pytest.Parser) -> None:
    """Declare the suite's options in one group."""
    group = parser.getgroup("create_set contract", _GROUP_HELP)
    group.addoption("--target-url", type=url_type, default=None,
                    help="base URL of the ESB in front of CMDB (env CMDB_TARGET_URL). Default: start the emulator on a free port")
    group.addoption("--bk-biz-id", type=positive_int, default=None,
                    help=f"business to create sets in (default: {DEFAULT_BIZ}; required with --target-url and --allow-writes)")
    group.addoption("--bk-parent-id", type=positive_int, default=None, help="parent of the created sets (default: the business id)")
    group.addoption("--set-template-id", type=positive_int, default=None,
                    help="a set template of that business; template tests skip without it on a real target (embedded emulator: 1)")
    group.addoption("--cmdb-version", choices=VERSIONS, default="3.14", help="CMDB version whose error codes to expect (default: 3.14)")
    group.addoption("--error-codes", choices=("strict", "documented"), default="strict",
                    help="strict: expect the catalogue's code per version; documented: only code > 0 (default: strict)")
    group.addoption("--bk-supplier-account", default=None, help="bk_supplier_account to send (default: not sent, the server uses \"0\")")
    group.addoption("--allow-writes", action="store_true", default=False,
                    help="allow creating (and then deleting) sets on a target other than the embedded emulator")
    group.addoption("--rate-limit", type=rate_type, default=0.0, help="at most N requests per second (default: 0, no limit)")
    group.addoption("--request-timeout", type=seconds_type, default=15.0,
                    help="seconds one request may take, connect to last byte (default: 15)")
    group.addoption("--concurrency", type=positive_int, default=4,
                    help="requests kept in flight, in every phase (default: 4; 1 = strictly serial)")
    group.addoption("--denied-username", default=None,
                    help="a user known to lack create permission, to check 9900403 (embedded emulator: seeded automatically)")
    group.addoption("--cleanup-only", action="store_true", default=False,
                    help="run no test: delete the sets recorded in this target's leftover ledgers under the reports dir, and exit")
    group.addoption("--reports-dir", default=None, metavar="DIR",
                    help="where the HTML report, JUnit XML and ledger go (default: reports/)")
    group.addoption("--emulator-fault", action="append", default=[], metavar="NAME",
                    help="start the embedded emulator with this injected fault (mutation self-test)")
    group.addoption("--set-model", default=None, metavar="FILE",
                    help="the target's set model from FILE (written by 'cmdb-contract model', or the data of a search_object_attribute "
                         "answer) instead of reading it at start (default: read through search_object_attribute)")
    # -- regression (issue 13): baselines and differential runs; all off by default --------------
    group.addoption("--record-baseline", default=None, metavar="FILE",
                    help="save every exchange of this run, normalised, as a baseline (JSON Lines, stable order)")
    group.addoption("--baseline", default=None, metavar="FILE",
                    help="replay exactly this baseline's requests against the target (no generated ones) and report every difference")
    group.addoption("--fail-on", choices=("contract", "drift"), default="contract",
                    help="which differences fail the run: contract (only those breaking the contract) or drift (any) (default: contract)")
    group.addoption("--diff-target", type=diff_target_type, default=None, metavar="URL|embedded[:VERSION]",
                    help="a second target B: the run's requests are replayed against B and again against the target (noise), "
                         "and every behavioural difference is reported")
    group.addoption("--diff-cmdb-version", choices=VERSIONS, default=None,
                    help="CMDB version B is judged as (and, embedded, emulates) (default: --cmdb-version, or VERSION of embedded:VERSION)")
    group.addoption("--diff-emulator-fault", action="append", default=[], metavar="NAME",
                    help="start an embedded B with this injected fault")
    group.addoption("--diff-bk-biz-id", type=positive_int, default=None,
                    help=f"B's business (default: --bk-biz-id; an embedded B: {DEFAULT_BIZ}); B's sets go under it")
    group.addoption("--diff-set-template-id", type=positive_int, default=None,
                    help="a set template of B's business (default: --set-template-id; an embedded B: 1)")
    group.addoption("--diff-denied-username", default=None, help="B's user without create permission (default: --denied-username; embedded: seeded)")
    group.addoption("--differences-json", default=None, metavar="FILE",
                    help="where the JSON summary of the differences goes (default: differences.json in the reports dir)")


@dataclass(frozen=True)
class RegressionConfig:
    """Baselines and differential runs (issue 13); all off by default."""

    record_baseline: Path | None = None
    baseline: Path | None = None
    fail_on: str = "contract"
    diff_target: str | None = None  # an http(s) URL, or "embedded"
    diff_version: str | None = None
    diff_faults: tuple[str, ...] = ()
    differences_json: Path | None = None
    diff_biz: int | None = None
    diff_template: int | None = None
    diff_denied: str | None = None

    @property
    def compares(self) -> bool:
        """Whether this run compares answers with a reference (a baseline file or target A)."""
        return self.baseline is not None or self.diff_target is not None

    @property
    def active(self) -> bool:
        return self.compares or self.record_baseline is not None

    @property
    def diff_embedded(self) -> bool:
        return self.diff_target == "embedded"

    def replay_args(self) -> list[str]:
        args: list[str] = []
        if self.baseline is not None:
            args += ["--baseline", str(self.baseline)]
        if self.diff_target is not None:
            args += ["--diff-target", self.diff_target]
        if self.diff_version is not None:
            args += ["--diff-cmdb-version", self.diff_version]
        for fault in self.diff_faults:
            args += ["--diff-emulator-fault", fault]
        for name, value in (("--diff-bk-biz-id", self.diff_biz), ("--diff-set-template-id", self.diff_template),
                            ("--diff-denied-username", self.diff_denied)):
            if value is not None:
                args += [name, str(value)]
        if self.fail_on != "contract":
            args += ["--fail-on", self.fail_on]
        return args


@dataclass(frozen=True)
class RunConfig:
    """Everything that shapes a run, fixed at start. No secret in it."""

    target_url: str | None
    bk_biz_id: int
    bk_parent_id: int
    set_template_id: int | None
    cmdb_version: str
    error_codes: str
    supplier: str | None
    allow_writes: bool
    rate_limit: float
    request_timeout: float
    concurrency: int
    denied_username: str | None
    cleanup_only: bool
    reports_dir: Path
    emulator_faults: tuple[str, ...]
    profile: str
    seed: int
    run_id: str = field(default_factory=lambda: secrets.token_hex(3))
    started: float = field(default_factory=time.time)
    biz_given: bool = True
    regression: RegressionConfig = field(default_factory=RegressionConfig)
    set_model: Path | None = None

    @property
    def embedded(self) -> bool:
        return self.target_url is None

    @property
    def template_ids(self) -> tuple[int, ...]:
        if self.set_template_id:
            return (self.set_template_id,)
        return (1,) if self.embedded else ()

    @property
    def denied_user(self) -> str | None:
        return self.denied_username or (DEFAULT_DENIED_USER if self.embedded else None)

    def replay_args(self, nodeid: str) -> list[str]:
        """The command that reproduces one test exactly, in a reports directory of its own."""
        args = [sys.executable, "-m", "pytest", nodeid, f"--hypothesis-seed={self.seed}", f"--hypothesis-profile={self.profile}",
                "--cmdb-version", self.cmdb_version, "--error-codes", self.error_codes, "--concurrency", str(self.concurrency),
                "--request-timeout", f"{self.request_timeout:g}"]
        if self.rate_limit:
            args += ["--rate-limit", f"{self.rate_limit:g}"]
        if self.target_url:
            args += ["--target-url", self.target_url]
        if self.target_url and self.allow_writes:
            args.append("--allow-writes")
        if self.biz_given or not self.embedded:
            args += ["--bk-biz-id", str(self.bk_biz_id)]
        if self.bk_parent_id != self.bk_biz_id:
            args += ["--bk-parent-id", str(self.bk_parent_id)]
        if self.set_template_id:
            args += ["--set-template-id", str(self.set_template_id)]
        if self.supplier is not None:
            args += ["--bk-supplier-account", self.supplier]
        if self.denied_username:
            args += ["--denied-username", self.denied_username]
        for fault in self.emulator_faults:
            args += ["--emulator-fault", fault]
        if "test_regression.py" in nodeid:
            args += self.regression.replay_args()
        if self.set_model is not None:
            args += ["--set-model", str(self.set_model)]
        args += ["--reports-dir", str(self.reports_dir / f"replay-{self.run_id}")]
        return args

    def replay(self, nodeid: str) -> str:
        """``replay_args`` as one shell line, run from the project root."""
        return f"cd {shlex.quote(str(ROOT))} && " + shlex.join(self.replay_args(nodeid))


def _checked_env_url(url: str) -> str:
    try:
        return url_type(url)
    except argparse.ArgumentTypeError as exc:
        raise pytest.UsageError(f"CMDB_TARGET_URL: {exc}") from None


def build_config(config: pytest.Config, environ: Mapping[str, str] = os.environ) -> RunConfig:
    """The run's configuration from pytest's options and the environment; usage errors are one line each."""
    opt = config.option
    url = opt.target_url or env_value(environ, "CMDB_TARGET_URL") or None
    if url:
        url = _checked_env_url(url)
    embedded = url is None
    if opt.cleanup_only and embedded:
        raise pytest.UsageError("--cleanup-only needs --target-url (or CMDB_TARGET_URL): the embedded emulator keeps nothing")
    if opt.emulator_fault and not embedded:
        raise pytest.UsageError("--emulator-fault only applies to the embedded emulator; drop --target-url")
    if getattr(opt, "numprocesses", None):
        raise pytest.UsageError("-n (pytest-xdist) is not supported for contract runs: use --concurrency N to keep N requests in flight")
    if not embedded and opt.allow_writes and opt.bk_biz_id is None:
        raise pytest.UsageError(
            "--allow-writes against a real target needs --bk-biz-id: the suite has no default business there "
            f"(business {DEFAULT_BIZ} is the platform's own business on a standard installation)")
    profile = getattr(opt, "hypothesis_profile", None) or ("ci" if environ.get("CI") else "quick")
    if profile not in PROFILES:
        raise pytest.UsageError(f"unknown --hypothesis-profile '{profile}': choose one of {', '.join(PROFILES)}")
    raw_seed = getattr(opt, "hypothesis_seed", None)
    if raw_seed is None:
        seed = secrets.randbelow(2**31)
    else:
        try:
            seed = int(raw_seed)
        except ValueError:
            raise pytest.UsageError(f"--hypothesis-seed '{raw_seed}' is not a whole number") from None
    reports = Path(opt.reports_dir).resolve() if opt.reports_dir else REPORTS
    try:
        reports.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise pytest.UsageError(f"--reports-dir {opt.reports_dir}: cannot create it ({exc.strerror})") from None
    regression = _regression_config(opt, reports)
    biz = opt.bk_biz_id or DEFAULT_BIZ
    set_model = Path(opt.set_model).resolve() if opt.set_model else None
    if set_model is not None and not set_model.is_file():
        raise pytest.UsageError(f"--set-model {opt.set_model}: no such file (write one with: cmdb-contract model --target-url URL --bk-biz-id N -o FILE)")
    return RunConfig(
        target_url=url, bk_biz_id=biz, bk_parent_id=opt.bk_parent_id or biz, set_template_id=opt.set_template_id,
        cmdb_version=opt.cmdb_version, error_codes=opt.error_codes, supplier=opt.bk_supplier_account,
        allow_writes=_writable(embedded, opt) and (regression.diff_target is None or _writable(regression.diff_embedded, opt)),
        rate_limit=opt.rate_limit, request_timeout=opt.request_timeout,
        concurrency=opt.concurrency, denied_username=opt.denied_username, cleanup_only=opt.cleanup_only,
        reports_dir=reports, emulator_faults=tuple(opt.emulator_fault), profile=profile, seed=seed,
        biz_given=opt.bk_biz_id is not None, regression=regression, set_model=set_model,
    )


def _writable(embedded: bool, opt: Any) -> bool:
    """The embedded emulator is always writable; a real target only with --allow-writes."""
    return embedded or bool(opt.allow_writes)


def _regression_config(opt: Any, reports: Path) -> RegressionConfig:
    """--record-baseline, --baseline, --fail-on and the --diff-* options, bad combinations rejected (issue 13)."""
    diff = opt.diff_target
    diff_version = opt.diff_cmdb_version
    if diff is not None and diff.startswith("embedded:"):
        pinned = diff.partition(":")[2]
        if diff_version is not None and diff_version != pinned:
            raise pytest.UsageError(f"--diff-target {diff} emulates {pinned} but --diff-cmdb-version says {diff_version}: drop one")
        diff, diff_version = "embedded", pinned
    if opt.baseline and diff is not None:
        raise pytest.UsageError("--baseline and --diff-target cannot be combined: replay a baseline against one target, or compare two targets")
    if opt.diff_emulator_fault and diff != "embedded":
        raise pytest.UsageError("--diff-emulator-fault only applies to an embedded B: use --diff-target embedded")
    if diff is not None and diff != "embedded" and opt.allow_writes and opt.bk_biz_id is None and opt.diff_bk_biz_id is None:
        raise pytest.UsageError("--allow-writes against a real --diff-target needs --diff-bk-biz-id or --bk-biz-id: "
                                "the suite has no default business there")
    baseline = Path(opt.baseline).resolve() if opt.baseline else None
    if baseline is not None and not baseline.is_file():
        raise pytest.UsageError(f"--baseline {opt.baseline}: no such file (record one with --record-baseline FILE)")
    record = Path(opt.record_baseline).resolve() if opt.record_baseline else None
    if record is not None and not record.parent.is_dir():
        raise pytest.UsageError(f"--record-baseline {opt.record_baseline}: the folder {record.parent} does not exist")
    if record is not None and record == baseline:
        raise pytest.UsageError("--record-baseline and --baseline name the same file: record the replay into a new file")
    summary = Path(opt.differences_json).resolve() if opt.differences_json else None
    if summary is None and (baseline is not None or diff is not None):
        summary = reports / "differences.json"
    return RegressionConfig(record_baseline=record, baseline=baseline, fail_on=opt.fail_on, diff_target=diff,
                            diff_version=diff_version or (opt.cmdb_version if diff is not None else None),
                            diff_faults=tuple(opt.diff_emulator_fault), differences_json=summary, diff_biz=opt.diff_bk_biz_id,
                            diff_template=opt.diff_set_template_id, diff_denied=opt.diff_denied_username)


def embedded_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """Credentials for the embedded emulator: the environment's where set (non-empty), else made up per run."""
    return {
        ENV_APP_CODE: env_value(environ, ENV_APP_CODE) or EMBEDDED_APP_CODE,
        ENV_APP_SECRET: env_value(environ, ENV_APP_SECRET) or secrets.token_hex(16),
        ENV_USERNAME: env_value(environ, ENV_USERNAME) or ("" if env_value(environ, ENV_TOKEN) else "admin"),
        ENV_TOKEN: env_value(environ, ENV_TOKEN),
    }
