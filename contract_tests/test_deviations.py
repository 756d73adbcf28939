"""Documented promises the real server is known not to keep (spec/deviations.json).

Each runs as a strict expected failure that counts only when the documented
deviation itself is observed (``raises=`` the violation of that rule and
field): while the server deviates the test xfails; the day it keeps the
documented promise, the run fails and says so; a crash is an error, not the
known deviation.
"""

from __future__ import annotations

import pytest

from cmdb_contract.harness import Harness
from cmdb_contract.oracles import ENVELOPE_ORACLES, Expectation, documented_type_holds, valid_request_succeeds, violation_class
from cmdb_contract.spec import load_spec
from cmdb_contract.strategies import base_params, minimal_data

pytestmark = pytest.mark.writes
_CHECKED = [d for d in load_spec().deviations if d.doc_check]


@pytest.mark.parametrize(
    "deviation_id",
    [pytest.param(d.id, id=d.id, marks=pytest.mark.xfail(
        strict=True, raises=violation_class("deviation.documented-type-holds", (d.doc_check or {})["field"]),
        reason=f"known deviation: {d.reason}")) for d in _CHECKED],
)
def test_documented_type_holds(harness: Harness, deviation_id: str) -> None:
    """The documented type of a response field holds (known not to, on the real server)."""
    dev = load_spec().deviation(deviation_id)
    check = dev.doc_check or {}
    sent = harness.fill(base_params(harness.ctx, minimal_data(harness.ctx)))
    ex = harness.send_create(sent)
    # Only the deviation itself counts: an answer that is not a success fails another rule, not this one.
    harness.judge((*ENVELOPE_ORACLES, valid_request_succeeds), ex, Expectation.success(sent, harness.judging))
    harness.judge((documented_type_holds,), ex, Expectation.state(sent, harness.judging, field=check["field"],
                                                                  type=check["type"], deviation=dev.id))
