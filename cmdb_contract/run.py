"""The run object: one contract run from start to verified cleanup.

Boundary: owns the credentials, the target (the embedded emulator or a URL),
the ledger, the harness, the pipeline, cleanup and the outcome. It is a
context manager: entering starts what the run needs (the emulator, the
target and its first probe); leaving stops new creates, drains what is in
flight, cleans up what this run created, verifies it, and stops the
emulator. pytest's hooks (``plugin``) only enter and leave it.

At start it also reads the target's set model (``modelread``) or loads the
``--set-model`` file, and holds ``spec``: the static spec extended with that
model, which the harness's context and judging carry to strategies and oracles.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import TracebackType
from typing import Any

from .cleanup import CleanupResult, clean_run
from .client import Exchange, Request, Target, TargetUnavailable
from .credentials import ENV_APP_CODE, ENV_APP_SECRET, ENV_TOKEN, Credentials
from .emulator import EmbeddedEmulator, EmulatorFailed
from .harness import Harness
from .ledger import Ledger, read_ledger
from .modelread import load_model, read_model
from .options import RunConfig, embedded_environment
from .oracles import Judging
from .outcomes import Outcome
from .pipeline import Pipeline
from .setmodel import ModelError, SetModel
from .spec import Spec, load_spec
from .strategies import GenContext


class RunError(Exception):
    """The run cannot start (the message is one line naming the fix)."""


class Run:
    """One contract run: enter to start, leave to drain, clean up, verify and stop."""

    def __init__(self, config: RunConfig, environ: Mapping[str, str]) -> None:
        self.config = config
        self._emulator_env: dict[str, str] = {}
        if config.embedded:
            env = embedded_environment(environ)
            self._emulator_env = {k: env[k] for k in (ENV_APP_CODE, ENV_APP_SECRET, ENV_TOKEN) if env[k]}
            self.credentials = Credentials(env[ENV_APP_CODE], env[ENV_APP_SECRET], env.get("BK_USERNAME", ""), env[ENV_TOKEN])
        else:
            self.credentials = Credentials.from_env(environ)
            missing = self.credentials.missing()
            if missing:
                raise RunError(f"missing {missing}: credentials come only from the environment, e.g. "
                               "export BK_APP_CODE=... BK_APP_SECRET=... BK_USERNAME=...")
        self.outcome = Outcome()
        self.emulator: EmbeddedEmulator | None = None
        self.target: Target | None = None
        self.ledger: Ledger | None = None
        self.harness: Harness | None = None
        self.pipeline: Pipeline | None = None
        self.url = config.target_url or ""
        self.probe: Exchange | None = None
        self.probe_note = ""
        self.finished: float | None = None
        self._entered = False
        self.model: SetModel | None = None
        self.spec: Spec = load_spec()
        if config.set_model is not None:
            self.model = self._model_file(config.set_model)

    def __repr__(self) -> str:
        return f"Run({self.config.run_id}, target={self.url or 'embedded emulator'})"

    @property
    def read_only(self) -> bool:
        return not self.config.allow_writes

    @property
    def ctx(self) -> GenContext:
        c = self.config
        return GenContext(bk_biz_id=c.bk_biz_id, bk_parent_id=c.bk_parent_id, set_template_ids=c.template_ids, bk_supplier_account=c.supplier,
                          spec=self.spec)

    @property
    def notes(self) -> list[str]:
        """What the report says about the run's start: the probe, and how the set model was read."""
        notes = [self.probe_note] if self.probe_note else []
        return notes + list(self.model.notes if self.model is not None else ())

    def _model_file(self, path: Any) -> SetModel:
        try:
            model = load_model(path)
        except ModelError as exc:
            raise RunError(str(exc)) from None
        if model.bk_biz_id not in (0, self.config.bk_biz_id):
            raise RunError(f"--set-model {path} holds the model of business {model.bk_biz_id}, the run uses business "
                           f"{self.config.bk_biz_id}: pass --bk-biz-id {model.bk_biz_id} or save the model of business {self.config.bk_biz_id}")
        return model

    def redact(self, text: str) -> str:
        return self.credentials.redact(text)

    # -- entering ------------------------------------------------------------------------------
    def __enter__(self) -> Run:
        try:
            self._start()
        except BaseException:
            self._stop_emulator()
            raise
        self._entered = True
        return self

    def _start(self) -> None:
        c = self.config
        if c.embedded:
            self.emulator = EmbeddedEmulator(c.cmdb_version, c.emulator_faults, c.denied_user or "", self._emulator_env)
            try:
                self.url = self.emulator.start()
            except EmulatorFailed as exc:
                raise RunError(f"the embedded emulator did not start: {self.redact(str(exc))[-500:]}") from None
        self.target = Target(self.url, self.credentials, timeout=c.request_timeout, rate_limit=c.rate_limit, concurrency=c.concurrency)
        self.ledger = Ledger(c.reports_dir / f"ledger-{c.run_id}.jsonl", run_id=c.run_id, target=self.target.identity,
                             bk_biz_id=c.bk_biz_id, prefix=f"ct{c.run_id}", started=c.started)
        self._probe()
        # The model read at start shapes generation and judging for the whole run.
        self.spec = load_spec().with_model(self.model) if self.model is not None else load_spec()
        self.harness = Harness(self.target, self.ctx, Judging(c.cmdb_version, c.error_codes, spec=self.spec), run_id=c.run_id,
                               ledger=self.ledger, concurrency=c.concurrency)
        if c.concurrency > 1:
            self.pipeline = Pipeline(c.concurrency)

    def _probe(self) -> None:
        """A first read-only request: is there an API answering JSON envelopes at all? Then the set model."""
        assert self.target is not None
        request = Request("search_set", {"bk_biz_id": self.config.bk_biz_id, "fields": ["bk_set_id"], "condition": {},
                                         "page": {"start": 0, "limit": 1}})
        try:
            self.probe = self.target.probe(request)
        except TargetUnavailable as err:
            self.target.unavailable = err
            self.outcome.unavailable = err
            return
        body = self.probe.json
        if isinstance(body, dict) and body.get("result") is not True:
            self.probe_note = (f"the first search_set of business {self.config.bk_biz_id} was refused "
                               f"(code {body.get('code')}: {self.redact(str(body.get('message')))[:200]}); check the credentials and the business")
        if self.model is None:
            model = read_model(self.target, self.config.bk_biz_id, self.config.supplier)
            # Messages of the target may quote what was sent; the notes are printed, so redact them.
            self.model = SetModel(model.bk_biz_id, model.attributes, model.foreign, model.origin,
                                  tuple(self.redact(n) for n in model.notes), model.read)

    # -- leaving -------------------------------------------------------------------------------
    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if isinstance(exc, KeyboardInterrupt):
            self.outcome.interrupted = True
        try:
            with _signals_held():
                self.drain()
                self.outcome.cleanup = self.clean_up()
        finally:
            self._stop_emulator()
            if self.target is not None:
                self.target.close()
            self.finished = time.time()

    def drain(self) -> None:
        """No new create from now on; drop queued scenarios, wait for requests in flight."""
        if self.target is not None:
            self.target.close_creates("the run is stopping: cleanup is about to read the ledger")
        if self.pipeline is not None:
            self.pipeline.stop()
        if self.harness is not None:
            self.harness.close()

    def clean_up(self) -> CleanupResult | None:
        """Delete what this run created and prove it gone; the ledger stays when that cannot be proven."""
        if self.ledger is None or self.target is None:
            return None
        self.ledger.close()
        record = read_ledger(self.ledger.path)
        if not self.ledger.path.exists() or record.empty:
            self.ledger.path.unlink(missing_ok=True)
            return CleanupResult()
        if self.target.unavailable is not None:
            try:
                self.target.probe(Request("search_set", {"bk_biz_id": self.config.bk_biz_id, "fields": ["bk_set_id"],
                                                         "condition": {}, "page": {"start": 0, "limit": 1}}))
            except TargetUnavailable as err:
                result = CleanupResult(swept=[record.path], kept=[record.path])
                result.error = f"target unavailable, cleanup not possible now ({err.reason})"
                return result
        try:
            return clean_run(self.target, record, self.config.supplier)
        except Exception as exc:  # a bug in cleanup must not lose the ledger or the report
            result = CleanupResult(swept=[record.path], kept=[record.path] if record.path.exists() else [])
            result.error = f"cleanup failed ({type(exc).__name__}: {self.redact(str(exc))[:300]})"
            return result

    def _stop_emulator(self) -> None:
        if self.emulator is not None:
            self.emulator.stop()

    @property
    def requests_sent(self) -> int:
        return self.target.sent if self.target is not None else 0

    @property
    def duration(self) -> float:
        return (self.finished or time.time()) - self.config.started

    def describe(self) -> dict[str, Any]:
        """The run facts the report's header shows (no secret)."""
        c = self.config
        return {
            "target": f"{self.url} (embedded emulator)" if c.embedded else self.url,
            "cmdb_version": c.cmdb_version, "error_codes": c.error_codes, "profile": c.profile, "seed": c.seed,
            "writes": "allowed" if c.allow_writes else "READ-ONLY (no --allow-writes): tests that create sets were skipped",
            "concurrency": c.concurrency, "rate_limit": c.rate_limit or "none", "business": c.bk_biz_id,
            "app_code": self.credentials.app_code, "run_id": c.run_id, "set_model": self.model_summary,
        }

    @property
    def model_summary(self) -> str:
        spec = self.spec
        if spec.model is None:
            return "not read (the target was not reached)"
        return (f"{spec.model.origin}: {len(spec.model_fields)} attributes beyond the built-in schema exercised, "
                f"{len(spec.model_skipped)} skipped, {len(spec.foreign_fields)} of other businesses sent to be dropped")


@contextmanager
def _signals_held() -> Iterator[None]:
    """While cleaning up, Ctrl-C and SIGTERM do not cut cleanup short (it is bounded by the request timeout)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: dict[int, Any] = {}

    def note(signum: int, frame: Any) -> None:
        sys.stderr.write("cleanup is running: it deletes what this run created, then the run ends\n")

    for signum in (signal.SIGINT, signal.SIGTERM):
        held[signum] = signal.signal(signum, note)
    try:
        yield
    finally:
        for number, handler in held.items():
            signal.signal(number, handler)
