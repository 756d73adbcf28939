"""The ledger: a write-ahead record of every set a run may have created, on which target.

Boundary: one JSON Lines file per run under the reports directory, appended
and flushed line by line, read back by cleanup and by ``--cleanup-only``. No
HTTP here. Format 2 (this one) starts with a header naming the target
(normalised URL), the business, the run id, the name prefix and the start
time; then a ``pending`` line for every create before it is sent and a
``created`` line for every create answered with ``result: true``. A ``kill -9``
at any moment therefore leaves every name a later sweep needs. Format 1 (older
runs: one ``{bk_biz_id, bk_set_id, bk_set_name}`` line per created set, no
header) is still read.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

FORMAT = 2
_FILE = re.compile(r"^ledger-([0-9a-f]+)\.jsonl$")


@dataclass(frozen=True)
class SetRef:
    """A set the ledger says this run created."""

    bk_biz_id: int
    bk_set_id: int
    bk_set_name: str


@dataclass
class LedgerRecord:
    """What a ledger file says, read back."""

    path: Path
    format: int
    run_id: str
    prefix: str
    target: str | None = None
    bk_biz_id: int | None = None
    started: float | None = None
    created: list[SetRef] = field(default_factory=list)
    pending: list[tuple[int, str]] = field(default_factory=list)  # sent, never answered with result true

    @property
    def empty(self) -> bool:
        return not self.created and not self.pending


class Ledger:
    """The ledger of the running run: thread-safe appends, each flushed before the request goes out."""

    def __init__(self, path: Path, *, run_id: str, target: str, bk_biz_id: int, prefix: str, started: float | None = None) -> None:
        self.path = path
        self.run_id = run_id
        self.target = target
        self.bk_biz_id = bk_biz_id
        self.prefix = prefix
        self.started = started if started is not None else time.time()
        self._lock = threading.Lock()
        self._keys = itertools.count(1)
        self._fh: TextIO | None = None
        self.writes = 0

    def __repr__(self) -> str:
        return f"Ledger({str(self.path)!r})"

    def _write(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        with self._lock:
            if self._fh is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fh = self.path.open("a", encoding="utf-8")
                header = {"ledger": FORMAT, "run_id": self.run_id, "target": self.target, "bk_biz_id": self.bk_biz_id,
                          "prefix": self.prefix, "started": self.started}
                self._fh.write(json.dumps(header, ensure_ascii=False) + "\n")
            self._fh.write(line)
            # Flushed to the operating system before the request is sent: a killed
            # suite leaves it complete. (No fsync per line: that guards against a
            # power cut, not an interrupted run, and costs more than the request.)
            self._fh.flush()
            self.writes += 1

    def pending(self, bk_biz_id: int, name: str) -> int:
        """Record a create about to be sent; returns the key its answer is recorded under."""
        key = next(self._keys)
        self._write({"op": "pending", "key": key, "bk_biz_id": bk_biz_id, "bk_set_name": name, "at": time.time()})
        return key

    def created(self, key: int, bk_biz_id: int, bk_set_id: int, name: str) -> None:
        """Record a create answered with result true."""
        self._write({"op": "created", "key": key, "bk_biz_id": bk_biz_id, "bk_set_id": bk_set_id, "bk_set_name": name, "at": time.time()})

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.flush()
                os.fsync(self._fh.fileno())
                self._fh.close()
                self._fh = None

    def remove(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)


def run_id_of(path: Path) -> str:
    match = _FILE.match(path.name)
    return match.group(1) if match else ""


def read_ledger(path: Path) -> LedgerRecord:
    """Read a ledger of either format; lines that do not parse (a torn last line) are skipped."""
    run_id = run_id_of(path)
    record = LedgerRecord(path=path, format=1, run_id=run_id, prefix=f"ct{run_id}" if run_id else "")
    pending: dict[int, tuple[int, str]] = {}
    answered: set[int] = set()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return record
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if not isinstance(entry, dict):
            continue
        try:
            if "ledger" in entry:
                record.format = int(entry["ledger"])
                record.run_id = str(entry.get("run_id") or run_id)
                record.prefix = str(entry.get("prefix") or record.prefix)
                record.target = str(entry["target"]) if entry.get("target") else None
                record.bk_biz_id = int(entry["bk_biz_id"]) if entry.get("bk_biz_id") is not None else None
                record.started = float(entry["started"]) if entry.get("started") is not None else None
            elif entry.get("op") == "pending":
                pending[int(entry["key"])] = (int(entry["bk_biz_id"]), str(entry["bk_set_name"]))
            elif entry.get("op") == "created":
                answered.add(int(entry["key"]))
                record.created.append(SetRef(int(entry["bk_biz_id"]), int(entry["bk_set_id"]), str(entry["bk_set_name"])))
            elif "bk_set_id" in entry:  # format 1
                record.created.append(SetRef(int(entry["bk_biz_id"]), int(entry["bk_set_id"]), str(entry.get("bk_set_name", ""))))
        except (KeyError, TypeError, ValueError):
            continue
    record.pending = [v for k, v in pending.items() if k not in answered]
    return record


def ledgers_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("ledger-*.jsonl") if p.is_file())
