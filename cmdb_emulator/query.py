"""The search query language of the emulated CMDB.

Boundary: pure functions over already-decoded documents: Mongo-style
`condition` ($eq/$ne/$in/$nin/$regex/$options/$gt/$gte/$lt/$lte), the
querybuilder `filter`, `page` (sort and slice) and `fields` projection.  No
I/O, no store; errors are `CmdbError(1199011, ...)` like the real server's
bad conditions.

Every evaluation is bounded, because a query must never stall the server:
`$regex` runs on a linear-time engine (below) instead of Python's
backtracking `re`, `$in` lists are looked up in hash sets, sort keys and
projections cost no more than the documents they touch, and all of it is
charged to a work budget per request (`request_scope`, opened by the HTTP
server).  A query that exhausts its budget is a condition the server cannot
evaluate: 1199011, the same answer as a malformed condition.
"""

from __future__ import annotations

import threading
from bisect import bisect_right
from collections.abc import Callable
from types import TracebackType
from typing import Any

from . import messages as m
from .messages import CmdbError
from .store import INT64_MAX, INT64_MIN

# Work units one request may spend on query evaluation: one unit is one text
# character scanned by a regex, one NFA state visited while building the regex
# automaton, one condition key or filter rule applied to one document.  The
# contract suite's largest searches use a few thousand; two million is about
# a second of CPU on a slow machine.
QUERY_BUDGET = 2_000_000
# Mongo refuses a sort on more than 32 keys.
MAX_SORT_KEYS = 32


def _is_json_int(value: Any) -> bool:
    """A JSON integer that fits int64 (bool is not an integer; 5.0 is not)."""
    return type(value) is int and INT64_MIN <= value <= INT64_MAX


# ------------------------------------------------------------------ budget
class BudgetExceeded(Exception):
    """The request spent its query work budget."""


class _Scope:
    """One request's query budget and memo (compiled regexes, $in sets)."""

    __slots__ = ("left", "memo")

    def __init__(self, budget: int) -> None:
        self.left = budget
        self.memo: dict[Any, Any] = {}

    def spend(self, units: int) -> None:
        self.left -= units
        if self.left < 0:
            raise BudgetExceeded


_local = threading.local()


class request_scope:  # noqa: N801 - used like a function: `with request_scope():`
    """Context manager: everything evaluated inside shares one budget and one memo.

    The HTTP server opens one per request (each request has its own thread).
    Outside any scope each top-level call gets a fresh budget of its own.
    """

    def __init__(self, budget: int = QUERY_BUDGET) -> None:
        self.scope = _Scope(budget)
        self._outer: _Scope | None = None

    def __enter__(self) -> _Scope:
        self._outer = getattr(_local, "scope", None)
        _local.scope = self.scope
        return self.scope

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        _local.scope = self._outer


def _current() -> _Scope:
    scope: _Scope | None = getattr(_local, "scope", None)
    return scope if scope is not None else _Scope(QUERY_BUDGET)


# ------------------------------------------------------------------ values
_MISSING = object()


def _eq(a: Any, b: Any) -> bool:
    # Mongo does not equate true with 1.
    return a == b and isinstance(a, bool) == isinstance(b, bool)


def _cmp(op: str, have: Any, want: Any) -> bool:
    """Mongo-style ordering: numbers with numbers, strings with strings, else no match."""
    if isinstance(have, bool) or isinstance(want, bool):
        return False
    both_numbers = isinstance(have, (int, float)) and isinstance(want, (int, float))
    if not both_numbers and not (isinstance(have, str) and isinstance(want, str)):
        return False
    if op == "$gt":
        return bool(have > want)
    if op == "$gte":
        return bool(have >= want)
    if op == "$lt":
        return bool(have < want)
    return bool(have <= want)


class _Members:
    """A list's values as hash sets, so `x in list` (with `_eq`'s rules) is O(1)."""

    __slots__ = ("bools", "none", "numbers", "others", "strings")

    def __init__(self, values: list[Any]) -> None:
        self.none = False
        self.bools: set[bool] = set()
        self.numbers: set[int | float] = set()
        self.strings: set[str] = set()
        self.others: list[Any] = []  # lists and objects: compared one by one, as before
        for value in values:
            if value is None:
                self.none = True
            elif isinstance(value, bool):
                self.bools.add(value)
            elif isinstance(value, (int, float)):
                self.numbers.add(value)
            elif isinstance(value, str):
                self.strings.add(value)
            else:
                self.others.append(value)

    def __contains__(self, have: Any) -> bool:
        if have is None:
            return self.none
        if isinstance(have, bool):
            return have in self.bools
        if isinstance(have, (int, float)):
            return have in self.numbers
        if isinstance(have, str):
            return have in self.strings
        return any(_eq(have, x) for x in self.others)


def _members(scope: _Scope, values: list[Any]) -> _Members:
    # Keyed by identity within one request: the decoded list is not mutated
    # while its query runs, and the memo holds it so the id stays unique.
    key = ("in", id(values))
    hit = scope.memo.get(key)
    if hit is not None and hit[0] is values and hit[1] == len(values):
        members: _Members = hit[2]
        return members
    members = _Members(values)
    scope.memo[key] = (values, len(values), members)
    return members


# ------------------------------------------------------------------ condition
def _invalid(what: str) -> CmdbError:
    return CmdbError(m.PARAMS_IS_INVALID, what)


def match_condition(doc: dict[str, Any], condition: dict[str, Any]) -> bool:
    """Mongo-style condition: equality, $eq/$ne/$in/$nin/$regex(+$options)/$gt/$gte/$lt/$lte."""
    scope = _current()
    try:
        scope.spend(len(condition))
        for key, want in condition.items():
            have = doc.get(key, _MISSING)
            if isinstance(want, dict) and want and all(str(k).startswith("$") for k in want):
                for op, arg in want.items():
                    if op == "$eq":
                        ok = have is not _MISSING and _eq(have, arg)
                    elif op == "$ne":
                        ok = have is _MISSING or not _eq(have, arg)
                    elif op in ("$in", "$nin"):
                        if not isinstance(arg, list):
                            raise _invalid("condition")
                        ok = have is not _MISSING and have in _members(scope, arg)
                        ok = ok if op == "$in" else not ok
                    elif op == "$regex":
                        regex = _regex(scope, arg, want.get("$options", ""))
                        ok = isinstance(have, str) and regex.search(have, scope)
                    elif op == "$options":
                        if "$regex" not in want:  # Mongo: "$options needs a $regex"
                            raise _invalid("condition")
                        ok = True
                    elif op in ("$gt", "$gte", "$lt", "$lte"):
                        ok = have is not _MISSING and _cmp(op, have, arg)
                    else:
                        raise _invalid("condition")
                    if not ok:
                        return False
            elif have is _MISSING:
                if want is not None:  # {field: null} matches a missing field, as in Mongo
                    return False
            elif not _eq(have, want):
                return False
        return True
    except BudgetExceeded:
        raise _invalid("condition") from None


# ------------------------------------------------------------------ filter
def _in(h: Any, v: Any, scope: _Scope) -> bool:
    return isinstance(v, list) and h in _members(scope, v)


_FILTER_OPS: dict[str, Callable[[Any, Any, _Scope], bool]] = {
    "equal": lambda h, v, s: _eq(h, v),
    "not_equal": lambda h, v, s: not _eq(h, v),
    "in": _in,
    "not_in": lambda h, v, s: isinstance(v, list) and not _in(h, v, s),
    "less": lambda h, v, s: _cmp("$lt", h, v),
    "less_or_equal": lambda h, v, s: _cmp("$lte", h, v),
    "greater": lambda h, v, s: _cmp("$gt", h, v),
    "greater_or_equal": lambda h, v, s: _cmp("$gte", h, v),
    "contains": lambda h, v, s: isinstance(h, str) and isinstance(v, str) and v.lower() in h.lower(),
    "begins_with": lambda h, v, s: isinstance(h, str) and isinstance(v, str) and h.startswith(v),
    "ends_with": lambda h, v, s: isinstance(h, str) and isinstance(v, str) and h.endswith(v),
    "exist": lambda h, v, s: h is not _MISSING,
    "not_exist": lambda h, v, s: h is _MISSING,
}


def match_filter(doc: dict[str, Any], node: Any, depth: int = 0) -> bool:
    """CMDB querybuilder filter: {condition: AND|OR, rules: [...]} or one rule."""
    try:
        return _match_filter(doc, node, depth, _current())
    except BudgetExceeded:
        raise _invalid("filter") from None


def _match_filter(doc: dict[str, Any], node: Any, depth: int, scope: _Scope) -> bool:
    # The depth limit (querybuilder's) also bounds this recursion.
    if not isinstance(node, dict) or depth > 3:
        raise _invalid("filter")
    scope.spend(1)
    if "rules" in node:
        rules = node["rules"]
        cond = node.get("condition")
        if not isinstance(rules, list) or not rules or cond not in ("AND", "OR"):
            raise _invalid("filter")
        results = [_match_filter(doc, r, depth + 1, scope) for r in rules]
        return all(results) if cond == "AND" else any(results)
    field, op = node.get("field"), node.get("operator")
    if not isinstance(field, str) or op not in _FILTER_OPS:
        raise _invalid("filter")
    have = doc.get(field, _MISSING)
    if have is _MISSING and op not in ("exist", "not_exist", "not_equal", "not_in"):
        return False
    return bool(_FILTER_OPS[op](have, node.get("value"), scope))


# ------------------------------------------------------------------ page, fields
def paginate(docs: list[dict[str, Any]], page: dict[str, Any] | None,
             default_sort: str) -> tuple[int, list[dict[str, Any]]]:
    """Sort and slice by page{start, limit, sort}; returns (count, page of docs)."""
    page = page or {}
    start, limit, sort = page.get("start", 0), page.get("limit", 0), page.get("sort") or default_sort
    if not _is_json_int(start) or start < 0 or not _is_json_int(limit) or limit < 0 \
            or not isinstance(sort, str):
        raise _invalid("page")
    # A key repeated later has no effect on the order, so keep its first use;
    # more distinct keys than Mongo sorts on would cost one sort each.
    keys: dict[str, bool] = {}
    for raw in sort.split(","):
        key = raw.strip()
        name = key.lstrip("-+")
        if key and name not in keys:
            keys[name] = key.startswith("-")
            if len(keys) > MAX_SORT_KEYS:
                raise _invalid("page")
    docs = list(docs)
    for name, reverse in reversed(keys.items()):
        docs.sort(key=lambda d: sort_key(d.get(name)), reverse=reverse)
    count = len(docs)
    return count, docs[start:start + limit] if limit else docs[start:]


def sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (3, int(value))
    if isinstance(value, (int, float)):
        return (1, value)
    if isinstance(value, str):
        return (2, value)
    return (4, str(value))


def project(docs: list[dict[str, Any]], fields: list[Any] | None) -> list[dict[str, Any]]:
    """Keep only `fields` (all when empty); keys stay in document order (CMDB sorts them)."""
    if not fields:
        return docs
    # Walk each document once against a set: a long `fields` list costs once, not once per document.
    wanted = {f for f in fields if isinstance(f, str)}
    return [{k: v for k, v in d.items() if k in wanted} for d in docs]


# ------------------------------------------------------------------ $regex
# Mongo evaluates $regex with PCRE.  Python's `re` backtracks: "^(a+)+$" on 28
# a's and an X takes seconds, doubling with each character, and `re` holds the
# GIL all along, so every other client stalls.  This engine compiles the
# pattern to a Thompson NFA and runs it as a lazily built DFA (RE2's design):
# one pass over the text, no backtracking, each step memoised.  It answers the
# only question $regex asks, "is there a match anywhere?", so captures,
# greediness and laziness do not matter.
#
# Supported (PCRE meaning, ASCII classes as PCRE without UCP): literals and
# escapes (\t \n \r \f \v \e \a \0 \xhh \x{h..} and escaped punctuation), `.`,
# classes with ranges, negation, \d \w \s \D \W \S and [:posix:] names,
# anchors ^ $ \A \z \Z \b \B, groups ( ) (?: ) (?<name> ) (?P<name> ),
# alternation, * + ? {m} {m,} {m,n} (n <= 1000, RE2's limit) with an optional
# lazy `?`, and the flags i m s x inline ((?i) (?i: ) (?-i)) or as $options.
# Anything else (backreferences, lookaround, atomic groups, possessive
# quantifiers, recursion, conditionals, \p, \Q..\E, \G, \K) is a condition the
# emulator cannot evaluate: 1199011, like an invalid pattern.
MAX_PROGRAM = 2000   # NFA instructions, after expanding counted repetitions
MAX_REPEAT = 1000    # RE2's bound on {m,n}
MAX_NESTING = 100    # group nesting: bounds the parser's recursion
_DFA_CACHE = 10_000  # memoised automaton entries per compiled pattern

_CHAR, _SPLIT, _JMP, _ASSERT, _MATCH = range(5)
_TEXT_START, _BOL, _TEXT_END, _EOL, _END_NL, _WORD_B, _NOT_WORD_B = (1 << i for i in range(7))
_I, _M, _S, _X = 1, 2, 4, 8
_FLAG_BITS = {"i": _I, "m": _M, "s": _S, "x": _X}
_MAX_CODE = 0x10FFFF
_WORD = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")

Ranges = tuple[tuple[int, int], ...]


class RegexError(Exception):
    """A pattern that is invalid or outside the supported subset."""


def _normalise(ranges: list[tuple[int, int]]) -> Ranges:
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return tuple(merged)


def _complement(ranges: Ranges) -> Ranges:
    out: list[tuple[int, int]] = []
    nxt = 0
    for lo, hi in ranges:
        if lo > nxt:
            out.append((nxt, lo - 1))
        nxt = hi + 1
    if nxt <= _MAX_CODE:
        out.append((nxt, _MAX_CODE))
    return tuple(out)


def _r(*spans: str) -> Ranges:
    return _normalise([(ord(s[0]), ord(s[-1])) for s in spans])


_DIGIT = _r("09")
_WORDR = _r("09", "AZ", "az", "_")
_SPACE = _r("\t\r", " ")  # \t \n \v \f \r and space: PCRE's \s
_POSIX: dict[str, Ranges] = {
    "alpha": _r("AZ", "az"), "digit": _DIGIT, "alnum": _r("09", "AZ", "az"), "word": _WORDR,
    "upper": _r("AZ"), "lower": _r("az"), "space": _SPACE, "blank": _r(" ", "\t"),
    "xdigit": _r("09", "AF", "af"), "cntrl": _normalise([(0, 31), (127, 127)]),
    "punct": _r("!/", ":@", "[`", "{~"), "graph": _r("!~"), "print": _r(" ~"), "ascii": ((0, 127),),
}
# PCRE's \v and \h are classes (vertical and horizontal space), not RE2's single characters.
_VSPACE = _normalise([(10, 13), (0x85, 0x85), (0x2028, 0x2029)])
_HSPACE = _normalise([(9, 9), (32, 32), (0xA0, 0xA0), (0x1680, 0x1680), (0x180E, 0x180E),
                      (0x2000, 0x200A), (0x202F, 0x202F), (0x205F, 0x205F), (0x3000, 0x3000)])
_SHORTHAND: dict[str, Ranges] = {
    "d": _DIGIT, "D": _complement(_DIGIT), "w": _WORDR, "W": _complement(_WORDR),
    "s": _SPACE, "S": _complement(_SPACE), "v": _VSPACE, "V": _complement(_VSPACE),
    "h": _HSPACE, "H": _complement(_HSPACE),
}
_CONTROL = {"t": 9, "n": 10, "r": 13, "f": 12, "e": 27, "a": 7}


class _CharSet:
    """A one-character predicate: code-point ranges, optionally negated and caseless."""

    __slots__ = ("_his", "_los", "icase", "negated")

    def __init__(self, ranges: Ranges, icase: bool = False, negated: bool = False) -> None:
        self._los = [lo for lo, _ in ranges]
        self._his = [hi for _, hi in ranges]
        self.icase = icase
        # Kept apart from the ranges: caseless [^a] must refuse "A" as well.
        self.negated = negated

    def _has(self, code: int) -> bool:
        i = bisect_right(self._los, code) - 1
        return i >= 0 and code <= self._his[i]

    def matches(self, ch: str) -> bool:
        if self._has(ord(ch)):
            return not self.negated
        if self.icase:
            for other in (ch.lower(), ch.upper()):
                if len(other) == 1 and other != ch and self._has(ord(other)):
                    return not self.negated
        return self.negated


# AST: ("set", _CharSet) | ("cat", nodes) | ("alt", nodes) | ("rep", node, lo, hi|None)
#      | ("assert", kind) | ("empty",)
Node = tuple[Any, ...]


class _Parser:
    """Recursive descent over the pattern; nesting is capped, so is the recursion."""

    def __init__(self, pattern: str, flags: int) -> None:
        self.p = pattern
        self.i = 0
        self.flags = flags

    def fail(self, why: str) -> RegexError:
        return RegexError(f"{why} at position {self.i}")

    def parse(self) -> Node:
        node, _ = self.alternation(self.flags, 0)
        if self.i < len(self.p):
            raise self.fail("unmatched )")
        return node

    def skip_extended(self, flags: int) -> None:
        if not flags & _X:
            return
        p = self.p
        while self.i < len(p):
            if p[self.i] in " \t\n\r\f\v":
                self.i += 1
            elif p[self.i] == "#":
                while self.i < len(p) and p[self.i] != "\n":
                    self.i += 1
            else:
                return

    def alternation(self, flags: int, depth: int) -> tuple[Node, int]:
        if depth > MAX_NESTING:
            raise self.fail("groups nested too deep")
        branches = []
        while True:
            node, flags = self.concat(flags, depth)
            branches.append(node)
            if self.i < len(self.p) and self.p[self.i] == "|":
                self.i += 1
                continue
            break
        return (branches[0] if len(branches) == 1 else ("alt", tuple(branches))), flags

    def concat(self, flags: int, depth: int) -> tuple[Node, int]:
        items: list[Node] = []
        p = self.p
        while True:
            self.skip_extended(flags)
            if self.i >= len(p) or p[self.i] in "|)":
                break
            inline = self._inline_flags(flags) if p.startswith("(?", self.i) else None
            if inline is not None:
                flags = inline
                self.i = p.index(")", self.i) + 1
                continue
            atom = self.atom(flags, depth)
            items.append(self.quantified(atom, flags))
        if not items:
            return ("empty",), flags
        return (items[0] if len(items) == 1 else ("cat", tuple(items))), flags

    def _flag_letters(self, j: int, flags: int) -> tuple[int, int]:
        """imsx-imsx from j: the flags they leave and the index after them."""
        p = self.p
        on = True
        new = flags
        while j < len(p) and (p[j] in _FLAG_BITS or (p[j] == "-" and on)):
            if p[j] == "-":
                on = False
            elif on:
                new |= _FLAG_BITS[p[j]]
            else:
                new &= ~_FLAG_BITS[p[j]]
            j += 1
        return new, j

    def _inline_flags(self, flags: int) -> int | None:
        """(?imsx-imsx) at self.i: the new flags, or None when this is another group kind."""
        p = self.p
        new, j = self._flag_letters(self.i + 2, flags)
        if j < len(p) and p[j] == ")" and j > self.i + 2:
            return new
        return None

    def quantified(self, atom: Node, flags: int) -> Node:
        p = self.p
        self.skip_extended(flags)
        if self.i >= len(p):
            return atom
        c = p[self.i]
        if c in "*+?":
            lo, hi = {"*": (0, None), "+": (1, None), "?": (0, 1)}[c]
            self.i += 1
        elif c == "{":
            bounds = self._counted()
            if bounds is None:
                return atom  # not a quantifier: the `{` is a literal, as in PCRE
            lo, hi = bounds
        else:
            return atom
        if atom[0] in ("assert", "empty"):
            raise self.fail("nothing to repeat")
        if self.i < len(p) and p[self.i] == "?":
            self.i += 1  # lazy: the same set of matches
        elif self.i < len(p) and p[self.i] == "+":
            raise self.fail("possessive quantifiers are not supported")
        if (self.i < len(p) and p[self.i] in "*+?") or (p.startswith("{", self.i) and self._peek_counted()):
            raise self.fail("multiple repeat")
        return ("rep", atom, lo, hi)

    def _peek_counted(self) -> bool:
        saved = self.i
        try:
            return self._counted() is not None
        finally:
            self.i = saved

    def _counted(self) -> tuple[int, int | None] | None:
        p, j = self.p, self.i + 1
        k = j
        while k < len(p) and p[k].isascii() and p[k].isdigit():
            k += 1
        if k == j and not (k < len(p) and p[k] == "," and p[k + 1:k + 2].isdigit()):
            return None
        # {,n} is {0,n}, as in Python's re and PCRE2 10.43+.
        lo = (int(p[j:k]) if k - j <= 5 else MAX_REPEAT + 1) if k > j else 0
        hi: int | None = lo
        if k < len(p) and p[k] == ",":
            k2 = k + 1
            while k2 < len(p) and p[k2].isascii() and p[k2].isdigit():
                k2 += 1
            hi = (int(p[k + 1:k2]) if k2 - k - 1 <= 5 else MAX_REPEAT + 1) if k2 > k + 1 else None
            k = k2
        if k >= len(p) or p[k] != "}":
            return None
        if lo > MAX_REPEAT or (hi is not None and hi > MAX_REPEAT):
            raise self.fail(f"repetition count above {MAX_REPEAT}")
        if hi is not None and hi < lo:
            raise self.fail("numbers out of order in {} quantifier")
        self.i = k + 1
        return lo, hi

    def atom(self, flags: int, depth: int) -> Node:
        p = self.p
        c = p[self.i]
        if c == "(":
            return self.group(flags, depth)
        if c == "[":
            ranges, negated = self.char_class()
            return ("set", _CharSet(ranges, bool(flags & _I), negated))
        if c == "\\":
            return self.escape(flags)
        self.i += 1
        if c == ".":
            return ("set", _CharSet(((0, _MAX_CODE),) if flags & _S else ((10, 10),), negated=not flags & _S))
        if c == "^":
            return ("assert", _BOL if flags & _M else _TEXT_START)
        if c == "$":
            return ("assert", _EOL if flags & _M else _END_NL)
        if c in "*+?":
            raise self.fail("nothing to repeat")
        return ("set", _CharSet(((ord(c), ord(c)),), bool(flags & _I)))

    def group(self, flags: int, depth: int) -> Node:
        p = self.p
        self.i += 1
        if p.startswith("?", self.i):
            rest = p[self.i + 1:self.i + 3]
            if rest.startswith(":"):
                self.i += 2
            elif rest.startswith("P<") or (rest.startswith("<") and not rest.startswith(("<=", "<!"))) \
                    or rest.startswith("'"):
                close = ">" if rest[0] in "<P" else "'"
                start = self.i + (3 if rest.startswith("P<") else 2)
                end = p.find(close, start)
                name = p[start:end] if end > 0 else ""
                if not name or not (name[0].isascii() and (name[0].isalpha() or name[0] == "_")) \
                        or not all(ch.isascii() and (ch.isalnum() or ch == "_") for ch in name):
                    raise self.fail("bad group name")
                self.i = end + 1
            else:
                scoped = self._scoped_flags(flags)
                if scoped is None:
                    raise self.fail("this group syntax is not supported")
                flags = scoped
        node, _ = self.alternation(flags, depth + 1)
        if self.i >= len(p) or p[self.i] != ")":
            raise self.fail("missing )")
        self.i += 1
        return node

    def _scoped_flags(self, flags: int) -> int | None:
        """(?imsx-imsx: at self.i (pointing at '?'): consume it and return the group's flags."""
        p = self.p
        new, j = self._flag_letters(self.i + 1, flags)
        if j < len(p) and p[j] == ":":
            self.i = j + 1
            return new
        return None

    def _hex(self, j: int) -> tuple[int, int]:
        """\\xhh or \\x{h...} starting at j (just after 'x'): (code point, next index)."""
        p = self.p
        if p.startswith("{", j):
            end = p.find("}", j)
            digits = p[j + 1:end] if end > 0 else ""
            if not digits or len(digits) > 6 or any(ch not in "0123456789abcdefABCDEF" for ch in digits):
                raise self.fail("bad \\x{...} escape")
            code, nxt = int(digits, 16), end + 1
        else:
            k = j
            while k < len(p) and k < j + 2 and p[k] in "0123456789abcdefABCDEF":
                k += 1
            code, nxt = (int(p[j:k], 16) if k > j else 0), k
        if code > _MAX_CODE:
            raise self.fail("code point out of range")
        return code, nxt

    def escape(self, flags: int) -> Node:
        p = self.p
        if self.i + 1 >= len(p):
            raise self.fail("trailing backslash")
        c = p[self.i + 1]
        self.i += 2
        icase = bool(flags & _I)
        if c in _SHORTHAND:
            return ("set", _CharSet(_SHORTHAND[c]))
        kind = {"A": _TEXT_START, "z": _TEXT_END, "Z": _END_NL, "b": _WORD_B, "B": _NOT_WORD_B}.get(c)
        if kind is not None:
            return ("assert", kind)
        code = self._escaped_code(c)
        return ("set", _CharSet(((code, code),), icase))

    def _escaped_code(self, c: str) -> int:
        """The code point of a one-character escape (self.i is just past it)."""
        if c in _CONTROL:
            return _CONTROL[c]
        if c == "x":
            code, self.i = self._hex(self.i)
            return code
        if c == "0":
            if self.i < len(self.p) and self.p[self.i].isdigit():
                raise self.fail("octal escapes are not supported")
            return 0
        if c.isascii() and c.isalnum():
            raise self.fail(f"escape \\{c} is not supported")
        return ord(c)

    def char_class(self) -> tuple[Ranges, bool]:
        p = self.p
        self.i += 1
        negated = p.startswith("^", self.i)
        if negated:
            self.i += 1
        ranges: list[tuple[int, int]] = []
        first = True
        while True:
            if self.i >= len(p):
                raise self.fail("missing ]")
            c = p[self.i]
            if c == "]" and not first:
                self.i += 1
                break
            first = False
            if p.startswith("[:", self.i):
                end = p.find(":]", self.i + 2)
                name = p[self.i + 2:end] if end > 0 else ""
                neg = name.startswith("^")
                table = _POSIX.get(name[1:] if neg else name)
                if table is None:
                    raise self.fail("unknown POSIX class")
                ranges.extend(_complement(table) if neg else table)
                self.i = end + 2
                continue
            lo = self._class_atom(ranges)
            if lo is None:
                continue
            if p.startswith("-", self.i) and self.i + 1 < len(p) and p[self.i + 1] != "]":
                self.i += 1
                hi = self._class_atom(ranges)
                if hi is None:
                    raise self.fail("bad range in class")
                if hi < lo:
                    raise self.fail("range out of order in class")
                ranges.append((lo, hi))
            else:
                ranges.append((lo, lo))
        return _normalise(ranges), negated

    def _class_atom(self, ranges: list[tuple[int, int]]) -> int | None:
        """One class member: its code point, or None for a shorthand (added to `ranges`)."""
        p = self.p
        c = p[self.i]
        if c != "\\":
            self.i += 1
            return ord(c)
        if self.i + 1 >= len(p):
            raise self.fail("trailing backslash")
        e = p[self.i + 1]
        self.i += 2
        if e in _SHORTHAND:
            ranges.extend(_SHORTHAND[e])
            return None
        if e == "b":
            return 8  # backspace inside a class
        return self._escaped_code(e)


class Regex:
    """A compiled pattern: `search(text)` says whether it matches anywhere, in linear time."""

    def __init__(self, pattern: str, options: str = "") -> None:
        flags = 0
        for letter in options:
            if letter == "u":  # Mongo accepts u; PCRE here is always Unicode
                continue
            if letter not in _FLAG_BITS:
                raise RegexError(f"unknown option {letter!r}")
            flags |= _FLAG_BITS[letter]
        ast = _Parser(pattern, flags).parse()
        self.ops: list[int] = []
        self.arg: list[Any] = []
        self.out: list[int] = []
        self.out2: list[int] = []
        start, holes = self._emit(ast)
        match = self._new(_MATCH, None)
        self._patch(holes, match)
        self.start = start
        self.asserts = any(op == _ASSERT for op in self.ops)
        self.word_asserts = any(op == _ASSERT and self.arg[pc] & (_WORD_B | _NOT_WORD_B)
                                for pc, op in enumerate(self.ops))
        self.anchored = _anchored(ast)
        # Keys hold frozensets, which cache their hash: a memoised step costs O(1).
        self._closures: dict[tuple[frozenset[int], int], tuple[frozenset[int], bool]] = {}
        self._steps: dict[tuple[frozenset[int], str], frozenset[int]] = {}

    # -- compiling (Thompson construction)
    def _new(self, op: int, arg: Any) -> int:
        if len(self.ops) >= MAX_PROGRAM:
            raise RegexError(f"pattern too large (more than {MAX_PROGRAM} instructions)")
        self.ops.append(op)
        self.arg.append(arg)
        self.out.append(-1)
        self.out2.append(-1)
        return len(self.ops) - 1

    def _patch(self, holes: list[tuple[int, int]], target: int) -> None:
        for pc, which in holes:
            if which == 0:
                self.out[pc] = target
            else:
                self.out2[pc] = target

    def _emit(self, node: Node) -> tuple[int, list[tuple[int, int]]]:
        kind = node[0]
        if kind == "set":
            pc = self._new(_CHAR, node[1])
            return pc, [(pc, 0)]
        if kind == "assert":
            pc = self._new(_ASSERT, node[1])
            return pc, [(pc, 0)]
        if kind == "empty":
            pc = self._new(_JMP, None)
            return pc, [(pc, 0)]
        if kind == "cat":
            start, holes = self._emit(node[1][0])
            for child in node[1][1:]:
                child_start, child_holes = self._emit(child)
                self._patch(holes, child_start)
                holes = child_holes
            return start, holes
        if kind == "alt":
            branches = node[1]
            first = self._new(_SPLIT, None)
            pc, holes = first, []
            for k, child in enumerate(branches):
                child_start, child_holes = self._emit(child)
                holes += child_holes
                self.out[pc] = child_start
                if k == len(branches) - 2:
                    last_start, last_holes = self._emit(branches[-1])
                    self.out2[pc] = last_start
                    holes += last_holes
                    break
                nxt = self._new(_SPLIT, None)
                self.out2[pc] = nxt
                pc = nxt
            return first, holes
        # rep: x{lo} then either x* or (hi - lo) optional copies
        _, child, lo, hi = node
        start = -1
        holes = []
        for _ in range(lo - 1 if hi is None and lo else lo):
            s, h = self._emit(child)
            if start < 0:
                start = s
            else:
                self._patch(holes, s)
            holes = h
        if hi is None:
            # x+ is x then a loop back to it; x* is the loop alone.
            s, h = self._emit(child)
            loop = self._new(_SPLIT, None)
            self.out[loop] = s
            self._patch(h, loop)
            entry = s if lo else loop
            if start < 0:
                start = entry
            else:
                self._patch(holes, entry)
            return start, [(loop, 1)]
        # (x(x(x)?)?)?: once one optional copy is skipped, the rest are too.
        exits: list[tuple[int, int]] = []
        for _ in range(hi - lo):
            split = self._new(_SPLIT, None)
            if start < 0:
                start = split
            else:
                self._patch(holes, split)
            s, h = self._emit(child)
            self.out[split] = s
            exits.append((split, 1))
            holes = h
        if start < 0:  # x{0} / x{0,0}: matches the empty string
            pc = self._new(_JMP, None)
            return pc, [(pc, 0)]
        return start, holes + exits

    # -- matching (lazy DFA over NFA state sets)
    def _close(self, kernel: frozenset[int], ctx: int, scope: _Scope) -> tuple[frozenset[int], bool]:
        ops, out, out2, arg = self.ops, self.out, self.out2, self.arg
        stack = [*kernel, self.start]
        seen: set[int] = set()
        chars: list[int] = []
        matched = False
        while stack:
            pc = stack.pop()
            if pc in seen:
                continue
            seen.add(pc)
            op = ops[pc]
            if op == _CHAR:
                chars.append(pc)
            elif op == _SPLIT:
                stack.append(out2[pc])
                stack.append(out[pc])
            elif op == _JMP:
                stack.append(out[pc])
            elif op == _ASSERT:
                if ctx & arg[pc]:
                    stack.append(out[pc])
            else:
                matched = True
        scope.spend(len(seen))
        return frozenset(chars), matched

    def _step(self, chars: frozenset[int], ch: str, scope: _Scope) -> frozenset[int]:
        scope.spend(len(chars) + 1)
        arg, out = self.arg, self.out
        return frozenset(out[pc] for pc in chars if arg[pc].matches(ch))

    def search(self, text: str, scope: _Scope | None = None) -> bool:
        """Whether the pattern matches somewhere in `text` (charged to `scope`)."""
        scope = scope if scope is not None else _current()
        if len(self._closures) + len(self._steps) > _DFA_CACHE:
            self._closures.clear()  # memory stays bounded; the work is charged anyway
            self._steps.clear()
        closures, steps = self._closures, self._steps
        n = len(text)
        scope.spend(n + 1)
        kernel: frozenset[int] = frozenset()
        ctx = 0
        for i in range(n + 1):
            if self.asserts:
                ctx = (_TEXT_START | _BOL) if i == 0 else (_BOL if text[i - 1] == "\n" else 0)
                if i == n:
                    ctx |= _TEXT_END | _EOL | _END_NL
                elif text[i] == "\n":
                    ctx |= _EOL | (_END_NL if i == n - 1 else 0)
                if self.word_asserts:
                    before = i > 0 and text[i - 1] in _WORD
                    after = i < n and text[i] in _WORD
                    ctx |= _WORD_B if before != after else _NOT_WORD_B
            entry = closures.get((kernel, ctx))
            if entry is None:
                entry = closures[(kernel, ctx)] = self._close(kernel, ctx, scope)
            chars, matched = entry
            if matched:
                return True
            # Anchored at the start and nothing left alive: no later position can match.
            if i == n or (not chars and self.anchored and i):
                return False
            ch = text[i]
            nxt = steps.get((chars, ch))
            if nxt is None:
                nxt = steps[(chars, ch)] = self._step(chars, ch, scope)
            kernel = nxt
        return False


def _anchored(node: Node) -> bool:
    """Whether every match must start at the start of the text (\\A, or ^ without m)."""
    if node[0] == "assert":
        return bool(node[1] == _TEXT_START)
    if node[0] == "cat":
        return _anchored(node[1][0])
    if node[0] == "alt":
        return all(_anchored(b) for b in node[1])
    return False


def _regex(scope: _Scope, pattern: Any, options: Any) -> Regex:
    """The compiled $regex (memoised per request); invalid or unsupported -> 1199011."""
    if not isinstance(pattern, str) or not isinstance(options, str):
        raise _invalid("condition")
    key = ("re", pattern, options)
    regex: Regex | None = scope.memo.get(key)
    if regex is None:
        scope.spend(len(pattern))
        try:
            regex = Regex(pattern, options)
        except RegexError:
            raise _invalid("condition") from None
        scope.memo[key] = regex
    return regex
