"""Lookalike values: for every field, built-in and of the set model, the values of another type that look right.

Sent every run, the same ones: "5" for an integer, "2.0" and 2.0 for
bk_biz_id, true for an integer, 1 for the enum id "1", data as a JSON string,
a float attribute's numeric string, and so on (cmdb_contract.lookalikes).
Where the spec's research says the server accepts one, the set must be
created and stored as the research says; otherwise it must be refused as the
error class its type maps onto, and store nothing.
"""

from __future__ import annotations

from typing import Any

import pytest

from cmdb_contract.harness import Harness
from cmdb_contract.lookalikes import Lookalike, lookalikes
from cmdb_contract.plugin import RUN
from cmdb_contract.strategies import TOKEN_SLOT, GenContext, InvalidCase, ValidCase, base_params, minimal_data


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "lookalike" not in metafunc.fixturenames:
        return
    run = metafunc.config.stash.get(RUN, None)
    if run is None:
        metafunc.parametrize("lookalike", [pytest.param(None, marks=pytest.mark.skip(reason="not a contract run"))])
        return
    found = lookalikes(run.ctx)
    params = []
    for lk in found.values():
        # The gateway refuses some before CMDB sees them: those need no write permission.
        writes = lk.accepted or run.spec.error_class(str(lk.class_id)).reaches_cmdb
        params.append(pytest.param(lk.id, id=lk.id, marks=(pytest.mark.writes,) if writes else ()))
    metafunc.parametrize("lookalike", params)


def _params(ctx: GenContext, lk: Lookalike) -> dict[str, Any]:
    params = base_params(ctx, minimal_data(ctx, TOKEN_SLOT + "-lookalike"))
    if lk.field in ("bk_biz_id", "data"):
        params[lk.field] = lk.value
    else:
        params["data"][lk.field] = lk.value
    return params


def test_lookalike_value_is_judged_as_the_research_says(harness: Harness, lookalike: str) -> None:
    """A lookalike the research says the server accepts is stored as it says; any other is refused with its class's code."""
    lk = lookalikes(harness.ctx)[lookalike]
    params = _params(harness.ctx, lk)
    if lk.accepted:
        harness.create(ValidCase(params), because=f"lookalike {lk.kind} accepted: {lk.because}")
    else:
        assert lk.class_id is not None
        harness.reject(InvalidCase(lk.class_id, params), check_state=True)
