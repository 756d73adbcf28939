"""pytest plugin used only by ``benchmarks/run.py``: when this process's test calls ran, and how many create_set requests they sent.

Loaded with ``-p bench_timing`` (``benchmarks/`` on PYTHONPATH). Each pytest
process that ran a test (the single process, or every xdist worker) appends
one JSON line to the file named by ``CMDB_BENCH_TIMING``: the wall-clock
start of its first test call, the end of its last one, and the harness's
create_set request count. Call phases only: start-up, collection, fixture
set-up, cleanup and report writing are not in the window.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

ENV_FILE = "CMDB_BENCH_TIMING"
_window: dict[str, float] = {}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    _window.setdefault("start", time.time())
    yield
    _window["end"] = time.time()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    path = os.environ.get(ENV_FILE)
    if not path or "start" not in _window:
        return
    from cmdb_contract.plugin import RUN

    run: Any = session.config.stash.get(RUN, None)
    examples = run.harness.coverage.creates if run is not None and run.harness is not None else 0
    line = json.dumps({"pid": os.getpid(), "start": _window["start"], "end": _window["end"], "examples": examples})
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")
