"""The OpenAPI 3.1 export of ``spec/``: a well-formed document that says what spec/ says.

openapi-spec-validator is not a dependency (Schemathesis 4 does not bring it),
so the OpenAPI rules are checked here with jsonschema: the document's skeleton
against a subset of the OAS 3.1 structure, every Schema Object against the
Draft 2020-12 metaschema (OAS 3.1's base dialect), and every ``$ref`` resolved.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from cmdb_contract.cli import main as cli_main
from cmdb_contract.drift import parse_examples
from cmdb_contract.openapi import COMPONENTS_PREFIX, OPERATION_ID, PATH, export_openapi, rewrite_refs
from cmdb_contract.spec import DRAFT, EXTENSION_KEYWORDS, load_spec

SEED = Path(__file__).resolve().parents[2] / "shared/seeds/create_set.md"
SPEC = load_spec()
DOC = export_openapi(SPEC)
DOC_URI = "urn:cmdb-contract:openapi"
OPERATION = DOC["paths"][PATH]["post"]
REQUEST_SCHEMA = OPERATION["requestBody"]["content"]["application/json"]["schema"]
RESPONSE_SCHEMA = OPERATION["responses"]["200"]["content"]["application/json"]["schema"]
_OPERATION_POINTER = "/paths/" + PATH.replace("~", "~0").replace("/", "~1") + "/post"
REQUEST_POINTER = _OPERATION_POINTER + "/requestBody/content/application~1json/schema"
RESPONSE_POINTER = _OPERATION_POINTER + "/responses/200/content/application~1json/schema"

# The OAS 3.1 structure this export uses (Root, Info, Server, Paths, Path Item,
# Operation, Request Body, Responses, Response, Media Type, Components), with
# the specification's required fields, key patterns and "x-" extensions.
_EXT: dict[str, Any] = {"^x-": {}}
OAS_31_SUBSET: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["openapi", "info"],
    "anyOf": [{"required": ["paths"]}, {"required": ["components"]}, {"required": ["webhooks"]}],
    "properties": {
        "openapi": {"type": "string", "pattern": r"^3\.1\.\d+(-.+)?$"},
        "info": {"$ref": "#/$defs/info"},
        "jsonSchemaDialect": {"type": "string", "format": "uri"},
        "servers": {"type": "array", "items": {"$ref": "#/$defs/server"}},
        "paths": {"$ref": "#/$defs/paths"},
        "webhooks": {"type": "object"},
        "components": {"$ref": "#/$defs/components"},
        "security": {"type": "array"},
        "tags": {"type": "array"},
        "externalDocs": {"type": "object"},
    },
    "patternProperties": _EXT,
    "additionalProperties": False,
    "$defs": {
        "info": {
            "type": "object",
            "required": ["title", "version"],
            "properties": {k: {"type": "string"} for k in ("title", "summary", "description", "termsOfService", "version")}
            | {"contact": {"type": "object"}, "license": {"type": "object", "required": ["name"]}},
            "patternProperties": _EXT,
            "additionalProperties": False,
        },
        "server": {
            "type": "object",
            "required": ["url"],
            "properties": {"url": {"type": "string"}, "description": {"type": "string"}, "variables": {"type": "object"}},
            "patternProperties": _EXT,
            "additionalProperties": False,
        },
        "paths": {
            "type": "object",
            "patternProperties": {"^/": {"$ref": "#/$defs/path-item"}, "^x-": {}},
            "additionalProperties": False,
        },
        "path-item": {
            "type": "object",
            "properties": {m: {"$ref": "#/$defs/operation"} for m in ("get", "put", "post", "delete", "options", "head", "patch", "trace")}
            | {"summary": {"type": "string"}, "description": {"type": "string"}, "servers": {"type": "array"},
               "parameters": {"type": "array"}, "$ref": {"type": "string"}},
            "patternProperties": _EXT,
            "additionalProperties": False,
        },
        "operation": {
            "type": "object",
            "properties": {
                "tags": {"type": "array", "items": {"type": "string"}},
                "summary": {"type": "string"},
                "description": {"type": "string"},
                "externalDocs": {"type": "object"},
                "operationId": {"type": "string"},
                "parameters": {"type": "array"},
                "requestBody": {"$ref": "#/$defs/request-body"},
                "responses": {"$ref": "#/$defs/responses"},
                "callbacks": {"type": "object"},
                "deprecated": {"type": "boolean"},
                "security": {"type": "array"},
                "servers": {"type": "array"},
            },
            "patternProperties": _EXT,
            "additionalProperties": False,
        },
        "request-body": {
            "type": "object",
            "required": ["content"],
            "properties": {"description": {"type": "string"}, "content": {"$ref": "#/$defs/content"}, "required": {"type": "boolean"}},
            "patternProperties": _EXT,
            "additionalProperties": False,
        },
        "responses": {
            "type": "object",
            "minProperties": 1,
            "properties": {"default": {"$ref": "#/$defs/response"}},
            "patternProperties": {"^[1-5](?:[0-9]{2}|XX)$": {"$ref": "#/$defs/response"}, "^x-": {}},
            "additionalProperties": False,
        },
        "response": {
            "type": "object",
            "required": ["description"],
            "properties": {"description": {"type": "string"}, "headers": {"type": "object"},
                           "content": {"$ref": "#/$defs/content"}, "links": {"type": "object"}},
            "patternProperties": _EXT,
            "additionalProperties": False,
        },
        "content": {
            "type": "object",
            "propertyNames": {"pattern": "^[a-z]+/[-+.a-z0-9*]+$"},
            "additionalProperties": {
                "type": "object",
                "properties": {"schema": {"type": ["object", "boolean"]}, "example": {}, "examples": {"type": "object"},
                               "encoding": {"type": "object"}},
                "patternProperties": _EXT,
                "additionalProperties": False,
            },
        },
        "components": {
            "type": "object",
            "properties": {
                "schemas": {
                    "type": "object",
                    "propertyNames": {"pattern": r"^[a-zA-Z0-9._-]+$"},
                    "additionalProperties": {"type": ["object", "boolean"]},
                },
            },
            "patternProperties": _EXT,
            "additionalProperties": False,
        },
    },
}


def _schema_objects() -> Iterator[tuple[str, Any]]:
    """Every Schema Object of the document, with a pointer-like name."""
    yield "requestBody", REQUEST_SCHEMA
    yield "responses/200", RESPONSE_SCHEMA
    for name, schema in DOC["components"]["schemas"].items():
        yield f"components/schemas/{name}", schema


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _pointer(doc: Any, ref: str) -> Any:
    assert ref.startswith("#/"), f"{ref} is not a reference inside the document"
    node = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"{ref} does not resolve (no '{part}')"
        node = node[part]
    return node


def _validator(pointer: str) -> jsonschema.protocols.Validator:
    """A validator for the Schema Object at ``pointer``, its references resolved against the whole document."""
    registry: Registry[Any] = Registry().with_resource(DOC_URI, Resource.from_contents(DOC, default_specification=DRAFT202012))
    return DRAFT({"$ref": f"{DOC_URI}#{pointer}"}, registry=registry, format_checker=DRAFT.FORMAT_CHECKER)


@pytest.fixture(scope="module")
def seed_examples() -> dict[str, Any]:
    if not SEED.is_file():
        pytest.skip(f"seed doc not found at {SEED} (CI keeps shared/ beside the repository)")
    return {k: json.loads(v) for k, v in parse_examples(SEED.read_text(encoding="utf-8")).items()}


def test_document_has_the_openapi_31_structure() -> None:
    """The document's skeleton satisfies the OAS 3.1 structure rules it uses (required fields, key patterns, x- extensions)."""
    DRAFT(OAS_31_SUBSET).validate(DOC)


@pytest.mark.parametrize(("where", "schema"), list(_schema_objects()), ids=[w for w, _ in _schema_objects()])
def test_schema_object_is_a_2020_12_schema(where: str, schema: Any) -> None:
    """Every Schema Object is a valid JSON Schema 2020-12 schema, the OAS 3.1 base dialect."""
    DRAFT.check_schema(schema)


def test_every_reference_resolves_inside_the_document() -> None:
    """Every $ref points into components/schemas and resolves; no reference to spec/'s $defs is left."""
    refs = set(_refs(DOC))
    assert refs, "the export has no reference at all; $defs were inlined or lost"
    for ref in refs:
        assert ref.startswith(COMPONENTS_PREFIX), f"{ref} does not point into components/schemas"
        _pointer(DOC, ref)


def test_operation_is_post_create_set() -> None:
    """The only operation is POST on the ESB create_set path, with operationId create_set and a 200 envelope answer."""
    assert list(DOC["paths"]) == [PATH]
    assert list(DOC["paths"][PATH]) == ["post"]
    assert OPERATION["operationId"] == OPERATION_ID
    assert OPERATION["requestBody"]["required"] is True
    assert list(OPERATION["responses"]) == ["200"]


def test_server_is_the_one_given() -> None:
    """The server URL passed to the export is the document's only server."""
    assert export_openapi(SPEC, server="http://10.0.0.1:8080/")["servers"] == [{"url": "http://10.0.0.1:8080"}]


def test_request_schema_equals_spec_modulo_references() -> None:
    """The request body schema is spec/'s request schema without document keywords, references rewritten."""
    expected = rewrite_refs({k: v for k, v in SPEC.request.items() if k not in ("$schema", "$id", "$defs")})
    assert expected == REQUEST_SCHEMA
    for auth in ("bk_app_code", "bk_app_secret", "bk_username", "bk_token"):
        assert auth in REQUEST_SCHEMA["properties"], f"auth field {auth} missing from the request body"


def test_response_schema_is_the_success_or_failure_envelope() -> None:
    """The 200 answer is spec/'s oneOf of the success and failure envelopes."""
    assert RESPONSE_SCHEMA["oneOf"] == [{"$ref": COMPONENTS_PREFIX + "success"}, {"$ref": COMPONENTS_PREFIX + "failure"}]


def test_every_def_becomes_a_component() -> None:
    """Every $defs entry of both spec/ schemas is a component schema with the same content, references rewritten."""
    for schema in (SPEC.request, SPEC.response):
        for name, node in schema["$defs"].items():
            assert DOC["components"]["schemas"][name] == rewrite_refs(node)


def test_extension_keywords_are_kept() -> None:
    """x-doc, x-research and x-deviation survive as OpenAPI x- extensions, as many as spec/ has."""
    def count(node: Any) -> int:
        if isinstance(node, dict):
            return sum(k in EXTENSION_KEYWORDS for k in node) + sum(count(v) for v in node.values())
        if isinstance(node, list):
            return sum(count(v) for v in node)
        return 0

    assert count(DOC) == count(SPEC.request) + count(SPEC.response) > 0


def test_conflicting_defs_are_refused() -> None:
    """Two spec/ schemas defining the same $defs name differently cannot be merged into components."""
    spec = load_spec()
    clash = {**spec.response, "$defs": {**spec.response["$defs"], "set_data": {"type": "string"}}}
    with pytest.raises(ValueError, match="set_data"):
        export_openapi(dataclasses.replace(spec, response=clash))


def test_documented_request_example_is_valid(seed_examples: dict[str, Any]) -> None:
    """The seed doc's request example validates against the exported request schema."""
    _validator(REQUEST_POINTER).validate(seed_examples["request"])


def test_documented_response_example_is_valid(seed_examples: dict[str, Any]) -> None:
    """The seed doc's response example validates against the exported 200 answer schema."""
    _validator(RESPONSE_POINTER).validate(seed_examples["response"])


def test_request_without_set_name_is_invalid(seed_examples: dict[str, Any]) -> None:
    """The exported request schema still rejects what spec/ rejects: data without bk_set_name."""
    example = json.loads(json.dumps(seed_examples["request"]))
    del example["data"]["bk_set_name"]
    assert not _validator(REQUEST_POINTER).is_valid(example)


def test_cli_writes_the_document(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`cmdb-contract export-openapi -o FILE --server URL` writes the export for that server as JSON."""
    out = tmp_path / "openapi.json"
    assert cli_main(["export-openapi", "-o", str(out), "--server", "http://127.0.0.1:9"]) == 0
    assert json.loads(out.read_text(encoding="utf-8")) == export_openapi(SPEC, server="http://127.0.0.1:9")
    assert f"wrote {out}" in capsys.readouterr().out


def test_cli_prints_the_document_without_output_file(capsys: pytest.CaptureFixture[str]) -> None:
    """`cmdb-contract export-openapi` without -o prints the document on standard output."""
    assert cli_main(["export-openapi"]) == 0
    assert json.loads(capsys.readouterr().out) == DOC
