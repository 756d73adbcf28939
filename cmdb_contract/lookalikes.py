"""Lookalike values: values that look right for a field but have another JSON type or form.

A lenient server coerces them (``"5"`` for an integer, ``1`` for the enum id
``"1"``, ``data`` as a JSON-encoded string); CMDB mostly refuses them, and
accepts a few. Every run sends each field's lookalikes once, the same ones:
for the built-in fields (``spec/request.schema.json``) and for every
attribute of the target's set model (``spec/model.json`` types). Whether the
server accepts one comes from the spec (``x-research.lookalikesAccepted``,
model types' ``lookalikesAccepted``), never from code: a kind not listed
there is expected to be refused, as the error class its JSON type maps to.

Boundary: pure generation from the spec and the context; the harness sends.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .model_values import inside_float, inside_int
from .setmodel import Typed
from .spec import FieldSpec, Spec, json_type
from .strategies import GenContext, minimal_data

TOP_LEVEL = ("bk_biz_id", "data")


@dataclass(frozen=True)
class Lookalike:
    """One lookalike value for one field, and what the spec says the server does with it."""

    field: str  # a data key, or bk_biz_id / data at the top level
    kind: str
    value: Any
    accepted: bool
    class_id: str | None  # the error class expected when refused
    because: str  # the spec's research fact for the expectation

    @property
    def id(self) -> str:
        return f"{self.field}={json.dumps(self.value, ensure_ascii=False)} ({self.kind})"


def _accepted_kinds(research: Mapping[str, Any]) -> set[str]:
    kinds = set(research.get("lookalikesAccepted", ()))
    if research.get("numericStringsAccepted"):
        kinds.add("numeric-string")
    return kinds


def _integer_lookalikes(v: int) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = [("numeric-string", str(v)), ("padded-numeric-string", f" {v} "), ("decimal-string", f"{v}.0"),
                                  ("integral-float", float(v)), ("boolean", True)]
    if v == 0:
        out.append(("boolean", False))  # false is the lookalike of 0 (a Python-style server takes it as 0)
    return out


def _builtin_valid(f: FieldSpec, ctx: GenContext) -> Any:
    """The valid value of a built-in field its lookalikes are made from."""
    minimal = minimal_data(ctx)
    if f.name in minimal:
        return minimal[f.name]
    if "validFrom" in f.research:
        return 0
    if "enum" in f.schema:
        return next(v for v in f.schema["enum"] if v not in f.research.get("neverSend", ()))
    if f.schema["type"] == "integer":
        lo, hi = f.schema.get("minimum", 0), f.schema.get("maximum", 2**31)
        return max(lo, min(hi, 5))
    return "text"


def _refusal(spec: Spec, target: str, value: Any, research: Mapping[str, Any], f: FieldSpec | None = None) -> tuple[str, str]:
    """The error class a refused built-in lookalike maps onto (its JSON type, or an unknown id of the right type), and its source."""
    same_type = f is not None and json_type(value) == f.schema.get("type")
    defect = "unknown-enum" if same_type and f is not None and "enum" in f.schema else f"type:{json_type(value)}"
    class_id = research.get("lookalikeClass") or f"{target}.{defect}"
    ec = spec.error_class(class_id)  # KeyError: a lookalike the catalogue has no class for (a suite bug)
    return ec.id, ec.source


def builtin_lookalikes(ctx: GenContext) -> tuple[Lookalike, ...]:
    """The lookalikes of every built-in field, the top-level bk_biz_id and data included."""
    spec = ctx.spec
    out: list[Lookalike] = []

    def add(name: str, target: str, kind: str, value: Any, research: Mapping[str, Any], f: FieldSpec | None = None) -> None:
        if kind in _accepted_kinds(research):
            out.append(Lookalike(name, kind, value, True, None, str(research.get("fact", ""))))
        else:
            class_id, source = _refusal(spec, target, value, research, f)
            out.append(Lookalike(name, kind, value, False, class_id, source))

    biz = spec.request["properties"]["bk_biz_id"].get("x-research", {})
    for kind, value in _integer_lookalikes(ctx.bk_biz_id):
        add("bk_biz_id", "bk_biz_id", kind, value, biz)
    data_research = spec.request["properties"]["data"].get("x-research", {})
    add("data", "data", "json-string", json.dumps(minimal_data(ctx, "json-string-data")), data_research)
    for f in spec.fields:
        research, valid = f.research, _builtin_valid(f, ctx)
        target = f"data.{f.name}"
        if f.schema["type"] == "integer":
            pairs = _integer_lookalikes(valid)
        elif "enum" in f.schema:
            pairs = [("padded-id", f" {valid} "), ("float-id", float(valid)) if valid.isdigit() else ("array-id", [valid]),
                     ("boolean", True)]
            if valid.isdigit():
                pairs.insert(0, ("integer-id", int(valid)))
        else:
            pairs = [("number-for-string", 5), ("boolean", True)]
        for kind, value in pairs:
            # A kind the research states two ways is not sent: neither answer would be a fair expectation.
            if kind in research.get("lookalikesUnsettled", {}) or (value in research.get("neverSend", ()) and type(value) is int):
                continue
            add(f.name, target, kind, value, research, f)
    return tuple(out)


# -- the set model's attributes -----------------------------------------------------------------------------


def _typed_pairs(t: Typed) -> list[tuple[str, Any, str]]:
    """(kind, value, the defect it carries when refused) for one model attribute."""
    kind = t.type
    if kind in ("singlechar", "longchar"):
        return [("number-for-string", 5, "not-string"), ("float-for-string", 5.5, "not-string"), ("boolean", True, "not-string")]
    if kind == "int":
        v = inside_int(t)
        return [("numeric-string", str(v), "not-numeric"), ("decimal-string", f"{v}.0", "not-numeric"),
                ("integral-float", float(v), "non-integral-out-of-range"), ("non-integral-number", v + 0.5, "non-integral-out-of-range"),
                ("boolean", True, "not-numeric")]
    if kind == "float":
        m = inside_float(t)
        return [("numeric-string", repr(m), "not-numeric"), ("padded-numeric-string", f" {m!r} ", "not-numeric"),
                ("boolean", True, "not-numeric")]
    if kind == "enum":
        first = t.ids[0]
        out = [("padded-id", f" {first} ", "unknown-id"), ("array-id", [first], "not-string"), ("boolean", True, "not-string")]
        if first.isdigit():
            out.insert(0, ("integer-id", int(first), "not-string"))
        names = [n for i, n in t.id_names if n not in t.ids]
        if names:
            out.append(("option-name", names[0], "unknown-id"))
        return out
    if kind == "enummulti":
        return [("bare-id", t.ids[0], "not-array"), ("padded-element", [f" {t.ids[0]} "], "unknown-id")]
    if kind == "enumquote":
        return [("bare-id", t.quoted[0] if t.quoted else 1, "not-array")]
    if kind == "date":
        return [("integer-date", 20240131, "not-string"), ("date-time", "2024-01-31 00:00:00", "bad-format"),
                ("slashes", "2024/01/31", "bad-format"), ("padded", " 2024-01-31 ", "bad-format")]
    if kind == "time":
        return [("epoch-seconds", 1706702400, "not-string"), ("date-only", "2024-01-31", "bad-format"),
                ("no-zone", "2024-01-31T12:00:00", "bad-format"), ("padded", " 2024-01-31 12:00:00 ", "bad-format")]
    if kind == "objuser":
        return [("array-of-name", ["admin"], "not-string"), ("padded", " admin ", "bad-name")]
    if kind == "timezone":
        return [("padded", " Asia/Shanghai ", "bad-zone"), ("offset-hours", 8, "bad-zone")]
    if kind == "bool":
        return [("string-true", "true", "not-bool"), ("integer-one", 1, "not-bool"), ("string-one", "1", "not-bool")]
    if kind == "list":
        first = next((o for o in t.options if o == o.strip()), t.options[0])
        return [("padded", f" {first} ", "not-an-option"), ("index", 0, "not-string")]
    if kind == "organization":
        return [("numeric-string", "1", "not-array"), ("bare-integer", 1, "not-array"), ("string-element", ["1"], "non-integer-element"),
                ("non-integral-element", [1.5], "non-integer-element")]
    return []


def _model_accepts(t: Typed, kind: str) -> bool:
    for entry in t.rules.accepted(t.type):
        if entry["kind"] != kind:
            continue
        if entry.get("when") == "zero-in-range" and not t.zero_in_range:
            continue
        return True
    return False


def model_lookalikes(spec: Spec) -> tuple[Lookalike, ...]:
    """The lookalikes of every attribute of the target's set model the suite exercises."""
    classes = {ec.id: ec for ec in spec.model_classes}
    out: list[Lookalike] = []
    for f in spec.model_fields:
        t = f.attribute
        assert t is not None
        for kind, value, defect in _typed_pairs(t):
            if value in t.never_send and type(value) is str:
                continue
            if _model_accepts(t, kind):
                out.append(Lookalike(f.name, kind, value, True, None, f"{f.row}; research: {t.rules.fact(t.type)}"))
                continue
            ec = classes.get(f"model.{t.id}.{defect}")
            if ec is not None:  # a defect that does not apply to this attribute makes no lookalike
                out.append(Lookalike(f.name, kind, value, False, ec.id, ec.source))
    return tuple(out)


@functools.cache
def lookalikes(ctx: GenContext) -> dict[str, Lookalike]:
    """Every lookalike of the run by id: the built-in fields', then the set model's."""
    return {lk.id: lk for lk in (*builtin_lookalikes(ctx), *model_lookalikes(ctx.spec))}
