"""The set model as data: the attributes a target defines, and what create_set does with each.

A target's set model is read at run time (``modelread``): the items of a
``search_object_attribute`` answer, for the business under test and for
other businesses. Here they become ``Attribute`` (what the item says) and,
with the type facts of ``spec/model.json``, ``Typed`` (what the research
says create_set does with it: which values it accepts, what it stores and
fills, which defects it refuses, or why the suite cannot judge it).

Boundary: pure. No I/O, no HTTP, no Hypothesis; the value generators are in
``model_values``, the codes in ``spec/errors.json`` (attribute_rules).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .goregex import GO_SPACE, Pattern, missing, reproduce

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
FORMAT = "cmdb-contract set model 1"
_INT_TEXT = re.compile(r"^[+-]?[0-9]+$")
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")


class ModelError(ValueError):
    """A model item or file the suite cannot read (the message names the item and the fix)."""


class _NoDefault:
    def __repr__(self) -> str:
        return "(no default)"


NO_DEFAULT: Any = _NoDefault()


def go_trim(value: str) -> str:
    """Go's strings.TrimSpace (Unicode white space, not Python's wider str.strip)."""
    return value.strip(GO_SPACE)


# -- what a stored value must look like, where the exact JSON is not known in advance -------------------


class Like:
    """An expected stored value that is a property rather than one JSON value."""

    def matches(self, value: Any) -> bool:
        raise NotImplementedError


@dataclass(frozen=True)
class SameNumber(Like):
    """A number equal to ``value`` (a float attribute's 1 may come back as 1 or 1.0)."""

    value: float

    def matches(self, value: Any) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and float(value) == self.value

    def __repr__(self) -> str:
        return f"a number equal to {self.value!r}"


@dataclass(frozen=True)
class SameInstant(Like):
    """An RFC 3339 time naming the same instant as the time sent (to the millisecond BSON dates keep)."""

    sent: str

    def matches(self, value: Any) -> bool:
        if not (isinstance(value, str) and _RFC3339.match(value)):
            return False
        try:
            got, want = datetime.fromisoformat(value), datetime.fromisoformat(self.sent)
        except ValueError:
            return False
        return abs((got - want).total_seconds()) < 0.001

    def __repr__(self) -> str:
        return f"an RFC 3339 time at the instant {self.sent}"


@dataclass(frozen=True)
class AnyTime(Like):
    """An RFC 3339 time: a value without zone is read in the server's zone, which the suite does not know."""

    sent: str

    def matches(self, value: Any) -> bool:
        return isinstance(value, str) and bool(_RFC3339.match(value))

    def __repr__(self) -> str:
        return f"an RFC 3339 time (the server's zone applied to {self.sent!r})"


def same_value(got: Any, want: Any) -> bool:
    """Whether the answer holds the expected stored value: a Like's property, else equal JSON of the same type."""
    if isinstance(want, Like):
        return want.matches(got)
    if isinstance(want, list):
        return isinstance(got, list) and len(got) == len(want) and all(same_value(g, w) for g, w in zip(got, want, strict=True))
    return bool(got == want) and type(got) is type(want)


# -- what an item says -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attribute:
    """One item of a search_object_attribute answer (the keys the suite reads), with the item kept as read."""

    id: str
    name: str
    type: str
    biz_id: int
    option: Any
    default: Any
    ismultiple: bool | None
    ispre: bool
    isrequired: bool
    item: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_item(cls, item: Any) -> Attribute:
        """Read one item; ModelError for an item without a property id or type."""
        if not isinstance(item, Mapping):
            raise ModelError(f"a set model item is a JSON object, not {json.dumps(item, ensure_ascii=False)[:80]}")
        pid, kind = item.get("bk_property_id"), item.get("bk_property_type")
        if not isinstance(pid, str) or not pid or not isinstance(kind, str):
            raise ModelError(f"a set model item needs bk_property_id and bk_property_type: {json.dumps(dict(item), ensure_ascii=False)[:200]}")
        biz = item.get("bk_biz_id", 0)
        multiple = item.get("ismultiple")
        return cls(id=pid, name=str(item.get("bk_property_name") or pid), type=kind,
                   biz_id=biz if isinstance(biz, int) and not isinstance(biz, bool) else 0,
                   option=item.get("option"),
                   # The model API omits a null default (research model §4.2).
                   default=item["default"] if item.get("default") is not None else NO_DEFAULT,
                   ismultiple=multiple if isinstance(multiple, bool) else None,
                   ispre=item.get("ispre") is True, isrequired=item.get("isrequired") is True, item=dict(item))

    @property
    def scope(self) -> str:
        return f"business {self.biz_id}" if self.biz_id else "global"

    def describe(self) -> str:
        """The definition in one line: type, option, default, multiple, scope."""
        parts = [self.type]
        if self.type in ("enum", "enummulti") and isinstance(self.option, list) and all(isinstance(e, Mapping) for e in self.option):
            # The ids and names are what a reader compares with the target's UI; type "text" says nothing.
            parts.append("options " + ", ".join(f"{e.get('id')} ({e.get('name')}{', is_default' if e.get('is_default') is True else ''})"
                                                for e in self.option))
        elif self.option not in (None, "", [], {}):
            parts.append(f"option {json.dumps(self.option, ensure_ascii=False)}")
        if self.type not in ("enum", "enummulti", "enumquote"):  # these ignore the default key (research model §1.3)
            parts.append("no default" if self.default is NO_DEFAULT else f"default {json.dumps(self.default, ensure_ascii=False)}")
        if self.ismultiple:
            parts.append("multiple")
        parts.append(self.scope)
        return ", ".join(parts)


@dataclass(frozen=True)
class SetModel:
    """The set model of one business as the suite read it, with other businesses' own attributes."""

    bk_biz_id: int
    attributes: tuple[Attribute, ...] = ()
    foreign: tuple[Attribute, ...] = ()
    origin: str = "the built-in schema only (no set model read)"
    notes: tuple[str, ...] = ()
    read: bool = False

    @classmethod
    def builtin(cls, bk_biz_id: int, why: str) -> SetModel:
        """No model read: the suite judges the built-in schema only, and says why."""
        return cls(bk_biz_id, origin=f"the built-in schema only: {why}", notes=(f"set model not read: {why}",))

    @classmethod
    def of_items(cls, bk_biz_id: int, items: Sequence[Any], foreign: Mapping[int, Sequence[Any]], origin: str,
                 notes: Sequence[str] = ()) -> SetModel:
        """The model from search_object_attribute items: ours (global + this business), and other businesses' own."""
        mine = tuple(Attribute.from_item(i) for i in items)
        wrong = [a for a in mine if a.biz_id not in (0, bk_biz_id)]
        ids = {a.id for a in mine}
        out_notes = list(notes)
        if wrong:
            # search_object_attribute returns global + asked business only (research model §4.1): an attribute
            # of another business here is the target's bug, and create_set would not load it either.
            out_notes.append("the model of business {} listed attributes of other businesses: {}; they are treated as other businesses'"
                             .format(bk_biz_id, ", ".join(f"{a.id} (business {a.biz_id})" for a in wrong)))
        theirs: dict[str, Attribute] = {a.id: a for a in wrong}
        for biz, other in sorted(foreign.items()):
            for a in (Attribute.from_item(i) for i in other):
                if a.biz_id == biz and a.id not in ids:
                    theirs.setdefault(a.id, a)
        return cls(bk_biz_id, tuple(a for a in mine if a.biz_id in (0, bk_biz_id)), tuple(theirs.values()), origin,
                   tuple(out_notes), read=True)

    def to_file(self) -> dict[str, Any]:
        """The JSON a --set-model file holds (the items as read; nothing else, so no secret)."""
        foreign: dict[str, list[Any]] = {}
        for a in self.foreign:
            foreign.setdefault(str(a.biz_id), []).append(dict(a.item))
        return {"format": FORMAT, "bk_biz_id": self.bk_biz_id, "origin": self.origin,
                "attributes": [dict(a.item) for a in self.attributes], "other_businesses": foreign}

    @classmethod
    def from_file(cls, data: Any, origin: str) -> SetModel:
        """A --set-model file: what ``to_file`` wrote, or the bare data list of a search_object_attribute answer."""
        if isinstance(data, list):
            items, foreign, biz = data, {}, None
        elif isinstance(data, Mapping) and isinstance(data.get("attributes"), list):
            items, biz = data["attributes"], data.get("bk_biz_id")
            raw = data.get("other_businesses") or {}
            if not isinstance(raw, Mapping):
                raise ModelError("other_businesses must map a business id to a list of attribute items")
            try:
                foreign = {int(k): list(v) for k, v in raw.items()}
            except (TypeError, ValueError):
                raise ModelError("other_businesses must map a business id to a list of attribute items") from None
        else:
            raise ModelError("a set model file is the data list of a search_object_attribute answer, or what 'cmdb-contract model' wrote")
        scoped = {a.biz_id for a in map(Attribute.from_item, items) if a.biz_id}
        if biz is None:
            biz = next(iter(scoped), 0)
        if not isinstance(biz, int) or isinstance(biz, bool):
            raise ModelError("bk_biz_id of a set model file is an integer")
        return cls.of_items(biz, items, foreign, origin)


# -- what the research says create_set does with one attribute ----------------------------------------------


class TypeRules:
    """The type facts of spec/model.json, read once."""

    def __init__(self, doc: Mapping[str, Any]) -> None:
        self.doc = doc
        self.types: Mapping[str, Mapping[str, Any]] = doc.get("types", {})
        self.hidden = frozenset(doc.get("hidden", {}).get("attributes", ()))
        recorded = doc.get("recorded", {})
        self.overwritten = frozenset(recorded.get("overwritten", ()))
        self.never_send: Mapping[str, Sequence[Any]] = recorded.get("neverSend", {})
        self.unsupported: Mapping[str, str] = doc.get("unsupported", {})
        self.layouts = tuple(re.compile(p, re.ASCII) for p in self.types.get("time", {}).get("layouts", ()))
        self._patterns = {t: re.compile(v["pattern"], re.ASCII) for t, v in self.types.items() if "pattern" in v}

    def max_bytes(self, kind: str) -> int:
        return int(self.types[kind]["maxBytes"])

    def fits(self, kind: str, value: str) -> bool:
        """Whether ``value`` matches the fixed pattern of ``kind`` (date, objuser, timezone)."""
        return bool(self._patterns[kind].match(value))

    def fact(self, kind: str) -> str:
        return str(self.types.get(kind, {}).get("fact", ""))

    def accepted(self, kind: str) -> tuple[Mapping[str, Any], ...]:
        """The lookalike kinds the research says ``kind`` accepts, each as {kind, when?}."""
        return tuple(e if isinstance(e, Mapping) else {"kind": e} for e in self.types.get(kind, {}).get("lookalikesAccepted", ()))


# Defects a type may carry (errors.json attribute_rules); Typed.defects() keeps those that apply.
DEFECTS_BY_TYPE: dict[str, tuple[str, ...]] = {
    "singlechar": ("not-string", "too-many-bytes", "regex-mismatch"),
    "longchar": ("not-string", "too-many-bytes", "regex-mismatch"),
    "int": ("not-numeric", "below-minimum", "above-maximum", "non-integral-out-of-range"),
    "float": ("not-numeric", "below-minimum", "above-maximum"),
    "enum": ("not-string", "unknown-id"),
    "enummulti": ("not-array", "unknown-id", "non-string-element", "several-single"),
    "enumquote": ("not-array", "zero-id"),
    "date": ("not-string", "bad-format"),
    "time": ("not-string", "bad-format", "empty"),
    "objuser": ("not-string", "too-many-bytes", "comma-single", "bad-name"),
    "timezone": ("bad-zone",),
    "bool": ("not-bool",),
    "list": ("not-string", "not-an-option"),
    "organization": ("not-array", "non-integer-element", "several-single"),
}
_MULTIPLE_TYPES = frozenset({"objuser", "organization", "enummulti", "enumquote"})


class OptionError(ValueError):
    """An option the validator cannot parse (every value of the attribute is then refused)."""


def _int_side(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise OptionError(f"{value!r} is no integer")
    if isinstance(value, str) and _INT_TEXT.match(value):
        value = int(value)
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise OptionError(f"{value} is out of int64")  # strconv.ParseInt's range error
        return value
    raise OptionError(f"{value!r} is no integer")  # json.Number "1.5" or "1000.0": ParseInt fails


def _float_side(value: Any) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise OptionError(f"{value!r} is no number")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            parsed = float(value)
        except ValueError:
            raise OptionError(f"{value!r} is no number") from None
        if math.isfinite(parsed):
            return parsed
    raise OptionError(f"{value!r} is no number")


def _bounds(option: Any, side: Any) -> tuple[Any, Any]:
    if option is None or option == "":
        return None, None
    if not isinstance(option, Mapping):
        # A JSON string such as '{"min":"1"}' is read with its quotes and fails (research model §2.3).
        raise OptionError(f"the option {json.dumps(option, ensure_ascii=False)} is not {{min, max}}")
    lo, hi = side(option.get("min")), side(option.get("max"))
    if lo is not None and hi is not None and lo > hi:
        raise OptionError(f"min {lo} > max {hi}")
    return lo, hi


def _enum_options(option: Any) -> list[Mapping[str, Any]]:
    if isinstance(option, str):
        try:
            option = json.loads(option)  # a JSON string holding the array is also accepted (research model §2.3)
        except ValueError:
            raise OptionError("the option is not an array of {id, name, type, is_default}") from None
    if not isinstance(option, list) or not option:
        raise OptionError("the option is not an array of {id, name, type, is_default}")
    for e in option:
        if not (isinstance(e, Mapping) and isinstance(e.get("id"), str) and e["id"] and isinstance(e.get("name"), str) and e["name"]
                and e.get("type") == "text"):
            raise OptionError(f"the option element {json.dumps(e, ensure_ascii=False)[:80]} needs a non-empty id and name and type 'text'")
    return option


@dataclass(frozen=True)
class Typed:
    """One model attribute as create_set applies it: parsed option, the checks that apply, the skip reason."""

    attribute: Attribute
    rules: TypeRules = field(repr=False, compare=False)
    bounds: tuple[Any, Any] = (None, None)
    ids: tuple[str, ...] = ()
    id_names: tuple[tuple[str, str], ...] = ()
    default_ids: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    quoted: tuple[int, ...] = ()
    pattern: Pattern | None = None
    skip: str = ""
    notes: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return self.attribute.id

    @property
    def type(self) -> str:
        return self.attribute.type

    @property
    def multiple(self) -> bool:
        return bool(self.attribute.ismultiple)

    @property
    def overwritten(self) -> bool:
        """A recorded field whose client value save replaces (not judged)."""
        return self.id in self.rules.overwritten

    @property
    def never_send(self) -> tuple[Any, ...]:
        return tuple(self.rules.never_send.get(self.id, ()))

    @property
    def zero_in_range(self) -> bool:
        lo, hi = self.bounds
        return (lo is None or lo <= 0) and (hi is None or hi >= 0)

    # -- the checks that apply ---------------------------------------------------------------------
    def defects(self) -> tuple[str, ...]:
        """The defects of errors.json attribute_rules this attribute can be sent (one per request)."""
        if self.skip:
            return ()
        lo, hi = self.bounds
        applies = {
            "regex-mismatch": self.pattern is not None and bool(missing(self.pattern, self.max_bytes)),
            "below-minimum": lo is not None and (self.type == "float" or lo > INT64_MIN),
            "above-maximum": hi is not None and (self.type == "float" or hi < INT64_MAX),
            "non-integral-out-of-range": not self.zero_in_range,
            "several-single": not self.multiple and (self.type != "enummulti" or bool(self.ids)),
            "comma-single": not self.multiple,
            "empty": "" not in self.never_send,
        }
        return tuple(d for d in DEFECTS_BY_TYPE[self.type] if applies.get(d, True))

    @property
    def max_bytes(self) -> int:
        return self.rules.max_bytes(self.type) if "maxBytes" in self.rules.types.get(self.type, {}) else 0

    # -- what is stored ----------------------------------------------------------------------------------
    def stored(self, sent: Any) -> Any:
        """What the server stores (and answers) for a valid ``sent`` value; a Like where only a property is known."""
        if isinstance(sent, str):
            sent = go_trim(sent)  # top-level strings only (research model §2.1)
            if self.type == "time" and sent:
                return SameInstant(sent) if "T" in sent else AnyTime(sent)
            return sent
        if self.type == "float" and isinstance(sent, (int, float)) and not isinstance(sent, bool):
            return SameNumber(float(sent))
        if self.type == "int" and isinstance(sent, float):
            return SameNumber(sent)  # accepted only because 0 is in range, stored as sent (research model §2.2)
        return sent

    def filled(self) -> Any:
        """What FillLostFieldValue stores for the attribute left out (research model §1.3, 3.11.1+)."""
        kind, default = self.type, self.attribute.default
        if kind == "enum":
            return self.default_ids[0] if len(self.default_ids) == 1 else None
        if kind == "enummulti":
            return list(self.default_ids) or None
        if kind == "enumquote":
            return list(self.quoted) or None
        if default is not NO_DEFAULT:
            if kind == "int":
                return _int_side(default)
            if kind == "float":
                side = _float_side(default)
                return SameNumber(side) if side is not None else None
            if kind == "time":
                return self.stored(default)
            return default
        if kind in ("singlechar", "longchar"):
            return ""
        if kind == "bool":
            return False
        return None


def typed(attribute: Attribute, rules: TypeRules) -> Typed:
    """What create_set does with ``attribute``: its parsed option, and why the suite skips it, if it does."""
    a, kind = attribute, attribute.type
    if kind in rules.unsupported:
        return Typed(a, rules, skip=f"type {kind}: {rules.unsupported[kind]}")
    if kind not in DEFECTS_BY_TYPE:
        return Typed(a, rules, skip=f"type {kind} is not one the research describes (the server answers 1199085 or a plugin decides)")
    if a.isrequired:
        note = (f"{a.id} is required: a custom set attribute cannot be made required through the API (research model §1.2), "
                "so every create that omits it fails with 1199010")
        return Typed(a, rules, skip=note, notes=(note,))
    if kind in _MULTIPLE_TYPES and a.ismultiple is None:
        return Typed(a, rules, skip="ismultiple is missing: the validator refuses every value of it with 1199010 (research model §2.2)")
    try:
        fields, regex_problem = _parse(a)
    except OptionError as exc:
        note = f"{a.id}: its option cannot be parsed ({exc}): the validator refuses every value, and filling it may fail every create"
        return Typed(a, rules, skip=f"option unparsable ({exc}): every value is refused (research model §2.3)", notes=(note,))
    if regex_problem:
        return Typed(a, rules, skip=f"regex {a.option!r} not reproducible in Python: {regex_problem}")
    out = Typed(a, rules, **fields)
    broken = _default_problem(out)
    if broken:
        note = f"{a.id}: {broken}; FillLostFieldValue fails, so every create that omits it fails (research model §1.3)"
        return Typed(a, rules, skip=broken + " (every create that omits it fails)", notes=(note,))
    return out


def _parse(a: Attribute) -> tuple[dict[str, Any], str]:
    """The parsed option as Typed fields, and why its regex cannot be reproduced ('' when it can, or has none)."""
    kind, out = a.type, dict[str, Any]()
    if kind == "int":
        out["bounds"] = _bounds(a.option, _int_side)
    elif kind == "float":
        out["bounds"] = _bounds(a.option, _float_side)
    elif kind in ("enum", "enummulti"):
        opts = _enum_options(a.option)
        out["ids"] = tuple(str(e["id"]) for e in opts)
        out["id_names"] = tuple((str(e["id"]), str(e["name"])) for e in opts)
        out["default_ids"] = tuple(str(e["id"]) for e in opts if e.get("is_default") is True)
    elif kind == "list":
        if not isinstance(a.option, list) or not a.option or not all(isinstance(o, str) for o in a.option):
            raise OptionError("the option is not a non-empty array of strings")
        out["options"] = tuple(a.option)
    elif kind == "enumquote":
        if not isinstance(a.option, list) or not all(isinstance(o, Mapping) and type(o.get("bk_inst_id")) is int for o in a.option):
            raise OptionError("the option is not an array of {bk_obj_id, bk_inst_id, type}")
        out["quoted"] = tuple(int(o["bk_inst_id"]) for o in a.option)
    elif kind in ("singlechar", "longchar") and isinstance(a.option, str) and a.option:
        # A non-string or empty option means no regex check (research model §2.2).
        pattern, reason = reproduce(a.option)
        if pattern is None:
            return out, reason
        out["pattern"] = pattern
    return out, ""


def _default_problem(t: Typed) -> str:
    """Why FillLostFieldValue refuses the attribute's definition, or ''."""
    kind, default = t.type, t.attribute.default
    if kind == "enum" and len(t.default_ids) > 1:
        return f"the enum has {len(t.default_ids)} is_default options"
    if kind == "enummulti" and not t.multiple and len(t.default_ids) > 1:
        return "a single-choice enummulti with several is_default options"
    if default is NO_DEFAULT or kind in ("enum", "enummulti", "enumquote"):
        return ""
    bad = f"its default {json.dumps(default, ensure_ascii=False)} is refused"
    try:
        if kind in ("singlechar", "longchar"):
            ok = isinstance(default, str) and (t.pattern is None or t.pattern.matches(default))
        elif kind in ("int", "float"):
            value = (_int_side if kind == "int" else _float_side)(default)
            lo, hi = t.bounds
            ok = value is not None and (lo is None or value >= lo) and (hi is None or value <= hi)
        elif kind == "date":
            ok = isinstance(default, str) and t.rules.fits("date", default)
        elif kind == "time":
            ok = isinstance(default, str) and any(p.match(default) for p in t.rules.layouts)
        elif kind in ("objuser", "timezone"):
            ok = isinstance(default, str) and t.rules.fits(kind, default)
        elif kind == "list":
            ok = default in t.options
        elif kind == "bool":
            ok = isinstance(default, bool)
        elif kind == "organization":
            ok = isinstance(default, list) and all(type(v) is int for v in default)
        else:
            ok = True
    except OptionError:
        ok = False
    return "" if ok else bad
