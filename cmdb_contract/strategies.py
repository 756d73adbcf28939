"""Hypothesis strategies for create_set payloads, derived from ``spec/``.

Boundary: pure generation. No I/O, no credentials (the client adds them when
sending), no knowledge of a particular server beyond the ``GenContext`` the
suite was configured with. Field lists, types, limits and enums come from the
request schema; the defect classes come from the error catalogue.

Names carry ``TOKEN_SLOT``: the suite replaces it at send time with a token
unique to the run and the example, so generated names never collide with each
other or with sets the suite did not create.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from .spec import ErrorClass, FieldSpec, load_spec

TOKEN_LEN = 12
TOKEN_SLOT = "@" * TOKEN_LEN
# Characters a name may hold: letters and digits of any script plus punctuation
# the name rule allows. No whitespace (trimmed or rejected), no '@' (the slot).
_NAME_EXTRA = "-_.()[]{}!~+=%^&;'$"
NAME_CHARS = st.characters(categories=("L", "N"), include_characters=_NAME_EXTRA, exclude_characters="@")
# Free text (descriptions): no whitespace or control characters, which the server trims.
TEXT_CHARS = st.characters(categories=("L", "N", "P", "S"), exclude_characters="@")
CJK = "蓝鲸配置平台集群模板业务主机服务"
FORBIDDEN_NAME_CHARS = '\\|/:*,<>"?#'
INNER_WHITESPACE = (" ", "\t", "\n", "\r", "\f")
BAD_INTEGRAL = (1.5, -0.25, 0.001, 123.75)


@dataclass(frozen=True)
class GenContext:
    """What the suite knows about the target: where valid sets may be created."""

    bk_biz_id: int
    bk_parent_id: int
    set_template_ids: tuple[int, ...] = ()
    bk_supplier_account: str | None = None
    unknown_biz_id: int = 999999


@dataclass(frozen=True)
class ValidCase:
    """A create_set request that the contract says must succeed."""

    params: dict[str, Any]
    auth: str = "body"

    @property
    def data(self) -> dict[str, Any]:
        data: dict[str, Any] = self.params["data"]
        return data


@dataclass(frozen=True)
class InvalidCase:
    """A create_set request with exactly one defect, named by its error class."""

    error_class: str
    params: dict[str, Any] = field(default_factory=dict)
    auth: str = "body"
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
    left = st.sampled_from(["", "", " ", "  "])
    right = st.sampled_from(["", "", " ", "   "])
    return st.tuples(left, body, right).map(lambda t: f"{t[0]}{TOKEN_SLOT}{t[1]}{t[2]}")


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
        pad = st.sampled_from(["", " ", "  "]) if research.get("trim") else st.just("")
        return st.tuples(pad, core, pad).map(lambda t: "".join(t))
    raise ValueError(f"no strategy for {f.name}: {schema}")


def stored_when_absent(f: FieldSpec) -> Any:
    """What the server stores for an optional field the request left out."""
    if "default" in f.schema:
        return f.schema["default"]
    return f.research.get("storedWhenAbsent")


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
def valid_cases(ctx: GenContext, auth_modes: tuple[str, ...] = ("body",)) -> st.SearchStrategy[ValidCase]:
    """A valid request: required fields, any subset of optional fields, maybe an unknown field.

    Built once per context and drawn with as few choices as possible: one bit
    mask picks the optional fields (it shrinks to "none"), then one value per
    picked field. Generation time is most of a property test's time.
    """
    spec = load_spec()
    optional = [(f.name, value_strategy(f, ctx)) for f in spec.fields if not f.required]
    optional.append((UNKNOWN_FIELD, st.just("dropped")))
    # The documented supplier default is valid on every server; send it now and then.
    supplier = ctx.bk_supplier_account or spec.request["properties"]["bk_supplier_account"]["x-research"]["default"]
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


def full_data(ctx: GenContext, template: bool = False) -> dict[str, Any]:
    """Every documented optional field set at once (deterministic example)."""
    spec = load_spec()
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
    return data


# -- invalid values by defect kind ----------------------------------------------------

_TYPE_SAMPLES: dict[str, st.SearchStrategy[Any]] = {
    "string": st.sampled_from(["abc", "5", "x y"]),
    "integer": st.integers(-5, 10**6),
    "number": st.sampled_from(BAD_INTEGRAL),
    "boolean": st.booleans(),
    "null": st.none(),
    "object": st.sampled_from([{}, {"a": 1}]),
    "array": st.sampled_from([[], [1]]),
}


def _type_values(target: str, json_type: str) -> st.SearchStrategy[Any]:
    if target == "data.default" and json_type == "string":
        return st.sampled_from(["abc", "x1", "one"])  # numeric strings are accepted
    if target == "data.set_template_id" and json_type == "string":
        return st.sampled_from(["1", "abc"])
    return _TYPE_SAMPLES[json_type]


def _defect_value(ec: ErrorClass, f: FieldSpec | None, ctx: GenContext) -> st.SearchStrategy[Any]:
    defect = ec.defect
    if defect.startswith("type:"):
        return _type_values(ec.target, defect.split(":", 1)[1])
    assert f is not None, ec.id
    schema, research = f.schema, f.research
    if defect == "below-minimum":
        lo = int(schema["minimum"])
        return st.one_of(st.sampled_from([lo - 1, -1]), st.integers(-(2**31), lo - 1))
    if defect == "above-maximum":
        hi = int(schema["maximum"])
        return st.one_of(st.just(hi + 1), st.integers(hi + 1, 2**53))
    if defect == "too-many-chars":
        limit = int(schema["maxLength"])
        return st.integers(limit + 1, limit + 40).map(lambda n: TOKEN_SLOT + "L" * (n - TOKEN_LEN))
    if defect == "too-many-bytes":
        limit = int(research["maxBytes"])
        if f.name == "bk_set_name":
            # within the character limit, over the byte limit
            return st.integers(1, 20).map(lambda extra: TOKEN_SLOT + "蓝" * ((limit - TOKEN_LEN) // 3 + extra))
        return st.one_of(
            st.integers(limit + 1, limit + 50).map(lambda n: "b" * n),
            st.just("集" * (limit // 3 + 1)),
        )
    if defect == "forbidden-char":
        return st.sampled_from(list(FORBIDDEN_NAME_CHARS)).map(lambda c: f"{TOKEN_SLOT}a{c}b")
    if defect == "inner-whitespace":
        return st.sampled_from(INNER_WHITESPACE).map(lambda w: f"{TOKEN_SLOT}a{w}b")
    if defect == "blank":
        return st.sampled_from(["", " ", "    "])
    if defect == "unknown-enum":
        allowed = set(schema["enum"])
        # ASCII only: Go's TrimSpace trims Unicode spaces, which would make " 1\u3000" valid.
        return st.one_of(st.sampled_from(["0", "9", "", " ", "x"]), st.text("0123456789xyz-", max_size=4)).filter(
            lambda s: s.strip(" ") not in allowed
        )
    if defect == "unknown-template":
        return st.sampled_from([999999, 2**31 - 7]).filter(lambda v: v not in ctx.set_template_ids)
    raise ValueError(f"no generator for {ec.id}")


@st.composite
def invalid_case(draw: st.DrawFn, ec: ErrorClass, ctx: GenContext) -> InvalidCase:
    """One request carrying exactly the defect of ``ec``, everything else valid."""
    spec = load_spec()
    data = minimal_data(ctx, TOKEN_SLOT + draw(st.text(NAME_CHARS, max_size=8)))
    params = base_params(ctx, data)
    target, defect = ec.target, ec.defect
    if target == "auth":
        if defect == "header-not-json":
            return InvalidCase(ec.id, params, auth="header-not-json")
        return InvalidCase(ec.id, params, auth=defect)
    if target == "body":
        return InvalidCase(ec.id, params, auth="header", raw_body=f'{{"bk_biz_id": {ctx.bk_biz_id}, "data": {{"bk_set_name": ')
    if target == "bk_biz_id":
        if defect == "missing":
            del params["bk_biz_id"]
        elif defect == "type:null":
            params["bk_biz_id"] = None
        elif defect == "not-integer":
            params["bk_biz_id"] = draw(st.sampled_from(["abc", 1.5, True, "2.5x"]))
        elif defect == "unknown-business":
            params["bk_biz_id"] = ctx.unknown_biz_id
        return InvalidCase(ec.id, params)
    if target == "data":
        if defect == "missing":
            del params["data"]
        elif defect == "empty":
            params["data"] = {}
        elif defect == "type:null":
            params["data"] = None
        elif defect == "not-dict":
            params["data"] = draw(st.sampled_from([[1], "not a dict", 5, [data]]))
        return InvalidCase(ec.id, params)
    field_name = target.split(".", 1)[1]
    f = spec.field(field_name)
    if defect == "missing":
        del data[field_name]
    else:
        data[field_name] = draw(_defect_value(ec, f, ctx))
    return InvalidCase(ec.id, params)


@functools.cache
def invalid_case_of(class_id: str, ctx: GenContext) -> st.SearchStrategy[InvalidCase]:
    """``invalid_case`` for a class id, built once per context."""
    strategy: st.SearchStrategy[InvalidCase] = invalid_case(load_spec().error_class(class_id), ctx)
    return strategy


@functools.cache
def invalid_cases(ctx: GenContext) -> st.SearchStrategy[InvalidCase]:
    """Any invalid request of any catalogued class."""
    return st.one_of(*(invalid_case_of(ec.id, ctx) for ec in load_spec().error_classes))
