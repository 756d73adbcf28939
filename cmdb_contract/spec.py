"""Load ``spec/``: the request and response schemas, the error catalogue and the
deviation registry, and derive from them everything the suite needs.

Boundary: pure data access, no I/O beyond reading the files in ``spec/`` once,
no HTTP, no Hypothesis. Field lists are derived here and nowhere else.

``load_spec()`` is the static spec. A run that read its target's set model
holds ``load_spec().with_model(model)``: the same spec with the model's
attributes added to the request and response schemas in memory (each node
carrying ``x-model``, its provenance), their fields and the error classes
derived from errors.json attribute_rules. Strategies get it through the
``GenContext``, oracles through the ``Judging`` of their expectation.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import jsonschema

from .setmodel import Attribute, SetModel, Typed, TypeRules, go_trim, typed

_HERE = Path(__file__).resolve().parent
# The top-level spec/ is the one source. A wheel (pip install .) ships it as the package
# data cmdb_contract/spec_data (pyproject's package-dir maps it); a checkout or an
# editable install reads spec/ itself.
SPEC_DIR = _HERE / "spec_data" if (_HERE / "spec_data").is_dir() else _HERE.parent / "spec"
DRAFT = jsonschema.Draft202012Validator
# Annotation keywords of our own: the documentation row, the research fact and
# the deviation a schema node encodes, and (in memory only) the set model
# attribute a node was built from. Anything else must be a JSON Schema keyword.
EXTENSION_KEYWORDS = frozenset({"x-doc", "x-research", "x-deviation", "x-model"})
JSON_TYPES = ("string", "integer", "number", "boolean", "null", "object", "array")
VERSIONS = ("3.13", "3.14")


def json_type(value: Any) -> str:
    """The JSON Schema type name of a decoded JSON value (bool is not an integer)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def spec_path(name: str) -> Path:
    """The path of one file of spec/, in a checkout or an installed package."""
    return SPEC_DIR / name


def _load(name: str) -> dict[str, Any]:
    with spec_path(name).open(encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


@dataclass(frozen=True)
class DocRow:
    """One row of a documentation table, as the schemas record it."""

    table: str
    field: str
    type: str
    required: bool
    meaning: str

    @property
    def key(self) -> str:
        return f"{self.table}.{self.field}"

    def __str__(self) -> str:
        req = "required" if self.required else "optional"
        return f"doc table '{self.table}', row '{self.field}' ({self.type}, {req}): {self.meaning}"


MODEL_TABLE = "set model"


@dataclass(frozen=True)
class ModelRow(DocRow):
    """The provenance of an attribute the target's set model defines: reports name it like a documentation row."""

    name: str = ""
    origin: str = ""

    @classmethod
    def of(cls, a: Attribute, origin: str) -> ModelRow:
        return cls(MODEL_TABLE, a.id, a.type, False, a.describe(), name=a.name, origin=origin)

    def __str__(self) -> str:
        return f"set model attribute '{self.field}' ({self.name}): {self.meaning}; read from {self.origin}"


@dataclass(frozen=True)
class FieldSpec:
    """A property of the create_set ``data`` object with its constraints."""

    name: str
    schema: dict[str, Any]
    required: bool
    row: DocRow
    # Set for an attribute of the target's set model: what create_set does with it.
    attribute: Typed | None = field(default=None, compare=False)

    @property
    def type(self) -> str:
        return str(self.schema["type"])

    @property
    def research(self) -> dict[str, Any]:
        return dict(self.schema.get("x-research", {}))

    @property
    def fact(self) -> str:
        return str(self.research.get("fact", ""))

    @property
    def sources(self) -> tuple[str, ...]:
        """The ids in ``sources.json`` the research fact cites."""
        return tuple(self.research.get("sources", ()))


@dataclass(frozen=True)
class ErrorClass:
    """One class of invalid input and the code each CMDB version answers with."""

    id: str
    target: str
    defect: str
    layer: str
    codes: dict[str, int]
    source: str
    message_contains: str | None = None
    auth: dict[str, Any] | None = None
    sources: tuple[str, ...] = ()
    # Set for a class derived from errors.json attribute_rules for one model attribute.
    attribute_type: str | None = None

    def code_for(self, version: str) -> int:
        return self.codes[version]

    @property
    def reaches_cmdb(self) -> bool:
        """Whether the request gets past the gateway (so CMDB may have stored something)."""
        return self.layer == "cmdb"


@dataclass(frozen=True)
class Source:
    """A public file (and the function in it) a research fact comes from."""

    id: str
    repo: str
    commit: str
    path: str
    symbol: str
    says: str

    @property
    def url(self) -> str:
        return f"https://github.com/{self.repo}/blob/{self.commit}/{self.path}"

    def __str__(self) -> str:
        return f"{self.repo} {self.path} ({self.symbol}) at {self.commit}"


@dataclass(frozen=True)
class Rule:
    """One rule an oracle judges: its stable id, what it says, and where it comes from."""

    id: str
    headline: str
    breaks: str
    doc: str | None = None
    fact: str | None = None
    sources: tuple[str, ...] = ()

    def says(self, subject: str | None = None, **params: Any) -> str:
        """The headline for one subject ('bk_set_env gets its default')."""
        values = _Blanks(subject=subject if subject is not None else "the answer", **params)
        return self.headline.format_map(values)


class _Blanks(dict[str, Any]):
    """Formatting values where a missing one shows as '…' (the rules table has no version or subject)."""

    def __missing__(self, key: str) -> str:
        return "…"


@dataclass(frozen=True)
class Deviation:
    """A documented promise the real server does not keep, with the reason."""

    id: str
    doc: str
    server: str
    reason: str
    doc_check: dict[str, Any] | None = None
    sources: tuple[str, ...] = ()


# Identity equality and hash: a run's spec is one object, and a GenContext holding it is a cache key.
@dataclass(frozen=True, eq=False, repr=False)
class Spec:
    """Everything in ``spec/``, loaded once; with_model() adds a target's set model in memory."""

    request: dict[str, Any]
    response: dict[str, Any]
    errors: dict[str, Any]
    deviations_doc: dict[str, Any]
    rules_doc: dict[str, Any]
    sources_doc: dict[str, Any]
    fields: tuple[FieldSpec, ...] = field(default=())
    model_doc: dict[str, Any] = field(default_factory=dict)
    model: SetModel | None = None
    # Attributes of the model the built-in schema does not encode, judged by the model rules.
    model_fields: tuple[FieldSpec, ...] = ()
    # Attributes of other businesses: sent to prove they are dropped.
    foreign_fields: tuple[FieldSpec, ...] = ()
    # Attributes the suite does not exercise, each with the reason.
    model_skipped: tuple[tuple[Attribute, str], ...] = ()

    def __repr__(self) -> str:
        if self.model is None:
            return "Spec(spec/)"
        return f"Spec(spec/ + set model of business {self.model.bk_biz_id}: {len(self.model_fields)} attributes)"

    # -- request -----------------------------------------------------------
    @property
    def data_schema(self) -> dict[str, Any]:
        data: dict[str, Any] = self.request["$defs"]["set_data"]
        return data

    def field(self, name: str) -> FieldSpec:
        """The data field ``name``: a built-in one, or an attribute of the set model."""
        for f in (*self.fields, *self.model_fields):
            if f.name == name:
                return f
        raise KeyError(name)

    def model_field(self, name: str) -> FieldSpec | None:
        return next((f for f in self.model_fields if f.name == name), None)

    def foreign_field(self, name: str) -> FieldSpec | None:
        return next((f for f in self.foreign_fields if f.name == name), None)

    @cached_property
    def type_rules(self) -> TypeRules:
        return TypeRules(self.model_doc)

    @property
    def required_fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.required)

    def stored_when_absent(self, f: FieldSpec) -> Any:
        """What the server stores for an optional field the request left out."""
        if "default" in f.schema:
            return f.schema["default"]
        return f.research.get("storedWhenAbsent")

    @cached_property
    def stored_from_top_level(self) -> tuple[str, ...]:
        """Request parameters outside data that the stored set carries (bk_biz_id, bk_supplier_account)."""
        return tuple(n for n in self.request["properties"] if n in self.set_schema["properties"])

    @cached_property
    def time_fields(self) -> tuple[str, ...]:
        """The set's date-time fields (create_time, last_time)."""
        return tuple(n for n, node in self.set_schema["properties"].items() if node.get("format") == "date-time")

    @property
    def supplier_default(self) -> str:
        return str(self.request["properties"]["bk_supplier_account"]["x-research"]["default"])

    def expected_set(self, sent: dict[str, Any]) -> dict[str, Any]:
        """The set the server must store for the request sent: names trimmed, strings trimmed, defaults applied."""
        data = sent["data"]
        out: dict[str, Any] = {"bk_biz_id": esb_integer(sent["bk_biz_id"]), "bk_parent_id": data["bk_parent_id"]}
        name_rule = self.field("bk_set_name").research
        out["bk_set_name"] = data["bk_set_name"].strip(name_rule.get("trim", " "))
        for f in self.fields:
            if f.required:
                continue
            if f.name in data:
                value = data[f.name]
                out[f.name] = go_trim(value) if isinstance(value, str) and f.research.get("trim") else value
            else:
                out[f.name] = self.stored_when_absent(f)
        for f in self.model_fields:
            t = f.attribute
            assert t is not None
            if t.overwritten:
                continue  # save replaces the client's value (spec/model.json recorded): not judged
            out[f.name] = t.stored(data[f.name]) if f.name in data else t.filled()
        out["bk_supplier_account"] = sent.get("bk_supplier_account") or self.supplier_default
        return out

    def top_level_row(self, name: str) -> DocRow:
        return _row(self.request["properties"][name])

    # -- response ----------------------------------------------------------
    @property
    def set_schema(self) -> dict[str, Any]:
        data: dict[str, Any] = self.response["$defs"]["set"]
        return data

    def response_row(self, envelope: str, name: str) -> DocRow:
        node = self.response["$defs"][envelope]["properties"][name]
        if "x-doc" not in node and "$ref" in node:
            node = self.response["$defs"][node["$ref"].rsplit("/", 1)[1]]
        return _row(node)

    def set_row(self, name: str) -> DocRow:
        model = self.model_field(name)
        return model.row if model is not None else _row(self.set_schema["properties"][name])

    def validator(self, name: str) -> ResponseValidator:
        """A validator for ``#/$defs/<name>`` of this spec's response schema, built once per spec."""
        cache = self._validators
        if name not in cache:
            cache[name] = ResponseValidator({"$ref": f"#/$defs/{name}", "$defs": self.response["$defs"]})
        return cache[name]

    @cached_property
    def _validators(self) -> dict[str, ResponseValidator]:
        return {}

    # -- errors ------------------------------------------------------------
    # Built once: the harness looks classes up for every invalid request it sends.
    @cached_property
    def error_classes(self) -> tuple[ErrorClass, ...]:
        """The catalogue's classes, then one per model attribute and applicable defect of attribute_rules."""
        static = tuple(ErrorClass(**{**c, "sources": tuple(c.get("sources", ()))}) for c in self.errors["classes"])
        return static + self.model_classes

    @cached_property
    def model_classes(self) -> tuple[ErrorClass, ...]:
        out: list[ErrorClass] = []
        for f in self.model_fields:
            t = f.attribute
            assert t is not None
            for defect in t.defects():
                rule = self.attribute_rule(t.type, defect)
                # Preset attributes' names are translated by the model API, unlike the DB name errors carry.
                names = bool(rule.get("namesAttribute")) and not t.attribute.ispre
                out.append(ErrorClass(
                    id=f"model.{t.id}.{defect}", target=f"data.{t.id}", defect=defect, layer="cmdb", codes=dict(rule["codes"]),
                    source=f"{f.row}; spec/errors.json attribute_rules {t.type}/{defect}: {rule['source']}",
                    message_contains=t.attribute.name if names else None, attribute_type=t.type,
                    sources=tuple(rule.get("sources", ()))))
        return tuple(out)

    def attribute_rule(self, kind: str, defect: str) -> dict[str, Any]:
        """The type-level rule of errors.json for ``defect`` of a ``kind`` attribute (KeyError: the catalogue lacks it)."""
        for r in self.errors.get("attribute_rules", ()):
            if r["type"] == kind and r["defect"] == defect:
                rule: dict[str, Any] = r
                return rule
        raise KeyError(f"{kind}/{defect}")

    @cached_property
    def _classes_by_id(self) -> dict[str, ErrorClass]:
        return {c.id: c for c in self.error_classes}

    def error_class(self, class_id: str) -> ErrorClass:
        return self._classes_by_id[class_id]

    def _state(self, state_id: str) -> dict[str, Any]:
        for s in self.errors["state"]:
            if s["id"] == state_id:
                entry: dict[str, Any] = s
                return entry
        raise KeyError(state_id)

    def state_code(self, state_id: str, version: str) -> int:
        return int(self._state(state_id)["codes"][version])

    def state_source(self, state_id: str) -> str:
        return str(self._state(state_id)["source"])

    def state_sources(self, state_id: str) -> tuple[str, ...]:
        return tuple(self._state(state_id).get("sources", ()))

    @property
    def accepted(self) -> tuple[tuple[str, str], ...]:
        return tuple((a["target"], a["defect"]) for a in self.errors["accepted"])

    # -- rules and their sources -------------------------------------------
    @cached_property
    def rules(self) -> dict[str, Rule]:
        return {r["id"]: Rule(**{**r, "sources": tuple(r.get("sources", ()))}) for r in self.rules_doc["rules"]}

    def rule(self, rule_id: str) -> Rule:
        return self.rules[rule_id]

    @cached_property
    def sources(self) -> dict[str, Source]:
        return {k: Source(id=k, **v) for k, v in self.sources_doc["sources"].items()}

    def doc_row(self, key: str) -> DocRow | None:
        """The documentation row ``table.field`` (response rows first, then request rows)."""
        for row in doc_rows():
            if row.key == key:
                return row
        return None

    # -- deviations --------------------------------------------------------
    @cached_property
    def deviations(self) -> tuple[Deviation, ...]:
        return tuple(Deviation(**{**d, "sources": tuple(d.get("sources", ()))}) for d in self.deviations_doc["deviations"])

    def deviation(self, dev_id: str) -> Deviation:
        for d in self.deviations:
            if d.id == dev_id:
                return d
        raise KeyError(dev_id)

    # -- the target's set model ------------------------------------------------------
    def with_model(self, model: SetModel) -> Spec:
        """This spec extended in memory with the attributes of ``model`` it does not already encode."""
        rules = self.type_rules
        # Attributes the built-in schema encodes keep that encoding, hidden ones included (spec/model.json hidden).
        encoded = set(self.data_schema["properties"]) | rules.hidden
        mine: list[FieldSpec] = []
        theirs: list[FieldSpec] = []
        skipped: list[tuple[Attribute, str]] = []
        for attrs, out in ((model.attributes, mine), (model.foreign, theirs)):
            for a in attrs:
                if a.id in encoded:
                    continue
                t = typed(a, rules)
                if t.skip:
                    skipped.append((a, t.skip))
                    continue
                out.append(FieldSpec(a.id, _request_node(t, model.origin), False, ModelRow.of(a, model.origin), attribute=t))
        request, response = copy.deepcopy(self.request), copy.deepcopy(self.response)
        data, stored = request["$defs"]["set_data"], response["$defs"]["set"]
        for f in mine:
            data["properties"][f.name] = f.schema
            stored["properties"][f.name] = _response_node(f)
            # FillLostFieldValue fills every absent attribute, so every one is in the stored document.
            stored.setdefault("required", []).append(f.name)
        return replace(self, request=request, response=response, model=model, model_fields=tuple(mine),
                       foreign_fields=tuple(theirs), model_skipped=tuple(skipped))


_STORED_TYPES: dict[str, dict[str, Any]] = {
    "singlechar": {"type": ["string", "null"]}, "longchar": {"type": ["string", "null"]},
    "int": {"type": ["number", "null"]}, "float": {"type": ["number", "string", "null"]},
    "enum": {"type": ["string", "null"]}, "enummulti": {"type": ["array", "null"], "items": {"type": "string"}},
    "enumquote": {"type": ["array", "null"], "items": {"type": "integer"}},
    "date": {"type": ["string", "null"]}, "time": {"type": ["string", "null"], "format": "date-time"},
    "objuser": {"type": ["string", "null"]}, "timezone": {"type": ["string", "null"]}, "bool": {"type": ["boolean", "null"]},
    "list": {"type": ["string", "null"]}, "organization": {"type": ["array", "null"], "items": {"type": "number"}},
}


def _provenance(t: Typed, origin: str) -> dict[str, Any]:
    a = t.attribute
    return {"attribute": a.id, "name": a.name, "definition": a.describe(), "origin": origin}


def _request_node(t: Typed, origin: str) -> dict[str, Any]:
    """The request schema node of a model attribute: its stored type, trimmed strings, the type's research fact."""
    node = copy.deepcopy(_STORED_TYPES[t.type])
    node["x-model"] = _provenance(t, origin)
    node["x-research"] = {"fact": t.rules.fact(t.type), "trim": "whitespace"}
    return node


def _response_node(f: FieldSpec) -> dict[str, Any]:
    """The response schema node: what the server stores for the attribute (enum ids, option strings)."""
    t = f.attribute
    assert t is not None
    node = copy.deepcopy(_STORED_TYPES[t.type])
    if t.type == "enum":
        node["enum"] = [*t.ids, None]
    elif t.type == "enummulti":
        node["items"] = {"enum": list(t.ids)}
    elif t.type == "list":
        node["enum"] = [*t.options, None]
    node["x-model"] = f.schema["x-model"]
    return node


_DECIMAL_TAIL = re.compile(r"\.0*\s*$")


def esb_integer(value: Any) -> int:
    """What ESB's Django IntegerField makes of an accepted bk_biz_id ("2", " 2 ", "2.0", 2.0 are 2)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return int(_DECIMAL_TAIL.sub("", str(value)))


def _row(node: dict[str, Any]) -> DocRow:
    return DocRow(**node["x-doc"])


@cache
def load_spec() -> Spec:
    """Read ``spec/`` once and derive the data field list from the request schema."""
    request = _load("request.schema.json")
    response = _load("response.schema.json")
    errors = _load("errors.json")
    deviations = _load("deviations.json")
    rules = _load("rules.json")
    sources = _load("sources.json")
    model = _load("model.json")
    data = request["$defs"]["set_data"]
    required = set(data.get("required", ()))
    fields = tuple(
        FieldSpec(name=name, schema=node, required=name in required, row=_row(node))
        for name, node in data["properties"].items()
    )
    return Spec(request, response, errors, deviations, rules, sources, fields, model)


class ResponseValidator:
    """Validates against one response definition: a compiled fast path, python-jsonschema's errors.

    Judging every response is on the suite's hot path: jsonschema-rs answers
    "valid?" in microseconds; only an invalid instance pays for
    python-jsonschema's detailed, readable errors.
    """

    def __init__(self, schema: dict[str, Any]) -> None:
        self._slow = DRAFT(schema, format_checker=DRAFT.FORMAT_CHECKER)
        try:
            import jsonschema_rs

            self._fast: Any = jsonschema_rs.validator_for(schema, validate_formats=False)
        except ImportError:  # pragma: no cover - jsonschema-rs is a dependency; stay correct without it
            self._fast = None

    def iter_errors(self, instance: Any) -> Iterator[jsonschema.ValidationError]:
        if self._fast is not None and self._fast.is_valid(instance):
            return iter(())
        errors: Iterator[jsonschema.ValidationError] = self._slow.iter_errors(instance)
        return errors


def validator(name: str) -> ResponseValidator:
    """A validator for ``#/$defs/<name>`` of the static response schema, built once."""
    return load_spec().validator(name)


REQUEST_TABLES = ("通用参数", "接口参数", "data")
RESPONSE_TABLES = ("response", "data (response)")


def doc_rows(side: str | None = None) -> list[DocRow]:
    """Every documentation row encoded in ``spec/`` schemas (``side``: only the request or the response schema).

    The request side lists only rows of the documentation's request tables: the
    model fields the request accepts (bk_set_env, bk_service_status) cite their
    response rows and are the set model's, not a request row.
    """
    spec = load_spec()
    rows: dict[str, DocRow] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "x-doc" in node:
                row = DocRow(**node["x-doc"])
                rows.setdefault(row.key, row)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    if side in (None, "request"):
        walk(spec.request)
    if side in (None, "response"):
        walk(spec.response)
    if side == "request":
        return [r for r in rows.values() if r.table in REQUEST_TABLES]
    return list(rows.values())
