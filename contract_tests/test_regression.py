"""Regression: the reference's requests replayed against the target, every difference from its answers judged.

Collected only when the run compares: with ``--baseline FILE`` (a baseline
recorded earlier is replayed, nothing is generated) or ``--diff-target B``
(the requests this run sent to its target are replayed against B, and again
against the target to measure noise). One test per kind of difference, each
a ``drift.*`` rule of spec/rules.json: it fails for differences that also
break the contract (the new answer fails a rule the reference's answer kept),
or with ``--fail-on drift`` for every difference. Drift is always listed in
the report's differences section and the JSON summary.
"""

from __future__ import annotations

import pytest

from cmdb_contract.differences import KINDS
from cmdb_contract.regression import Regression


@pytest.mark.parametrize("kind", KINDS)
def test_replay_shows_no_difference_of_kind(regression: Regression, kind: str) -> None:
    """No replayed answer differs from the reference in this way and breaks the contract (with --fail-on drift: at all)."""
    regression.check(kind)


def test_replayed_answers_keep_every_rule_the_reference_kept(regression: Regression) -> None:
    """Every rule the reference's answer kept, the replayed answer keeps too, judged for this target's CMDB version."""
    regression.check_contract()
