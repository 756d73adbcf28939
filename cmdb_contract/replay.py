"""Replay recorded lines against a target: placeholders filled in, answers normalised and judged again.

Boundary: every request goes through ``Harness.send``, so a create is in the
target's ledger before it is sent and cleaned up at the end like any other.
A group is replayed in order, with fresh run tokens for ``${token#N}`` (a
replayed create never collides with the recorded one, nor with a replay of
the same group elsewhere), a one-character name free on this target for
``${name#N}``, the id this target gave set N for ``${set-id#N}``, and this
target's business, parent, template and users for the configuration
placeholders. Groups run concurrently; a step that needs what the target did
not produce (a set it refused to create) is skipped and says why. Comparing
is ``differences``' job.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from .baseline import MASK, NAMED_ORACLES, TOKEN_MASK, Group, Masks, SideValues, normalise_answer, sort_runs
from .client import Exchange, Request
from .credentials import Auth
from .harness import Harness
from .oracles import ALL_ORACLES, ContractViolation, Expectation, Judging, Oracle, judge, rule_of

_BY_RULE: dict[str, Oracle] = {rule_of(o): o for o in ALL_ORACLES}
# The CJK block the suite's one-character names come from (strategies.one_character_name).
_CJK_FIRST, _CJK_SPAN = 0x4E00, 0x9FA5 - 0x4E00
NAME_TRIES = 64


class Unresolvable(Exception):
    """A placeholder this target cannot fill (the message says what it needs)."""


class Stopped(Exception):
    """The comparison is stopping (Ctrl-C, SIGTERM): no further step is sent."""


class BoundaryNames:
    """One-character names for replays: free on their target, and never handed to two replays of this run."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._given: set[str] = set()
        self._lock = threading.Lock()

    def pick(self, harness: Harness) -> str:
        """A one-character name no replay of this run had and ``harness``'s target does not hold."""
        for _ in range(NAME_TRIES):
            with self._lock:
                name = chr(_CJK_FIRST + self._rng.randrange(_CJK_SPAN))
                if name in self._given:
                    continue
                self._given.add(name)
            # A read: whether the name is taken on this target (not part of what is compared).
            ex = harness.target.search_sets(harness.ctx.bk_biz_id, {"bk_set_name": name}, harness.ctx.bk_supplier_account)
            body = ex.json
            data = body.get("data") if isinstance(body, dict) else None
            if isinstance(body, dict) and body.get("result") is True and isinstance(data, dict) and data.get("count") == 0:
                return name
        raise Unresolvable(f"no free one-character name on this target in {NAME_TRIES} tries")


@dataclass
class Side:
    """One target lines are replayed against, with what its placeholders stand for."""

    label: str
    harness: Harness
    values: SideValues
    writable: bool
    names: BoundaryNames
    judging: Judging | None = None  # None: the answers are only a noise sample, not judged again
    concurrency: int = 4
    # Set on Ctrl-C: each group stops before its next step, so stopping never waits for a whole replay.
    stop: threading.Event = field(default_factory=threading.Event)


@dataclass
class ReplayedLine:
    """The replay of one line: its normalised answer, or why it was skipped; and how it was judged again."""

    answer: dict[str, Any] | None
    exchange: Exchange | None = None
    skipped: str = ""
    judged: list[bool | None] = field(default_factory=list)  # per judgement of the reference line; None: not judged again
    broken: list[ContractViolation] = field(default_factory=list)  # passed in the reference, fails now


@dataclass
class ReplayedGroup:
    """A group's replay, line for line in the reference's order."""

    group: Group
    lines: list[ReplayedLine]
    skipped: str = ""


def replay(groups: Sequence[Group], side: Side) -> list[ReplayedGroup]:
    """Replay every group, up to ``side.concurrency`` at a time; the first error (e.g. target unavailable) is raised."""
    if side.concurrency <= 1:
        return [replay_group(g, side) for g in groups]
    with ThreadPoolExecutor(max_workers=side.concurrency, thread_name_prefix=f"replay-{side.label}") as pool:
        futures: list[Future[ReplayedGroup]] = [pool.submit(replay_group, g, side) for g in groups]
        try:
            return [f.result() for f in futures]
        except BaseException:
            side.stop.set()
            for f in futures:
                f.cancel()
            raise


def replay_group(group: Group, side: Side) -> ReplayedGroup:
    """Replay one group's steps in order and align the answers with the reference lines."""
    if not side.writable and any(ln.writes for ln in group.lines):
        reason = "read-only run: pass --allow-writes to replay creates"
        return ReplayedGroup(group, [ReplayedLine(None, skipped=reason) for _ in group.lines], skipped=reason)
    m = Masks(side.values)
    raw: list[ReplayedLine] = []
    for line in group.lines:
        if side.stop.is_set():
            raise Stopped(f"replay against {side.label} stopped")
        try:
            request = build_request(line.request, m, side)
        except Unresolvable as why:
            raw.append(ReplayedLine(None, skipped=str(why)))
            continue
        ex = side.harness.send(request)
        # Normalised at once: the ids it names are learned before a later step needs them.
        raw.append(ReplayedLine(normalise_answer(ex, m), ex))
    order = sort_runs([ln.request for ln in group.lines], [r.answer for r in raw])
    lines = [raw[k] for k in order]
    if side.judging is not None:
        _judge_again(group, lines, side, m)
    return ReplayedGroup(group, lines)


# -- filling placeholders ---------------------------------------------------------------------------


def build_request(desc: dict[str, Any], m: Masks, side: Side) -> Request:
    """The Request a line describes, its placeholders filled for this target."""
    auth = desc.get("auth") or {}
    replace = tuple((str(k), str(_fill(v, m, side))) for k, v in auth.get("replace", ()))
    raw = desc.get("raw_body")
    return Request(str(desc["api"]), _fill(desc.get("params", {}), m, side),
                   auth=Auth(str(auth.get("where", "body")), tuple(auth.get("drop", ())), replace, auth.get("header")),
                   raw_body=_fill(raw, m, side) if isinstance(raw, str) else None,
                   headers=tuple((str(k), str(_fill(v, m, side))) for k, v in desc.get("headers", ())),
                   method=str(desc.get("method", "POST")))


def _fill(value: Any, m: Masks, side: Side) -> Any:
    if isinstance(value, dict):
        return {k: _fill(v, m, side) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, m, side) for v in value]
    if not isinstance(value, str) or "${" not in value:
        return value
    whole = MASK.match(value)
    if whole and whole.group("kind") != "token":
        return _resolve(whole.group("kind"), whole.group("n"), whole.group("detail"), m, side)
    return TOKEN_MASK.sub(lambda t: _token(int(t.group(1)), m, side), value)


def _token(n: int, m: Masks, side: Side) -> str:
    for literal, k in m.tokens.items():
        if k == n:
            return literal
    fresh = side.harness.token()
    m.tokens[fresh] = n
    return fresh


def _resolve(kind: str, n: str | None, detail: str | None, m: Masks, side: Side) -> Any:
    v = side.values
    if kind == "set-id":
        ids = {k: set_id for set_id, k in m.ids.items()}
        number = int(n or 0)
        if number not in ids:
            raise Unresolvable(f"needs set #{number}, which this target did not create")
        return str(ids[number]) if detail == "string" else ids[number]
    if kind in ("biz", "parent", "template"):
        value = v.config(kind)
        if value is None:
            raise Unresolvable("needs a set template on this target (--set-template-id)")
        return str(value) if detail == "string" else value
    if kind == "name":
        number = int(n or 0)
        for literal, k in m.names.items():
            if k == number:
                return literal
        name = side.names.pick(side.harness)
        m.names[name] = number
        return name
    if kind == "denied-user":
        if not v.denied_user:
            raise Unresolvable("needs a user without permission on this target (--denied-username)")
        return v.denied_user
    if kind == "user":
        return v.username
    if kind == "app-code":
        return v.app_code
    # Not a placeholder of ours (a literal that looks like one): sent as it is.
    ordinal, suffix = f"#{n}" if n else "", f":{detail}" if detail else ""
    return f"${{{kind}{ordinal}{suffix}}}"


# -- judging again ----------------------------------------------------------------------------------


def _judge_again(group: Group, lines: list[ReplayedLine], side: Side, m: Masks) -> None:
    """Judge each replayed answer as the reference was judged, for this target's CMDB version."""
    assert side.judging is not None
    for ref, new in zip(group.lines, lines, strict=True):
        new.judged = [None] * len(ref.judged)
        if new.exchange is None:
            continue
        for i, j in enumerate(ref.judged):
            if j.get("rejudge") is False:
                continue
            try:
                oracles, expect = _expectation(j, new.exchange, lines, side.judging, m)
            except Unresolvable:
                continue
            try:
                judge(oracles, new.exchange, expect, side.harness.counts)
            except ContractViolation as broken:
                new.judged[i] = False
                if j.get("passed"):
                    new.broken.append(broken)
            else:
                new.judged[i] = True


def _expectation(j: dict[str, Any], ex: Exchange, lines: list[ReplayedLine], judging: Judging,
                 m: Masks) -> tuple[tuple[Oracle, ...], Expectation]:
    named = j.get("oracles")
    try:
        oracles = NAMED_ORACLES[named] if isinstance(named, str) else tuple(_BY_RULE[str(r)] for r in named or ())
    except KeyError:
        raise Unresolvable("an oracle this suite no longer has") from None
    params = dict(ex.request.params) if ex.request is not None else {}
    sent: Any = None if ("sent" in j and j["sent"] is None) else params
    kind = j.get("expect")
    if kind == "success":
        if not isinstance(sent, dict) or not isinstance(sent.get("data"), dict):
            raise Unresolvable("a success expectation needs the data sent")
        return oracles, Expectation.success(sent, judging)
    if kind == "rejection":
        # The run's spec: a class may be one the target's set model derived (model.<attribute>.<defect>).
        return oracles, Expectation.rejection(sent, judging, judging.spec.error_class(str(j["class"])))
    if kind == "refusal":
        return oracles, Expectation.refusal(sent, judging, str(j["state"]))
    stored = None
    if isinstance(j.get("stored"), dict):
        other = _step(j["stored"], lines)
        data = other.json.get("data") if isinstance(other.json, dict) else None
        if not isinstance(data, dict):
            raise Unresolvable("the set this check compares with was not created")
        stored = data
    facts = {str(k): _resolve_fact(v, lines, m) for k, v in (j.get("facts") or {}).items()}
    return oracles, Expectation.state(sent, judging, stored=stored, **facts)


def _step(ref: dict[str, Any], lines: list[ReplayedLine]) -> Exchange:
    k = int(ref["$step"])
    ex = lines[k - 1].exchange if 0 < k <= len(lines) else None
    if ex is None:
        raise Unresolvable(f"step {k} was not replayed")
    return ex


def _resolve_fact(value: Any, lines: list[ReplayedLine], m: Masks) -> Any:
    if isinstance(value, dict) and "$step" in value:
        return _step(value, lines)
    if isinstance(value, list):
        return [_resolve_fact(v, lines, m) for v in value]
    if isinstance(value, str):
        whole = MASK.match(value)
        if whole and whole.group("kind") == "set-id":
            ids = {k: set_id for set_id, k in m.ids.items()}
            number = int(whole.group("n") or 0)
            if number not in ids:
                raise Unresolvable(f"needs set #{number}")
            return ids[number]
    return value
