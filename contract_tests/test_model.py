"""The target's set model: every attribute it defines beyond the built-in schema, and other businesses' attributes.

The run reads the model at session start (search_object_attribute, or
--set-model FILE) and these tests are parametrized from it at collection, so
they follow the target, not the emulator. Each model attribute is sent at its
boundaries and absent (filled per the research), with one defect per request
for every type-level rule of spec/errors.json that applies to it, and at
random; another business's attribute is sent to prove it is dropped. With
nothing to exercise, a test skips and says why.
"""

from __future__ import annotations

import functools
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cmdb_contract.harness import Harness
from cmdb_contract.model_values import valid_examples
from cmdb_contract.plugin import run_spec
from cmdb_contract.spec import Spec
from cmdb_contract.strategies import (
    TOKEN_SLOT,
    GenContext,
    ValidCase,
    base_params,
    examples_of,
    full_value,
    invalid_case_of,
    minimal_data,
    model_strategy,
)

pytestmark = pytest.mark.writes


@functools.cache
def valid_values(spec: Spec) -> dict[str, tuple[str, Any]]:
    """Every deterministic valid value of every model attribute, by test id: (attribute, value)."""
    out: dict[str, tuple[str, Any]] = {}
    for f in spec.model_fields:
        assert f.attribute is not None
        for label, value in valid_examples(f.attribute):
            out[f"{f.name}={label}"] = (f.name, value)
    return out


def _or_skip(values: list[str], reason: str) -> list[Any]:
    return list(values) or [pytest.param(None, marks=pytest.mark.skip(reason=reason))]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    spec = run_spec(metafunc.config)
    where = spec.model.origin if spec.model is not None else "no set model read"
    none = f"the set model ({where}) defines no attribute beyond the built-in schema that the suite exercises"
    if "model_value" in metafunc.fixturenames:
        metafunc.parametrize("model_value", _or_skip(sorted(valid_values(spec)), none))
    if "model_class" in metafunc.fixturenames:
        metafunc.parametrize("model_class", _or_skip([ec.id for ec in spec.model_classes], none))
    if "foreign_attribute" in metafunc.fixturenames:
        metafunc.parametrize("foreign_attribute", _or_skip(
            [f.name for f in spec.foreign_fields],
            f"no other business's own attribute found ({where}; the suite reads up to 4 other businesses' models): "
            "nothing to prove dropped"))


def _case(ctx: GenContext, extra: dict[str, Any], body: str = "-model") -> ValidCase:
    data = minimal_data(ctx, TOKEN_SLOT + body)
    data.update(extra)
    return ValidCase(params=base_params(ctx, data))


def test_model_attribute_value_is_stored(harness: Harness, model_value: str) -> None:
    """A model attribute at a boundary of its type is accepted and echoed in its stored form."""
    name, value = valid_values(harness.ctx.spec)[model_value]
    harness.create(_case(harness.ctx, {name: value}))


def test_absent_model_attributes_are_filled(harness: Harness) -> None:
    """A set that sends no model attribute gets each one filled: its default, else its type's empty value."""
    if not harness.ctx.spec.model_fields:
        pytest.skip("the set model defines no attribute beyond the built-in schema")
    harness.create(_case(harness.ctx, {}))


def test_every_model_attribute_at_once(harness: Harness) -> None:
    """A set that sends every model attribute at once stores each of them."""
    spec = harness.ctx.spec
    if not spec.model_fields:
        pytest.skip("the set model defines no attribute beyond the built-in schema")
    harness.create(_case(harness.ctx, {f.name: full_value(f) for f in spec.model_fields}))


def test_model_attribute_defect_is_rejected(harness: Harness, model_class: str) -> None:
    """A model attribute with one defect of its type is rejected with the type-level code and stores nothing."""
    for case in examples_of(model_class, harness.ctx):
        harness.reject(case, check_state=True)


def test_other_business_attribute_is_dropped(harness: Harness, foreign_attribute: str) -> None:
    """A valid value of an attribute scoped to another business is accepted here but neither stored nor returned."""
    f = next(f for f in harness.ctx.spec.foreign_fields if f.name == foreign_attribute)
    harness.create(_case(harness.ctx, {f.name: full_value(f)}))


@st.composite
def _model_cases(draw: st.DrawFn, ctx: GenContext) -> ValidCase:
    fields = ctx.spec.model_fields
    chosen = draw(st.lists(st.sampled_from(fields), unique_by=lambda f: f.name, max_size=len(fields)))
    return _case(ctx, {f.name: draw(model_strategy(f), label=f.name) for f in chosen}, draw(st.text("abcdef", max_size=6)))


@given(data=st.data())
def test_random_model_values_are_stored(harness: Harness, data: st.DataObject) -> None:
    """Random valid values of any model attributes together, sent concurrently, are stored as the research says."""
    if not harness.ctx.spec.model_fields:
        pytest.skip("the set model defines no attribute beyond the built-in schema")
    harness.send_drawn(data, _model_cases(harness.ctx), harness.create, most=8)


@given(data=st.data())
def test_random_model_defects_are_rejected(harness: Harness, data: st.DataObject) -> None:
    """Random single-defect values of model attributes, sent concurrently, are rejected with their type-level codes."""
    classes = harness.ctx.spec.model_classes
    if not classes:
        pytest.skip("the set model defines no attribute beyond the built-in schema")
    strategy = st.sampled_from([ec.id for ec in classes]).flatmap(lambda c: invalid_case_of(c, harness.ctx))
    harness.send_drawn(data, strategy, harness.reject, most=8)
