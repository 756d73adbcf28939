"""Shared fixtures of the project's own tests, and the mutation score in the summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

SCORE = Path(__file__).resolve().parent.parent / "reports" / "mutation-score.md"


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_STARTED] = SCORE.stat().st_mtime if SCORE.exists() else 0.0


_STARTED = pytest.StashKey[float]()


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    # Print the score only when this run produced it.
    if SCORE.exists() and SCORE.stat().st_mtime > config.stash.get(_STARTED, 0.0):
        terminalreporter.write_sep("=", "mutation self-test")
        for line in SCORE.read_text(encoding="utf-8").splitlines()[:5]:
            terminalreporter.write_line(line)
        terminalreporter.write_line(f"(full table: {SCORE})")
