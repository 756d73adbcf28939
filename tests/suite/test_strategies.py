"""Generated payloads: valid ones obey every schema rule, invalid ones carry exactly one defect."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cmdb_contract import strategies as S
from cmdb_contract.credentials import BODY, HEADER, Auth
from cmdb_contract.spec import JSON_TYPES, ErrorClass, json_type, load_spec

SPEC = load_spec()
CTX = S.GenContext(bk_biz_id=2, bk_parent_id=2, set_template_ids=(1,))
DATA_VALIDATOR = jsonschema.Draft202012Validator({"$ref": "#/$defs/set_data", "$defs": SPEC.request["$defs"]})
FILLED = "ct000000abcd"
ALL_CLASSES = [ec.id for ec in SPEC.error_classes]
# What each defect of a top-level input (bk_biz_id, data) puts there.
TOP_LEVEL_DEFECTS: dict[str, Callable[[Any], bool]] = {
    "missing": lambda v: v is S.MISSING,
    "type:null": lambda v: v is None,
    "not-integer": lambda v: json_type(v) != "integer",
    "unknown-business": lambda v: v == CTX.unknown_biz_id,
    "empty": lambda v: v == {},
    "not-dict": lambda v: json_type(v) != "object",
}


def fill(data: dict[str, Any]) -> dict[str, Any]:
    out = dict(data)
    if isinstance(out.get("bk_set_name"), str):
        out["bk_set_name"] = out["bk_set_name"].replace(S.TOKEN_SLOT, FILLED)
    return out


def stored_name_ok(name: str) -> bool:
    core = name.strip(" ")
    return 1 <= len(core) <= 256 and S.utf8_len(core) <= 256


def is_numeric_string(value: Any) -> bool:
    return isinstance(value, str) and value.strip().lstrip("-").isdigit()


def check_data_defect(ec: ErrorClass, case: S.InvalidCase) -> None:
    """A data-field defect changes that one field; everything else in the payload is valid."""
    assert case.auth == BODY and case.raw_body is None
    assert case.params["bk_biz_id"] == CTX.bk_biz_id
    payload = fill(case.params["data"])
    field = ec.target.split(".", 1)[1]
    rest = {k: v for k, v in payload.items() if k != field}
    if field not in SPEC.required_fields:
        DATA_VALIDATOR.validate(rest)
    if ec.defect == "missing":
        assert field not in payload
        return
    value = payload[field]
    if ec.defect.startswith("type:"):
        assert json_type(value) == ec.defect.split(":", 1)[1]
    else:
        errors = list(DATA_VALIDATOR.iter_errors({**S.minimal_data(CTX, FILLED), field: value}))
        over_bytes = isinstance(value, str) and S.utf8_len(value.strip()) > SPEC.field(field).research.get("maxBytes", 10**9)
        unknown_template = ec.defect == "unknown-template" and value not in CTX.set_template_ids
        assert errors or over_bytes or unknown_template, f"{ec.id}: {value!r} is valid by the schema"


def check_envelope_defect(ec: ErrorClass, case: S.InvalidCase) -> None:
    """A gateway-level defect leaves the data valid, so the gateway must be what rejects it."""
    if ec.target in ("auth", "body", "bk_biz_id"):
        DATA_VALIDATOR.validate(fill(case.params["data"]))
    if ec.target == "auth":
        assert ec.auth is not None and case.auth == Auth.from_spec(ec.auth)
        assert case.raw_body is None and case.params["bk_biz_id"] == CTX.bk_biz_id
    elif ec.target == "body":
        assert case.raw_body is not None and case.raw_body.startswith("{")
        with pytest.raises(ValueError):
            json.loads(case.raw_body)
        assert case.auth == HEADER, "with the credentials in the header the body is only the defect"
    else:
        assert case.auth == BODY and case.raw_body is None
        assert TOP_LEVEL_DEFECTS[ec.defect](case.params.get(ec.target, S.MISSING)), f"{ec.id}: {case.params!r}"
        if ec.target == "data":
            assert case.params["bk_biz_id"] == CTX.bk_biz_id


def check_only_defect(ec: ErrorClass, case: S.InvalidCase) -> None:
    assert case.error_class == ec.id
    if ec.target.startswith("data."):
        check_data_defect(ec, case)
    else:
        check_envelope_defect(ec, case)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(case=S.valid_cases(CTX))
def test_valid_case_obeys_every_schema_rule(case: S.ValidCase) -> None:
    """A valid case, trimmed as the server trims, validates and stays within the byte limits."""
    data = fill(case.data)
    assert stored_name_ok(data["bk_set_name"])
    trimmed = {**data, "bk_set_name": data["bk_set_name"].strip(" ")}
    trimmed.pop(S.UNKNOWN_FIELD, None)
    DATA_VALIDATOR.validate(trimmed)
    for f in SPEC.fields:
        if f.name in data and isinstance(data[f.name], str) and "maxBytes" in f.research:
            assert S.utf8_len(data[f.name].strip()) <= f.research["maxBytes"]
        assert data.get(f.name) not in f.research.get("neverSend", ()), f.name
    assert data.get("set_template_id", 0) in (0, *CTX.set_template_ids)
    assert case.auth == BODY


@settings(max_examples=30)
@given(case=S.valid_cases(CTX, (BODY, HEADER)))
def test_valid_case_uses_only_the_auth_modes_asked_for(case: S.ValidCase) -> None:
    """valid_cases places the credentials only in the Auth values it was given."""
    assert case.auth in (BODY, HEADER)


def test_boundary_names_sit_exactly_on_the_limits() -> None:
    """The deterministic names reach 256 characters and 256 bytes exactly."""
    names = {k: v.replace(S.TOKEN_SLOT, FILLED) for k, v in S.boundary_names().items()}
    assert len(names["max-chars"]) == 256
    assert S.utf8_len(names["max-bytes-multibyte"]) == 256 and len(names["max-bytes-multibyte"]) < 256
    assert len(names["padded-max-chars"].strip(" ")) == 256
    assert all(stored_name_ok(n) for n in names.values())


@pytest.mark.parametrize("class_id", [ec.id for ec in SPEC.error_classes if ec.target.startswith("data.")])
@settings(max_examples=15, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_data_defect_is_the_only_defect(class_id: str, data: st.DataObject) -> None:
    """A data-field defect changes that one field; everything else in the payload is valid."""
    ec = SPEC.error_class(class_id)
    check_only_defect(ec, data.draw(S.invalid_case(ec, CTX)))


@pytest.mark.parametrize("class_id", [ec.id for ec in SPEC.error_classes if not ec.target.startswith("data.")])
@settings(max_examples=10)
@given(data=st.data())
def test_envelope_defect_is_the_only_defect(class_id: str, data: st.DataObject) -> None:
    """A gateway-level defect leaves the data valid, and an auth class sends the Auth its catalogue entry describes."""
    ec = SPEC.error_class(class_id)
    check_only_defect(ec, data.draw(S.invalid_case(ec, CTX)))


def test_every_wrong_type_of_every_field_is_catalogued_or_accepted() -> None:
    """Each data field's every wrong JSON type is an invalid class or a registered accepted value."""
    classes = {(ec.target, ec.defect) for ec in SPEC.error_classes}
    accepted = set(SPEC.accepted)
    for f in SPEC.fields:
        for t in JSON_TYPES:
            if t == f.type:
                continue
            key = (f"data.{f.name}", f"type:{t}")
            assert key in classes or key in accepted, key


@pytest.mark.parametrize("class_id", ALL_CLASSES)
def test_every_class_resolves_to_a_registry_generator(class_id: str) -> None:
    """Every catalogued class has a Defect entry in the registry under its defect kind."""
    ec = SPEC.error_class(class_id)
    defect = S.generator_for(ec)
    assert defect is S.DEFECTS[S.defect_kind(ec)] and defect.kind == S.defect_kind(ec)


def test_a_defect_nothing_makes_is_a_key_error() -> None:
    """generator_for refuses a class whose defect no registry entry makes."""
    ec = ErrorClass(id="data.bk_set_name.zz", target="data.bk_set_name", defect="zz-no-such-defect", layer="cmdb", codes={}, source="x")
    with pytest.raises(KeyError):
        S.generator_for(ec)


@pytest.mark.parametrize("class_id", ALL_CLASSES)
def test_deterministic_examples_carry_exactly_their_defect(class_id: str) -> None:
    """Every class has at least one deterministic example, each carrying exactly that class's defect."""
    ec = SPEC.error_class(class_id)
    examples = S.examples_of(class_id, CTX)
    assert examples
    for case in examples:
        check_only_defect(ec, case)


@pytest.mark.parametrize("class_id", ALL_CLASSES)
def test_deterministic_examples_are_the_same_on_every_call(class_id: str) -> None:
    """Building a class's examples twice (past the cache) gives equal cases, in the same order, as fresh copies."""
    build = S._examples_of.__wrapped__
    first, second = build(class_id, CTX), build(class_id, CTX)
    assert first == second == S.examples_of(class_id, CTX)
    assert first is not second
    assert S.examples_of(class_id, CTX) is not S.examples_of(class_id, CTX)


STRING_TYPE_CLASSES = [ec.id for ec in SPEC.error_classes if ec.target.startswith("data.") and ec.defect == "type:string"]


@pytest.mark.parametrize("class_id", STRING_TYPE_CLASSES)
def test_numeric_strings_follow_the_research(class_id: str) -> None:
    """A wrong-type string is numeric only for fields whose x-research does not say numeric strings are accepted."""
    ec = SPEC.error_class(class_id)
    field = ec.target.split(".", 1)[1]
    values = [case.params["data"][field] for case in S.examples_of(class_id, CTX)]
    if SPEC.field(field).research.get("numericStringsAccepted", False):
        assert not any(is_numeric_string(v) for v in values), values
    else:
        assert any(is_numeric_string(v) for v in values), values


def test_numeric_string_quirks_are_in_the_spec() -> None:
    """The spec's x-research says which integer fields take numeric strings (default does, set_template_id does not)."""
    flags = {f.name: f.research.get("numericStringsAccepted") for f in SPEC.fields}
    assert flags["default"] is True and flags["set_template_id"] is False
    assert SPEC.request["properties"]["bk_biz_id"]["x-research"]["numericStringsAccepted"] is True


def test_one_character_name_is_a_function_of_the_seed() -> None:
    """The same seed gives the same one-character CJK name, another seed another name."""
    first = S.one_character_name(20240601, lambda name: False)
    assert first == S.one_character_name(20240601, lambda name: False)
    assert first != S.one_character_name(20240602, lambda name: False)
    assert len(first) == 1 and "\u4e00" <= first <= "\u9fa5"


def test_one_character_name_skips_taken_names() -> None:
    """A name already taken is skipped for the next candidate, still determined by the seed; all taken is an error."""
    first = S.one_character_name(7, lambda name: False)
    asked: list[str] = []

    def taken(name: str) -> bool:
        asked.append(name)
        return name == first

    second = S.one_character_name(7, taken)
    assert second != first and asked[:2] == [first, second]
    assert second == S.one_character_name(7, lambda name: name == first)
    tries: list[str] = []

    def all_taken(name: str) -> bool:
        tries.append(name)
        return True

    with pytest.raises(RuntimeError):
        S.one_character_name(7, all_taken)
    assert len(tries) == 64
