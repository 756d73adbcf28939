"""Harness.as_drawn: cases sent as they are drawn, failures raised in order, nothing left in flight."""

from __future__ import annotations

import threading
import time
import unicodedata
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cmdb_contract import alphabets
from cmdb_contract.client import Target
from cmdb_contract.credentials import Credentials
from cmdb_contract.harness import Harness
from cmdb_contract.oracles import Judging
from cmdb_contract.strategies import NAME_CHARS, TEXT_CHARS, GenContext


def _harness(concurrency: int) -> Harness:
    target = Target("http://127.0.0.1:9", Credentials("app", "not-a-real-secret"))
    return Harness(target, GenContext(bk_biz_id=5, bk_parent_id=6), Judging(), run_id="fff000", concurrency=concurrency)


class Slow:
    """An act that takes ``delay`` seconds, fails for the cases in ``bad`` and tracks how many run at once."""

    def __init__(self, delay: float, bad: set[int] = frozenset()) -> None:  # type: ignore[assignment]
        self.delay, self.bad = delay, bad
        self.lock = threading.Lock()
        self.running = self.peak = 0
        self.started: list[int] = []
        self.finished: list[int] = []

    def __call__(self, case: Any) -> Any:
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
            self.started.append(case)
        try:
            time.sleep(self.delay)
            if case in self.bad:
                raise AssertionError(f"case {case} broke")
            return case
        finally:
            with self.lock:
                self.running -= 1
                self.finished.append(case)


def test_a_case_is_sent_before_the_next_is_drawn() -> None:
    """The first case is in flight while the test body is still producing the second (generation overlaps the answers)."""
    act = Slow(0.2)
    harness = _harness(4)
    with harness.as_drawn(act) as send:
        send(1)
        deadline = time.monotonic() + 5
        while not act.started and time.monotonic() < deadline:
            time.sleep(0.005)
        assert act.started == [1] and act.finished == [], "case 1 started while the block was still open"
        send(2)
    assert sorted(act.finished) == [1, 2]
    harness.close()


def test_concurrent_pipeline_raises_the_first_failure_in_order_after_all_answered() -> None:
    """Every case is sent and answered; the failure raised is the earliest case's, not the first to finish."""
    act = Slow(0.05, bad={2, 4})
    harness = _harness(4)
    with pytest.raises(AssertionError, match="case 2 broke"), harness.as_drawn(act) as send:
        for case in (1, 2, 3, 4, 5):
            send(case)
    assert sorted(act.finished) == [1, 2, 3, 4, 5] and act.peak <= 4
    harness.close()


def test_serial_pipeline_stops_at_the_first_failure() -> None:
    """At concurrency 1 each case runs at once, one at a time, and the first failure ends the batch."""
    act = Slow(0.0, bad={2})
    harness = _harness(1)
    sent: list[int] = []
    with pytest.raises(AssertionError, match="case 2 broke"), harness.as_drawn(act) as send:
        for case in (1, 2, 3):
            send(case)
            sent.append(case)
    assert act.started == [1, 2] and sent == [1] and act.peak == 1


def test_nothing_is_in_flight_when_the_block_is_left_by_an_exception() -> None:
    """A body that raises (Hypothesis stopping a draw, say) still waits for what it sent, and its own exception wins."""
    act = Slow(0.1)
    harness = _harness(4)
    with pytest.raises(KeyError), harness.as_drawn(act) as send:
        send(1)
        send(2)
        raise KeyError("stop")
    assert sorted(act.finished) == [1, 2] and act.running == 0
    harness.close()


@pytest.mark.parametrize(("alphabet", "majors"), [(alphabets.letters_digits(), "LN"), (alphabets.free_text(), "LNPS")])
def test_alphabets_hold_only_their_categories_in_few_intervals(alphabet: str, majors: str) -> None:
    """Every character is of the alphabet's categories; the alphabet spans many scripts and both UTF-8 widths yet few intervals."""
    assert {unicodedata.category(c)[0] for c in alphabet} <= set(majors)
    widths = {len(c.encode()) for c in alphabet}
    scripts = {unicodedata.name(c, "?").split()[0] for c in alphabet}
    assert widths == {1, 2, 3, 4} and {"LATIN", "GREEK", "CYRILLIC", "CJK", "HANGUL", "HIRAGANA", "ARABIC"} <= scripts
    assert alphabets.intervals(alphabet) <= 40


def test_name_and_text_characters_exclude_the_name_slot_and_white_space() -> None:
    """Generated names and texts never hold the slot character '@' or white space the server would trim."""
    for strategy in (NAME_CHARS, TEXT_CHARS):
        chars = strategy.wrapped_strategy.intervals  # type: ignore[attr-defined]
        assert "@" not in chars and " " not in chars and "\t" not in chars and "\u3000" not in chars


@settings(max_examples=25, deadline=None, database=None)
@given(data=st.data())
def test_send_drawn_sends_one_to_most_cases_each_once(data: st.DataObject) -> None:
    """send_drawn draws a batch of 1 to ``most`` cases and sends every one of them exactly once."""
    act = Slow(0.0)
    harness = _harness(2)
    try:
        harness.send_drawn(data, st.uuids(), act, most=3)
    finally:
        harness.close()
    assert 1 <= len(act.finished) <= 3 and len(set(act.finished)) == len(act.finished)
