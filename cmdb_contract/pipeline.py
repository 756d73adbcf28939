"""Run scenario tests ahead of pytest, up to ``concurrency`` at a time, and hand pytest their outcomes.

Boundary: a thread pool and a map from test id to future. pytest still runs
and reports every test in its own order; for a pipelined test the plugin's
``pytest_pyfunc_call`` waits for the future and re-raises what the scenario
raised, so a failure still names its own exchange and rule. Only tests whose
arguments are all known before they run (parameters and the run's session
values) are pipelined; Hypothesis tests run in pytest's thread and batch
their own requests. Every request still goes through the target, which keeps
at most ``concurrency`` in flight within the rate limit.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from .harness import Recorder, recording


class Pipeline:
    """Scenarios submitted in pytest's order, run by ``workers`` threads."""

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)
        self._pool: ThreadPoolExecutor | None = None
        self._futures: dict[str, Future[None]] = {}
        self._recorders: dict[str, Recorder] = {}
        self._lock = threading.Lock()
        self._stopped = False

    def __repr__(self) -> str:
        return f"Pipeline(workers={self.workers}, submitted={len(self._futures)})"

    def submit(self, nodeid: str, scenario: Callable[[], None]) -> None:
        """Queue one test's scenario; its exchanges are recorded for its report."""
        with self._lock:
            if self._stopped:
                return
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="contract-pipeline")
            recorder = Recorder()

            def run() -> None:
                with recording(recorder):
                    scenario()

            self._recorders[nodeid] = recorder
            self._futures[nodeid] = self._pool.submit(contextvars.Context().run, run)

    def future(self, nodeid: str) -> Future[None] | None:
        return self._futures.get(nodeid)

    def recorder(self, nodeid: str) -> Recorder | None:
        return self._recorders.get(nodeid)

    def wait_idle(self) -> None:
        """Wait until every scenario submitted so far has finished."""
        with self._lock:
            futures = list(self._futures.values())
        for f in futures:
            if not f.cancelled():
                f.exception()

    def stop(self) -> None:
        """Drop what has not started and wait for what has (its answers reach the ledger)."""
        with self._lock:
            self._stopped = True
            pool = self._pool
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
