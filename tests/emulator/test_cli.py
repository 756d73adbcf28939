"""The CLI contract (brief): first stdout line, --list-faults, start-up errors,
clean SIGTERM/Ctrl-C exit, --db persistence across a restart, --log.
"""

from __future__ import annotations

import re
import signal
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from cmdb_emulator.faults import CATALOGUE

from .conftest import Cli
from .helpers import call, create, run_cli, write_seed


def test_first_line_names_the_url(cli: Any) -> None:
    """Brief: the first stdout line is exactly 'listening on http://HOST:PORT' (port 0 = free port)."""
    process = cli("--port", "0")
    assert re.fullmatch(r"listening on http://127\.0\.0\.1:\d+\n", process.first_line)
    assert call(process.url, "search_business", {})["code"] == 0
    code, _, err = process.terminate()
    assert code == 0 and "Traceback" not in err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signals_stop_cleanly(cli: Any, sig: int) -> None:
    """Brief: Ctrl-C / SIGTERM stop the emulator with exit 0 and no traceback."""
    process = cli("--port", "0")
    code, _, err = process.terminate(sig)
    assert code == 0
    assert err == ""


def test_sigint_stops_an_emulator_started_with_it_ignored(cli: Any) -> None:
    """A background job of a non-interactive shell inherits SIGINT ignored; Ctrl-C's signal still stops the emulator cleanly."""
    process = cli("--port", "0", sigint_ignored=True)
    code, _, err = process.terminate(signal.SIGINT)
    assert code == 0 and err == ""


def test_list_faults_prints_the_catalogue() -> None:
    """Brief: --list-faults prints one 'NAME  description' line per fault and exits 0."""
    result = run_cli("--list-faults")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert [line.split("  ", 1)[0] for line in lines] == list(CATALOGUE)
    assert all(line.split("  ", 1)[1] for line in lines)


def test_unknown_fault_exits_2_naming_list_faults() -> None:
    """Brief: an unknown --fault is a one-line stderr error naming --list-faults, exit 2."""
    result = run_cli("--fault", "no-such-fault")
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1 and "--list-faults" in result.stderr


@pytest.mark.parametrize("seed", [None, "{not json", '[1]', '{"businesses": [{"bk_biz_id": "2"}]}',
                                  '{"tokens": {"t": 5}}', '{"extra": 1}'],
                         ids=["missing", "bad-json", "not-object", "bad-biz", "bad-tokens", "unknown-key"])
def test_bad_seed_exits_2_without_traceback(tmp_path: Path, seed: str | None) -> None:
    """Brief: a missing, non-JSON or wrongly shaped --seed is a one-line error, exit 2."""
    target = str(tmp_path / "absent.json") if seed is None else write_seed(tmp_path, seed)
    result = run_cli("--seed", target, "--port", "0")
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
    assert result.stdout == ""


def test_seed_file_defines_the_world(cli: Any, tmp_path: Path) -> None:
    """Brief: --seed businesses each get an idle set; other businesses do not exist."""
    seed = write_seed(tmp_path, {"businesses": [{"bk_biz_id": 7, "bk_biz_name": "seven"}]})
    process = cli("--port", "0", "--seed", seed)
    body = call(process.url, "search_set", {"bk_biz_id": 7}, lang="zh-cn")
    assert [(s["bk_set_name"], s["default"]) for s in body["data"]["info"]] == [("空闲机池", 1)]
    assert create(process.url, {"bk_parent_id": 2, "bk_set_name": "x"})["code"] == 1199011


def test_db_persists_across_restart(cli: Any, tmp_path: Path) -> None:
    """Brief: --db PATH keeps acknowledged creates (and the id sequence) across a restart."""
    db = str(tmp_path / "cmdb.sqlite")
    first = cli("--port", "0", "--db", db)
    made = create(first.url, {"bk_parent_id": 2, "bk_set_name": "persisted"})["data"]
    first.proc.kill()  # kill -9: WAL + synchronous=FULL must have it on disk
    first.proc.communicate(timeout=10)
    second = cli("--port", "0", "--db", db)
    found = call(second.url, "search_set", {"bk_biz_id": 2, "condition": {"bk_set_name": "persisted"}})
    assert found["data"]["info"] == [made]
    assert create(second.url, {"bk_parent_id": 2, "bk_set_name": "next"})["data"]["bk_set_id"] > made["bk_set_id"]
    assert second.terminate()[0] == 0


def test_db_holding_a_non_finite_number_is_refused_not_served(cli: Any, tmp_path: Path) -> None:
    """Issue 11: a --db file an older emulator wrote Infinity into is refused in one line, never answered with a 500."""
    db = tmp_path / "cmdb.sqlite"
    first = cli("--port", "0", "--db", str(db))
    made = create(first.url, {"bk_parent_id": 2, "bk_set_name": "Infinity-NaN"})["data"]
    assert first.terminate()[0] == 0
    again = cli("--port", "0", "--db", str(db))  # the words inside a string are no number
    assert call(again.url, "search_set", {"bk_biz_id": 2, "condition": {"bk_set_id": made["bk_set_id"]}})["data"]["count"] == 1
    assert again.terminate()[0] == 0
    with sqlite3.connect(db) as conn:  # what the emulator stored before the hardening
        conn.execute("UPDATE sets SET doc = replace(doc, '\"bk_capacity\":null', '\"bk_capacity\":Infinity') WHERE bk_set_id = ?",
                     (made["bk_set_id"],))
    result = run_cli("--port", "0", "--db", str(db))
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
    assert "bad --db" in result.stderr and f"bk_set_id {made['bk_set_id']}" in result.stderr and "non-finite" in result.stderr


def test_db_seeded_from_another_world_is_refused(cli: Any, tmp_path: Path) -> None:
    """Issue 10: with an existing --db, a different --seed is refused in one line naming both worlds."""
    db = str(tmp_path / "cmdb.sqlite")
    first = cli("--port", "0", "--db", db)
    assert first.terminate()[0] == 0
    seed = write_seed(tmp_path, {"businesses": [{"bk_biz_id": 7, "bk_biz_name": "seven"}]})
    result = run_cli("--port", "0", "--db", db, "--seed", seed)
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1
    assert "the default seed" in result.stderr and seed in result.stderr and "bad --db" in result.stderr
    again = cli("--port", "0", "--db", db)  # the same world is fine
    assert call(again.url, "search_business", {})["code"] == 0
    assert again.terminate()[0] == 0


def stop_and_read(process: Cli) -> tuple[int, str, str]:
    """SIGTERM, a bounded wait, then the rest of stdout (through the reader that took the first line) and stderr."""
    # Not communicate(): it reads the raw pipe and misses lines the first readline() buffered.
    process.proc.send_signal(signal.SIGTERM)
    code = process.proc.wait(timeout=10)
    assert process.proc.stdout is not None and process.proc.stderr is not None
    return code, process.proc.stdout.read(), process.proc.stderr.read()


def test_log_goes_to_stderr_without_bodies(cli: Any) -> None:
    """Brief + issue 10: --log writes 'method path status code=<BlueKing code> ms' lines to stderr, never request bodies."""
    process = cli("--port", "0", "--log")
    call(process.url, "create_set", {"bk_biz_id": 2, "data": {"bk_parent_id": 2, "bk_set_name": "logged"}})
    code, out, err = stop_and_read(process)
    assert code == 0 and len(out.splitlines()) == 3 and all(line.startswith(("app ", "bk_token")) for line in out.splitlines())
    assert re.search(r"^POST /api/c/compapi/v2/cc/create_set/ 200 code=0 [\d.]+ms$", err, re.M)
    assert "emulator-secret" not in err and "logged" not in err


def test_emulator_leaves_nothing_in_the_temporary_directory(cli: Any, tmp_path: Path) -> None:
    """Issue 11 (leftovers): a whole run (--db, --log, creates, big searches, SIGTERM) creates nothing under TMPDIR."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {"TMPDIR": str(scratch), "TEMP": str(scratch), "TMP": str(scratch), "SQLITE_TMPDIR": str(scratch)}
    process = cli("--port", "0", "--db", str(tmp_path / "state.sqlite"), "--log", env=env)
    for i in range(50):
        call(process.url, "create_set", {"bk_biz_id": 2, "data": {"bk_parent_id": 2, "bk_set_name": f"tmp-{i}", "description": "x" * 1500}})
    found = call(process.url, "search_set", {"bk_biz_id": 2, "page": {"start": 0, "limit": 1000, "sort": "-description,bk_set_name"}})
    assert found["data"]["count"] == 51
    assert process.terminate()[0] == 0
    assert sorted(p.name for p in scratch.iterdir()) == []


def test_help_documents_the_credentials() -> None:
    """Brief: --help documents BK_APP_CODE / BK_APP_SECRET and their defaults."""
    result = run_cli("--help")
    assert result.returncode == 0
    for text in ("BK_APP_CODE", "BK_APP_SECRET", "BK_TOKEN", "cmdb-emulator", "emulator-secret"):
        assert text in result.stdout


def test_unusable_db_exits_2(tmp_path: Path) -> None:
    """Brief: start-up errors are one line on stderr with exit 2 (here: a --db that cannot be opened)."""
    result = run_cli("--db", str(tmp_path / "missing-dir" / "x.sqlite"), "--port", "0")
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr


def test_port_in_use_exits_2(cli: Any) -> None:
    """Brief: a port that cannot be bound is a one-line error with exit 2, not a traceback."""
    process = cli("--port", "0")
    port = process.url.rsplit(":", 1)[1]
    result = run_cli("--port", port)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
