"""A run's lifetime against a real target: the ledger, cleanup that can only delete this run's sets, kill -9, SIGTERM, Ctrl-C."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cmdb_contract.client import normalise_url

from .conftest import REAL_ARGS, REPO, Watched, esb, run_sets, run_suite, sets_in, start_suite


def _ledger(path: Path, target: str, run_id: str, entries: list[dict[str, Any]], started: float | None = None) -> Path:
    header = {"ledger": 2, "run_id": run_id, "target": normalise_url(target), "bk_biz_id": 2, "prefix": f"ct{run_id}",
              "started": started if started is not None else time.time() - 60}
    lines = [header, *entries]
    path.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in lines), encoding="utf-8")
    return path


def _create(url: str, name: str) -> dict[str, Any]:
    body = esb(url, "create_set", {"bk_biz_id": 2, "data": {"bk_parent_id": 2, "bk_set_name": name}})
    assert body["result"] is True, body
    data: dict[str, Any] = body["data"]
    return data


def _sweep(url: str, reports: Path) -> subprocess.CompletedProcess[str]:
    return run_suite("--target-url", url, "--cleanup-only", f"--reports-dir={reports}")


def test_sweep_of_another_targets_ledger_touches_nothing(watched: Callable[..., Watched], tmp_path: Path) -> None:
    """A ledger left against target A, swept with --target-url B, deletes none of B's sets (same ids) and stays for A."""
    a, b = watched(), watched()
    ours = [_create(a.url, f"ctabc123x{i}") for i in range(3)]
    theirs = [_create(b.url, f"someone-elses-{i}") for i in range(3)]
    assert [s["bk_set_id"] for s in ours] == [s["bk_set_id"] for s in theirs]  # small sequential ids on every target
    ledger = _ledger(tmp_path / "ledger-abc123.jsonl", a.url, "abc123",
                     [{"op": "created", "key": i, "bk_biz_id": 2, "bk_set_id": s["bk_set_id"], "bk_set_name": s["bk_set_name"]}
                      for i, s in enumerate(ours)])
    res = _sweep(b.url, tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "ledger left alone" in res.stdout and "ledger-abc123.jsonl" in res.stdout
    assert {s["bk_set_id"] for s in theirs} <= {s["bk_set_id"] for s in sets_in(b.url)}
    assert ledger.exists()
    res = _sweep(a.url, tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "3 set(s) deleted and verified gone" in res.stdout
    assert run_sets(a.url, "ctabc123") == [] and not ledger.exists()
    assert "_pytest.outcomes.Exit" not in res.stdout + res.stderr and "Traceback" not in res.stdout + res.stderr


def test_sweep_leaves_a_set_whose_name_differs(watched: Callable[..., Watched], tmp_path: Path) -> None:
    """A ledgered id whose set on the target now has another name is reported and left alone."""
    t = watched()
    renamed = _create(t.url, "not-the-ledgers-name")
    _ledger(tmp_path / "ledger-def456.jsonl", t.url, "def456",
            [{"op": "created", "key": 1, "bk_biz_id": 2, "bk_set_id": renamed["bk_set_id"], "bk_set_name": "ctdef456zzzz"}])
    res = _sweep(t.url, tmp_path)
    assert res.returncode == 0, res.stdout
    assert "left alone" in res.stdout and "not-the-ledgers-name" in res.stdout
    assert renamed["bk_set_id"] in {s["bk_set_id"] for s in sets_in(t.url)}


def test_sweep_resolves_pending_names(watched: Callable[..., Watched], tmp_path: Path) -> None:
    """Names sent but never answered (pending in the ledger) are looked up by exact name and deleted; others are untouched."""
    t = watched()
    landed = [_create(t.url, f"ct0a0b0c{i:04d}") for i in range(4)]
    other = _create(t.url, "ct0a0b0c-but-not-in-the-ledger")
    _ledger(tmp_path / "ledger-0a0b0c.jsonl", t.url, "0a0b0c",
            [{"op": "pending", "key": i, "bk_biz_id": 2, "bk_set_name": s["bk_set_name"]} for i, s in enumerate(landed)]
            + [{"op": "pending", "key": 9, "bk_biz_id": 2, "bk_set_name": "ct0a0b0cnever"}])
    res = _sweep(t.url, tmp_path)
    assert res.returncode == 0, res.stdout
    assert "4 set(s) deleted and verified gone" in res.stdout
    assert [s["bk_set_id"] for s in run_sets(t.url, "ct0a0b0c")] == [other["bk_set_id"]]


def test_one_character_name_is_deleted_only_inside_the_run_window(watched: Callable[..., Watched], tmp_path: Path) -> None:
    """A name without the run prefix is deleted only if the set was created inside the run's time window."""
    t = watched()
    one = _create(t.url, "蓝")
    _ledger(tmp_path / "ledger-111111.jsonl", t.url, "111111",
            [{"op": "created", "key": 1, "bk_biz_id": 2, "bk_set_id": one["bk_set_id"], "bk_set_name": "蓝"}], started=time.time() + 3600)
    res = _sweep(t.url, tmp_path)
    assert "outside the run's time window" in res.stdout and one["bk_set_id"] in {s["bk_set_id"] for s in sets_in(t.url)}
    _ledger(tmp_path / "ledger-111111.jsonl", t.url, "111111",
            [{"op": "created", "key": 1, "bk_biz_id": 2, "bk_set_id": one["bk_set_id"], "bk_set_name": "蓝"}])
    res = _sweep(t.url, tmp_path)
    assert res.returncode == 0 and one["bk_set_id"] not in {s["bk_set_id"] for s in sets_in(t.url)}, res.stdout


def test_old_format_ledger_is_swept_with_verification(watched: Callable[..., Watched], tmp_path: Path) -> None:
    """A format-1 ledger (no header) is still swept, deleting only ids whose name matches and carries the run prefix."""
    t = watched()
    ours = _create(t.url, "ct7777aa0001")
    foreign = _create(t.url, "foreign-name")
    (tmp_path / "ledger-7777aa.jsonl").write_text(
        json.dumps({"bk_biz_id": 2, "bk_set_id": ours["bk_set_id"], "bk_set_name": ours["bk_set_name"]}) + "\n"
        + json.dumps({"bk_biz_id": 2, "bk_set_id": foreign["bk_set_id"], "bk_set_name": "foreign-name"}) + "\n", encoding="utf-8")
    res = _sweep(t.url, tmp_path)
    assert res.returncode == 0, res.stdout
    ids = {s["bk_set_id"] for s in sets_in(t.url)}
    assert ours["bk_set_id"] not in ids and foreign["bk_set_id"] in ids


def _wait_for_pending(reports: Path, at_least: int, timeout: float = 60) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in reports.glob("ledger-*.jsonl"):
            lines = path.read_text(encoding="utf-8").splitlines()
            if sum('"pending"' in ln for ln in lines) >= at_least:
                return path
        time.sleep(0.1)
    raise AssertionError(f"no ledger with {at_least} pending creates under {reports}")


def test_killed_run_leaves_nothing_cleanup_only_cannot_find(watched: Callable[..., Watched], tmp_path: Path) -> None:
    """kill -9 in the middle of a run (creates in flight) leaves a ledger from which --cleanup-only removes every set of the run."""
    t = watched(latency=0.15)
    unrelated = _create(t.url, "unrelated-team-set")
    proc = start_suite("--target-url", t.url, *REAL_ARGS, f"--reports-dir={tmp_path}", "-k", "test_valid or test_state")
    try:
        ledger = _wait_for_pending(tmp_path, 12)
        time.sleep(0.2)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
        assert proc.stdout is not None
        proc.stdout.close()
    prefix = f"ct{ledger.stem.removeprefix('ledger-')}"
    time.sleep(0.5)  # let the requests in flight land
    assert run_sets(t.url, prefix), "the killed run should have left sets behind"
    res = _sweep(t.url, tmp_path)
    assert res.returncode == 0, res.stdout
    assert run_sets(t.url, prefix) == [] and not ledger.exists()
    assert unrelated["bk_set_id"] in {s["bk_set_id"] for s in sets_in(t.url)}


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_drains_reports_and_cleans_up(watched: Callable[..., Watched], tmp_path: Path, sig: signal.Signals) -> None:
    """SIGTERM (CI cancel) and Ctrl-C: requests in flight drain, the report and JUnit are written, cleanup runs and leaves nothing.

    The SIGINT run starts with SIGINT ignored, as a background job of a non-interactive shell inherits it: it must stop all the same.
    """
    t = watched(latency=0.15)
    proc = start_suite("--target-url", t.url, *REAL_ARGS, f"--reports-dir={tmp_path}", "-k", "test_valid or test_state",
                       sigint_ignored=sig == signal.SIGINT)
    try:
        ledger = _wait_for_pending(tmp_path, 12)
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)
    prefix = f"ct{ledger.stem.removeprefix('ledger-')}"
    assert proc.returncode == 2, out[-3000:]
    assert "cleanup complete:" in out and "deleted and verified gone" in out, out[-3000:]
    assert (tmp_path / "contract-report.html").exists() and (tmp_path / "contract-junit.xml").exists()
    time.sleep(0.5)
    assert run_sets(t.url, prefix) == [], "a worker created after cleanup read the ledger"
    assert not ledger.exists()


def test_make_clean_refuses_while_ledgers_remain(tmp_path: Path) -> None:
    """make clean never deletes a ledger: it refuses, naming the ledgers and the sweep command, and deletes nothing."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    shutil.copy(REPO / "Makefile", tmp_path / "Makefile")
    (tmp_path / "reports").mkdir()
    (tmp_path / ".venv").mkdir()
    ledger = tmp_path / "reports" / "ledger-abcdef.jsonl"
    ledger.write_text("{}\n", encoding="utf-8")
    res = subprocess.run(["make", "-C", str(tmp_path), "clean"], capture_output=True, text=True, timeout=60)
    assert res.returncode != 0
    assert "ledger-abcdef.jsonl" in res.stderr and "--cleanup-only" in res.stderr
    assert ledger.exists() and (tmp_path / ".venv").exists()
    ledger.unlink()
    res = subprocess.run(["make", "-C", str(tmp_path), "clean"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and not (tmp_path / ".venv").exists(), res.stderr
