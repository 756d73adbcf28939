"""Hypothesis strategies for create_set payloads, derived from ``spec/``.

Boundary: pure generation. No I/O, no credentials (the client adds them when
sending), no knowledge of a particular server beyond the ``GenContext`` the
suite was configured with. Field lists, types, limits and enums come from the
request schema; the defect classes come from the error catalogue.

The context carries the run's spec: with a target's set model read, its
attributes are generated too (their values and defects come from
``model_values``), and another business's attributes are sent to be dropped.

Names carry ``TOKEN_SLOT``: the suite replaces it at send time with a token
unique to the run and the example, so generated names never collide with each
other or with sets the suite did not create.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from . import alphabets, model_values
from .credentials import BODY, Auth
from .spec import ErrorClass, FieldSpec, Spec, load_spec

TOKEN_LEN = 12
TOKEN_SLOT = "@" * TOKEN_LEN
# Characters a name may hold: letters and digits of any script plus punctuation
# the name rule allows. No whitespace (trimmed or rejected), no '@' (the slot).
_NAME_EXTRA = "-_.()[]{}!~+=%^&;'$"
# Many scripts in few code point intervals (see ``alphabets``: drawing from all of L and N was slow).
NAME_CHARS = st.characters(categories=(), include_characters=alphabets.letters_digits("@") + _NAME_EXTRA)
# Free text (descriptions): no whitespace or control characters, which the server trims.
TEXT_CHARS = st.characters(categories=(), include_characters=alphabets.free_text("@"))
CJK = "蓝鲸配置平台集群模板业务主机服务"
FORBIDDEN_NAME_CHARS = '\\|/:*,<>"?#'
INNER_WHITESPACE = (" ", "\t", "\n", "\r", "\f")
BAD_INTEGRAL = (1.5, -0.25, 0.001, 123.75)


@dataclass(frozen=True)
class GenContext:
    """What the suite knows about the target: where valid sets may be created, and its spec (set model included)."""

    bk_biz_id: int
    bk_parent_id: int
    set_template_ids: tuple[int, ...] = ()
    bk_supplier_account: str | None = None
    unknown_biz_id: int = 999999
    spec: Spec = field(default_factory=load_spec)


@dataclass(frozen=True)
class ValidCase:
    """A create_set request that the contract says must succeed."""

    params: dict[str, Any]
    auth: Auth = BODY

    @property
    def data(self) -> dict[str, Any]:
        data: dict[str, Any] = self.params["data"]
        return data


@dataclass(frozen=True)
class InvalidCase:
    """A create_set request with exactly one defect, named by its error class."""

    error_class: str
    params: dict[str, Any] = field(default_factory=dict)
    auth: Auth = BODY
    raw_body: str | None = None


def utf8_len(s: str) -> int:
    return len(s.encode("utf-8"))


# -- names -------------------------------------------------------------------


def _fit_bytes(s: str, limit: int) -> str:
    while utf8_len(s) > limit:
        s = s[:-1]
    return s


def set_names(max_body: int = 24) -> st.SearchStrategy[str]:
    """A valid name: optional space padding around slot + body (within 256 chars and bytes).

    Random bodies stay short, which keeps generation fast; the exact limits are
    exercised deterministically by ``boundary_names``.
    """
    rule = load_spec().field("bk_set_name").schema
    max_chars = int(rule["maxLength"])
    max_bytes = int(rule["x-research"]["maxBytes"])
    body = st.text(NAME_CHARS, max_size=min(max_body, max_chars - TOKEN_LEN)).map(lambda b: _fit_bytes(b, max_bytes - TOKEN_LEN))
    # Both paddings in one choice (half the names unpadded); fewer choices make generation faster.
    pads = st.sampled_from([(left, right) for left in ("", "", " ", "  ") for right in ("", "", " ", "   ")])
    return st.tuples(pads, body).map(lambda t: f"{t[0][0]}{TOKEN_SLOT}{t[1]}{t[0][1]}")


def boundary_names() -> dict[str, str]:
    """Deterministic valid names at each limit the research states."""
    rule = load_spec().field("bk_set_name").schema
    max_chars = int(rule["maxLength"])
    max_bytes = int(rule["x-research"]["maxBytes"])
    cjk_count = (max_bytes - TOKEN_LEN) // 3
    multibyte = TOKEN_SLOT + (CJK * 20)[:cjk_count]
    multibyte += "x" * (max_bytes - utf8_len(multibyte))
    return {
        "max-chars": TOKEN_SLOT + "n" * (max_chars - TOKEN_LEN),
        "max-bytes-multibyte": multibyte,
        "padded": "  " + TOKEN_SLOT + "-padded  ",
        "padded-max-chars": "   " + TOKEN_SLOT + "p" * (max_chars - TOKEN_LEN) + "   ",
        "cjk": TOKEN_SLOT + "蓝鲸集群",
        "punctuation": TOKEN_SLOT + _NAME_EXTRA,
        "mixed-scripts": TOKEN_SLOT + "Ωß中文한국어",
    }


# -- field values derived from the schema ------------------------------------------


def value_strategy(f: FieldSpec, ctx: GenContext) -> st.SearchStrategy[Any]:
    """Valid values for one optional data field, boundaries included."""
    schema = f.schema
    research = f.research
    never = set(research.get("neverSend", ()))
    if "validFrom" in research:
        return st.sampled_from((0, *ctx.set_template_ids))
    if "enum" in schema:
        return st.sampled_from([v for v in schema["enum"] if v not in never])
    if schema["type"] == "integer":
        lo, hi = schema.get("minimum", -(2**31)), schema.get("maximum", 2**31)
        return st.one_of(st.sampled_from([lo, hi]), st.integers(lo, hi))
    if schema["type"] == "string":
        limit = int(research.get("maxBytes", 256))
        core = st.one_of(
            st.text(TEXT_CHARS, max_size=min(limit, 32)),
            st.sampled_from(["d" * limit, ("描述" * limit)[: limit // 3]]),
        ).map(lambda s: _fit_bytes(s, limit))
        pads = [(a, b) for a in ("", " ", "  ") for b in ("", " ", "  ")] if research.get("trim") else [("", "")]
        return st.tuples(st.sampled_from(pads), core).map(lambda t: f"{t[0][0]}{t[1]}{t[0][1]}")
    raise ValueError(f"no strategy for {f.name}: {schema}")


def base_params(ctx: GenContext, data: dict[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {"bk_biz_id": ctx.bk_biz_id, "data": data}
    if ctx.bk_supplier_account is not None:
        params["bk_supplier_account"] = ctx.bk_supplier_account
    return params


def minimal_data(ctx: GenContext, name: str | None = None) -> dict[str, Any]:
    """The smallest valid data: the required fields only."""
    return {"bk_parent_id": ctx.bk_parent_id, "bk_set_name": name if name is not None else TOKEN_SLOT + "-min"}


UNKNOWN_FIELD = "zz_contract_unknown_field"


@functools.cache
def valid_cases(ctx: GenContext, auth_modes: tuple[Auth, ...] = (BODY,)) -> st.SearchStrategy[ValidCase]:
    """A valid request: required fields, any subset of optional fields, maybe an unknown field.

    Built once per context and drawn with as few choices as possible: one bit
    mask picks the optional fields (it shrinks to "none"), then one value per
    picked field. Generation time is most of a property test's time.
    """
    spec = ctx.spec
    optional = [(f.name, value_strategy(f, ctx)) for f in spec.fields if not f.required]
    # The target's model attributes, and other businesses' attributes (to be dropped).
    optional += [(f.name, model_strategy(f)) for f in (*spec.model_fields, *spec.foreign_fields)]
    optional.append((UNKNOWN_FIELD, st.just("dropped")))
    # The documented supplier default is valid on every server; send it now and then.
    supplier = ctx.bk_supplier_account or spec.supplier_default
    mask_bits = st.integers(0, 2 ** (len(optional) + 1) - 1)
    names = set_names()
    auth = st.sampled_from(auth_modes)

    @st.composite
    def draw_case(draw: st.DrawFn) -> ValidCase:
        data: dict[str, Any] = {"bk_parent_id": ctx.bk_parent_id, "bk_set_name": draw(names)}
        mask = draw(mask_bits)
        for bit, (name, values) in enumerate(optional):
            if mask >> bit & 1:
                data[name] = draw(values)
        params: dict[str, Any] = {"bk_biz_id": ctx.bk_biz_id, "data": data}
        if ctx.bk_supplier_account or mask >> len(optional) & 1:
            params["bk_supplier_account"] = supplier
        return ValidCase(params=params, auth=draw(auth))

    strategy: st.SearchStrategy[ValidCase] = draw_case()
    return strategy


def model_strategy(f: FieldSpec) -> st.SearchStrategy[Any]:
    """Valid values of a set model attribute (random, its boundaries included)."""
    assert f.attribute is not None
    return model_values.valid_strategy(f.attribute)


def full_value(f: FieldSpec) -> Any:
    """The first deterministic non-null valid value of a set model attribute."""
    assert f.attribute is not None
    return next(v for _, v in model_values.valid_examples(f.attribute) if v is not None)


def full_data(ctx: GenContext, template: bool = False) -> dict[str, Any]:
    """Every documented optional field and every model attribute set at once (deterministic example)."""
    spec = ctx.spec
    data = minimal_data(ctx, TOKEN_SLOT + "-full")
    for f in spec.fields:
        if f.required:
            continue
        if "validFrom" in f.research:
            data[f.name] = ctx.set_template_ids[0] if template and ctx.set_template_ids else 0
        elif "enum" in f.schema:
            data[f.name] = [v for v in f.schema["enum"] if v not in f.research.get("neverSend", ())][-1]
        elif f.schema["type"] == "integer":
            data[f.name] = f.schema.get("maximum", 1)
        else:
            data[f.name] = f"  {f.name} text  "
    for f in spec.model_fields:
        data[f.name] = full_value(f)
    return data


# -- invalid values: one registry entry per defect kind of spec/errors.json -------------------

MISSING = object()  # "leave the key out"
_STRINGS = ("abc", "x y")
_NUMERIC_STRINGS = ("5", "1")


def _string_values(f: FieldSpec | None, target: str) -> tuple[Any, ...]:
    """Wrong-type strings; numeric strings only where the research says they are refused."""
    research = f.research if f is not None else {}
    accepted = research.get("numericStringsAccepted", False)
    return _STRINGS if accepted or (f is not None and f.type == "string") else (*_STRINGS, *_NUMERIC_STRINGS)


_TYPE_EXAMPLES: dict[str, tuple[Any, ...]] = {
    "integer": (123, 0),
    "number": BAD_INTEGRAL[:2],
    "boolean": (True, False),
    "null": (None,),
    "object": ({}, {"a": 1}),
    "array": ([], [1]),
}
_TYPE_STRATEGIES: dict[str, st.SearchStrategy[Any]] = {
    "integer": st.integers(-5, 10**6),
    "number": st.sampled_from(BAD_INTEGRAL),
    "boolean": st.booleans(),
    "null": st.none(),
    "object": st.sampled_from([{}, {"a": 1}]),
    "array": st.sampled_from([[], [1]]),
}


@dataclass(frozen=True)
class Defect:
    """How to make one kind of defect: the same examples on every run, and a strategy for exploration."""

    kind: str
    examples: Any  # Callable[[ErrorClass, FieldSpec | None, GenContext], tuple[Any, ...]]
    strategy: Any  # Callable[[ErrorClass, FieldSpec | None, GenContext], SearchStrategy[Any]]


def _json_type_of(ec: ErrorClass) -> str:
    return ec.defect.split(":", 1)[1]


def _type_examples(ec: ErrorClass, f: FieldSpec | None, ctx: GenContext) -> tuple[Any, ...]:
    t = _json_type_of(ec)
    return _string_values(f, ec.target) if t == "string" else _TYPE_EXAMPLES[t]


def _type_strategy(ec: ErrorClass, f: FieldSpec | None, ctx: GenContext) -> st.SearchStrategy[Any]:
    t = _json_type_of(ec)
    return st.sampled_from(_string_values(f, ec.target)) if t == "string" else _TYPE_STRATEGIES[t]


def _limit(f: FieldSpec | None, key: str) -> int:
    assert f is not None
    return int(f.schema[key] if key in f.schema else f.research[key])


def _too_many_bytes(f: FieldSpec | None) -> tuple[Callable[[int], str], int]:
    assert f is not None
    limit = int(f.research["maxBytes"])
    if f.name == "bk_set_name":
        # within the character limit, over the byte limit
        return (lambda extra: TOKEN_SLOT + "蓝" * ((limit - TOKEN_LEN) // 3 + extra)), limit
    return (lambda extra: "b" * (limit + extra)), limit


def _unknown_enum(f: FieldSpec | None) -> tuple[str, ...]:
    assert f is not None
    allowed = set(f.schema["enum"])
    return tuple(v for v in ("0", "9", "", " ", "x") if v.strip(" ") not in allowed)


def _const(*values: Any) -> Any:
    return lambda ec, f, ctx: values


DEFECTS: dict[str, Defect] = {d.kind: d for d in (
    Defect("type", _type_examples, _type_strategy),
    Defect("missing", _const(MISSING), lambda ec, f, ctx: st.just(MISSING)),
    Defect("credentials", lambda ec, f, ctx: (Auth.from_spec(ec.auth or {}),), lambda ec, f, ctx: st.just(Auth.from_spec(ec.auth or {}))),
    Defect("malformed-json", lambda ec, f, ctx: (f'{{"bk_biz_id": {ctx.bk_biz_id}, "data": {{"bk_set_name": ',),
           lambda ec, f, ctx: st.sampled_from([f'{{"bk_biz_id": {ctx.bk_biz_id}, "data": {{"bk_set_name": ', '{"bk_biz_id": 2,, }', "{'data': 1}"])),
    Defect("not-integer", _const("abc", 1.5, True, "2.5x"), lambda ec, f, ctx: st.sampled_from(["abc", 1.5, True, "2.5x"])),
    Defect("unknown-business", lambda ec, f, ctx: (ctx.unknown_biz_id,), lambda ec, f, ctx: st.just(ctx.unknown_biz_id)),
    Defect("empty", _const({}), lambda ec, f, ctx: st.just({})),
    Defect("not-dict", _const([1], "not a dict", 5), lambda ec, f, ctx: st.sampled_from([[1], "not a dict", 5, [{"bk_set_name": "x"}]])),
    Defect("below-minimum", lambda ec, f, ctx: tuple(dict.fromkeys((_limit(f, "minimum") - 1, -1))),
           lambda ec, f, ctx: st.one_of(st.sampled_from([_limit(f, "minimum") - 1, -1]), st.integers(-(2**31), _limit(f, "minimum") - 1))),
    Defect("above-maximum", lambda ec, f, ctx: (_limit(f, "maximum") + 1, 2**53),
           lambda ec, f, ctx: st.one_of(st.just(_limit(f, "maximum") + 1), st.integers(_limit(f, "maximum") + 1, 2**53))),
    Defect("too-many-chars", lambda ec, f, ctx: tuple(TOKEN_SLOT + "L" * (_limit(f, "maxLength") + n - TOKEN_LEN) for n in (1, 40)),
           lambda ec, f, ctx: st.integers(1, 40).map(lambda n: TOKEN_SLOT + "L" * (_limit(f, "maxLength") + n - TOKEN_LEN))),
    Defect("too-many-bytes", lambda ec, f, ctx: (_too_many_bytes(f)[0](1), _too_many_bytes(f)[0](20)),
           lambda ec, f, ctx: st.integers(1, 20).map(_too_many_bytes(f)[0])),
    Defect("forbidden-char", lambda ec, f, ctx: tuple(f"{TOKEN_SLOT}a{c}b" for c in FORBIDDEN_NAME_CHARS),
           lambda ec, f, ctx: st.sampled_from(list(FORBIDDEN_NAME_CHARS)).map(lambda c: f"{TOKEN_SLOT}a{c}b")),
    Defect("inner-whitespace", lambda ec, f, ctx: tuple(f"{TOKEN_SLOT}a{w}b" for w in INNER_WHITESPACE),
           lambda ec, f, ctx: st.sampled_from(INNER_WHITESPACE).map(lambda w: f"{TOKEN_SLOT}a{w}b")),
    Defect("blank", _const("", " ", "    "), lambda ec, f, ctx: st.sampled_from(["", " ", "    "])),
    # ASCII only: Go's TrimSpace trims Unicode spaces, which would make " 1\u3000" valid.
    Defect("unknown-enum", lambda ec, f, ctx: _unknown_enum(f),
           lambda ec, f, ctx: st.one_of(st.sampled_from(_unknown_enum(f)), st.text("0123456789xyz-", max_size=4)).filter(
               lambda s: s.strip(" ") not in set(f.schema["enum"]) if f is not None else True)),
    Defect("unknown-template", lambda ec, f, ctx: tuple(v for v in (999999, 2**31 - 7) if v not in ctx.set_template_ids)[:1],
           lambda ec, f, ctx: st.sampled_from([999999, 2**31 - 7]).filter(lambda v: v not in ctx.set_template_ids)),
)}


# A class derived from errors.json attribute_rules: its values come from model_values, by type and defect.
MODEL_DEFECT = Defect(
    "model",
    lambda ec, f, ctx: model_values.defect_examples(f.attribute, ec.defect),
    lambda ec, f, ctx: model_values.defect_strategy(f.attribute, ec.defect),
)


def defect_kind(ec: ErrorClass) -> str:
    """The registry key of an error class: its defect, with every wrong JSON type under 'type'."""
    if ec.attribute_type is not None:
        return "model"
    if ec.target == "auth" and ec.auth is not None:
        return "credentials"
    if ec.target == "body":
        return ec.defect
    return "type" if ec.defect.startswith("type:") else ec.defect


def generator_for(ec: ErrorClass) -> Defect:
    """The registry entry that makes the defect of ``ec`` (KeyError: the catalogue has a defect nothing makes)."""
    kind = defect_kind(ec)
    return MODEL_DEFECT if kind == "model" else DEFECTS[kind]


def _field_of(ec: ErrorClass, spec: Spec) -> FieldSpec | None:
    return spec.field(ec.target.split(".", 1)[1]) if ec.target.startswith("data.") else None


def place(ec: ErrorClass, value: Any, ctx: GenContext, name_body: str = "-bad") -> InvalidCase:
    """A valid request with ``value`` put where the class's defect goes: exactly one defect."""
    data = minimal_data(ctx, TOKEN_SLOT + name_body)
    params = base_params(ctx, data)
    target = ec.target
    if target == "auth":
        return InvalidCase(ec.id, params, auth=value)
    if target == "body":
        # Header credentials: the body is only the defect.
        return InvalidCase(ec.id, params, auth=Auth("header"), raw_body=value)
    if target in ("bk_biz_id", "data"):
        slot, key = params, target
    else:
        slot, key = data, target.split(".", 1)[1]
    if value is MISSING:
        del slot[key]
    else:
        slot[key] = value
    return InvalidCase(ec.id, params)


def examples_of(class_id: str, ctx: GenContext) -> tuple[InvalidCase, ...]:
    """The deterministic requests of one class: the same on every run, each with exactly its defect (fresh copies)."""
    return copy.deepcopy(_examples_of(class_id, ctx))


@functools.cache
def _examples_of(class_id: str, ctx: GenContext) -> tuple[InvalidCase, ...]:
    ec = ctx.spec.error_class(class_id)
    return tuple(place(ec, v, ctx) for v in generator_for(ec).examples(ec, _field_of(ec, ctx.spec), ctx))


@st.composite
def invalid_case(draw: st.DrawFn, ec: ErrorClass, ctx: GenContext) -> InvalidCase:
    """One request carrying exactly the defect of ``ec``, everything else valid."""
    value = draw(generator_for(ec).strategy(ec, _field_of(ec, ctx.spec), ctx))
    return place(ec, value, ctx, draw(st.text(NAME_CHARS, max_size=8)))


@functools.cache
def invalid_case_of(class_id: str, ctx: GenContext) -> st.SearchStrategy[InvalidCase]:
    """``invalid_case`` for a class id, built once per context."""
    strategy: st.SearchStrategy[InvalidCase] = invalid_case(ctx.spec.error_class(class_id), ctx)
    return strategy


@functools.cache
def invalid_cases(ctx: GenContext) -> st.SearchStrategy[InvalidCase]:
    """Any invalid request of any catalogued class, the set model's classes included."""
    return st.one_of(*(invalid_case_of(ec.id, ctx) for ec in ctx.spec.error_classes))


def one_character_name(seed: int, taken: Callable[[str], bool]) -> str:
    """A one-character CJK name derived from the run's seed (replayable), skipping names already taken."""
    span = 0x9FA5 - 0x4E00 + 1
    for i in range(64):
        name = chr(0x4E00 + (seed + i * 7919) % span)
        if not taken(name):
            return name
    raise RuntimeError("no free one-character name found in 64 tries")
