"""The query language's bounded evaluation (issue 11): the linear-time $regex engine, the work budget, cheap $in / sort / fields.

Unit tests of `cmdb_emulator.query`; the HTTP-level attacks are in test_hostile.py.
"""

from __future__ import annotations

import random
import re
import time
from typing import Any

import pytest

from cmdb_emulator.messages import CmdbError
from cmdb_emulator.query import (
    MAX_NESTING,
    MAX_REPEAT,
    Regex,
    RegexError,
    match_condition,
    match_filter,
    paginate,
    project,
    request_scope,
)

# Patterns whose meaning is the same in PCRE and Python's re on ASCII text.
COMMON = [
    r"abc", r"^abc", r"abc$", r"^a.c$", r"a|b|c", r"(ab|cd)+e", r"a*", r"^$", r"x{2,3}y", r"x{2}", r"x{2,}",
    r"[a-c]+", r"[^a-c]", r"\d+", r"\w\s\W", r"\bab\b", r"\Bb", r"(?i)AbC", r"(?i:a)b", r"[A-Z]{0,2}z",
    r"^(a+)+$", r"(a|aa)*b", r"(?:ab)?c", r"a.b", r"(?s)a.b", r"(?m)^b", r"(?m)a$", r"\Aab", r"[\d\-x]",
    r"[-a]", r"[a-]", r"[]a]", r"[^]a]", r"a{,2}", r"a{1,2}?", r"(a)(?:b)(?P<n>c)", r"\x41", r"\.", r"a\|b",
    r"(|a)b", r"(?x) a b # c", r"[\s]", r"\(\)", r"a{0}b", r"(a*)*b", r"(a|b)*a(a|b){3}", r"^.{3}$", r"\$",
    r"^\^", r"(?i)[a-c]", r"((a))", r"a$", r"(?i)x[^y]z", r"[a-c-e]", r"(a|)+b", r"a{3,3}", r"\t|\n", r"[^\n]+$",
]
ALPHABET = "abcABxyz\n 9-_.Cde()$^]\t"


@pytest.mark.parametrize("pattern", COMMON)
def test_regex_agrees_with_python_re_where_pcre_does(pattern: str) -> None:
    """On ASCII text the engine answers "matches somewhere?" exactly as Python's re for patterns PCRE reads the same way."""
    ours, theirs = Regex(pattern), re.compile(pattern)
    rng = random.Random(pattern)
    for _ in range(300):
        text = "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(14)))
        assert ours.search(text) == (theirs.search(text) is not None), (pattern, text)


@pytest.mark.parametrize(("pattern", "text", "expected"), [
    (r"a\Z", "a\n", True),          # PCRE: \Z also before a final newline (Python: only at the end)
    (r"a\z", "a\n", False),
    (r"a$", "a\n", True),           # $ before a final newline
    (r"a$", "a\nb", False),
    (r"(?m)a$", "a\nb", True),
    (r"\d", "٣", False),            # ASCII classes, as PCRE without UCP (Python: Unicode digits)
    (r"\w", "é", False),
    (r"(?i)é", "É", True),          # caseless beyond ASCII
    (r"(?i)[^a]", "A", False),      # a caseless negated class refuses both cases
    (r"[[:alpha:]]+9", "ab9", True),  # POSIX classes
    (r"[[:^digit:]]", "5", False),
    (r"\v", "\n", True),            # PCRE's \v and \h are classes
    (r"\h", "\u3000", True),
    (r"\x{5c0f}", "小", True),
    (r"a.c", "a\nc", False),
    (r"(?s)a.c", "a\nc", True),
    (r"a{2}{", "aa{", True),        # a { that starts no quantifier is a literal
    (r"(?i)set-(?-i)X", "SET-X", True),
    (r"(?i)set-(?-i)X", "SET-x", False),
    (r"a(?i)b|c", "C", True),       # PCRE: a flag change holds for later branches of its group
    (r"\bk", "a k", True),
    (r"", "", True),
])
def test_regex_follows_pcre(pattern: str, text: str, expected: bool) -> None:
    """Where PCRE (Mongo's engine) and Python's re differ, the engine follows PCRE."""
    assert Regex(pattern).search(text) is expected


@pytest.mark.parametrize(("options", "text", "expected"), [("i", "ABC", True), ("", "ABC", False), ("m", "x\nabc", True),
                                                          ("s", "a\nbc", True), ("x", "abc", True), ("u", "abc", True)])
def test_regex_options(options: str, text: str, expected: bool) -> None:
    """Mongo's $options letters i, m, s, x (and the no-op u) apply to the whole pattern."""
    pattern = {"m": "^abc$", "s": "a.bc", "x": "a b c"}.get(options, "abc")
    assert Regex(pattern, options).search(text) is expected


@pytest.mark.parametrize("pattern", [
    r"(a)\1", r"(?P=n)", r"(?=a)", r"(?!a)", r"(?<=a)", r"(?<!a)", r"(?>a)", r"a++", r"a*+", r"(?R)", r"(?1)",
    r"(?(1)a|b)", r"\p{L}", r"\X", r"\Qa\E", r"\G", r"\Ka", r"\01", r"(?#c)", r"(?|a)", "(", ")", "[a", "a**",
    "*a", "a|*", r"\\", "\\", "x{2,1}", f"a{{{MAX_REPEAT + 1}}}", r"[b-a]", r"[[:nope:]]", r"(?<1a>x)", r"\x{110000}",
], ids=lambda p: repr(p))
def test_regex_refuses_what_it_cannot_evaluate(pattern: str) -> None:
    """Backreferences, lookaround, atomic/possessive, recursion, \\p, \\Q..\\E and invalid syntax raise RegexError."""
    if pattern == r"\\":
        assert Regex(pattern).search("\\")  # an escaped backslash is fine
        return
    with pytest.raises(RegexError):
        Regex(pattern)


def test_regex_size_and_nesting_are_capped() -> None:
    """Counted repetitions may not expand past the program cap; groups may nest MAX_NESTING deep, not more."""
    assert Regex("a{1000}").search("a" * 1000)
    with pytest.raises(RegexError):
        Regex("(a{1000}){1000}")
    assert Regex("(" * MAX_NESTING + "a" + ")" * MAX_NESTING).search("a")
    with pytest.raises(RegexError):
        Regex("(" * (MAX_NESTING + 2) + "a" + ")" * (MAX_NESTING + 2))


def _random_text(n: int, alphabet: str) -> str:
    rng = random.Random(n)
    return "".join(rng.choice(alphabet) for _ in range(n))


def _work(pattern: str, text: str) -> int:
    """Budget units one fresh search of `text` spends."""
    with request_scope(10**9) as scope:
        Regex(pattern).search(text, scope)
    return 10**9 - scope.left


@pytest.mark.parametrize(("pattern", "make"), [
    (r"^(a+)+$", lambda n: "a" * n + "X"),
    (r"(a|aa)*c", lambda n: "a" * n),
    (r"(a|b)*a(a|b){12}", lambda n: "ab" * (n // 2)),
    (r"(a|b)*a(a|b){12}c", lambda n: _random_text(n, "ab")),  # a new DFA state at most characters
    (r"(x+x+)+y", lambda n: "x" * n),
    (r"(?i)\b(\w+\s?)*$", lambda n: "word " * (n // 5) + "!"),
])
def test_regex_work_grows_linearly_with_the_text(pattern: str, make: Any) -> None:
    """Backtracking-prone patterns cost O(text): doubling the text at most doubles the work (plus set-up)."""
    small, large = _work(pattern, make(2000)), _work(pattern, make(4000))
    assert large <= 2 * small + 20_000, (small, large)
    assert small <= 100 * 2000, small  # at most ~the NFA's size per character


def test_exhausted_budget_is_a_bad_condition() -> None:
    """A condition whose evaluation outruns the request's budget is 1199011 'condition'."""
    doc = {"bk_set_name": "a" * 5000}
    with request_scope(1000), pytest.raises(CmdbError) as caught:
        match_condition(doc, {"bk_set_name": {"$regex": "b"}})
    assert caught.value.code == 1199011 and caught.value.message("en") == "'condition' the parameter is invalid or does not exist"


def test_budget_is_shared_by_a_request() -> None:
    """One request's budget covers all its documents: 100 cheap matches pass, the next ones fail."""
    docs = [{"n": "a" * 100} for _ in range(200)]
    with request_scope(100 * 103), pytest.raises(CmdbError):
        for doc in docs:
            match_condition(doc, {"n": {"$regex": "b"}})


def test_filter_budget_is_1199011_filter() -> None:
    """Filter rules are charged per document too: too many is 1199011 'filter'."""
    rules = [{"field": "a", "operator": "exist"}] * 1000
    with request_scope(5000), pytest.raises(CmdbError) as caught:
        for _ in range(10):
            match_filter({"a": 1}, {"condition": "AND", "rules": rules})
    assert caught.value.message("en") == "'filter' the parameter is invalid or does not exist"


@pytest.mark.parametrize(("values", "have", "expected"), [
    ([1, 2], 2, True), ([1, 2], 2.0, True), ([1], True, False), ([True], 1, False), ([True], True, True),
    ([None], None, True), (["2"], 2, False), ([[1, 2]], [1, 2], True), ([{"a": 1}], {"a": 1}, True), ([], 1, False),
])
def test_in_keeps_mongo_equality(values: list[Any], have: Any, expected: bool) -> None:
    """$in through hash sets keeps the equality rules ($eq's): true is not 1, 2.0 is 2, arrays compare whole."""
    assert match_condition({"k": have}, {"k": {"$in": values}}) is expected
    assert match_condition({"k": have}, {"k": {"$nin": values}}) is not expected
    assert match_filter({"k": have}, {"field": "k", "operator": "in", "value": values}) is expected


def test_big_in_list_and_many_documents_cost_a_lookup_each() -> None:
    """A 200,000-element $in over 5,000 documents is one hash lookup per document: well within 3 s (it was minutes)."""
    docs = [{"id": i} for i in range(5000)]
    wanted = {"id": {"$in": [*range(10**6, 10**6 + 200_000), 7]}}
    started = time.monotonic()
    with request_scope():
        found = [d for d in docs if match_condition(d, wanted)]
    assert found == [{"id": 7}] and time.monotonic() - started < 3


def test_long_fields_list_is_walked_once() -> None:
    """project() with a 200,000-entry fields list over 2,000 documents costs once, not per document: well within 3 s."""
    docs = [{f"k{j}": j for j in range(20)} for _ in range(2000)]
    started = time.monotonic()
    out = project(docs, ["x"] * 200_000 + ["k3", "k1", 5])
    assert out[0] == {"k1": 1, "k3": 3} and len(out) == 2000 and time.monotonic() - started < 3


def test_sort_keys_are_deduplicated_and_capped() -> None:
    """A repeated sort key counts once (its first direction wins); more than 32 distinct keys is 1199011 'page'."""
    docs = [{"a": i % 3, "b": i} for i in range(9)]
    _, ordered = paginate(docs, {"sort": "a,-a,b," + ",".join(["a"] * 50_000)}, "b")
    assert [(d["a"], d["b"]) for d in ordered] == sorted((d["a"], d["b"]) for d in docs)
    paginate(docs, {"sort": ",".join(f"k{i}" for i in range(32))}, "b")
    with pytest.raises(CmdbError) as caught:
        paginate(docs, {"sort": ",".join(f"k{i}" for i in range(33))}, "b")
    assert caught.value.message("en") == "'page' the parameter is invalid or does not exist"
