"""Which Go RE2 patterns Python's ``re`` reproduces, and strings that match or miss them.

A singlechar or longchar attribute may carry a regex option: CMDB matches it
with Go's ``regexp.MatchString`` (RE2 syntax, unanchored search) against the
trimmed value (research cmdb_model_attributes.md §2.2, §2.3). The suite can
only claim "this value matches" or "this one does not" where Python's ``re``
reads the pattern exactly as RE2 does, on the strings it sends. This module
decides that, and builds deterministic matching and non-matching strings.

Boundary: pure functions over the pattern text; no I/O, no Hypothesis.

How faithfulness is kept:
- patterns using syntax the two engines read differently are refused with a
  reason (``\\p{..}``, ``\\Q..\\E``, ``\\z``, ``\\x{..}``, POSIX classes,
  the ``U`` flag, ``{,n}``, which RE2 reads as a literal and Python as a
  repeat, named groups ``(?<name>``, anything Python does not compile or
  warns about);
- the pattern is compiled with ``re.ASCII``: RE2's ``\\d \\w \\s \\b`` are ASCII;
- the strings the suite sends never hold a newline (Python's ``$`` also
  matches before a final one) nor a vertical tab (Python's ASCII ``\\s`` has
  it, RE2's does not), and under ``(?i)`` are ASCII only (RE2 folds Unicode
  case, Python's ASCII mode does not).
"""

from __future__ import annotations

import importlib
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# Go's unicode.IsSpace, which strings.TrimSpace trims (research §2.1).
GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
# Characters no string sent against a pattern may hold (see the module docstring).
UNSAFE = "\n\v"

# Syntax that RE2 accepts and Python rejects or reads differently.
_DIFFERENT: tuple[tuple[str, str], ...] = (
    (r"\\[pP]", "Unicode classes (\\p{..}) are RE2 syntax Python's re does not have"),
    (r"\\Q", "\\Q...\\E literal text is RE2 syntax Python's re does not have"),
    (r"\\z", "\\z (end of text) is RE2 syntax Python's re does not have"),
    (r"\\x\{", "\\x{...} code points are RE2 syntax Python's re does not have"),
    (r"\\C", "\\C (any byte) is RE2 syntax Python's re does not have"),
    (r"\[\[:|\[:\^?[a-z]+:\]", "POSIX classes ([[:alpha:]]) are RE2 syntax Python's re reads as plain sets"),
    (r"\(\?[imsU-]*U", "the U (ungreedy) flag is RE2 syntax Python's re does not have"),
    (r"\{,", "{,n} is a literal in RE2 and a repeat in Python's re"),
    (r"\(\?<[A-Za-z_]", "(?<name>...) is a named group in Go and a lookbehind in Python's re"),
)
# Characters tried, in order, wherever a pattern lets the builder choose one.
_PREFERRED = "a0A_-xz9Zb.1"
_MISS_CANDIDATES = ("!", "0", "a", "A", "-", "_", "zz", "中文", "a-", "-a", "9a", "a9", "~~", "Z", ".", "@", "0x", "aa-00", "蓝鲸!")
_FILLERS = ("a", "0", "x", "A", "_", "-", ".", "9")


@dataclass(frozen=True)
class Pattern:
    """A pattern the suite reproduces: the compiled form and what a sent string must avoid."""

    source: str
    compiled: re.Pattern[str]
    ascii_only: bool

    def safe(self, s: str) -> bool:
        """Whether ``s`` is a string both engines judge alike and the server's trim leaves alone."""
        if any(c in s for c in UNSAFE) or s != s.strip(GO_SPACE):
            return False
        return s.isascii() or not self.ascii_only

    def matches(self, s: str) -> bool:
        """RE2's MatchString on ``s`` (unanchored), for a safe ``s``."""
        return self.compiled.search(s) is not None


def reproduce(source: str) -> tuple[Pattern | None, str]:
    """The pattern, or None with the reason Python's re cannot stand in for RE2 on it."""
    for syntax, reason in _DIFFERENT:
        if re.search(syntax, source):
            return None, reason
    try:
        with warnings.catch_warnings():
            # A FutureWarning ("possible nested set") says Python's reading may change: not faithful.
            warnings.simplefilter("error")
            compiled = re.compile(source, re.ASCII)
    except (re.error, FutureWarning, DeprecationWarning) as exc:
        return None, f"Python's re cannot read it alike ({exc})"
    ascii_only = bool(compiled.flags & re.IGNORECASE)
    if ascii_only and not source.isascii():
        return None, "under (?i) RE2 folds the case of non-ASCII letters and Python's ASCII mode does not"
    return Pattern(source, compiled, ascii_only), ""


# -- deterministic strings ---------------------------------------------------------------------------

_parser: Any = importlib.import_module("re._parser")  # the parser re itself uses (no public API for the tree)
_C = _parser  # opcode names are exported by re._parser (re._constants)


def _class_contains(items: Iterable[tuple[Any, Any]], ch: str, ignorecase: bool) -> bool:
    code = ord(ch)
    codes = {code, ord(ch.lower()), ord(ch.upper())} if ignorecase else {code}
    negate = False
    hit = False
    for op, av in items:
        if op is _C.NEGATE:
            negate = True
        elif op is _C.LITERAL:
            hit = hit or av in codes
        elif op is _C.RANGE:
            hit = hit or any(av[0] <= c <= av[1] for c in codes)
        elif op is _C.CATEGORY:
            hit = hit or _in_category(av, ch)
    return hit != negate


def _in_category(category: Any, ch: str) -> bool:
    digit = ch in "0123456789"
    word = ch.isascii() and (ch.isalnum() or ch == "_")
    space = ch in " \t\n\r\f\v"
    table = {
        _C.CATEGORY_DIGIT: digit, _C.CATEGORY_NOT_DIGIT: not digit,
        _C.CATEGORY_WORD: word, _C.CATEGORY_NOT_WORD: not word,
        _C.CATEGORY_SPACE: space, _C.CATEGORY_NOT_SPACE: not space,
    }
    return bool(table.get(category, False))


def _one_char(items: list[tuple[Any, Any]], ignorecase: bool) -> str | None:
    for op, av in items:
        if op is _C.LITERAL and _class_contains(items, chr(av), ignorecase):
            return chr(av)
        if op is _C.RANGE and _class_contains(items, chr(av[0]), ignorecase):
            return chr(av[0])
    for ch in _PREFERRED + " !#%&,/:;<=>@~":
        if _class_contains(items, ch, ignorecase):
            return ch
    return None


def _shortest(tree: Any, ignorecase: bool) -> str | None:
    """The shortest string the parsed pattern matches in full (first alternative, fewest repeats)."""
    out: list[str] = []
    for op, av in tree:
        if op is _C.LITERAL:
            out.append(chr(av))
        elif op is _C.NOT_LITERAL:
            ch = next((c for c in _PREFERRED if ord(c) != av), None)
            if ch is None:
                return None
            out.append(ch)
        elif op is _C.ANY:
            out.append("a")
        elif op is _C.IN:
            ch = _one_char(av, ignorecase)
            if ch is None:
                return None
            out.append(ch)
        elif op is _C.BRANCH:
            part = _shortest(av[1][0], ignorecase)
            if part is None:
                return None
            out.append(part)
        elif op is _C.SUBPATTERN:
            part = _shortest(av[-1], ignorecase)
            if part is None:
                return None
            out.append(part)
        elif op in (_C.MAX_REPEAT, _C.MIN_REPEAT, getattr(_C, "POSSESSIVE_REPEAT", _C.MAX_REPEAT)):
            low, _high, sub = av
            part = _shortest(sub, ignorecase) if low else ""
            if part is None:
                return None
            out.append(part * low)
        elif op is _C.AT:
            continue
        else:  # back references, look-arounds, conditionals: nothing RE2 accepts
            return None
    return "".join(out)


def matching(p: Pattern, max_bytes: int) -> tuple[str, ...]:
    """Deterministic strings ``p`` matches, each safe and within ``max_bytes``: the shortest, then one at the byte limit."""
    try:
        tree = _parser.parse(p.source, re.ASCII)
    except re.error:
        return ()
    shortest = _shortest(tree, p.ascii_only)
    if shortest == "":
        # A pattern that matches the empty string matches every string: "" itself is empty (no check), so send a letter.
        shortest = next((c for c in _PREFERRED if p.matches(c)), None)
    if not shortest or not p.safe(shortest) or not p.matches(shortest) or len(shortest.encode()) > max_bytes:
        return ()
    out = [shortest]
    room = max_bytes - len(shortest.encode())
    for filler in _FILLERS:
        if not room:
            break
        for candidate in (shortest + filler * room, filler * room + shortest):
            if p.safe(candidate) and p.matches(candidate):
                out.append(candidate)
                return tuple(out)
    return tuple(out)


def missing(p: Pattern, max_bytes: int) -> tuple[str, ...]:
    """Deterministic non-empty strings ``p`` does not match (the regex-mismatch defect); () when it matches them all."""
    out = [s for s in _MISS_CANDIDATES if p.safe(s) and len(s.encode()) <= max_bytes and not p.matches(s)]
    return tuple(out[:2])
