"""Invalid create_set requests: one defect each, every catalogued class, every run.

Each class of ``spec/errors.json`` is exercised deterministically (the same
examples every run); random exploration over all classes runs on top. A
rejection must carry the catalogued code for the selected CMDB version
(``--error-codes strict``) and, where the request reached CMDB, leave no set.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cmdb_contract.harness import Harness
from cmdb_contract.plugin import DETERMINISTIC, current_context
from cmdb_contract.spec import load_spec
from cmdb_contract.strategies import InvalidCase, invalid_case_of, invalid_cases

CLASSES = load_spec().error_classes
# Requests rejected by the gateway never reach CMDB, so they need no write permission.
_PARAMS = [
    pytest.param(ec.id, id=ec.id, marks=() if ec.layer == "esb" else (pytest.mark.writes,))
    for ec in CLASSES
]


@pytest.mark.parametrize("class_id", _PARAMS)
@DETERMINISTIC
@given(data=st.data())
def test_catalogued_defect_is_rejected(harness: Harness, class_id: str, data: st.DataObject) -> None:
    """A request with this one defect is rejected with the catalogued code and stores nothing."""
    ec = load_spec().error_class(class_id)
    case = data.draw(invalid_case_of(class_id, harness.ctx), label="case")
    harness.reject_invalid(case, check_state=ec.layer == "cmdb")


@pytest.mark.writes
@given(case=st.deferred(lambda: invalid_cases(current_context())))
def test_random_invalid_payloads_are_rejected(harness: Harness, case: InvalidCase) -> None:
    """Random single-defect requests across all classes are rejected with their codes."""
    harness.reject_invalid(case)
