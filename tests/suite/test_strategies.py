"""Generated payloads: valid ones obey every schema rule, invalid ones carry exactly one defect."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cmdb_contract import strategies as S
from cmdb_contract.spec import JSON_TYPES, json_type, load_spec

SPEC = load_spec()
CTX = S.GenContext(bk_biz_id=2, bk_parent_id=2, set_template_ids=(1,))
DATA_VALIDATOR = jsonschema.Draft202012Validator({"$ref": "#/$defs/set_data", "$defs": SPEC.request["$defs"]})
FILLED = "ct000000abcd"


def fill(data: dict[str, Any]) -> dict[str, Any]:
    out = dict(data)
    if isinstance(out.get("bk_set_name"), str):
        out["bk_set_name"] = out["bk_set_name"].replace(S.TOKEN_SLOT, FILLED)
    return out


def stored_name_ok(name: str) -> bool:
    core = name.strip(" ")
    return 1 <= len(core) <= 256 and S.utf8_len(core) <= 256


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
    case = data.draw(S.invalid_case(ec, CTX))
    assert case.auth == "body" and case.raw_body is None
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
        assert errors or over_bytes or unknown_template, f"{class_id}: {value!r} is valid by the schema"


@pytest.mark.parametrize("class_id", [ec.id for ec in SPEC.error_classes if not ec.target.startswith("data.")])
@settings(max_examples=10)
@given(data=st.data())
def test_envelope_defect_is_the_only_defect(class_id: str, data: st.DataObject) -> None:
    """A gateway-level defect leaves the data valid, so the gateway must be what rejects it."""
    ec = SPEC.error_class(class_id)
    case = data.draw(S.invalid_case(ec, CTX))
    if ec.target in ("auth", "body", "bk_biz_id"):
        DATA_VALIDATOR.validate(fill(case.params["data"]))
    if ec.target == "auth":
        assert case.auth == ec.defect
    if ec.target == "body":
        assert case.raw_body is not None and case.raw_body.startswith("{")


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
