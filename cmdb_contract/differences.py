"""Differences between two normalised answers to the same request, classified, with noise cancelled.

Boundary: pure functions over normalised lines (``baseline``) and their
replays (``replay``); no I/O. Each difference has a kind (a ``drift.*`` rule
of spec/rules.json) and a field. Noise is measured the Diffy way: the fields
in which target A's two answers to a request differ are noise for that
request's shape (the API and what the suite judged the request as), and are
cancelled, and counted, wherever they differ between A and B. A difference
breaks the contract when the new answer fails a judgement the reference
answer passed; otherwise it is drift within the contract.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

from .baseline import Line, canonical, json_kind
from .client import Exchange
from .oracles import REFERENCE, ContractViolation, violation
from .replay import ReplayedGroup
from .spec import load_spec

KINDS = ("outcome-flipped", "code-changed", "message-changed", "field-added", "field-removed", "field-type-changed",
         "stored-value-changed", "default-changed", "value-changed", "http-status-changed", "content-type-changed")
NO_CHANGE, DRIFT, BROKEN = "no behavioural change", "drift only", "contract broken"
_MISSING = object()


@dataclass(frozen=True)
class Difference:
    """One way an answer differs from the reference's: its kind, the field, and both values."""

    kind: str
    field: str
    reference: Any
    candidate: Any

    @property
    def rule(self) -> str:
        return f"drift.{self.kind}"


def outcome(answer: dict[str, Any]) -> str:
    """accepted, rejected, or what else the answer was."""
    if "error" in answer:
        return "no answer"
    body = answer.get("json")
    if not isinstance(body, dict):
        return "no JSON envelope"
    result = body.get("result", _MISSING)
    if result is True:
        return "accepted"
    if result is False:
        return "rejected"
    return "result missing" if result is _MISSING else f"result {canonical(result)}"


def _summary(answer: dict[str, Any]) -> Any:
    body = answer.get("json")
    if isinstance(body, dict):
        return {k: body.get(k) for k in ("result", "code", "message") if k in body}
    return answer.get("text", answer.get("error"))


def compare_answers(request: dict[str, Any], ref: dict[str, Any], new: dict[str, Any]) -> list[Difference]:
    """Every difference between two normalised answers to ``request`` (an outcome flip stands for all it implies)."""
    out: list[Difference] = []
    if ref.get("status") != new.get("status"):
        out.append(Difference("http-status-changed", "HTTP status", ref.get("status"), new.get("status")))
    if ref.get("content_type") != new.get("content_type"):
        out.append(Difference("content-type-changed", "Content-Type", ref.get("content_type"), new.get("content_type")))
    before, after = outcome(ref), outcome(new)
    if before != after:
        out.append(Difference("outcome-flipped", "result", _summary(ref), _summary(new)))
        return out
    a, b = ref.get("json", ref.get("text")), new.get("json", new.get("text"))
    if not (isinstance(a, dict) and isinstance(b, dict)):
        if canonical(a) != canonical(b):
            out.append(Difference("value-changed", "body", a, b))
        return out
    params = request.get("params") or {}
    data = params.get("data") if isinstance(params, dict) else None
    ctx = _Context(str(request.get("api")), before == "accepted", set(data) if isinstance(data, dict) else set())
    for key in sorted(set(a) | set(b), key=str):
        _walk((str(key),), str(key), a.get(key, _MISSING), b.get(key, _MISSING), ctx, out)
    return out


@dataclass(frozen=True)
class _Context:
    api: str
    accepted: bool
    sent: set[str]


def _walk(path: tuple[str, ...], name: str, a: Any, b: Any, ctx: _Context, out: list[Difference]) -> None:
    if a is _MISSING and b is _MISSING:
        return
    if a is _MISSING:
        out.append(Difference("field-added", name, None, b))
        return
    if b is _MISSING:
        out.append(Difference("field-removed", name, a, None))
        return
    if json_kind(a) != json_kind(b):
        out.append(Difference("field-type-changed", name, a, b))
        return
    if isinstance(a, dict):
        for key in sorted(set(a) | set(b), key=str):
            _walk((*path, str(key)), f"{name}.{key}", a.get(key, _MISSING), b.get(key, _MISSING), ctx, out)
        return
    if isinstance(a, list) and len(a) == len(b):
        for x, y in zip(a, b, strict=True):
            _walk((*path, "[]"), f"{name}[]", x, y, ctx, out)
        return
    if canonical(a) != canonical(b):
        out.append(Difference(_value_kind(path, ctx), name, a, b))


def _value_kind(path: tuple[str, ...], ctx: _Context) -> str:
    if path == ("code",):
        return "code-changed"
    if path == ("message",):
        return "message-changed"
    if path[0] == "data" and len(path) > 1:
        if ctx.api == "create_set" and ctx.accepted:
            # A default is what the server fills in for a field the request could send and did not;
            # what it always sets itself (ids, times, the supplier) is a stored value.
            optional = path[1] in load_spec().data_schema["properties"]
            return "default-changed" if optional and path[1] not in ctx.sent else "stored-value-changed"
        if ctx.api == "search_set":
            return "stored-value-changed"
    return "value-changed"


# -- one run's comparison -------------------------------------------------------------------------


@dataclass
class Compared:
    """One request answered by the reference and by the candidate."""

    group: str
    step: int
    line: Line
    candidate: dict[str, Any]
    differences: list[Difference]
    broken: list[ContractViolation]
    exchange: Exchange | None

    @property
    def broken_rules(self) -> list[str]:
        return sorted({v.rule_id for v in self.broken})


@dataclass
class Row:
    """One difference kind in one field: how many requests showed it, how many of them break the contract, an example."""

    kind: str
    field: str
    # dataclasses.field by its full name: the attribute "field" shadows it in this class body.
    examples: list[tuple[Compared, Difference]] = dataclasses.field(default_factory=list)

    @property
    def rule(self) -> str:
        return f"drift.{self.kind}"

    @property
    def requests(self) -> int:
        return len(self.examples)

    @property
    def contract(self) -> int:
        return sum(1 for c, _ in self.examples if c.broken)

    @property
    def contract_rules(self) -> list[str]:
        return sorted({r for c, _ in self.examples for r in c.broken_rules})

    def changes(self, limit: int = 50) -> list[dict[str, Any]]:
        """The distinct (reference value, new value) pairs, most frequent first, with their request counts."""
        pairs = Counter((canonical(d.reference), canonical(d.candidate)) for _, d in self.examples)
        return [{"reference": json.loads(a), "candidate": json.loads(b), "requests": n}
                for (a, b), n in sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]]

    @property
    def example(self) -> tuple[Compared, Difference]:
        """The first request that broke the contract, else the first request."""
        return next(((c, d) for c, d in self.examples if c.broken), self.examples[0])


@dataclass
class Comparison:
    """Every difference of a replay from its reference, aggregated per kind and field, noise counted."""

    compared: int = 0
    rows: dict[tuple[str, str], Row] = field(default_factory=dict)
    noise: Counter[tuple[str, str]] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    # Judgements the reference passed and the candidate fails, whether or not its answer differs.
    newly_broken: list[tuple[ContractViolation, Compared]] = field(default_factory=list)

    @property
    def ordered_rows(self) -> list[Row]:
        return sorted(self.rows.values(), key=lambda r: (KINDS.index(r.kind), r.field))

    @property
    def verdict(self) -> str:
        """no behavioural change, drift only, or contract broken (a rule the reference kept now fails)."""
        if self.newly_broken or any(r.contract for r in self.rows.values()):
            return BROKEN
        return DRIFT if self.rows else NO_CHANGE

    def of(self, kind: str) -> list[Row]:
        """The rows of one kind, by field."""
        return [r for r in self.ordered_rows if r.kind == kind]

    def summary(self) -> dict[str, Any]:
        """The JSON summary of the differences (what CI and the diff command read)."""
        return {
            "verdict": self.verdict, "compared": self.compared, "skipped": dict(sorted(self.skipped.items())),
            "noise_cancelled": sum(self.noise.values()),
            "noise": [{"rule": f"drift.{k}", "field": f, "requests": n} for (k, f), n in sorted(self.noise.items())],
            "differences": [{
                "rule": r.rule, "kind": r.kind, "field": r.field, "requests": r.requests, "break_contract": r.contract,
                "contract_rules": r.contract_rules, "changes": r.changes(), "example": _example(*r.example)} for r in self.ordered_rows],
            "newly_broken_rules": dict(sorted(Counter(v.rule_id for v, _ in self.newly_broken).items())),
        }


def _example(c: Compared, d: Difference) -> dict[str, Any]:
    return {"group": c.group, "step": c.step, "request": c.line.request, "reference": c.line.answer, "candidate": c.candidate,
            "reference_value": d.reference, "candidate_value": d.candidate}


def noise_of(replayed: Iterable[ReplayedGroup]) -> set[tuple[str, str]]:
    """(request shape, field) pairs in which two answers of the same target to the same request differ."""
    out: set[tuple[str, str]] = set()
    for rg in replayed:
        for ref, again in zip(rg.group.lines, rg.lines, strict=True):
            if again.answer is not None:
                out |= {(ref.shape, d.field) for d in compare_answers(ref.request, ref.answer, again.answer)}
    return out


def compare(replayed: Sequence[ReplayedGroup], noise: AbstractSet[tuple[str, str]] = frozenset()) -> Comparison:
    """The comparison of every replayed line with its reference line, noise cancelled and counted."""
    out = Comparison()
    for rg in replayed:
        for ref, new in zip(rg.group.lines, rg.lines, strict=True):
            if new.answer is None:
                out.skipped[new.skipped] += 1
                continue
            out.compared += 1
            diffs = compare_answers(ref.request, ref.answer, new.answer)
            kept = [d for d in diffs if (ref.shape, d.field) not in noise]
            out.noise.update((d.kind, d.field) for d in diffs if (ref.shape, d.field) in noise)
            c = Compared(rg.group.id, ref.step, ref, new.answer, kept, new.broken, new.exchange)
            for d in kept:
                out.rows.setdefault((d.kind, d.field), Row(d.kind, d.field)).examples.append((c, d))
            out.newly_broken += [(v, c) for v in new.broken]
    return out


def row_violation(row: Row) -> ContractViolation:
    """The failure of one row: the drift rule, the field, the example's two values, and the contract rules it breaks."""
    c, d = row.example
    spec = load_spec()
    rules = row.contract_rules
    also = f" {row.contract} of them also break the contract ({', '.join(rules)})." if rules else " None breaks the contract."
    detail = (f"{row.requests} request(s) answered differently from the reference in {row.field}.{also} "
              f"Example: baseline group {c.group} step {c.step}, {c.line.api} {canonical(c.line.request.get('params'))[:600]}")
    v = violation(row.rule, subject=row.field, expected=d.reference, received=d.candidate, detail=detail,
                  breaks=spec.rule(rules[0]).breaks if rules else REFERENCE)
    v.attach(c.exchange, c.exchange.request_json if c.exchange is not None else c.line.request)
    return v
