"""Cleanup: delete exactly what a run created on this target, prove it gone, touch nothing else.

Boundary: reads ledgers (``ledger``), talks through ``client.Target`` (search_set,
batch_delete_set, delete_set), returns what happened to every set. A set is
deleted only when search_set shows it with the id and the exact name the
ledger recorded, and the name carries the run's prefix (a name that cannot
carry it, the one-character boundary name, must also have been created inside
the run's time window). Names sent but never answered (``pending``) are looked
up by exact name in their business first. Anything else is reported and left
alone. ``--cleanup-only`` sweeps only the ledgers of the target it is pointed
at and lists the others.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from .client import Exchange, Target, TargetUnavailable, chunks, search_rows
from .ledger import LedgerRecord, ledgers_in, read_ledger

# Clock skew allowed between this machine and the target when checking a creation time.
WINDOW_MARGIN_SECONDS = 300.0
SEARCH_CHUNK = 100


@dataclass(frozen=True)
class SetOutcome:
    """What cleanup did with one set: deleted (and verified gone), gone already, left alone, or still there."""

    bk_biz_id: int
    bk_set_id: int | None
    bk_set_name: str
    status: str  # deleted | gone | left | remains | unresolved
    reason: str = ""


@dataclass
class CleanupResult:
    """The outcome of a cleanup or a sweep, set by set."""

    outcomes: list[SetOutcome] = field(default_factory=list)
    swept: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)
    error: str = ""

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def complete(self) -> bool:
        return not self.error and not any(o.status in ("remains", "unresolved") for o in self.outcomes)

    @property
    def touched(self) -> int:
        return self.count("deleted")

    def summary(self) -> str:
        """One line: 'cleanup complete: ...' or 'cleanup incomplete: ...'."""
        deleted, gone, left = self.count("deleted"), self.count("gone"), self.count("left")
        bad = [o for o in self.outcomes if o.status in ("remains", "unresolved")]
        if not self.outcomes and not self.error:
            head = "cleanup complete: the run created no set"
        else:
            parts = [f"{deleted} set(s) deleted and verified gone"]
            if gone:
                parts.append(f"{gone} already gone")
            if left:
                parts.append(f"{left} left alone (not provably this run's)")
            if bad:
                parts.append(f"{len(bad)} still there or unresolved")
            state = "complete" if self.complete else "incomplete"
            head = f"cleanup {state}: " + ", ".join(parts)
        if self.error:
            head += f"; {self.error}"
        if self.kept:
            head += f"; ledger kept at {', '.join(str(p) for p in self.kept)} (sweep later with --cleanup-only)"
        return head

    def lines(self) -> list[str]:
        """The summary, then one line per set not simply deleted, then the ledgers left alone."""
        out = [self.summary()]
        for o in self.outcomes:
            if o.status != "deleted":
                ident = f"id {o.bk_set_id}" if o.bk_set_id is not None else "no id"
                out.append(f"  {o.status}: business {o.bk_biz_id}, {ident}, name {o.bk_set_name!r}: {o.reason}")
        for path, why in self.skipped:
            out.append(f"  ledger left alone: {path} ({why})")
        return out


def _rfc3339(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _why(ex: Exchange) -> str:
    body = ex.json
    if isinstance(body, dict):
        return f"search_set failed (code {body.get('code')}: {str(body.get('message'))[:200]})"
    return f"search_set answered HTTP {ex.status} without a JSON envelope"


def _find(target: Target, biz: int, key: str, values: list[Any], supplier: str | None) -> dict[Any, list[dict[str, Any]]]:
    """Docs whose ``key`` is one of ``values``: one $in search per chunk, per-value equality if $in is not honoured."""
    found: dict[Any, list[dict[str, Any]]] = {v: [] for v in values}
    for part in chunks(sorted(set(values), key=str), SEARCH_CHUNK):
        ex = target.search_sets(biz, {key: {"$in": part}}, supplier, limit=SEARCH_CHUNK * 2)
        got = search_rows(ex)
        if got is None:
            raise _SearchFailed(_why(ex))
        docs, count = got
        if count > len(docs):  # the condition was ignored: ask one value at a time
            for value in part:
                single = target.search_sets(biz, {key: value}, supplier)
                one = search_rows(single)
                if one is None:
                    raise _SearchFailed(_why(single))
                found[value] += [d for d in one[0] if d.get(key) == value]
            continue
        for d in docs:  # intersect: a target that ignores the condition answers other sets too
            if d.get(key) in found:
                found[d.get(key)].append(d)
    return found


class _SearchFailed(Exception):
    pass


def _ours(name: str, doc: dict[str, Any], record: LedgerRecord, until: float) -> str:
    """'' when ``doc`` is provably this run's set with this name, else why not."""
    if doc.get("bk_set_name") != name:
        return f"the set with that id is now named {doc.get('bk_set_name')!r}, not {name!r}"
    if record.prefix and name.startswith(record.prefix):
        return ""
    created = _rfc3339(doc.get("create_time"))
    if record.started is None:
        return "the name does not carry the run's prefix and the ledger has no start time to check its creation against"
    if created is None:
        return "the name does not carry the run's prefix and the set has no readable create_time"
    if not record.started - WINDOW_MARGIN_SECONDS <= created <= until + WINDOW_MARGIN_SECONDS:
        return "the name does not carry the run's prefix and the set was created outside the run's time window"
    return ""


def clean_record(target: Target, record: LedgerRecord, supplier: str | None = None, now: float | None = None) -> list[SetOutcome]:
    """Resolve, verify, delete and re-check every set of one ledger."""
    until = now if now is not None else time.time()
    outcomes: list[SetOutcome] = []
    by_biz: dict[int, dict[int, str]] = {}
    for ref in record.created:
        by_biz.setdefault(ref.bk_biz_id, {})[ref.bk_set_id] = ref.bk_set_name
    pending: dict[int, set[str]] = {}
    for biz, name in record.pending:
        pending.setdefault(biz, set()).add(name)
    for biz in sorted(set(by_biz) | set(pending)):
        candidates = by_biz.get(biz, {})
        try:
            # Names sent but never answered: did they land? Look them up by exact name.
            names = sorted(pending.get(biz, set()) - set(candidates.values()))
            if names:
                hits = _find(target, biz, "bk_set_name", names, supplier)
                for name in names:
                    docs = [d for d in hits[name] if isinstance(d.get("bk_set_id"), int)]
                    if not docs:
                        continue
                    for d in docs:
                        candidates.setdefault(int(d["bk_set_id"]), name)
            if not candidates:
                continue
            current = _find(target, biz, "bk_set_id", list(candidates), supplier)
            deletable: list[int] = []
            for set_id, name in sorted(candidates.items()):
                docs = current.get(set_id) or []
                if not docs:
                    outcomes.append(SetOutcome(biz, set_id, name, "gone", "not found by search_set: already deleted"))
                    continue
                why = _ours(name, docs[0], record, until)
                if why:
                    outcomes.append(SetOutcome(biz, set_id, name, "left", why))
                else:
                    deletable.append(set_id)
            _delete(target, biz, deletable)
            after = _find(target, biz, "bk_set_id", deletable, supplier) if deletable else {}
            for set_id in deletable:
                if after.get(set_id):
                    outcomes.append(SetOutcome(biz, set_id, candidates[set_id], "remains", "still found by search_set after delete"))
                else:
                    outcomes.append(SetOutcome(biz, set_id, candidates[set_id], "deleted"))
        except _SearchFailed as exc:
            for set_id, name in sorted(candidates.items()):
                outcomes.append(SetOutcome(biz, set_id, name, "unresolved", str(exc)))
            for name in sorted(pending.get(biz, set()) - set(candidates.values())):
                outcomes.append(SetOutcome(biz, None, name, "unresolved", str(exc)))
    return outcomes


def _delete(target: Target, biz: int, ids: list[int]) -> None:
    for part in chunks(ids, 100):
        body = target.batch_delete_sets(biz, part).json
        if not (isinstance(body, dict) and body.get("result") is True):
            for set_id in part:
                target.delete_set(biz, set_id)


def clean_run(target: Target, record: LedgerRecord, supplier: str | None = None) -> CleanupResult:
    """Clean up after the running run; the ledger is removed only when every set is accounted for."""
    result = CleanupResult(swept=[record.path])
    try:
        result.outcomes = clean_record(target, record, supplier)
    except TargetUnavailable as exc:
        result.error = f"target unavailable during cleanup ({exc.reason})"
    if result.complete:
        record.path.unlink(missing_ok=True)
    elif record.path.exists():
        result.kept.append(record.path)
    return result


def sweep(target: Target, folder: Path, supplier: str | None = None) -> CleanupResult:
    """--cleanup-only: sweep the ledgers left for this target under ``folder``; list and keep the others."""
    result = CleanupResult()
    for path in ledgers_in(folder):
        record = read_ledger(path)
        if record.format >= 2 and record.target != target.identity:
            result.skipped.append((path, f"it belongs to target {record.target}, not {target.identity}"))
            continue
        if record.format < 2 and not record.prefix:
            result.skipped.append((path, "an old ledger without a run id in its file name: its sets cannot be verified"))
            continue
        result.swept.append(path)
        try:
            outcomes = clean_record(target, record, supplier)
        except TargetUnavailable as exc:
            result.error = f"target unavailable during cleanup ({exc.reason})"
            result.kept.append(path)
            break
        result.outcomes += outcomes
        if any(o.status in ("remains", "unresolved") for o in outcomes):
            result.kept.append(path)
        else:
            path.unlink(missing_ok=True)
    return result

