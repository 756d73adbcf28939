"""Valid create_set requests: boundaries, every optional field, every enum id, both auth styles.

Each success is judged by every success oracle: envelope, schema, echo of
what was sent as the server stores it, documented defaults, a new bk_set_id
and RFC 3339 times.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cmdb_contract.credentials import BODY, HEADER, Auth
from cmdb_contract.harness import Harness
from cmdb_contract.oracles import Expectation, request_ids_differ
from cmdb_contract.run import Run
from cmdb_contract.spec import load_spec
from cmdb_contract.strategies import (
    UNKNOWN_FIELD,
    ValidCase,
    base_params,
    boundary_names,
    full_data,
    minimal_data,
    one_character_name,
    valid_cases,
)

pytestmark = pytest.mark.writes
SPEC = load_spec()


def _case(harness: Harness, data: dict[str, Any], auth: Auth = BODY) -> ValidCase:
    return ValidCase(params=base_params(harness.ctx, data), auth=auth)


def test_minimal_set_is_created(harness: Harness) -> None:
    """A set with only the required fields is created with every documented default."""
    harness.create(_case(harness, minimal_data(harness.ctx)))


def test_every_optional_field_is_stored(harness: Harness) -> None:
    """A set with every documented optional field set stores and echoes each of them."""
    harness.create(_case(harness, full_data(harness.ctx)))


def test_unknown_field_is_dropped(harness: Harness) -> None:
    """A field the set model does not define is accepted but neither stored nor returned."""
    data = minimal_data(harness.ctx)
    data[UNKNOWN_FIELD] = "dropped"
    harness.create(_case(harness, data))


@pytest.mark.parametrize("shape", sorted(boundary_names()))
def test_boundary_name_is_accepted(harness: Harness, shape: str) -> None:
    """A name at a documented limit (256 characters, 256 bytes, padding, scripts) is accepted and stored trimmed."""
    harness.create(_case(harness, minimal_data(harness.ctx, boundary_names()[shape])))


def test_single_character_name_is_accepted(harness: Harness, run: Run) -> None:
    """A one-character name is accepted (the shortest name the rule allows); the name comes from the run's seed."""
    name = one_character_name(run.config.seed, lambda n: bool(harness.find_by_name(harness.ctx.bk_biz_id, n)))
    harness.create(_case(harness, minimal_data(harness.ctx, name)))


_INT_BOUNDS = [
    pytest.param(f.name, f.schema[k], id=f"{f.name}={f.schema[k]}")
    for f in SPEC.fields
    if not f.required and f.schema.get("type") == "integer" and "enum" not in f.schema
    for k in ("minimum", "maximum")
    if k in f.schema and "validFrom" not in f.research
]


@pytest.mark.parametrize(("field", "value"), _INT_BOUNDS)
def test_integer_boundary_is_accepted(harness: Harness, field: str, value: int) -> None:
    """An integer field at its documented minimum or maximum is accepted and stored."""
    data = minimal_data(harness.ctx)
    data[field] = value
    harness.create(_case(harness, data))


_ENUM_IDS = [
    pytest.param(f.name, v, id=f"{f.name}={v}")
    for f in SPEC.fields
    if "enum" in f.schema
    for v in f.schema["enum"]
    if v not in f.research.get("neverSend", ())
]


@pytest.mark.parametrize(("field", "value"), _ENUM_IDS)
def test_every_enum_id_is_stored(harness: Harness, field: str, value: Any) -> None:
    """Every documented id of an enumerated field is accepted and stored as sent."""
    data = minimal_data(harness.ctx)
    data[field] = value
    harness.create(_case(harness, data))


@pytest.mark.template
def test_set_is_created_from_template(harness: Harness, template_id: int) -> None:
    """A set created from a set template stores the template id."""
    data = minimal_data(harness.ctx)
    data["set_template_id"] = template_id
    harness.create(_case(harness, data))


def test_header_authorization_creates_set(harness: Harness) -> None:
    """Credentials in the X-Bkapi-Authorization header are accepted like body credentials."""
    harness.create(_case(harness, minimal_data(harness.ctx), auth=HEADER))


def test_numeric_string_business_id_is_accepted(harness: Harness) -> None:
    """bk_biz_id sent as a numeric string passes the gateway's integer field and is stored as an int."""
    case = _case(harness, minimal_data(harness.ctx))
    case.params["bk_biz_id"] = str(harness.ctx.bk_biz_id)
    harness.create(case)


def test_request_id_is_fresh_per_request(harness: Harness) -> None:
    """Two answers never share a request_id."""
    first, _ = harness.create(_case(harness, minimal_data(harness.ctx)))
    second, sent = harness.create(_case(harness, minimal_data(harness.ctx)))
    harness.judge((request_ids_differ,), second, Expectation.state(sent, harness.judging, first=first))


@given(data=st.data())
def test_valid_payloads_are_created(harness: Harness, data: st.DataObject) -> None:
    """Random valid requests (any optional fields, either auth style), sent concurrently, are created as sent.

    Each case is sent as soon as it is drawn, so drawing the next one overlaps the answers to the last ones.
    """
    harness.send_drawn(data, valid_cases(harness.ctx, (BODY, HEADER)), harness.create, most=12)


_ACCEPTED_NULLS = [pytest.param(t.split(".", 1)[1], id=f"{t.split('.', 1)[1]}=null") for t, d in SPEC.accepted if d == "type:null" and t.startswith("data.")]


@pytest.mark.parametrize("field", _ACCEPTED_NULLS)
def test_explicit_null_is_stored_as_null(harness: Harness, field: str) -> None:
    """An explicit null for an optional attribute the server accepts it for is stored as null, not defaulted."""
    data = minimal_data(harness.ctx)
    data[field] = None
    harness.create(_case(harness, data))
