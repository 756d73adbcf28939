"""Export ``spec/`` as an OpenAPI 3.1 document, for general tools (Schemathesis, Postman, ...).

Boundary: a pure function from the loaded :class:`~cmdb_contract.spec.Spec` to a
JSON-ready ``dict``; no I/O (the CLI writes the file). The request and response
schemas go in unchanged except that their ``$defs`` move to
``components/schemas`` and every ``#/$defs/NAME`` reference follows them. Our
annotation keywords (``x-doc``, ``x-research``, ``x-deviation``) stay: OpenAPI
3.1 allows ``x-`` extensions in Schema Objects.
"""

from __future__ import annotations

import copy
from typing import Any

from .spec import Spec

OPENAPI_VERSION = "3.1.0"
PATH = "/api/c/compapi/v2/cc/create_set/"
OPERATION_ID = "create_set"
DEFS_PREFIX = "#/$defs/"
COMPONENTS_PREFIX = "#/components/schemas/"
# Keywords that identify a standalone schema document; inside an OpenAPI
# document they would change the base URI that "#/components/..." resolves against.
_DOCUMENT_KEYWORDS = ("$schema", "$id", "$defs")


def rewrite_refs(node: Any) -> Any:
    """A deep copy of ``node`` with every ``#/$defs/NAME`` reference pointing at ``#/components/schemas/NAME``."""
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(DEFS_PREFIX):
                out[key] = COMPONENTS_PREFIX + value[len(DEFS_PREFIX):]
            else:
                out[key] = rewrite_refs(value)
        return out
    if isinstance(node, list):
        return [rewrite_refs(item) for item in node]
    return node


def _body_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema without its document keywords, references rewritten."""
    body = {k: v for k, v in schema.items() if k not in _DOCUMENT_KEYWORDS}
    rewritten: dict[str, Any] = rewrite_refs(body)
    return rewritten


def _components(*schemas: dict[str, Any]) -> dict[str, Any]:
    """The union of the schemas' ``$defs``; the same name with different content is a spec error."""
    out: dict[str, Any] = {}
    for schema in schemas:
        for name, node in schema.get("$defs", {}).items():
            node = rewrite_refs(node)
            if name in out and out[name] != node:
                raise ValueError(f"$defs/{name} differs between the request and response schemas; rename one of them")
            out[name] = node
    return out


def export_openapi(spec: Spec, server: str = "http://127.0.0.1:8000") -> dict[str, Any]:
    """The create_set operation as an OpenAPI 3.1 document served at ``server``."""
    request = copy.deepcopy(spec.request)
    response = copy.deepcopy(spec.response)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "BlueKing CMDB create_set (ESB)",
            "version": "v2",
            "summary": "创建集群 (create a set), as documented and as the CMDB server behaves",
            "description": (
                "Generated from spec/ by `cmdb-contract export-openapi`. Credentials travel in the JSON body "
                "(bk_app_code, bk_app_secret, bk_username or bk_token) or in the X-Bkapi-Authorization header. "
                "Every answer is HTTP 200 with an ESB envelope: success (result true, code 0) or failure "
                "(result false, code > 0). x-doc names the documentation row a schema node encodes, x-research "
                "the server fact, x-deviation a documented promise the server does not keep."
            ),
        },
        "servers": [{"url": server.rstrip("/")}],
        "paths": {
            PATH: {
                "post": {
                    "operationId": OPERATION_ID,
                    "summary": "Create a set (集群) in a business",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _body_schema(request)}},
                    },
                    "responses": {
                        "200": {
                            "description": "ESB envelope: success or failure (errors too are HTTP 200)",
                            "content": {"application/json": {"schema": _body_schema(response)}},
                        },
                    },
                },
            },
        },
        "components": {"schemas": _components(request, response)},
    }
