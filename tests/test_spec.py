"""The spec tests itself, JSON-Schema-Test-Suite style: every file in ``spec/`` is well-formed and complete.

Checked: the schemas against the Draft 2020-12 metaschema and its vocabulary, the
``x-doc`` record on every documented property, the deviation names, the error
catalogue's shape and coverage, and the seed doc's examples against the schemas.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema_specifications import REGISTRY

from cmdb_contract.drift import parse_examples
from cmdb_contract.spec import DRAFT, EXTENSION_KEYWORDS, JSON_TYPES, SPEC_DIR, VERSIONS, load_spec

SEED = Path(__file__).resolve().parents[2] / "shared/seeds/create_set.md"
SPEC = load_spec()
SCHEMA_FILES = sorted(SPEC_DIR.glob("*.schema.json"))
XDOC_KEYS = {"table": str, "field": str, "type": str, "required": bool, "meaning": str}


def _vocabulary() -> dict[str, Any]:
    """Every Draft 2020-12 keyword with its metaschema definition, from the vocabulary metaschemas."""
    meta = DRAFT.META_SCHEMA
    resolver = REGISTRY.resolver(base_uri=meta["$id"])
    words: dict[str, Any] = {}
    for part in meta["allOf"]:
        words.update(resolver.lookup(part["$ref"]).contents["properties"])
    # The top-level metaschema adds only deprecated 2019-09 keywords; they are not allowed here.
    words.update({k: v for k, v in meta.get("properties", {}).items() if not (isinstance(v, dict) and v.get("deprecated"))})
    return words


VOCABULARY = _vocabulary()
SUBSCHEMA = {"$dynamicRef": "#meta"}
# How each keyword holds subschemas, read off its metaschema definition.
SCHEMA_VALUED = {k for k, v in VOCABULARY.items() if v == SUBSCHEMA}
# (A definition may be the boolean schema true, as for const and default.)
_DEFINED = {k: v for k, v in VOCABULARY.items() if isinstance(v, dict)}
SCHEMA_LISTS = {k for k, v in _DEFINED.items() if str(v.get("$ref", "")).endswith("/schemaArray")}
SCHEMA_MAPS = {k for k, v in _DEFINED.items() if v.get("type") == "object" and v.get("additionalProperties") == SUBSCHEMA}


def schema_nodes(node: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema object under ``node``; the keys of ``properties``/``$defs`` maps are names, not keywords."""
    if not isinstance(node, dict):
        return
    yield where, node
    for key, value in node.items():
        if key in SCHEMA_VALUED:
            yield from schema_nodes(value, f"{where}/{key}")
        elif key in SCHEMA_LISTS:
            for n, sub in enumerate(value):
                yield from schema_nodes(sub, f"{where}/{key}/{n}")
        elif key in SCHEMA_MAPS:
            for name, sub in value.items():
                yield from schema_nodes(sub, f"{where}/{key}/{name}")


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def resolve(root: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """``node``, or the local node its ``$ref`` points to."""
    ref = node.get("$ref")
    if not isinstance(ref, str):
        return node
    target: Any = root
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    assert isinstance(target, dict)
    return target


def documented_properties() -> Iterator[Any]:
    """Every property of the request body, its data, the response envelopes and the created set."""
    request, response = SPEC.request, SPEC.response
    objects = [("request body", request), ("request data", resolve(request, request["properties"]["data"]))]
    for envelope in response["oneOf"]:
        node = resolve(response, envelope)
        objects.append((f"response {node['title']}", node))
        if node["properties"]["data"].get("$ref"):
            objects.append(("response data", resolve(response, node["properties"]["data"])))
    for label, obj in objects:
        for name, node in obj["properties"].items():
            root = request if label.startswith("request") else response
            yield pytest.param(name, node, root, id=f"{label} property {name} carries a five-key x-doc row naming it")


def test_spec_has_schemas() -> None:
    """spec/ holds the request and the response schema."""
    assert [p.name for p in SCHEMA_FILES] == ["request.schema.json", "response.schema.json"]


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=[f"{p.name} passes the Draft 2020-12 metaschema" for p in SCHEMA_FILES])
def test_schema_passes_its_metaschema(path: Path) -> None:
    """The schema declares Draft 2020-12 and is valid against its metaschema."""
    schema = load(path)
    assert schema.get("$schema") == DRAFT.META_SCHEMA["$id"]
    DRAFT.check_schema(schema)


def test_vocabulary_is_read_from_the_metaschema() -> None:
    """The keyword list comes from the metaschema and knows which keywords hold subschemas."""
    assert {"properties", "$defs", "oneOf", "const", "x-doc"} - set(VOCABULARY) == {"x-doc"}
    assert {"properties", "$defs"} <= SCHEMA_MAPS and "oneOf" in SCHEMA_LISTS and "items" in SCHEMA_VALUED
    assert "definitions" not in VOCABULARY, "deprecated keywords are not part of the allowed vocabulary"


def test_keyword_walk_reaches_nested_nodes_and_skips_names() -> None:
    """The walk finds a misspelt keyword deep under oneOf/$defs/items but takes property names and data for no keywords."""
    schema = {
        "oneOf": [{"$ref": "#/$defs/a"}],
        "$defs": {"a": {"properties": {"type": {"items": {"minimun": 1}}, "enum": {"const": {"x": 1}}}}},
        "x-doc": {"bogus": 1},
    }
    found = [(where, key) for where, node in schema_nodes(schema, "#") for key in node
             if key not in VOCABULARY and key not in EXTENSION_KEYWORDS]
    assert found == [("#/$defs/a/properties/type/items", "minimun")]


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=[f"{p.name} uses only Draft 2020-12 and x- keywords" for p in SCHEMA_FILES])
def test_schema_has_no_unknown_keyword(path: Path) -> None:
    """Every key of every schema node is a Draft 2020-12 keyword or one of the suite's extension keywords."""
    unknown = [f"{where}: {key}" for where, node in schema_nodes(load(path), "#") for key in node
               if key not in VOCABULARY and key not in EXTENSION_KEYWORDS]
    assert unknown == []


@pytest.mark.parametrize(("name", "node", "root"), list(documented_properties()))
def test_documented_property_carries_x_doc(name: str, node: dict[str, Any], root: dict[str, Any]) -> None:
    """The property (or the node its $ref names) records the doc row it encodes with exactly the five keys."""
    row = node.get("x-doc", resolve(root, node).get("x-doc"))
    assert isinstance(row, dict), f"{name} has no x-doc"
    assert {k: type(v) for k, v in row.items()} == XDOC_KEYS
    assert row["field"] == name


def _deviation_uses() -> list[Any]:
    uses = []
    for path in SCHEMA_FILES:
        for where, node in schema_nodes(load(path), "#"):
            if "x-deviation" in node:
                uses.append(pytest.param(node["x-deviation"], id=f"{path.name}{where} names a registered deviation"))
    return uses


def test_some_node_names_a_deviation() -> None:
    """At least one schema node names a deviation, so the registry check below is not vacuous."""
    assert _deviation_uses()


@pytest.mark.parametrize("name", _deviation_uses())
def test_x_deviation_names_a_registered_deviation(name: str) -> None:
    """Every x-deviation names a deviation in deviations.json."""
    assert name in {d.id for d in SPEC.deviations}


def test_deviation_ids_are_unique_and_explained() -> None:
    """Every registered deviation has a unique id and says what the doc promises, what the server does and why."""
    ids = [d.id for d in SPEC.deviations]
    assert len(ids) == len(set(ids))
    assert all(d.doc and d.server and d.reason for d in SPEC.deviations)


_CODES = {"type": "object", "propertyNames": {"enum": list(VERSIONS)}, "additionalProperties": {"type": "integer", "minimum": 1}}
_SOURCES = {"type": "array", "items": {"type": "string"}, "minItems": 1}
ERRORS_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "the error catalogue (spec/errors.json)",
    "type": "object",
    "required": ["title", "description", "versions", "classes", "accepted", "state"],
    "additionalProperties": False,
    "properties": {
        "title": {"type": "string"},
        "description": {"type": "string"},
        "versions": {"type": "array", "items": {"type": "string", "pattern": r"^\d+\.\d+$"}, "minItems": 1, "uniqueItems": True},
        "classes": {"type": "array", "items": {
            "type": "object",
            "required": ["id", "target", "defect", "layer", "codes", "source"],
            "additionalProperties": False,
            "properties": {
                "id": {"type": "string", "minLength": 1},
                "target": {"type": "string", "minLength": 1},
                "defect": {"type": "string", "minLength": 1},
                "layer": {"enum": ["esb", "cmdb"]},
                "codes": _CODES,
                "source": {"type": "string", "minLength": 1},
                "sources": _SOURCES,
                "message_contains": {"type": "string", "minLength": 1},
            },
        }},
        "accepted": {"type": "array", "items": {
            "type": "object",
            "required": ["target", "defect", "source"],
            "additionalProperties": False,
            "properties": {"target": {"type": "string"}, "defect": {"type": "string"}, "source": {"type": "string", "minLength": 1},
                           "sources": _SOURCES},
        }},
        "state": {"type": "array", "items": {
            "type": "object",
            "required": ["id", "codes", "source"],
            "additionalProperties": False,
            "properties": {"id": {"type": "string", "pattern": "^state\\."}, "codes": _CODES, "source": {"type": "string", "minLength": 1},
                           "sources": _SOURCES},
        }},
    },
}


def test_error_catalogue_is_well_formed() -> None:
    """errors.json matches the catalogue schema and covers exactly the versions the suite knows."""
    DRAFT.check_schema(ERRORS_SCHEMA)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in DRAFT(ERRORS_SCHEMA).iter_errors(SPEC.errors)]
    assert errors == []
    assert tuple(SPEC.errors["versions"]) == VERSIONS


def test_error_ids_are_unique() -> None:
    """No two error classes or state entries share an id, and no two classes share a target and defect."""
    ids = [c.id for c in SPEC.error_classes] + [s["id"] for s in SPEC.errors["state"]]
    pairs = [(c.target, c.defect) for c in SPEC.error_classes]
    assert len(ids) == len(set(ids)) and len(pairs) == len(set(pairs))


@pytest.mark.parametrize("entry", [c.id for c in SPEC.error_classes] + [s["id"] for s in SPEC.errors["state"]],
                         ids=lambda i: f"{i} has a code for every version")
def test_every_class_has_a_code_for_every_version(entry: str) -> None:
    """Each error class and state entry names a code for every version in errors.json."""
    codes = next(e["codes"] for e in SPEC.errors["classes"] + SPEC.errors["state"] if e["id"] == entry)
    assert sorted(codes) == sorted(SPEC.errors["versions"])


def _wrong_types() -> list[Any]:
    return [
        pytest.param(f.name, t, id=f"data.{f.name} given a {t} is an error class or accepted")
        for f in SPEC.fields for t in JSON_TYPES if t != f.type
    ]


@pytest.mark.parametrize(("field", "json_type"), _wrong_types())
def test_catalogue_covers_every_wrong_type(field: str, json_type: str) -> None:
    """For every data field and every JSON type but its own, errors.json has a class or an accepted entry."""
    target, defect = f"data.{field}", f"type:{json_type}"
    classes = {(c.target, c.defect) for c in SPEC.error_classes}
    assert (target, defect) in classes or (target, defect) in set(SPEC.accepted)


def _required_inputs() -> list[Any]:
    # The 接口参数 rows are the interface's own inputs; 通用参数 (credentials) are auth.* classes.
    body = [name for name in SPEC.request.get("required", ())
            if SPEC.request["properties"][name]["x-doc"]["table"] == "接口参数"]
    return [pytest.param(t, id=f"{t} has a missing class") for t in body + [f"data.{f}" for f in SPEC.required_fields]]


@pytest.mark.parametrize("target", _required_inputs())
def test_catalogue_covers_every_missing_required_input(target: str) -> None:
    """Each required interface parameter and data field has an error class for leaving it out."""
    assert (target, "missing") in {(c.target, c.defect) for c in SPEC.error_classes}


@pytest.fixture(scope="module")
def seed_examples() -> dict[str, str]:
    """The request and response examples of the seed doc beside the repository."""
    if not SEED.is_file():
        pytest.skip(f"seed doc not found at {SEED} (CI keeps shared/ beside the repository)")
    return parse_examples(SEED.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("kind", "schema"),
    [pytest.param("request", SPEC.request, id="the seed's request example validates against request.schema.json"),
     pytest.param("response", SPEC.response, id="the seed's response example validates against response.schema.json")],
)
def test_seed_example_validates(seed_examples: dict[str, str], kind: str, schema: dict[str, Any]) -> None:
    """The documented example validates against its schema, format assertions included."""
    instance = json.loads(seed_examples[kind])
    validator = DRAFT(schema, format_checker=DRAFT.FORMAT_CHECKER)
    errors = [f"{'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in validator.iter_errors(instance)]
    assert errors == []
