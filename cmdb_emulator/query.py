"""The search query language of the emulated CMDB.

Boundary: pure functions over already-decoded documents: Mongo-style
`condition` ($eq/$ne/$in/$nin/$regex/$gt/$gte/$lt/$lte), the querybuilder
`filter`, `page` (sort and slice) and `fields` projection.  No I/O, no store;
errors are `CmdbError(1199011, ...)` like the real server's bad conditions.
"""

from __future__ import annotations

import re
from typing import Any

from . import messages as m
from .messages import CmdbError
from .store import INT64_MAX, INT64_MIN


def _is_json_int(value: Any) -> bool:
    """A JSON integer that fits int64 (bool is not an integer; 5.0 is not)."""
    return type(value) is int and INT64_MIN <= value <= INT64_MAX


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


def match_condition(doc: dict[str, Any], condition: dict[str, Any]) -> bool:
    """Mongo-style condition: equality, $eq/$ne/$in/$nin/$regex/$gt/$gte/$lt/$lte."""
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
                        raise CmdbError(m.PARAMS_IS_INVALID, "condition")
                    ok = have is not _MISSING and any(_eq(have, x) for x in arg)
                    ok = ok if op == "$in" else not ok
                elif op == "$regex":
                    if not isinstance(arg, str):
                        raise CmdbError(m.PARAMS_IS_INVALID, "condition")
                    try:
                        ok = isinstance(have, str) and re.search(arg, have) is not None
                    except (re.error, RecursionError, OverflowError):
                        raise CmdbError(m.PARAMS_IS_INVALID, "condition") from None
                elif op in ("$gt", "$gte", "$lt", "$lte"):
                    ok = have is not _MISSING and _cmp(op, have, arg)
                else:
                    raise CmdbError(m.PARAMS_IS_INVALID, "condition")
                if not ok:
                    return False
        elif have is _MISSING:
            if want is not None:  # {field: null} matches a missing field, as in Mongo
                return False
        elif not _eq(have, want):
            return False
    return True


_FILTER_OPS = {
    "equal": lambda h, v: _eq(h, v),
    "not_equal": lambda h, v: not _eq(h, v),
    "in": lambda h, v: isinstance(v, list) and any(_eq(h, x) for x in v),
    "not_in": lambda h, v: isinstance(v, list) and not any(_eq(h, x) for x in v),
    "less": lambda h, v: _cmp("$lt", h, v),
    "less_or_equal": lambda h, v: _cmp("$lte", h, v),
    "greater": lambda h, v: _cmp("$gt", h, v),
    "greater_or_equal": lambda h, v: _cmp("$gte", h, v),
    "contains": lambda h, v: isinstance(h, str) and isinstance(v, str) and v.lower() in h.lower(),
    "begins_with": lambda h, v: isinstance(h, str) and isinstance(v, str) and h.startswith(v),
    "ends_with": lambda h, v: isinstance(h, str) and isinstance(v, str) and h.endswith(v),
    "exist": lambda h, v: h is not _MISSING,
    "not_exist": lambda h, v: h is _MISSING,
}


def match_filter(doc: dict[str, Any], node: Any, depth: int = 0) -> bool:
    """CMDB querybuilder filter: {condition: AND|OR, rules: [...]} or one rule."""
    if not isinstance(node, dict) or depth > 3:
        raise CmdbError(m.PARAMS_IS_INVALID, "filter")
    if "rules" in node:
        rules = node["rules"]
        cond = node.get("condition")
        if not isinstance(rules, list) or not rules or cond not in ("AND", "OR"):
            raise CmdbError(m.PARAMS_IS_INVALID, "filter")
        results = [match_filter(doc, r, depth + 1) for r in rules]
        return all(results) if cond == "AND" else any(results)
    field, op = node.get("field"), node.get("operator")
    if not isinstance(field, str) or op not in _FILTER_OPS:
        raise CmdbError(m.PARAMS_IS_INVALID, "filter")
    have = doc.get(field, _MISSING)
    if have is _MISSING and op not in ("exist", "not_exist", "not_equal", "not_in"):
        return False
    return bool(_FILTER_OPS[op](have, node.get("value")))


def paginate(docs: list[dict[str, Any]], page: dict[str, Any] | None,
             default_sort: str) -> tuple[int, list[dict[str, Any]]]:
    """Sort and slice by page{start, limit, sort}; returns (count, page of docs)."""
    page = page or {}
    start, limit, sort = page.get("start", 0), page.get("limit", 0), page.get("sort") or default_sort
    if not _is_json_int(start) or start < 0 or not _is_json_int(limit) or limit < 0 \
            or not isinstance(sort, str):
        raise CmdbError(m.PARAMS_IS_INVALID, "page")
    docs = list(docs)
    for key in reversed([k.strip() for k in sort.split(",") if k.strip()]):
        reverse = key.startswith("-")
        name = key.lstrip("-+")
        docs.sort(key=lambda d: _sort_key(d.get(name)), reverse=reverse)
    count = len(docs)
    return count, docs[start:start + limit] if limit else docs[start:]


def _sort_key(value: Any) -> tuple[int, Any]:
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
    """Keep only `fields` (all when empty)."""
    if not fields:
        return docs
    wanted = [f for f in fields if isinstance(f, str)]
    return [{k: d[k] for k in wanted if k in d} for d in docs]
