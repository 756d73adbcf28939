"""The mutation self-test: the suite passes the faithful emulator and catches every injected fault."""

from __future__ import annotations

from pathlib import Path

import pytest

from cmdb_contract import selftest


@pytest.mark.selftest
def test_suite_catches_every_fault_without_false_alarm(tmp_path: Path) -> None:
    """Every emulator fault makes the suite fail with a broken contract, and the faithful emulator passes."""
    out = selftest.ROOT / "reports" / "mutation-score.md"
    code = selftest.main(workers=2, out=out)
    text = out.read_text(encoding="utf-8")
    assert "PASS (no false alarm)" in text, text
    assert code == 0, "\n" + text
