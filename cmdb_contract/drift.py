"""Compare a BlueKing apidoc Markdown file with ``spec/`` and report every drift.

The doc's tables are parsed generically: a table belongs to the nearest heading
above it; under a ``返回结果…`` section the envelope table is named ``response``
and every other table ``<heading> (response)`` (so the two ``#### data`` tables
become ``data`` and ``data (response)``). Each row is matched with the ``x-doc``
annotations of the schemas; the documented request and response examples are
validated against the schemas.

Boundary: pure functions of the Markdown text and a loaded :class:`Spec`; no
file or network I/O. Meanings are not compared (``x-doc`` paraphrases them in
English). A schema node carrying an ``x-deviation`` registered in
``deviations.json`` is exempt from the schema-type check and explains example
failures at that node: the registry, not this module, says what is known.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from jsonschema.exceptions import ValidationError

from .spec import DRAFT, Spec, json_type

SCHEMA_FILES = ("request.schema.json", "response.schema.json")
EXAMPLE_HEADINGS = {"request": "请求参数示例", "response": "返回结果示例"}
RESPONSE_SECTION = "返回结果"
ENVELOPE_TABLE = "response"
# Newer apidoc pages render the common parameters from a shared template instead of a table.
COMMON_TABLE = "通用参数"
COMMON_PLACEHOLDER = re.compile(r"\{\{\s*common_args_desc\s*\}\}")

# Doc type text -> the JSON Schema types that encode it. apidoc types do not
# state nullability (the seed's own example sends null for an "object" and an
# "array"), so "null" is never counted against a doc type.
DOC_TYPES: Mapping[str, frozenset[str]] = {
    "int": frozenset({"integer"}),
    "integer": frozenset({"integer"}),
    "long": frozenset({"integer"}),
    "float": frozenset({"number", "integer"}),
    "double": frozenset({"number", "integer"}),
    "number": frozenset({"number", "integer"}),
    "string": frozenset({"string"}),
    "str": frozenset({"string"}),
    "bool": frozenset({"boolean"}),
    "boolean": frozenset({"boolean"}),
    "dict": frozenset({"object"}),
    "object": frozenset({"object"}),
    "map": frozenset({"object"}),
    "array": frozenset({"array"}),
    "list": frozenset({"array"}),
}
YES = frozenset({"是", "y", "yes", "true", "必选"})
NO = frozenset({"否", "n", "no", "false", "可选"})

# Draft 2020-12 keywords whose value is a subschema, a list of them, or a map
# from names to them; everything else (enum, const, x-doc, ...) is data.
_SCHEMA_KEYWORDS = frozenset({
    "items", "contains", "additionalProperties", "propertyNames", "if", "then", "else", "not",
    "unevaluatedItems", "unevaluatedProperties", "contentSchema",
})
_SCHEMA_LIST_KEYWORDS = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
_SCHEMA_MAP_KEYWORDS = frozenset({"properties", "patternProperties", "dependentSchemas", "$defs"})


@dataclass(frozen=True)
class Drift:
    """One disagreement between the documentation and ``spec/``."""

    table: str
    field: str
    problem: str

    def __str__(self) -> str:
        return f"{self.table}.{self.field}: {self.problem}"


@dataclass(frozen=True)
class TableRow:
    """One row of a documentation table; ``required_text`` is None where the table has no 必选 column."""

    table: str
    field: str
    type: str
    required: bool | None
    required_text: str | None

    @property
    def key(self) -> tuple[str, str]:
        return (self.table, self.field)


@dataclass(frozen=True)
class _Site:
    """A place in a schema that encodes a doc row: a property, or an annotated node."""

    where: str
    xdoc: dict[str, Any]
    types: frozenset[str] | None
    in_required: bool | None
    deviation: str | None


# -- Markdown ---------------------------------------------------------------

_HEADING = re.compile(r"^(#{1,6})\s*(.*?)\s*#*\s*$")
_SEPARATOR_CELL = re.compile(r"^:?-{1,}:?$")


def _cells(line: str) -> list[str]:
    text = line.strip().removeprefix("|").removesuffix("|")
    return [_clean(c) for c in text.split("|")]


def _clean(cell: str) -> str:
    return cell.strip().strip("`*").strip()


def _is_separator(line: str) -> bool:
    cells = _cells(line)
    return "|" in line and all(_SEPARATOR_CELL.match(c) for c in cells) and any(cells)


def _column(header: str) -> str | None:
    if "类型" in header:
        return "type"
    if "必" in header:
        return "required"
    if "描述" in header or "说明" in header:
        return "meaning"
    if "字段" in header or "名称" in header or "参数" in header:
        return "field"
    return None


def _table_name(heading: str, *, in_response: bool, section_heading: bool) -> str:
    """spec/'s name for a table under ``heading``: response tables other than the envelope get ' (response)'."""
    if not in_response:
        return heading
    # A table straight under the 返回结果 section heading is the envelope, as in older apidoc files.
    if section_heading or heading == ENVELOPE_TABLE:
        return ENVELOPE_TABLE
    return f"{heading} (response)"


def parse_tables(markdown: str) -> list[TableRow]:
    """Every row of every field table in the Markdown, named as spec/ names its tables."""
    lines = markdown.splitlines()
    rows: list[TableRow] = []
    heading, in_response, section_heading, fenced = "", False, True, False
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and (m := _HEADING.match(line.strip())):
            heading = m.group(2)
            section_heading = len(m.group(1)) <= 3
            if section_heading:
                in_response = heading.startswith(RESPONSE_SECTION)
        elif not fenced and "|" in line and i + 1 < len(lines) and _is_separator(lines[i + 1]):
            columns = [_column(h) for h in _cells(line)]
            table = _table_name(heading, in_response=in_response, section_heading=section_heading)
            i += 2
            while i < len(lines) and "|" in lines[i] and lines[i].strip():
                # A ragged row (a cell short or extra) is still read as far as it goes.
                values = dict(zip(columns, _cells(lines[i]), strict=False))
                values.pop(None, None)
                name = values.get("field", "")
                if name:
                    text = values.get("required")
                    rows.append(TableRow(table, name, values.get("type", ""), _required(text), text))
                i += 1
            continue
        i += 1
    return rows


def _required(text: str | None) -> bool | None:
    if text is None:
        return None
    low = text.strip().lower()
    if low in YES:
        return True
    if low in NO:
        return False
    return None


def parse_examples(markdown: str) -> dict[str, str]:
    """The first fenced block under each example heading, keyed ``request`` / ``response``."""
    found: dict[str, str] = {}
    current: str | None = None
    block: list[str] | None = None
    for line in markdown.splitlines():
        if block is not None:
            if line.lstrip().startswith("```"):
                if current is not None and current not in found:
                    found[current] = "\n".join(block)
                block, current = None, None
            else:
                block.append(line)
        elif line.lstrip().startswith("```"):
            block = []
        elif m := _HEADING.match(line.strip()):
            current = next((k for k, h in EXAMPLE_HEADINGS.items() if m.group(2).startswith(h)), None)
    return found


def _load_example(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        pass
    # Some apidoc examples are Python literals (True/None) rather than JSON.
    return ast.literal_eval(text.strip())


# -- schemas ----------------------------------------------------------------

def _pointer(parts: tuple[str, ...]) -> str:
    return "#" + "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)


def _resolve(root: dict[str, Any], ref: str) -> Any:
    if not ref.startswith("#"):
        return None
    node: Any = root
    for raw in ref[1:].split("/")[1:]:
        key = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            return None
    return node


def _types(root: dict[str, Any], node: Any, seen: frozenset[str] = frozenset()) -> frozenset[str] | None:
    """The JSON types a schema node admits, or None when it does not constrain the type."""
    if not isinstance(node, dict):
        return None
    if "type" in node:
        t = node["type"]
        return frozenset([t] if isinstance(t, str) else t)
    if "const" in node:
        return frozenset({json_type(node["const"])})
    if "enum" in node:
        return frozenset(json_type(v) for v in node["enum"])
    ref = node.get("$ref")
    if isinstance(ref, str) and ref not in seen:
        return _types(root, _resolve(root, ref), seen | {ref})
    return None


def _schemas(node: Any, parts: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], dict[str, Any]]]:
    """Every schema node under ``node`` with its path, skipping data keywords."""
    if not isinstance(node, dict):
        return
    yield parts, node
    for key, value in node.items():
        if key in _SCHEMA_KEYWORDS:
            yield from _schemas(value, (*parts, key))
        elif key in _SCHEMA_LIST_KEYWORDS and isinstance(value, list):
            for n, sub in enumerate(value):
                yield from _schemas(sub, (*parts, key, str(n)))
        elif key in _SCHEMA_MAP_KEYWORDS and isinstance(value, dict):
            for name, sub in value.items():
                yield from _schemas(sub, (*parts, key, name))


def _sites(spec: Spec) -> list[_Site]:
    """Every property that encodes a doc row (directly or through ``$ref``), and every other annotated node."""
    sites: list[_Site] = []
    for filename, root in zip(SCHEMA_FILES, (spec.request, spec.response), strict=True):
        covered: set[int] = set()
        nodes = list(_schemas(root, ()))
        for parts, node in nodes:
            props = node.get("properties")
            if not isinstance(props, dict):
                continue
            required = node.get("required", [])
            for name, sub in props.items():
                if not isinstance(sub, dict):
                    continue
                target = sub
                if "x-doc" not in sub and isinstance(sub.get("$ref"), str):
                    resolved = _resolve(root, sub["$ref"])
                    target = resolved if isinstance(resolved, dict) else sub
                if "x-doc" not in target:
                    continue
                covered.add(id(target))
                sites.append(_Site(
                    where=filename + _pointer((*parts, "properties", name)),
                    xdoc=target["x-doc"],
                    types=_types(root, sub),
                    in_required=name in required,
                    deviation=sub.get("x-deviation", target.get("x-deviation")),
                ))
        for parts, node in nodes:
            if "x-doc" in node and id(node) not in covered:
                sites.append(_Site(filename + _pointer(parts), node["x-doc"], _types(root, node), None, node.get("x-deviation")))
    return sites


# -- comparison -------------------------------------------------------------

def _doc_types(doc_type: str) -> frozenset[str] | None:
    low = doc_type.strip().lower()
    if low in DOC_TYPES:
        return DOC_TYPES[low]
    if low.startswith(("array", "list", "[]")):
        return DOC_TYPES["array"]
    return None


def _norm(text: Any) -> str:
    return str(text).strip().lower()


def _compare_row(row: TableRow, sites: list[_Site], registered: set[str]) -> Iterator[Drift]:
    """At most one drift per aspect of a row (its 必选 text, its type, its requiredness), naming every place that disagrees.

    One edit of the doc (a type changed) disagrees with the x-doc record and with
    the schema's own encoding at once: that is one change, so it is one drift.
    """
    def drift(problem: str) -> Drift:
        return Drift(row.table, row.field, problem)

    if row.required is None and row.required_text is not None:
        yield drift(f"doc says 必选 {row.required_text!r}, which is neither 是 nor 否")
    allowed = _doc_types(row.type)
    if allowed is None:
        yield drift(f"doc type {row.type!r} has no JSON Schema equivalent to compare with")
    type_places: list[str] = []
    required_places: list[str] = []
    checked: list[_Site] = []
    mistyped = False
    for site in sites:
        if _norm(site.xdoc.get("type")) != _norm(row.type):
            type_places.append(f"x-doc records {site.xdoc.get('type')} ({site.where})")
        if row.required is not None:
            if site.xdoc.get("required") is not row.required:
                required_places.append(f"x-doc records {_req(site.xdoc.get('required'))} ({site.where})")
            if site.in_required is not None and site.in_required is not row.required:
                required_places.append(f"the schema has it {_req_list(site.in_required)} ({site.where})")
        if site.deviation in registered or allowed is None:
            continue  # a registered deviation: the schema follows the server, not the doc
        checked.append(site)
        if site.types is None:
            type_places.append(f"the schema encodes no type ({site.where})")
        elif site.types - {"null"} - allowed:
            mistyped = True
            type_places.append(f"the schema encodes {' or '.join(sorted(site.types))} ({site.where})")
    # Each encoding may add null (apidoc types say nothing of it), but together
    # they must admit the documented type somewhere.
    encoded = frozenset().union(*(s.types or frozenset() for s in checked))
    if allowed is not None and checked and not mistyped and not encoded & allowed:
        type_places.append(f"the schema encodes only {' or '.join(sorted(encoded))}")
    if type_places:
        yield drift(f"doc says type {row.type}; " + "; ".join(type_places))
    if required_places:
        yield drift(f"doc says {_req(row.required)}; " + "; ".join(required_places))


def _req(value: Any) -> str:
    return {True: "required (是)", False: "optional (否)"}.get(value, f"required={value!r}")


def _req_list(value: bool) -> str:
    return "in its required list" if value else "not in its required list"


def _schema_chain(error: ValidationError, root: dict[str, Any]) -> tuple[list[Any], str]:
    """The schema nodes an error's schema path passes through, and where it ends in the document."""
    # jsonschema's schema paths step over "$ref" silently, so follow each ref
    # whenever the next keyword is not in the referring node itself.
    node: Any = root
    chain: list[Any] = [node]
    parts: tuple[str, ...] = ()
    for part in error.absolute_schema_path:
        while isinstance(node, dict) and part not in node and isinstance(node.get("$ref"), str):
            ref = node["$ref"]
            node = _resolve(root, ref)
            parts = tuple(p.replace("~1", "/").replace("~0", "~") for p in ref[1:].split("/")[1:])
            chain.append(node)
        in_dict = isinstance(node, dict) and part in node
        if not (in_dict or (isinstance(node, list) and isinstance(part, int) and part < len(node))):
            break
        node = node[part]
        parts = (*parts, str(part))
        chain.append(node)
    return chain, _pointer(parts)


def _explained(error: ValidationError, chain: list[Any], registered: set[str]) -> bool:
    """Whether a schema node on the error's path carries a registered deviation."""
    nodes = list(chain)
    if error.validator == "required" and isinstance(error.schema, dict):
        missing = re.match(r"^'(.*)' is a required property$", error.message)
        if missing:
            nodes.append(error.schema.get("properties", {}).get(missing.group(1)))
    return any(isinstance(n, dict) and n.get("x-deviation") in registered for n in nodes)


def _unexplained(error: ValidationError, root: dict[str, Any], registered: set[str]) -> list[ValidationError]:
    """The errors no registered deviation explains; for oneOf/anyOf, those of the branch closest to passing."""
    if error.validator in ("oneOf", "anyOf") and error.context:
        branches: dict[Any, list[ValidationError]] = {}
        for sub in error.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        return min(
            ([e for sub in subs for e in _unexplained(sub, root, registered)] for subs in branches.values()),
            key=len,
        )
    return [] if _explained(error, _schema_chain(error, root)[0], registered) else [error]


def _check_example(kind: str, text: str, root: dict[str, Any], registered: set[str]) -> Iterator[Drift]:
    try:
        instance = _load_example(text)
    except (ValueError, SyntaxError) as exc:
        yield Drift("example", kind, f"the documented {kind} example does not parse: {exc}")
        return
    validator = DRAFT(root, format_checker=DRAFT.FORMAT_CHECKER)
    for error in sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path))):
        for cause in _unexplained(error, root, registered):
            where = ".".join(map(str, cause.absolute_path)) or "(root)"
            pointer = _schema_chain(cause, root)[1]
            yield Drift("example", kind, f"{where}: {cause.message} ({SCHEMA_FILES[kind == 'response']}{pointer})")


class NoDocumentationTables(ValueError):
    """The Markdown has no apidoc field table at all: nothing to compare (not a drift of every row)."""


def uses_common_placeholder(markdown: str) -> bool:
    """Whether the page stands the common-parameter table in with the ``{{ common_args_desc }}`` placeholder."""
    return any(COMMON_PLACEHOLDER.search(line) for line in _unfenced(markdown))


def _unfenced(markdown: str) -> Iterator[str]:
    fenced = False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced:
            yield line


def _where_it_goes(table: str, by_row: Mapping[tuple[str, str], list[_Site]]) -> str:
    """Where a new row of ``table`` would get its x-doc: the schema node holding the table's other rows."""
    parents: dict[str, int] = {}
    for (t, _), encodings in by_row.items():
        if t == table:
            for site in encodings:
                parent = site.where.rsplit("/", 1)[0]
                parents[parent] = parents.get(parent, 0) + 1
    if not parents:
        return f"no schema node encodes table '{table}' yet: it is a new table"
    best = max(sorted(parents), key=lambda p: parents[p])
    return f"add it as a property with x-doc {{table: {table}, field: …}} under {best}"


def find_drift(markdown: str, spec: Spec) -> list[Drift]:
    """Every disagreement between an apidoc Markdown file and the schemas of ``spec``.

    Raises ``NoDocumentationTables`` when the page has no field table at all.
    A page whose common parameters are the ``{{ common_args_desc }}`` placeholder
    documents the common-parameter rows by reference: they are not reported missing.
    """
    registered = {d.id for d in spec.deviations}
    sites = _sites(spec)
    by_row: dict[tuple[str, str], list[_Site]] = {}
    for site in sites:
        by_row.setdefault((str(site.xdoc.get("table")), str(site.xdoc.get("field"))), []).append(site)

    rows = parse_tables(markdown)
    if not rows:
        raise NoDocumentationTables("no documentation tables found (a table with a header row, a |---| separator and field rows)")
    drifts: list[Drift] = []
    for row in rows:
        encodings = by_row.get(row.key)
        if not encodings:
            drifts.append(Drift(row.table, row.field, f"doc row ({row.type}) has no x-doc in spec/: {_where_it_goes(row.table, by_row)}"))
            continue
        drifts.extend(_compare_row(row, encodings, registered))
    documented = {row.key for row in rows}
    by_reference = {COMMON_TABLE} if uses_common_placeholder(markdown) else set()
    for (table, field), encodings in by_row.items():
        if (table, field) not in documented and table not in by_reference:
            drifts.append(Drift(table, field, f"spec/ encodes a doc row the doc does not have ({encodings[0].where})"))
    for site in sites:
        if site.deviation is not None and site.deviation not in registered:
            drifts.append(Drift(str(site.xdoc.get("table")), str(site.xdoc.get("field")),
                                f"x-deviation {site.deviation!r} is not in deviations.json ({site.where})"))

    examples = parse_examples(markdown)
    for kind, root in (("request", spec.request), ("response", spec.response)):
        if kind in examples:
            drifts.extend(_check_example(kind, examples[kind], root, registered))
    return drifts


__all__ = ["Drift", "NoDocumentationTables", "TableRow", "find_drift", "parse_examples", "parse_tables", "uses_common_placeholder"]
