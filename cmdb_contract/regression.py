"""Regression that notices change: record a baseline, replay one, or compare two targets (issue 13).

Boundary: the session-level work of one contract run, built from the pure
pieces: ``baseline`` (normalising, grouping, the file), ``replay`` (sending
through a harness) and ``differences`` (comparing). It owns the collector of
what the run's tests send (target A's exchanges and judgements, from its
harness), target B (a second ``Run``: its own credentials, emulator, ledger
and verified cleanup), the one comparison the regression tests judge, and
the files written at the end. The hooks that drive it are in
``regression_plugin``; the HTML section is ``diffreport``'s.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import secrets
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from typing import Any

from .baseline import (
    BaselineError,
    Group,
    Line,
    Recorded,
    SideValues,
    group_records,
    header,
    read_baseline,
    sort_groups,
    write_baseline,
)
from .client import Exchange, TargetUnavailable, normalise_url
from .credentials import ENV_APP_CODE, ENV_APP_SECRET, ENV_TOKEN, ENV_USERNAME, env_value
from .differences import KINDS, Comparison, compare, noise_of, row_violation
from .options import DEFAULT_BIZ, RegressionConfig, RunConfig
from .oracles import ContractViolation, Expectation, Oracle
from .replay import BoundaryNames, ReplayedGroup, Side, replay
from .run import Run, RunError

# Target B's credentials: these variables when any of them is set (then only they count), else A's.
ENV_B = {ENV_APP_CODE: "BK_APP_CODE_B", ENV_APP_SECRET: "BK_APP_SECRET_B", ENV_USERNAME: "BK_USERNAME_B", ENV_TOKEN: "BK_TOKEN_B"}
SUMMARY_FORMAT = 1


def suite_version() -> str:
    """The installed suite's version, for the baseline header."""
    try:
        return metadata.version("cmdb-create-set-contract")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a checkout that was never installed
        return "unknown"


class Collector:
    """Every exchange target A answers while the tests run, and every judgement of it; thread-safe."""

    def __init__(self) -> None:
        self.on = False
        self._items: list[Recorded] = []
        self._by_id: dict[int, Recorded] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Collector({len(self._items)} exchanges, {'on' if self.on else 'off'})"

    def exchange(self, ex: Exchange) -> None:
        """A target listener: keep the exchange while the tests run."""
        if not self.on or ex.request is None:
            return
        with self._lock:
            item = Recorded(len(self._items), ex)
            self._items.append(item)
            self._by_id[id(ex)] = item

    def judged(self, oracles: Sequence[Oracle], ex: Exchange, expect: Expectation, passed: bool) -> None:
        """A harness judge listener: keep how a kept exchange was judged."""
        if not self.on:
            return
        with self._lock:
            item = self._by_id.get(id(ex))
            if item is not None:
                item.judgements.append((tuple(oracles), expect, passed))

    def records(self) -> list[Recorded]:
        """Every exchange kept so far, in the order they came."""
        with self._lock:
            return list(self._items)


def side_values(run: Run) -> SideValues:
    """What the placeholders stand for on this run's target."""
    c = run.config
    ids = c.template_ids
    return SideValues(bk_biz_id=c.bk_biz_id, bk_parent_id=c.bk_parent_id, template_id=ids[0] if ids else None,
                      username=run.credentials.username, app_code=run.credentials.app_code, denied_user=c.denied_user,
                      token_prefix=f"ct{c.run_id}")


def b_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """B's environment: the *_B credential variables in place of A's when any is set, else A's unchanged."""
    out = {k: v for k, v in environ.items() if k not in ENV_B.values()}
    if any(env_value(environ, b) for b in ENV_B.values()):
        for plain, b in ENV_B.items():
            out[plain] = env_value(environ, b)
    return out


def b_config(config: RunConfig) -> RunConfig:
    """Target B's run configuration: A's, with B's target, version, faults, business and a run id of its own.

    An embedded B has the emulator's own business, template and denied user
    unless the --diff-* options say otherwise (A's would name ids of A's
    installation); a real B takes A's unless they do.
    """
    o = config.regression
    run_id = secrets.token_hex(3)
    while run_id == config.run_id:
        run_id = secrets.token_hex(3)
    if o.diff_embedded:
        biz, template, denied = o.diff_biz or DEFAULT_BIZ, o.diff_template, o.diff_denied
        parent = biz
    else:
        biz, template, denied = o.diff_biz or config.bk_biz_id, o.diff_template or config.set_template_id, o.diff_denied or config.denied_username
        parent = biz if o.diff_biz else config.bk_parent_id
    return dataclasses.replace(config, target_url=None if o.diff_embedded else o.diff_target,
                               cmdb_version=o.diff_version or config.cmdb_version, emulator_faults=o.diff_faults,
                               run_id=run_id, regression=RegressionConfig(), bk_biz_id=biz, bk_parent_id=parent,
                               set_template_id=template, denied_username=denied, biz_given=o.diff_biz is not None or not o.diff_embedded)


def describe_target(run: Run) -> str:
    """A target as a baseline names it: the normalised URL, or the embedded emulator and its version (no port)."""
    c = run.config
    return f"embedded emulator {c.cmdb_version}" if c.embedded else normalise_url(c.target_url or "")


class Regression:
    """The run's baseline recording, baseline replay or differential comparison."""

    def __init__(self, config: RunConfig, environ: Mapping[str, str]) -> None:
        self.config = config
        self.options = config.regression
        self.collector = Collector()
        self.reference_header: dict[str, Any] | None = None
        self.reference: list[Group] | None = None
        self.replayed: list[ReplayedGroup] = []
        self.comparison: Comparison | None = None
        self.b: Run | None = None
        self.notes: list[str] = []
        self._lock = threading.Lock()
        if self.options.baseline is not None:
            try:
                self.reference_header, self.reference = read_baseline(self.options.baseline)
            except BaselineError as exc:
                raise RunError(str(exc)) from None
        if self.options.diff_target is not None:
            try:
                self.b = Run(b_config(config), b_environment(environ))
            except RunError as exc:
                raise RunError(f"target B ({self.options.diff_target}): {exc}; B takes BK_APP_CODE_B, BK_APP_SECRET_B and "
                               "BK_USERNAME_B or BK_TOKEN_B when any of them is set, else the same variables as A") from None

    def __repr__(self) -> str:
        return f"Regression(baseline={self.options.baseline}, diff={self.options.diff_target}, record={self.options.record_baseline})"

    @property
    def active(self) -> bool:
        return self.options.active

    def redact(self, text: str) -> str:
        """Second net over text: neither A's nor B's secrets."""
        return self.b.redact(text) if self.b is not None else text

    # -- the session -------------------------------------------------------------------------
    def start(self, run: Run) -> None:
        """Record what A's tests send (when a baseline is recorded or B compared); start target B."""
        if run.harness is None or run.target is None:
            return
        if self.options.record_baseline is not None or self.options.diff_target is not None:
            run.target.listeners.append(self.collector.exchange)
            run.harness.judge_listeners.append(self.collector.judged)
            self.collector.on = True
        if self.b is not None:
            self.b.__enter__()
            if self.b.outcome.unavailable is not None and run.outcome.unavailable is None:
                err = self.b.outcome.unavailable
                run.outcome.unavailable = TargetUnavailable(f"target B ({self.b.url}): {err.reason}", err.exchange)

    def tests_done(self) -> None:
        """Nothing sent from now on is a test's: cleanup's searches and deletes are not recorded."""
        self.collector.on = False

    def compare(self, run: Run) -> Comparison:
        """Replay the reference against the target(s) and compare, once per run."""
        with self._lock:
            if self.comparison is None:
                self.comparison = self._compare(run)
            return self.comparison

    def _compare(self, run: Run) -> Comparison:
        self.collector.on = False
        assert run.harness is not None
        c = run.config
        names = BoundaryNames(c.seed)
        a = Side("A", run.harness, side_values(run), c.allow_writes, names, concurrency=c.concurrency)
        if self.reference is not None and self.b is None:
            a.judging = run.harness.judging
            self.replayed = replay(self.reference, a)  # on Ctrl-C it stops its own groups
            return self._counted(run, compare(self.replayed))
        assert self.b is not None and self.b.harness is not None
        self.reference = sort_groups(group_records(self.collector.records(), side_values(run)))
        b = Side("B", self.b.harness, side_values(self.b), c.allow_writes, names, judging=self.b.harness.judging,
                 concurrency=c.concurrency)
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="diff") as pool:
            again = pool.submit(replay, self.reference, a)
            other = pool.submit(replay, self.reference, b)
            try:
                self.replayed = other.result()
                noise = noise_of(again.result())
            except TargetUnavailable as err:
                a.stop.set()
                b.stop.set()
                if other.done() and other.exception() is err:
                    raise TargetUnavailable(f"target B ({self.b.url}): {err.reason}", err.exchange) from None
                raise
            except BaseException:
                a.stop.set()  # Ctrl-C: both replays stop before their next step
                b.stop.set()
                raise
        return self._counted(run, compare(self.replayed, noise))

    @staticmethod
    def _counted(run: Run, comparison: Comparison) -> Comparison:
        """Each compared request is one check of every drift rule, so the rules table counts them."""
        assert run.harness is not None
        for kind in KINDS:
            failed = len({(c.group, c.step) for r in comparison.of(kind) for c, _ in r.examples})
            run.harness.counts.passed[f"drift.{kind}"] += comparison.compared - failed
            run.harness.counts.failed[f"drift.{kind}"] += failed
        return comparison

    def check(self, kind: str) -> None:
        """Raise the differences of one kind that fail the run: contract-breaking ones, or all with --fail-on drift."""
        assert self.comparison is not None
        failing = [r for r in self.comparison.of(kind) if r.contract or self.options.fail_on == "drift"]
        _raise([row_violation(r) for r in failing], f"{len(failing)} field(s) differ from the reference as drift.{kind}")

    def check_contract(self) -> None:
        """Raise every rule the reference kept and the replayed answers break (one per rule and subject)."""
        assert self.comparison is not None
        first: dict[tuple[str, str | None], ContractViolation] = {}
        for v, _ in self.comparison.newly_broken:
            first.setdefault((v.rule_id, v.subject), v)
        _raise(list(first.values()), f"{len(first)} rule(s) the reference kept are broken by the replayed answers")

    def finish(self, run: Run) -> None:
        """Write the baseline and the JSON summary; stop B (drain, clean up, verify)."""
        try:
            self._write(run)
        finally:
            if self.b is not None:
                self.b.__exit__(None, None, None)

    def _write(self, run: Run) -> None:
        record = self.options.record_baseline
        if record is not None:
            if run.outcome.interrupted or run.outcome.unavailable is not None:
                # A partial baseline would report every request it lacks as a difference tomorrow.
                why = "interrupted" if run.outcome.interrupted else "cut short by an unavailable target"
                self.notes.append(f"baseline not written to {record}: the run was {why}")
            else:
                groups = self._recorded_groups(run)
                head = header(suite=suite_version(), target=describe_target(run), cmdb_version=run.config.cmdb_version,
                              error_codes=run.config.error_codes, profile=run.config.profile, seed=run.config.seed,
                              date=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"), groups=groups)
                if self.options.baseline is not None:
                    head["replayed_from"] = str(self.options.baseline)
                write_baseline(record, head, groups)
                self.notes.append(f"baseline: {record} ({head['exchanges']} exchanges in {head['groups']} groups)")
        summary = self.options.differences_json
        if summary is not None and self.comparison is not None:
            text = json.dumps(self.summary(run), ensure_ascii=False, indent=1, sort_keys=True)
            summary.write_text(run.redact(self.redact(text)) + "\n", encoding="utf-8")
            self.notes.append(f"differences: {summary}")

    def _recorded_groups(self, run: Run) -> list[Group]:
        """The groups to record: the replay's answers when a baseline was replayed, else what the tests sent."""
        if self.options.baseline is None:
            return group_records(self.collector.records(), side_values(run))
        out: list[Group] = []
        for rg in self.replayed:
            if any(new.answer is None for new in rg.lines):
                continue  # a group not replayed whole would record a sequence no target answered
            lines = []
            for ref, new in zip(rg.group.lines, rg.lines, strict=True):
                now = new.judged or [None] * len(ref.judged)
                judged = [{**j, "passed": j.get("passed") if ok is None else ok} for j, ok in zip(ref.judged, now, strict=True)]
                assert new.answer is not None
                lines.append(Line(ref.step, ref.request, new.answer, judged))
            out.append(Group(rg.group.id, lines))
        return out

    def summary(self, run: Run) -> dict[str, Any]:
        """The JSON summary: what was compared with what, the verdict, and one entry per difference kind and field."""
        assert self.comparison is not None
        if self.b is not None:
            reference: dict[str, Any] = {"kind": "target A", "target": describe_target(run), "cmdb_version": run.config.cmdb_version}
            candidate = {"target": describe_target(self.b), "cmdb_version": self.b.config.cmdb_version,
                         "emulator_faults": list(self.b.config.emulator_faults)}
        else:
            reference = {"kind": "baseline", "file": str(self.options.baseline), **(self.reference_header or {})}
            candidate = {"target": describe_target(run), "cmdb_version": run.config.cmdb_version}
        return {"format": SUMMARY_FORMAT, "reference": reference, "candidate": candidate, "fail_on": self.options.fail_on,
                **self.comparison.summary()}

    # -- what the terminal says ---------------------------------------------------------------
    def lines(self) -> list[str]:
        """The terminal summary: the verdict, one line per row, what was not replayed, B's cleanup, the files written."""
        out: list[str] = []
        c = self.comparison
        if c is not None:
            out.append(f"create_set regression: {c.verdict.upper()}: {len(c.rows)} difference(s) by kind and field over "
                       f"{c.compared} request(s) compared; {sum(c.noise.values())} noise difference(s) cancelled"
                       + (f"; {sum(c.skipped.values())} not replayed" if c.skipped else ""))
            for r in c.ordered_rows:
                broken = f", {r.contract} break the contract ({', '.join(r.contract_rules)})" if r.contract else ""
                out.append(f"  {r.rule} {r.field}: {r.requests} request(s){broken}")
            for why, n in sorted(c.skipped.items()):
                out.append(f"  not replayed ({n}): {why}")
        if self.b is not None and self.b.outcome.cleanup is not None:
            out += [f"target B: {line}" for line in self.b.outcome.cleanup.lines()]
        out += self.notes
        return [self.redact(line) for line in out]


def _raise(violations: list[ContractViolation], message: str) -> None:
    if len(violations) == 1:
        raise violations[0]
    if violations:
        raise ExceptionGroup(message, violations)


def reference_text(r: Regression) -> str:
    """One phrase naming what the run compares with."""
    if r.b is not None:
        return f"target A ({r.config.target_url or 'embedded emulator'}) against target B ({r.options.diff_target})"
    head = r.reference_header or {}
    return f"baseline {r.options.baseline} (recorded {head.get('date')} against {head.get('target')}, CMDB {head.get('cmdb_version')})"

