"""What create_set and update_set do with one value of one set attribute.

Boundary: pure functions over a `Check` (an attribute as the rule table
lets the validators see it).  `fill` is FillLostFieldValue (research
cmdb_model_attributes.md §1.3, 3.11.1+ defaults), `validate` is
Attribute.Validate plus core's enumquote check (§2.2, §2.1 error argument),
`stored_time` is changeStringToTime (§2.5).  Errors are raised unwrapped;
the caller (`cmdb.py`) decides whether 3.14 wraps them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from . import messages as m
from .golang import (
    INT64_MAX,
    INT64_MIN,
    SERVER_ZONE,
    ZERO_TIME,
    GoError,
    float64_of,
    go_float,
    int64_of_number,
    is_number,
    parse_int64,
    time_text,
)
from .messages import CmdbError
from .model import RECORDED_FIELDS, Attribute, SeedError, compile_re2, parse_range
from .rules import Rules

SINGLECHAR_MAX_BYTES = 256  # common.FieldTypeSingleLenChar
LONGCHAR_MAX_BYTES = 2000   # common.FieldTypeLongLenChar
USER_MAX_BYTES = 2000       # common.FieldTypeUserLenChar
INNER_TABLE_MAX_IDS = 50

# util/struti.go at release-v3.13.14 and release-v3.14.7 (RE2 \s = [\t\n\f\r ]).
DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
DATETIME_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[\t\n\f\r ][0-9]{2}:[0-9]{2}:[0-9]{2}")
TIME_WITH_ZONE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?\+[0-9]{2}:[0-9]{2}")
TIMEZONE_RE = re.compile(r"[a-zA-Z0-9\-−_/+]+")
USER_RE = re.compile(r"([0-9]|[a-zA-Z])([a-zA-Z0-9@.,_-])*")

_NO_FILL = object()


@dataclass(frozen=True)
class Check:
    """One attribute as the validators see it: its definition with the rule table applied."""

    attr: Attribute
    key: str
    kind: str
    arg: str                  # the error argument: bk_property_name (§2.1)
    custom: bool
    required: bool
    multiple: bool | None
    option: Any
    rules: Rules
    pattern: re.Pattern[str] | None = None
    max_bytes: int | None = None
    low: float = -math.inf
    high: float = math.inf
    ids: frozenset[str] = frozenset()
    skipped: bool = False     # recorded fields under model-recorded-fields-not-validated
    instances: frozenset[int] = frozenset()  # ids the enumquote option's model holds
    filled: Any = _NO_FILL

    def fill(self) -> Any:
        """The value FillLostFieldValue writes for an absent key (a fresh copy)."""
        value = self.filled
        return list(value) if isinstance(value, list) else value

    @property
    def fills(self) -> bool:
        """Whether C3 writes the key at all (an innertable null is deleted again in C7)."""
        return self.filled is not _NO_FILL


def compile_check(attr: Attribute, rules: Rules, instances: frozenset[int] = frozenset()) -> Check:
    """The Check of `attr` under `rules` (model-* rule faults touch custom attributes only)."""
    kind = attr.bk_property_type
    key = attr.bk_property_id
    custom = not attr.ispre
    option = rules.option_overrides.get(key, attr.option)
    required = attr.isrequired and not (key == "bk_set_name" and rules.name_may_be_blank)
    fields: dict[str, Any] = {}
    if kind in ("singlechar", "longchar"):
        if isinstance(option, str) and (rules.regex_checked or not custom):
            fields["pattern"] = compile_re2(option)
        limit = SINGLECHAR_MAX_BYTES if kind == "singlechar" else LONGCHAR_MAX_BYTES
        fields["max_bytes"] = None if key in rules.byte_limits_off else limit
    elif kind in ("int", "float"):
        if rules.custom_ranges_checked or not custom:
            fields["low"], fields["high"] = parse_range(kind, option)
    elif kind in ("enum", "enummulti"):
        fields["ids"] = frozenset(o["id"] for o in option)
    if custom:
        arg = key if rules.error_argument == "id" else attr.bk_property_name
    else:
        rules = replace(rules, float_strings_kept=True, bool_strings_accepted=False, int_fractions_accepted=True)
        arg = attr.bk_property_name
    check = Check(attr=attr, key=key, kind=kind, arg=arg, custom=custom, required=required,
                  multiple=attr.ismultiple, option=option, rules=rules,
                  skipped=key in RECORDED_FIELDS and not rules.recorded_fields_validated,
                  instances=instances, **fields)
    filled = _fill(check, attr.default if (rules.attribute_defaults_applied or not custom) else None)
    return replace(check, filled=rules.fill_overrides.get(key, filled))


def default_error(check: Check) -> str | None:
    """Why the server would refuse the fill value of `check` in C7 (None when it accepts it).

    A real server writes that value into every create that omits the key and
    then refuses the create; the seed loader refuses such a definition instead.
    """
    if not check.fills or check.filled is None:
        return None
    problem = template_value_error(check, check.fill())
    return None if problem is None else f"default {check.filled!r:.40} fails the create validation: {problem}"


# ------------------------------------------------------------------------- C3
def _fill(check: Check, default: Any) -> Any:
    """validator_util.go FillLostFieldValue for one absent attribute (3.11.1+)."""
    kind = check.kind
    if kind == "innertable":
        return _NO_FILL
    if kind in ("enum", "enummulti"):
        ids = [o["id"] for o in check.attr.option if o.get("is_default")]
        if kind == "enum":
            return ids[0] if len(ids) == 1 else None
        return ids or None
    if kind == "enumquote":
        return [o["bk_inst_id"] for o in check.attr.option] or None
    if kind == "bool":
        if default is not None and not isinstance(default, bool):
            raise SeedError("default must be true or false")
        return False if default is None else default
    if kind in ("singlechar", "longchar"):
        return "" if default is None else default
    if default is None:
        return None
    if kind == "int":
        return default
    if kind == "float":
        try:
            return go_float(float64_of(default))  # stored as float64
        except GoError:
            raise SeedError("default must be a number") from None
    if kind == "date" and not (isinstance(default, str) and DATE_RE.fullmatch(default)):
        raise SeedError("default must be a date YYYY-MM-DD")
    if kind == "time" and not (isinstance(default, str) and is_time(default)):
        raise SeedError("default must be a time YYYY-MM-DD hh:mm:ss or YYYY-MM-DDThh:mm:ss+hh:mm")
    if kind == "objuser" and not (isinstance(default, str) and (default == "" or USER_RE.fullmatch(default))):
        raise SeedError("default must be a user name")
    if kind == "timezone" and not (isinstance(default, str) and TIMEZONE_RE.fullmatch(default)):
        raise SeedError("default must be a time zone such as Asia/Shanghai")
    if kind == "organization" and not (isinstance(default, list) and all(is_number(v) for v in default)):
        raise SeedError("default must be a list of organization ids")
    if kind == "list" and default not in check.attr.option:
        raise SeedError("default must be one of the option values")
    return default


# ------------------------------------------------------------------------- C7
def validate(check: Check, value: Any, rid: str) -> Any:
    """Attribute.Validate (+ enumquote existence) of a value already TrimSpace'd; returns what is stored."""
    if check.skipped:
        return value
    if value is None:
        if check.required:
            raise CmdbError(m.PARAMS_NEED_SET, check.arg)
        return None
    return _VALIDATORS[check.kind](check, value, rid)


def _text(check: Check, value: Any, rid: str) -> Any:
    if check.kind == "longchar" and value == "":
        return _empty(check, value)
    if not isinstance(value, str):
        raise CmdbError(m.PARAMS_NEED_STRING, check.arg)
    if check.max_bytes is not None and len(value.encode("utf-8", "surrogatepass")) > check.max_bytes:
        raise CmdbError(m.OVER_LIMIT, check.arg)
    if value == "":
        return _empty(check, value)
    if check.key == "bk_set_name" and "##" in value and check.rules.name_split_flag_refused:
        raise CmdbError(m.PARAMS_INVALID, check.arg)  # TopoModuleName's split flag
    if check.pattern is not None and not check.pattern.search(value):
        raise CmdbError(m.REGEX_FAILED, check.arg)
    return value


def _empty(check: Check, value: Any) -> Any:
    if check.required:
        raise CmdbError(m.PARAMS_NEED_SET, check.arg)
    return value


def _int(check: Check, value: Any, rid: str) -> Any:
    if not is_number(value):
        raise CmdbError(m.PARAMS_NEED_INT, check.arg)
    if isinstance(value, float) and not check.rules.int_fractions_accepted:
        raise CmdbError(m.PARAMS_NEED_INT, check.arg)
    number = int64_of_number(value)  # 1.5 / 5.0 / 1e3 count as 0 (conv.go)
    if not check.low <= number <= check.high:
        raise CmdbError(m.PARAMS_INVALID, check.arg)
    return value


def _float(check: Check, value: Any, rid: str) -> Any:
    try:
        number = float64_of(value)
    except GoError:
        raise CmdbError(m.PARAMS_IS_INVALID, check.arg) from None
    if number > check.high or number < check.low:  # NaN passes both, as in Go
        raise CmdbError(m.PARAMS_INVALID, check.arg)
    if isinstance(value, str) and not check.rules.float_strings_kept and math.isfinite(number):
        return go_float(number)
    return value


def _enum(check: Check, value: Any, rid: str) -> Any:
    if not isinstance(value, str):
        raise CmdbError(m.PARAMS_INVALID, check.arg)
    if check.rules.enum_ids_checked and value not in check.ids:
        raise CmdbError(m.PARAMS_INVALID, check.arg)
    return value


def _enum_multi(check: Check, value: Any, rid: str) -> Any:
    if not isinstance(value, list):
        raise CmdbError(m.PARAMS_INVALID, check.arg)
    if not value:
        return _empty_list(check, value)
    if check.multiple is None:
        raise CmdbError(m.PARAMS_NEED_SET, check.arg)
    if not check.multiple and len(value) != 1:
        raise CmdbError(m.SINGLE_CHOICE, check.arg)
    for item in value:
        if not isinstance(item, str) or (check.rules.enum_ids_checked and item not in check.ids):
            raise CmdbError(m.PARAMS_INVALID, check.arg)
    return value


def _empty_list(check: Check, value: list[Any]) -> list[Any]:
    if check.required:
        raise CmdbError(m.PARAMS_INVALID, check.arg)
    return value


def _enum_quote(check: Check, value: Any, rid: str) -> Any:
    if not isinstance(value, list):
        raise CmdbError(m.PARAMS_INVALID, check.arg)
    # core validInstIDs: its own errors keep their arguments (not the property name) or are raw Go text.
    if not value:
        if check.required:
            raise CmdbError.go("enum quote inst id is null, please set the correct value")
        return value
    if check.multiple is None:
        raise CmdbError(m.PARAMS_INVALID, "ismultiple")
    if not check.multiple and len(value) != 1:
        raise CmdbError(m.SINGLE_CHOICE)
    ids: set[int] = set()
    for item in value:
        try:
            number = parse_int64(item)
        except GoError as exc:
            raise CmdbError.go(str(exc)) from None
        if number == 0:
            raise CmdbError.go("enum quote instID is 0, it is illegal")
        ids.add(number)
    if not ids <= check.instances:
        raise CmdbError.go(f"inst not exist, rid: {rid}")
    return value


def _date(check: Check, value: Any, rid: str) -> Any:
    if value == "":
        return _empty(check, value)
    if not (isinstance(value, str) and DATE_RE.fullmatch(value)):
        raise CmdbError(m.PARAMS_INVALID, check.arg)
    return value


def _time(check: Check, value: Any, rid: str) -> Any:
    if value == "":
        return _empty(check, value)
    if not (isinstance(value, str) and is_time(value)):
        raise CmdbError(m.PARAMS_INVALID, check.arg)
    return value


def _user(check: Check, value: Any, rid: str) -> Any:
    if value == "":
        return _empty(check, value)
    if not isinstance(value, str):
        raise CmdbError(m.PARAMS_NEED_STRING, check.arg)
    if len(value.encode("utf-8", "surrogatepass")) > USER_MAX_BYTES:
        raise CmdbError(m.OVER_LIMIT, check.arg)
    if check.multiple is None:
        raise CmdbError(m.PARAMS_NEED_SET, check.arg)
    if not check.multiple and "," in value:
        raise CmdbError(m.PARAMS_INVALID, check.arg)
    if not USER_RE.fullmatch(value):
        raise CmdbError(m.REGEX_FAILED, check.arg)
    return value


def _timezone(check: Check, value: Any, rid: str) -> Any:
    if not (isinstance(value, str) and value and TIMEZONE_RE.fullmatch(value)):
        raise CmdbError(m.NEED_TIMEZONE, check.arg)
    return value


def _bool(check: Check, value: Any, rid: str) -> Any:
    if isinstance(value, bool) or (check.rules.bool_strings_accepted and value in ("true", "false")):
        return value
    raise CmdbError(m.NEED_BOOL, check.arg)


def _list(check: Check, value: Any, rid: str) -> Any:
    if not isinstance(value, str):
        raise CmdbError(m.PARAMS_INVALID, check.arg)
    if not isinstance(check.option, list):
        raise CmdbError(m.PARAMS_INVALID, check.arg)
    for item in check.option:
        if not isinstance(item, str):
            raise CmdbError(m.LIST_OPTION_FAILED, check.arg)
        if item == value:
            return value
    raise CmdbError(m.PARAMS_INVALID, check.arg)


def _organization(check: Check, value: Any, rid: str) -> Any:
    if not isinstance(value, list):
        raise CmdbError(m.PARAMS_INVALID, check.arg)
    if not value:
        return _empty_list(check, value)
    if check.multiple is None:
        raise CmdbError(m.PARAMS_NEED_SET, check.arg)
    if not check.multiple and len(value) != 1:
        raise CmdbError(m.PARAMS_INVALID, check.arg)
    if not all(is_number(v) for v in value):  # util.IsInteger accepts any json.Number, so 1.5 too
        raise CmdbError(m.PARAMS_IS_INVALID, check.arg)
    return value


def _inner_table(check: Check, value: Any, rid: str) -> Any:
    if not isinstance(value, list):
        raise CmdbError(m.PARAMS_INVALID, check.arg)
    if not value:
        if check.required:
            raise CmdbError(m.PARAMS_NEED_SET, check.arg)
        return value
    if len(value) > INNER_TABLE_MAX_IDS:
        raise CmdbError(m.ARRAY_LENGTH, check.arg)  # the 50 is replaced by the name: %!d(MISSING)
    if not all(isinstance(v, int) and not isinstance(v, bool) and INT64_MIN <= v <= INT64_MAX for v in value):
        raise CmdbError(m.PARAMS_INVALID, check.arg)
    return value


_VALIDATORS: dict[str, Callable[[Check, Any, str], Any]] = {
    "singlechar": _text, "longchar": _text, "int": _int, "float": _float, "enum": _enum,
    "enummulti": _enum_multi, "enumquote": _enum_quote, "date": _date, "time": _time, "objuser": _user,
    "timezone": _timezone, "bool": _bool, "list": _list, "organization": _organization,
    "innertable": _inner_table,
}


# ------------------------------------------------------------------------- C8
def is_time(value: str) -> bool:
    """util.IsTime: `YYYY-MM-DD hh:mm:ss`, or `YYYY-MM-DDThh:mm:ss[.frac]+hh:mm` (no Z before 3.14.8)."""
    return bool(DATETIME_RE.fullmatch(value) or TIME_WITH_ZONE_RE.fullmatch(value))


def stored_time(value: Any) -> str:
    """changeStringToTime + the read back: the datetime CMDB stores for a time string, as it prints it."""
    if not isinstance(value, str):
        raise CmdbError.go("it is not a string of time type")
    if DATETIME_RE.fullmatch(value):
        moment = _parse_local(value)
    elif TIME_WITH_ZONE_RE.fullmatch(value):
        moment = _parse_zoned(value)
    else:
        raise CmdbError.go("can not convert value from string type to time type")
    return time_text(moment)


def _parse_local(value: str) -> datetime:
    # Go's layout "2006-01-02 15:04:05" wants a real space where the pattern allowed any \s.
    if value[10] != " ":
        return ZERO_TIME
    if int(value[17:19]) > 59:  # Python's %S takes 60 and 61, Go's parser does not
        return ZERO_TIME
    try:
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=SERVER_ZONE)
    except ValueError:  # shape-valid but impossible: Str2Time returns the zero time
        return ZERO_TIME


def _parse_zoned(value: str) -> datetime:
    head, zone = value[:-6], value[-6:]
    hours, minutes = int(zone[1:3]), int(zone[4:6])
    seconds_part, _, fraction = head.partition(".")
    if int(seconds_part[17:19]) > 59:
        return ZERO_TIME
    try:
        base = datetime.strptime(seconds_part, "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return ZERO_TIME
    if hours > 24 or minutes > 59:
        return ZERO_TIME
    micros = int((fraction + "000000")[:6]) if fraction else 0
    offset = timedelta(hours=hours, minutes=minutes)
    try:
        return (base + timedelta(microseconds=micros) - offset).replace(tzinfo=ZERO_TIME.tzinfo)
    except OverflowError:
        return ZERO_TIME


# ------------------------------------------------------------- used by loaders
def template_value_error(check: Check, value: Any) -> str | None:
    """Why a set template may not hold `value` for this attribute (None when it may)."""
    try:
        validate(check, value.strip() if isinstance(value, str) else value, "")
        if check.kind == "time" and value:
            stored_time(value)
    except CmdbError as error:
        return error.message("en")
    return None


