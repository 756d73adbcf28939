"""Documented promises the real server is known not to keep (spec/deviations.json).

Each runs as a strict expected failure: while the server deviates the test
xfails; the day it keeps the documented promise, the run fails and says so.
"""

from __future__ import annotations

import pytest

from cmdb_contract.harness import Harness
from cmdb_contract.spec import load_spec
from cmdb_contract.strategies import base_params, minimal_data

pytestmark = pytest.mark.writes
_JSON_TYPES = {"array": list, "integer": int, "string": str, "object": dict}
_CHECKED = [d for d in load_spec().deviations if d.doc_check]


@pytest.mark.parametrize(
    "deviation_id",
    [pytest.param(d.id, id=d.id, marks=pytest.mark.xfail(strict=True, reason=f"known deviation: {d.reason}")) for d in _CHECKED],
)
def test_documented_type_holds(harness: Harness, deviation_id: str) -> None:
    """The documented type of a response field holds (known not to, on the real server)."""
    dev = load_spec().deviation(deviation_id)
    check = dev.doc_check or {}
    ex = harness.send_create(harness.fill(base_params(harness.ctx, minimal_data(harness.ctx))))
    value = ex.json["data"][check["field"]]
    assert isinstance(value, _JSON_TYPES[check["type"]]), f"{check['field']} is {value!r}, the doc says {check['type']}: {dev.server}"
