"""Values for the attributes a target's set model defines, by type: valid ones and defects.

For each ``Typed`` attribute: deterministic valid values at the boundaries
the research names (range ends, byte limits, regex-matching strings, padding
the server trims, empty and null), a strategy for random valid values, and
for each defect of errors.json attribute_rules its deterministic examples and
a strategy. Everything here is a value the research says every 3.13 and 3.14
release treats alike: no time with a ``Z`` or ``-hh:mm`` zone, no impossible
date, no ``""`` for the recorded times.

Boundary: pure generation (fixed tuples and Hypothesis strategies); which
values are stored, and the codes of refused ones, are ``setmodel`` and
``spec/errors.json``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from . import alphabets
from .goregex import GO_SPACE, UNSAFE, matching, missing
from .setmodel import INT64_MAX, INT64_MIN, Typed, same_value

# Free text: letters, digits, punctuation, symbols (never white space, which the server trims).
# (Few code point intervals: see ``alphabets``.)
TEXT = st.characters(categories=(), include_characters=alphabets.free_text(GO_SPACE + UNSAFE))
# What a generated regex match may contain besides what the pattern demands.
_REGEX_ALPHABET = st.characters(categories=(), include_characters=alphabets.regex_text())
_ASCII_ALPHABET = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
PAD = ("", " ", "  ", "\t")
ZONES = ("Asia/Shanghai", "UTC", "America/New_York", "Etc/GMT-8")
UNKNOWN = "zz-contract-unknown"


def inside_int(t: Typed) -> int:
    """An integer well inside the attribute's range (the valid value lookalikes are made from)."""
    lo, hi = t.bounds
    if lo is None and hi is None:
        return 5
    if lo is None:
        return int(hi) - 5
    if hi is None:
        return int(lo) + 5
    return int(lo) + (int(hi) - int(lo)) // 4


def inside_float(t: Typed) -> float:
    """A float well inside the attribute's range, exact in binary (so its JSON round-trips)."""
    lo, hi = t.bounds
    if lo is None and hi is None:
        return 2.25
    if lo is None:
        return float(hi) - 1.25
    if hi is None:
        return float(lo) + 1.25
    return float(lo) + (float(hi) - float(lo)) / 4


def _sendable(t: Typed, value: Any) -> bool:
    """Not a value whose answer differs between releases of one version (spec/model.json neverSend)."""
    return not any(same_value(value, never) for never in t.never_send)


def _fit(s: str, limit: int) -> str:
    while len(s.encode()) > limit:
        s = s[:-1]
    return s


def _stable_options(t: Typed) -> tuple[str, ...]:
    # An option with outer white space can never be matched: the value is trimmed first (research model §2.2 list).
    return tuple(o for o in t.options if o == o.strip(GO_SPACE))


# -- valid values --------------------------------------------------------------------------------------------------


def valid_examples(t: Typed) -> tuple[tuple[str, Any], ...]:
    """Deterministic valid values of ``t``, each with a label: boundaries, padding, empty and null."""
    kind = t.type
    out: list[tuple[str, Any]] = []
    if kind in ("singlechar", "longchar"):
        limit = t.max_bytes
        if t.pattern is not None:
            found = matching(t.pattern, limit)
            if found:
                out.append(("regex-shortest", found[0]))
                out += [("regex-max-bytes", s) for s in found[1:]]
                out.append(("regex-padded", f"  {found[0]} "))
        else:
            cjk = "蓝" * (limit // 3)
            out += [("short", "a"), ("max-bytes", "s" * limit), ("max-bytes-multibyte", cjk + "s" * (limit - len(cjk.encode()))),
                    ("padded", "  a-b  "), ("cjk", "蓝鲸配置")]
        out.append(("empty", ""))
    elif kind == "int":
        lo, hi = t.bounds
        out += [("min", lo)] if lo is not None else [("int64-min", INT64_MIN)]
        out += [("max", hi)] if hi is not None else [("int64-max", INT64_MAX)]
        if t.zero_in_range and 0 not in (lo, hi):
            out.append(("zero", 0))
        out.append(("inside", inside_int(t)))
    elif kind == "float":
        lo, hi = t.bounds
        out += [("min", lo)] if lo is not None else []
        out += [("max", hi)] if hi is not None else []
        out.append(("inside", inside_float(t)))
    elif kind == "enum":
        out += [(f"id-{i}", i) for i in t.ids]
    elif kind == "enummulti":
        out += [(f"one-{i}", [i]) for i in t.ids]
        if t.multiple:
            out += [("all", list(t.ids)), ("repeated", [t.ids[0], t.ids[0]])]
        out.append(("empty", []))
    elif kind == "enumquote":
        if t.quoted:
            out.append(("option", list(t.quoted) if t.multiple else [t.quoted[0]]))
        out.append(("empty", []))
    elif kind == "date":
        out += [("date", "2024-01-31"), ("leap-day", "2024-02-29"), ("epoch", "1970-01-01"), ("last", "9999-12-31"), ("empty", "")]
    elif kind == "time":
        out += [("local", "2024-01-31 12:00:00"), ("offset", "2024-01-31T12:00:00+08:00"),
                ("offset-millis", "2024-01-31T12:00:00.123+08:00")]
    elif kind == "objuser":
        out += [("name", "admin"), ("punctuation", "a.b@c-d_e"), ("digit-first", "0user"), ("max-bytes", "u" * t.max_bytes),
                ("empty", "")]
        if t.multiple:
            out.append(("several", "admin,bob"))
    elif kind == "timezone":
        out += [(z, z) for z in ZONES]
    elif kind == "bool":
        out += [("true", True), ("false", False)]
    elif kind == "list":
        out += [(f"option-{n}", o) for n, o in enumerate(_stable_options(t))]
    elif kind == "organization":
        out.append(("one", [1]))
        if t.multiple:
            out.append(("several", [1, 2]))
        out.append(("empty", []))
    out.append(("null", None))
    return tuple((label, v) for label, v in out if _sendable(t, v))


# Random times: any millisecond from 1971 to the end of 2099 in one of the three accepted layouts (two choices per value).
_TIME_SPAN = (int((datetime(1971, 1, 1) - datetime(1970, 1, 1)).total_seconds()), int((datetime(2100, 1, 1) - datetime(1970, 1, 1)).total_seconds()) - 1)
_TIME_LAYOUTS = ((False, False), (True, False), (True, True))


def _time_at(millis_since_epoch: int, layout: tuple[bool, bool]) -> str:
    return _time_text(datetime(1970, 1, 1) + timedelta(milliseconds=millis_since_epoch), *layout)


def _time_text(dt: datetime, zoned: bool, millis: bool) -> str:
    text = dt.strftime("%Y-%m-%dT%H:%M:%S" if zoned else "%Y-%m-%d %H:%M:%S")
    if zoned:
        if millis:
            text += f".{dt.microsecond // 1000:03d}"
        text += "+08:00"
    return text


def _regex_strategy(t: Typed, limit: int) -> st.SearchStrategy[Any] | None:
    """Random strings the attribute's regex matches; None when Hypothesis cannot draw them for this pattern."""
    p = t.pattern
    found = matching(p, limit) if p is not None else ()
    if p is None or not found:
        return None
    alphabet = _ASCII_ALPHABET if p.ascii_only else _REGEX_ALPHABET
    try:
        drawn = st.from_regex(p.compiled, fullmatch=False, alphabet=alphabet)
        drawn.validate()
    except Exception:  # any pattern Hypothesis cannot draw from keeps the deterministic matches only
        return None
    # A draw the server would read otherwise (a newline, outer white space, too long) becomes a known match:
    # mapping, not filtering, so a pattern whose matches are rarely sendable never trips a health check.
    return drawn.map(lambda s: s if p.safe(s) and len(s.encode()) <= limit and p.matches(s) else found[0])


def _rarely(common: st.SearchStrategy[Any], rare: st.SearchStrategy[Any], one_in: int) -> st.SearchStrategy[Any]:
    """``rare`` one draw in ``one_in``, else ``common`` (one_of would pick each half the time); shrinks to ``common``."""
    pick = st.integers(0, one_in - 1)

    @st.composite
    def draw(draw: st.DrawFn) -> Any:
        return draw(rare) if draw(pick) == one_in - 1 else draw(common)

    strategy: st.SearchStrategy[Any] = draw()
    return strategy


def valid_strategy(t: Typed) -> st.SearchStrategy[Any]:
    """Random valid values of ``t`` (the deterministic ones included)."""
    fixed = st.sampled_from([v for _, v in valid_examples(t)])
    kind = t.type
    lo, hi = t.bounds
    random: st.SearchStrategy[Any] | None = None
    if kind in ("singlechar", "longchar"):
        limit = t.max_bytes
        if t.pattern is not None:
            drawn = _regex_strategy(t, limit)
            # A drawn match costs tens of choices (a deterministic one, one): drawn one time in five.
            random = _rarely(fixed, drawn, 5) if drawn is not None else None
        else:
            random = st.text(TEXT, max_size=32).map(lambda s: _fit(s, limit))
    elif kind == "int":
        random = st.integers(INT64_MIN if lo is None else lo, INT64_MAX if hi is None else hi)
    elif kind == "float":
        # An unbounded side of a float option: the research states ±MaxInt64 for int only, so stay well inside it.
        random = st.floats(-1e18 if lo is None else lo, 1e18 if hi is None else hi, allow_nan=False, allow_infinity=False)
    elif kind == "enum":
        # Padded ids as one choice (the server trims them).
        random = st.sampled_from([f"{left}{i}{right}" for i in t.ids for left in PAD for right in PAD])
    elif kind == "enummulti":
        random = st.lists(st.sampled_from(t.ids), max_size=len(t.ids) if t.multiple else 1)
    elif kind == "date":
        random = st.dates().map(lambda d: d.isoformat())
    elif kind == "time":
        random = st.builds(_time_at, st.integers(_TIME_SPAN[0] * 1000, _TIME_SPAN[1] * 1000 + 999), st.sampled_from(_TIME_LAYOUTS))
    elif kind == "objuser":
        chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@._-" + ("," if t.multiple else "")
        random = st.tuples(st.sampled_from("abcXYZ019"), st.text(st.sampled_from(chars), max_size=24)).map("".join)
    elif kind == "organization":
        random = st.lists(st.integers(1, 10**6), max_size=3 if t.multiple else 1)
    return st.one_of(fixed, random) if random is not None else fixed


# -- defects (errors.json attribute_rules) -----------------------------------------------------------------------------


def _e(t: Typed) -> str:
    return t.ids[0] if t.ids else "x"


def _not_an_id(t: Typed) -> tuple[str, ...]:
    names = [n for i, n in t.id_names if n not in t.ids and n == n.strip(GO_SPACE)]
    upper = [i.upper() for i in t.ids if i.upper() not in t.ids]
    return tuple(dict.fromkeys([UNKNOWN, "", *names[:1], *upper[:1]]))


def _not_an_option(t: Typed) -> tuple[str, ...]:
    upper = [o.upper() for o in t.options if o.upper() not in t.options and o.upper() == o.upper().strip(GO_SPACE)]
    return tuple(dict.fromkeys([UNKNOWN, *upper[:1]]))


_Examples = Callable[[Typed], tuple[Any, ...]]

DEFECT_EXAMPLES: dict[tuple[str, str], _Examples] = {
    ("singlechar", "not-string"): lambda t: (123, 1.5, True, ["a"], {"a": "b"}),
    ("singlechar", "too-many-bytes"): lambda t: ("b" * (t.max_bytes + 1), "蓝" * (t.max_bytes // 3 + 1)),
    ("singlechar", "regex-mismatch"): lambda t: missing(t.pattern, t.max_bytes) if t.pattern is not None else (),
    ("int", "not-numeric"): lambda t: (str(inside_int(t)), "abc", True, [inside_int(t)], {"a": 1}),
    ("int", "below-minimum"): lambda t: tuple(dict.fromkeys(v for v in (t.bounds[0] - 1, t.bounds[0] - 1000) if v >= INT64_MIN)),
    ("int", "above-maximum"): lambda t: tuple(dict.fromkeys(v for v in (t.bounds[1] + 1, t.bounds[1] + 1000) if v <= INT64_MAX)),
    ("int", "non-integral-out-of-range"): lambda t: (inside_int(t) + 0.5, float(inside_int(t))),
    ("float", "not-numeric"): lambda t: (True, "abc", [inside_float(t)], {"a": 1}),
    ("float", "below-minimum"): lambda t: (t.bounds[0] - 1, str(t.bounds[0] - 1)),
    ("float", "above-maximum"): lambda t: (t.bounds[1] + 1, str(t.bounds[1] + 1)),
    ("enum", "not-string"): lambda t: (1, True, [_e(t)], {"id": _e(t)}),
    ("enum", "unknown-id"): _not_an_id,
    ("enummulti", "not-array"): lambda t: (_e(t), 1),
    ("enummulti", "unknown-id"): lambda t: ([UNKNOWN], [f" {_e(t)} "]),
    ("enummulti", "non-string-element"): lambda t: ([1], [True]),
    ("enummulti", "several-single"): lambda t: ([t.ids[0], t.ids[-1]] if len(t.ids) > 1 else [_e(t), _e(t)],),
    ("enumquote", "not-array"): lambda t: ("x", t.quoted[0] if t.quoted else 1),
    ("enumquote", "zero-id"): lambda t: ([0],),
    ("date", "not-string"): lambda t: (20240131, True),
    ("date", "bad-format"): lambda t: ("2024/01/31", "20240131", "2024-01-31 12:00:00", "31-01-2024", "2024-1-31"),
    ("time", "not-string"): lambda t: (1706702400, True),
    ("time", "bad-format"): lambda t: ("2024-01-31", "2024-01-31T12:00:00", "12:00:00", "2024/01/31 12:00:00"),
    ("time", "empty"): lambda t: ("", "   "),
    ("objuser", "not-string"): lambda t: (1, True, ["admin"]),
    ("objuser", "too-many-bytes"): lambda t: ("u" * (t.max_bytes + 1),),
    ("objuser", "comma-single"): lambda t: ("admin,bob",),
    ("objuser", "bad-name"): lambda t: ("张三", "a b", "-admin", "_admin"),
    ("timezone", "bad-zone"): lambda t: ("Asia Shanghai", "", "+08:00", 8, True),
    ("bool", "not-bool"): lambda t: ("true", "false", 1, 0),
    ("list", "not-string"): lambda t: (1, True, [t.options[0]] if t.options else ["x"]),
    ("list", "not-an-option"): _not_an_option,
    ("organization", "not-array"): lambda t: ("1", 1),
    ("organization", "non-integer-element"): lambda t: (["1"], [True]),
    ("organization", "several-single"): lambda t: ([1, 2],),
}
for _d in ("not-string", "too-many-bytes", "regex-mismatch"):
    DEFECT_EXAMPLES[("longchar", _d)] = DEFECT_EXAMPLES[("singlechar", _d)]


def defect_examples(t: Typed, defect: str) -> tuple[Any, ...]:
    """The values that carry ``defect`` for ``t``, the same on every run."""
    return tuple(v for v in DEFECT_EXAMPLES[(t.type, defect)](t) if _sendable(t, v))


def defect_strategy(t: Typed, defect: str) -> st.SearchStrategy[Any]:
    """Random values carrying ``defect`` (its examples, and beyond the range ends at random)."""
    fixed: st.SearchStrategy[Any] = st.sampled_from(defect_examples(t, defect))
    lo, hi = t.bounds
    if t.type == "int" and defect == "below-minimum":
        return st.one_of(fixed, st.integers(INT64_MIN, lo - 1))
    if t.type == "int" and defect == "above-maximum":
        return st.one_of(fixed, st.integers(hi + 1, INT64_MAX))
    if t.type == "float" and defect == "below-minimum":
        return st.one_of(fixed, st.floats(-1e18, lo, exclude_max=True, allow_nan=False))
    if t.type == "float" and defect == "above-maximum":
        return st.one_of(fixed, st.floats(hi, 1e18, exclude_min=True, allow_nan=False))
    if t.type in ("singlechar", "longchar") and defect == "too-many-bytes":
        return st.integers(1, 64).map(lambda n: "b" * (t.max_bytes + n))
    return fixed
