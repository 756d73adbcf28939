"""Go standard-library behaviour that CMDB's answers inherit.

Boundary: pure functions, no state.  CMDB decodes request JSON with
`UseNumber`, trims with `strings.TrimSpace`, converts numbers with
`strconv`, matches with RE2, renders messages with `fmt.Sprintf` and
prints times as `RFC3339Nano`; the emulator gets each of those details
from here so that `values.py` and `messages.py` read like the research
(cmdb_model_attributes.md §2.1, §2.2 numeric details, §2.5).
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

# unicode.IsSpace: the Unicode White_Space property (strings.TrimSpace).
GO_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)

# The server's local zone; every stock CMDB example is rendered in +08:00.
SERVER_ZONE = timezone(timedelta(hours=8))

_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_HEX = re.compile(r"[+-]?0[xX](?:[0-9a-fA-F]+(?:\.[0-9a-fA-F]*)?|\.[0-9a-fA-F]+)[pP][+-]?[0-9]+")
_INF = re.compile(r"[+-]?(?:inf|infinity)", re.IGNORECASE)
_NAN = re.compile(r"nan", re.IGNORECASE)


class GoError(Exception):
    """A plain Go error: CMDB answers it with its raw text (1199998, or wrapped in 3.14)."""


def trim_space(value: str) -> str:
    """strings.TrimSpace."""
    return value.strip(GO_SPACE)


def is_number(value: Any) -> bool:
    """A decoded JSON number (util.IsNumeric on a json.Number): int or float, never bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def int64_of_number(value: int | float) -> int:
    """json.Number.Int64 with the error ignored (util.GetInt64ByInterface as validInt uses it).

    A number written with a fraction or an exponent (`1.5`, `5.0`, `1e3`, which
    Python decodes as floats) is a syntax error, so 0; an overflow saturates.
    """
    if isinstance(value, float):
        return 0
    return max(INT64_MIN, min(INT64_MAX, value))


def parse_int64(value: Any) -> int:
    """util.GetInt64ByInterface on a decoded JSON value; raise GoError with Go's text."""
    if isinstance(value, bool) or not is_number(value):
        raise GoError("not numeric")
    if isinstance(value, float):
        raise GoError(f'strconv.ParseInt: parsing "{go_number_text(value)}": invalid syntax')
    if not INT64_MIN <= value <= INT64_MAX:
        raise GoError(f'strconv.ParseInt: parsing "{value}": value out of range')
    return int(value)


def parse_float(text: str) -> float:
    """strconv.ParseFloat(text, 64); raise GoError on a syntax or range error."""
    if _NAN.fullmatch(text):
        return math.nan
    if _INF.fullmatch(text):
        return -math.inf if text.startswith("-") else math.inf
    if _DECIMAL.fullmatch(text):
        number = float(text)
    elif _HEX.fullmatch(text):
        sign = -1.0 if text.startswith("-") else 1.0
        try:
            number = sign * float.fromhex(text.lstrip("+-"))
        except OverflowError:
            number = math.inf
    else:
        raise GoError(f'strconv.ParseFloat: parsing "{text}": invalid syntax')
    if math.isinf(number):
        raise GoError(f'strconv.ParseFloat: parsing "{text}": value out of range')
    return number


def float64_of(value: Any) -> float:
    """util.GetFloat64ByInterface on a decoded JSON value (numbers and numeric strings)."""
    if isinstance(value, str):
        return parse_float(value)
    if isinstance(value, bool) or not is_number(value):
        raise GoError("not numeric")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if math.isinf(number):  # json.Number.Float64 of 1e400 or a 400-digit integer
        raise GoError(f'strconv.ParseFloat: parsing "{go_number_text(value)}": value out of range')
    return number


def go_number_text(value: int | float) -> str:
    """How a JSON number reads in Go's error texts (close to its JSON spelling)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return f"{value:.1f}"
    return repr(value)


def go_float(value: float) -> int | float:
    """A float64 as Go's JSON encoder prints it: integral values without a fraction."""
    if value.is_integer() and abs(value) < 1e21:
        return int(value)
    return value


def time_text(moment: datetime) -> str:
    """A stored BSON datetime as CMDB prints it: RFC3339Nano, server zone, milliseconds, zeros trimmed."""
    local = moment.astimezone(SERVER_ZONE)
    frac = f"{local.microsecond // 1000:03d}".rstrip("0")
    return (f"{local.year:04d}-{local.month:02d}-{local.day:02d}T{local.hour:02d}:{local.minute:02d}:"
            f"{local.second:02d}" + (f".{frac}" if frac else "") + "+08:00")


def datetime_text(moment: datetime) -> str:
    """`YYYY-MM-DD hh:mm:ss` in the server zone (metadata.Time, e.g. an attribute's create_time)."""
    local = moment.astimezone(SERVER_ZONE)
    return f"{local.year:04d}-{local.month:02d}-{local.day:02d} {local.hour:02d}:{local.minute:02d}:{local.second:02d}"


ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)


def sprintf(template: str, args: tuple[object, ...]) -> str:
    """fmt.Sprintf for the verbs CMDB's templates use (%s, %d), with Go's error artefacts."""
    out: list[str] = []
    used = 0
    i = 0
    while i < len(template):
        char = template[i]
        if char != "%" or i + 1 == len(template):
            out.append(char)
            i += 1
            continue
        verb = template[i + 1]
        i += 2
        if verb == "%":
            out.append("%")
            continue
        if used >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        arg = args[used]
        used += 1
        if verb == "s":
            out.append(arg if isinstance(arg, str) else f"%!s({_go_type(arg)}={arg})")
        elif verb == "d":
            out.append(str(arg) if isinstance(arg, int) and not isinstance(arg, bool) else f"%!d({_go_type(arg)}={arg})")
        else:
            out.append(f"%!{verb}({_go_type(arg)}={arg})")
    if used < len(args):
        extra = ", ".join(f"{_go_type(a)}={a}" for a in args[used:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _go_type(arg: object) -> str:
    if isinstance(arg, bool):
        return "bool"
    if isinstance(arg, int):
        return "int"
    if isinstance(arg, float):
        return "float64"
    return "string"
