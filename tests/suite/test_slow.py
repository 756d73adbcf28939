"""Slow targets and concurrency: no false alarm at 300 ms an answer, N requests in flight, the rate limit kept."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import REAL_ARGS, REPO, SEED, Watched, creds_env, report_text, run_suite

SOME = ["-k", "test_catalogued_defect_is_rejected or test_valid_payloads_are_created or test_concurrent or test_boundary"]


def test_suite_passes_against_a_slow_target(tmp_path: Path) -> None:
    """The whole quick profile against the emulator started with --latency-ms 300 passes: no deadline, no false alarm."""
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps(SEED), encoding="utf-8")
    env = creds_env()
    emulator = subprocess.Popen([sys.executable, "-m", "cmdb_emulator", "--port", "0", "--latency-ms", "300", "--seed", str(seed)],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPO, env=env)
    try:
        assert emulator.stdout is not None
        url = emulator.stdout.readline().strip().removeprefix("listening on ")
        # Eight in flight, as a nightly run against a slow CMDB would use (and a CI minute saved).
        res = run_suite("--target-url", url, *REAL_ARGS, f"--reports-dir={tmp_path}", "--concurrency", "8", env=env, timeout=900)
    finally:
        emulator.terminate()
        emulator.communicate(timeout=30)
    assert res.returncode == 0, res.stdout[-4000:]
    assert "DeadlineExceeded" not in res.stdout and "create_set contract: PASS" in res.stdout
    assert "PASS" in report_text(tmp_path / "contract-report.html")


@pytest.mark.parametrize("concurrency", [1, 3])
def test_concurrency_keeps_that_many_requests_in_flight(watched: Callable[..., Watched], tmp_path: Path, concurrency: int) -> None:
    """--concurrency N keeps up to N requests in flight in every phase, and 1 is strictly serial."""
    target = watched(latency=0.02)
    res = run_suite("--target-url", target.url, *REAL_ARGS, f"--reports-dir={tmp_path}", "--concurrency", str(concurrency), *SOME)
    assert res.returncode == 0, res.stdout[-3000:]
    assert target.max_in_flight == concurrency, target.max_in_flight


def test_rate_limit_holds_with_concurrency(watched: Callable[..., Watched], tmp_path: Path) -> None:
    """With --rate-limit 20 and 4 in flight, no two seconds of the run see more than 40 requests (plus two for arrival jitter)."""
    target = watched(latency=0.02)
    res = run_suite("--target-url", target.url, *REAL_ARGS, f"--reports-dir={tmp_path}", "--rate-limit", "20", "--concurrency", "4",
                    "-k", "test_catalogued_defect_is_rejected and (bk_set_name or auth)")
    assert res.returncode == 0, res.stdout[-3000:]
    times = sorted(target.arrivals)
    assert len(times) > 40
    # Requests leave 50 ms apart; the server sees them with a little jitter, so count over two seconds.
    worst = max(sum(1 for t in times if start <= t < start + 2.0) for start in times)
    assert worst <= 42, worst
