"""The spec tests itself, JSON-Schema-Test-Suite style: every file in ``spec/`` is well-formed and complete.

Checked: the schemas against the Draft 2020-12 metaschema and its vocabulary, the
``x-doc`` record on every documented property, the deviation names, the data
files (error catalogue, deviations, rules, sources) against their meta schemas in
``spec/meta/``, the catalogue's coverage, that every rule cites an existing
documentation row and existing sources and is judged by an oracle, that every
catalogued defect has a generator, and the seed doc's examples against the schemas.
"""

from __future__ import annotations

import copy
import inspect
import json
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from jsonschema_specifications import REGISTRY

from cmdb_contract import oracles
from cmdb_contract import strategies as S
from cmdb_contract.drift import parse_examples
from cmdb_contract.spec import DRAFT, EXTENSION_KEYWORDS, JSON_TYPES, SPEC_DIR, VERSIONS, load_spec

SEED = Path(__file__).resolve().parents[2] / "shared/seeds/create_set.md"
SPEC = load_spec()
SCHEMA_FILES = sorted(SPEC_DIR.glob("*.schema.json"))  # the API schemas only: the meta schemas live in spec/meta/
META_DIR = SPEC_DIR / "meta"
META_FILES = sorted(META_DIR.glob("*.schema.json"))
# Each data file of spec/ and the meta schema it must match.
DATA_FILES = {"errors.json": "errors.schema.json", "deviations.json": "deviations.schema.json",
              "rules.json": "rules.schema.json", "sources.json": "sources.schema.json", "model.json": "model.schema.json"}
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


def test_error_catalogue_is_well_formed() -> None:
    """errors.json matches its meta schema and covers exactly the versions the suite knows."""
    schema = load(META_DIR / "errors.schema.json")
    DRAFT.check_schema(schema)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in DRAFT(schema).iter_errors(SPEC.errors)]
    assert errors == []
    assert tuple(SPEC.errors["versions"]) == VERSIONS
    assert tuple(schema["$defs"]["codes"]["propertyNames"]["enum"]) == VERSIONS


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


# -- the data files and their meta schemas (spec/meta/) ---------------------------------------


def test_spec_meta_holds_one_schema_per_data_file() -> None:
    """spec/meta/ holds exactly one meta schema for each data file of spec/, and every data file has one."""
    assert [p.name for p in META_FILES] == sorted(DATA_FILES.values())
    assert sorted(p.name for p in SPEC_DIR.glob("*.json") if not p.name.endswith(".schema.json")) == sorted(DATA_FILES)


@pytest.mark.parametrize("path", META_FILES, ids=[f"meta/{p.name} passes the Draft 2020-12 metaschema" for p in META_FILES])
def test_meta_schema_passes_its_metaschema(path: Path) -> None:
    """The meta schema declares Draft 2020-12, is valid against its metaschema and uses only Draft 2020-12 keywords."""
    schema = load(path)
    assert schema.get("$schema") == DRAFT.META_SCHEMA["$id"]
    DRAFT.check_schema(schema)
    assert [f"{where}: {key}" for where, node in schema_nodes(schema, "#") for key in node if key not in VOCABULARY] == []


@pytest.mark.parametrize(("data", "meta"), list(DATA_FILES.items()), ids=[f"{d} matches meta/{m}" for d, m in DATA_FILES.items()])
def test_data_file_matches_its_meta_schema(data: str, meta: str) -> None:
    """The data file validates against its meta schema."""
    errors = [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in DRAFT(load(META_DIR / meta)).iter_errors(load(SPEC_DIR / data))]
    assert errors == []


def _entry(items: list[dict[str, Any]], entry_id: str) -> dict[str, Any]:
    return next(i for i in items if i["id"] == entry_id)


def _first_data_class(doc: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in doc["classes"] if c["target"].startswith("data."))


Edit = Callable[[dict[str, Any]], None]
FAULTS: list[tuple[str, str, Edit]] = [
    ("errors.json", "an auth class without an auth object", lambda d: d["classes"][0].pop("auth")),
    ("errors.json", "a data class with an auth object", lambda d: _first_data_class(d).update(auth={"drop": ["bk_token"]})),
    ("errors.json", "a raw header without where header", lambda d: _entry(d["classes"], "auth.header-not-json")["auth"].pop("where")),
    ("errors.json", "an unknown place for the credentials", lambda d: d["classes"][0].update(auth={"where": "query"})),
    ("errors.json", "a replaced field that is no credential", lambda d: d["classes"][0].update(auth={"replace": {"bk_biz_id": "1"}})),
    ("errors.json", "a dropped field that is no credential", lambda d: d["classes"][0].update(auth={"drop": ["data"]})),
    ("errors.json", "a code for an unknown version", lambda d: _first_data_class(d)["codes"].update({"3.12": 1199006})),
    ("errors.json", "an unknown key on a class", lambda d: _first_data_class(d).update(defect_kind="type")),
    ("errors.json", "an attribute rule of a type the research does not describe", lambda d: d["attribute_rules"][0].update(type="id_rule")),
    ("errors.json", "an attribute rule without sources", lambda d: d["attribute_rules"][0].pop("sources")),
    ("errors.json", "an attribute rule without namesAttribute", lambda d: d["attribute_rules"][0].pop("namesAttribute")),
    ("model.json", "a type fact without sources", lambda d: d["types"]["int"].pop("sources")),
    ("model.json", "a lookalike condition nothing reads", lambda d: d["types"]["int"]["lookalikesAccepted"][0].update(when="always")),
    ("model.json", "a type the research does not describe", lambda d: d["types"].update(id_rule={"fact": "x", "sources": ["cmdb-struti"]})),
    ("deviations.json", "the unread when_absent_from_request key", lambda d: d["deviations"][0]["doc_check"].update(when_absent_from_request=True)),
    ("deviations.json", "a deviation without a reason", lambda d: d["deviations"][0].pop("reason")),
    ("deviations.json", "a doc_check of an unknown type", lambda d: d["deviations"][0]["doc_check"].update(type="list")),
    ("rules.json", "a rule id without a dot", lambda d: d["rules"][0].update(id="envelope_http_200")),
    ("rules.json", "a rule id in capitals", lambda d: d["rules"][0].update(id="Envelope.http-200")),
    ("rules.json", "breaks neither documentation nor research", lambda d: d["rules"][0].update(breaks="server")),
    ("rules.json", "a documentation rule without its row", lambda d: _entry(d["rules"], "envelope.result-boolean").pop("doc")),
    ("rules.json", "a research rule without its fact", lambda d: _entry(d["rules"], "envelope.http-200").pop("fact")),
    ("rules.json", "a doc that is not table.field", lambda d: _entry(d["rules"], "envelope.result-boolean").update(doc="response")),
    ("rules.json", "sources that are not a list of ids", lambda d: _entry(d["rules"], "envelope.http-200").update(sources="esb-json-response")),
    ("sources.json", "a branch instead of a commit", lambda d: d["sources"]["esb-json-response"].update(commit="master")),
    ("sources.json", "a path with a leading slash", lambda d: d["sources"]["esb-json-response"].update(path="/paas-ce/x.py")),
    ("sources.json", "a path climbing out with ..", lambda d: d["sources"]["esb-json-response"].update(path="paas-ce/../x.py")),
    ("sources.json", "a repo that is not owner/name", lambda d: d["sources"]["esb-json-response"].update(repo="legacy-bk-paas")),
    ("sources.json", "a source without what it says", lambda d: d["sources"]["esb-json-response"].pop("says")),
    ("sources.json", "a source id in capitals", lambda d: d["sources"].update(Bad={**d["sources"]["esb-json-response"]})),
]


@pytest.mark.parametrize(("data", "edit"), [pytest.param(d, e, id=f"meta/{DATA_FILES[d]} rejects {what}") for d, what, e in FAULTS])
def test_meta_schema_rejects_a_faulty_entry(data: str, edit: Edit) -> None:
    """The meta schema rejects the data file with one faulty entry (so its checks are not vacuous)."""
    doc = copy.deepcopy(load(SPEC_DIR / data))
    edit(doc)
    assert list(DRAFT(load(META_DIR / DATA_FILES[data])).iter_errors(doc))


# -- rules, their sources and the oracles that judge them ---------------------------------------


RULES = sorted(SPEC.rules.values(), key=lambda r: r.id)
ORACLE_FUNCTIONS = sorted((f for f in vars(oracles).values() if inspect.isfunction(f) and hasattr(f, "rule_id")), key=lambda f: f.__name__)
# Rules raised by name outside an oracle function (none today: deviations use violation_class only for xfail(raises=...)).
# The reference rules (drift.*) are judged by the regression module against a recorded reference, not by an oracle.
RAISED_ELSEWHERE: frozenset[str] = frozenset(r["id"] for r in SPEC.rules_doc["rules"] if r["breaks"] == "reference")


def test_rule_ids_are_unique() -> None:
    """No two entries of rules.json share an id."""
    ids = [r["id"] for r in SPEC.rules_doc["rules"]]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("rule", [r for r in RULES if r.doc], ids=lambda r: f"{r.id} cites the documentation row {r.doc}")
def test_rule_doc_names_a_documentation_row(rule: Any) -> None:
    """The documentation row a rule cites is one the spec's schemas encode."""
    assert SPEC.doc_row(rule.doc) is not None


@pytest.mark.parametrize("rule", [r for r in RULES if r.sources], ids=lambda r: f"{r.id} cites sources in sources.json")
def test_rule_sources_exist(rule: Any) -> None:
    """Every source id a rule cites is an entry of sources.json."""
    assert [s for s in rule.sources if s not in SPEC.sources] == []


@pytest.mark.parametrize("source", [SPEC.sources[k] for k in sorted(SPEC.sources)], ids=[f"{k} opens on GitHub" for k in sorted(SPEC.sources)])
def test_source_url_is_a_github_blob_link(source: Any) -> None:
    """A source's URL is an https GitHub blob link of owner/name at its commit and path, with nothing to escape."""
    parts = urlsplit(source.url)
    assert (parts.scheme, parts.netloc, parts.query, parts.fragment) == ("https", "github.com", "", "")
    owner, name, blob, commit, *path = parts.path.lstrip("/").split("/")
    assert (f"{owner}/{name}", blob, commit, "/".join(path)) == (source.repo, "blob", source.commit, source.path)
    assert quote(source.url, safe=":/") == source.url


@pytest.mark.parametrize("fn", ORACLE_FUNCTIONS, ids=lambda f: f"oracle {f.__name__} names a rule of rules.json")
def test_every_oracle_names_a_rule(fn: Any) -> None:
    """Every oracle function carries the id of a rule in rules.json and is one of ALL_ORACLES."""
    assert fn.rule_id in SPEC.rules
    assert fn in oracles.ALL_ORACLES


@pytest.mark.parametrize("rule_id", [r.id for r in RULES], ids=lambda i: f"{i} is judged by one oracle")
def test_every_rule_is_judged_by_one_oracle(rule_id: str) -> None:
    """Every rule of rules.json is raised by exactly one oracle of ALL_ORACLES (or by name elsewhere, where registered)."""
    judged = Counter(oracles.rule_of(o) for o in oracles.ALL_ORACLES)
    assert judged[rule_id] == 1 or rule_id in RAISED_ELSEWHERE


@pytest.mark.parametrize("class_id", [ec.id for ec in SPEC.error_classes], ids=lambda i: f"{i} has a generator")
def test_every_catalogued_class_has_a_generator(class_id: str) -> None:
    """Every catalogued error class resolves to an entry of the strategies' defect registry."""
    ec = SPEC.error_class(class_id)
    assert S.defect_kind(ec) in S.DEFECTS
    assert S.generator_for(ec) is S.DEFECTS[S.defect_kind(ec)]
