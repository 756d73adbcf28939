"""Invalid create_set requests: one defect each, every catalogued class, every run.

Each class of ``spec/errors.json`` is exercised with the same examples on
every run (the defect registry's examples); random exploration over all
classes runs on top. A rejection must carry the catalogued code for the
selected CMDB version (``--error-codes strict``) and, where the request
reached CMDB, leave no set.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cmdb_contract.harness import Harness
from cmdb_contract.spec import load_spec
from cmdb_contract.strategies import examples_of, invalid_cases

CLASSES = load_spec().error_classes
# Requests rejected by the gateway never reach CMDB, so they need no write permission.
_PARAMS = [pytest.param(ec.id, id=ec.id, marks=() if not ec.reaches_cmdb else (pytest.mark.writes,)) for ec in CLASSES]


@pytest.mark.parametrize("class_id", _PARAMS)
def test_catalogued_defect_is_rejected(harness: Harness, class_id: str) -> None:
    """A request with this one defect is rejected with the catalogued code and stores nothing."""
    ec = load_spec().error_class(class_id)
    for case in examples_of(class_id, harness.ctx):
        harness.reject(case, check_state=ec.reaches_cmdb)


@pytest.mark.writes
@given(data=st.data())
def test_random_invalid_payloads_are_rejected(harness: Harness, data: st.DataObject) -> None:
    """Random single-defect requests across all classes, sent concurrently, are rejected with their codes."""
    harness.send_drawn(data, invalid_cases(harness.ctx), harness.reject, most=8)
