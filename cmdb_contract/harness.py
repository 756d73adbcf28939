"""The harness the contract tests drive: act (send a case), then judge it with named oracles.

Boundary: glue between the pure pieces (strategies, oracles) and the client.
It fills the per-run name token, writes the ledger ahead of every create,
keeps up to ``concurrency`` requests in flight for a batch, counts checks per
rule and which documentation rows and error classes were exercised, and
records each test's exchanges for the report. It holds no credential.
"""

from __future__ import annotations

import bisect
import contextvars
import copy
import itertools
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import Any

from hypothesis import currently_in_test_context, note
from hypothesis import strategies as st

from .client import Exchange, Request, Target, TargetUnavailable
from .credentials import BODY, Auth
from .ledger import Ledger
from .oracles import (
    REJECTION_ORACLES,
    SEARCH_ORACLES,
    SUCCESS_ORACLES,
    ContractViolation,
    Expectation,
    Judging,
    Oracle,
    RuleCounts,
    judge,
    nothing_is_stored,
    search_info,
)
from .spec import Spec, esb_integer, load_spec
from .strategies import TOKEN_LEN, TOKEN_SLOT, GenContext, InvalidCase, ValidCase

_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def _base36(n: int, width: int) -> str:
    out = ""
    for _ in range(width):
        n, r = divmod(n, 36)
        out = _B36[r] + out
    return out


class Recorder:
    """The exchanges of one test (the report shows the last ones); safe to add to from any thread."""

    def __init__(self, keep: int = 8) -> None:
        self.keep = keep
        self._items: list[Exchange] = []
        self._lock = threading.Lock()

    @property
    def exchanges(self) -> list[Exchange]:
        with self._lock:
            return list(self._items)

    def add(self, ex: Exchange) -> None:
        with self._lock:
            self._items.append(ex)
            if len(self._items) > self.keep:
                del self._items[0]


CURRENT_RECORDER: contextvars.ContextVar[Recorder | None] = contextvars.ContextVar("contract_recorder", default=None)


@contextmanager
def recording(recorder: Recorder) -> Iterator[Recorder]:
    """Record the exchanges sent in this context (and in batches it starts) into ``recorder``."""
    token = CURRENT_RECORDER.set(recorder)
    try:
        yield recorder
    finally:
        CURRENT_RECORDER.reset(token)


# Upper edges (ms) of the answer-time histogram's buckets; the last bucket is open.
# Fixed buckets keep a nightly run's memory flat (a counter, not a list of times).
ANSWER_BUCKETS_MS = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0)


def answer_bucket(elapsed_ms: float) -> int:
    """The histogram bucket of one answer time: the first whose upper edge is above it."""
    return bisect.bisect_right(ANSWER_BUCKETS_MS, elapsed_ms)


class Coverage:
    """How many requests exercised each documentation row, error class and code, each set model attribute, and how fast create_set answered."""

    def __init__(self, spec: Spec | None = None) -> None:
        self.spec = spec or load_spec()
        self.rows: Counter[str] = Counter()
        self.classes: Counter[str] = Counter()
        self.codes: dict[str, Counter[int | str]] = {}
        # Requests that sent each model attribute (other businesses' included), and the model classes sent.
        self.model: Counter[str] = Counter()
        self.model_classes: Counter[str] = Counter()
        self.creates = 0
        self.answers = 0
        self.successes = 0
        self.answer_times: Counter[int] = Counter()
        self._lock = threading.Lock()
        self._model_keys = frozenset(f.name for f in (*self.spec.model_fields, *self.spec.foreign_fields))

    def request(self, params: Any, auth: Auth, uses_token: bool) -> None:
        """Count the request rows one create_set exercised."""
        spec = load_spec()
        keys: list[str] = []
        model: list[str] = []
        if auth.where != "none" and auth.header_raw is None:
            names = ["bk_app_code", "bk_app_secret", "bk_token" if uses_token else "bk_username"]
            present = [n for n in names if n not in auth.drop] + [k for k, _ in auth.replace if k not in names]
            keys += [f"request:{spec.top_level_row(n).key}" for n in dict.fromkeys(present) if n in spec.request["properties"]]
        if isinstance(params, dict):
            keys += [f"request:{spec.top_level_row(n).key}" for n in params if n in spec.request["properties"]]
            data = params.get("data")
            if isinstance(data, dict):
                props = spec.data_schema["properties"]
                keys += [f"request:{_row_key(props[n])}" for n in data if n in props]
                model = [n for n in data if n in self._model_keys]
        with self._lock:
            self.creates += 1
            self.rows.update(keys)
            self.model.update(model)

    def answer(self, ex: Exchange) -> None:
        """Count the response rows one create_set answer exercised, and its answer time."""
        body = ex.json
        if ex.status is not None:
            with self._lock:
                self.answer_times[answer_bucket(ex.elapsed_ms)] += 1
        if not isinstance(body, dict):
            return
        keys = [f"response:response.{k}" for k in body]
        success = body.get("result") is True and isinstance(body.get("data"), dict)
        if success:
            keys += [f"response:data (response).{k}" for k in body["data"]]
        with self._lock:
            self.answers += 1
            self.successes += success
            self.rows.update(keys)

    def defect(self, class_id: str, ex: Exchange) -> None:
        body = ex.json
        raw = body.get("code") if isinstance(body, dict) else None
        code: int | str = raw if isinstance(raw, int) else f"HTTP {ex.status}"
        with self._lock:
            # Model classes are counted apart: the documentation's class table lists the catalogue's own.
            (self.model_classes if class_id.startswith("model.") else self.classes)[class_id] += 1
            self.codes.setdefault(class_id, Counter())[code] += 1


def _row_key(node: dict[str, Any]) -> str:
    doc = node["x-doc"]
    return f"{doc['table']}.{doc['field']}"


def _same_business(sent: Any, biz: int) -> bool:
    """Whether the bk_biz_id sent is the run's business as ESB reads it ("2", " 2 ", "2.0" included)."""
    try:
        return esb_integer(sent) == biz and not isinstance(sent, bool)
    except (TypeError, ValueError):
        return False


def _sent_name(params: Any) -> str | None:
    data = params.get("data") if isinstance(params, dict) else None
    name = data.get("bk_set_name") if isinstance(data, dict) else None
    if not isinstance(name, str) or not name.strip(" "):
        return None
    return name.strip(" ")


class Harness:
    """Sends cases to the target and judges the answers with the oracles."""

    def __init__(self, target: Target, ctx: GenContext, judging: Judging, *, run_id: str, ledger: Ledger | None = None,
                 concurrency: int = 4) -> None:
        self.target = target
        self.ctx = ctx
        self.judging = judging
        self.run_id = run_id
        # "ct" + 6 run characters: every name this run creates starts with it.
        self.prefix = f"ct{run_id}"
        self.ledger = ledger
        self.concurrency = max(1, concurrency)
        self.counts = RuleCounts()
        self.coverage = Coverage(judging.spec)
        self._counter = itertools.count(1)
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        # Told of every judgement (oracles, exchange, expectation, passed): a baseline records how each answer was judged.
        self.judge_listeners: list[Callable[[Sequence[Oracle], Exchange, Expectation, bool], None]] = []
        target.listeners.append(self._record)

    def __repr__(self) -> str:
        return f"Harness(target={self.target.url!r}, version={self.judging.version!r})"

    @property
    def version(self) -> str:
        return self.judging.version

    @staticmethod
    def _record(ex: Exchange) -> None:
        recorder = CURRENT_RECORDER.get()
        if recorder is not None:
            recorder.add(ex)

    # -- names -------------------------------------------------------------------------
    def token(self) -> str:
        with self._lock:
            n = next(self._counter)
        tok = self.prefix + _base36(n, TOKEN_LEN - len(self.prefix))
        assert len(tok) == TOKEN_LEN
        return tok

    def fill(self, params: dict[str, Any]) -> dict[str, Any]:
        """A copy of ``params`` whose name slot holds a fresh unique token (the case itself is untouched)."""
        out = dict(params)
        data = out.get("data")
        if isinstance(data, dict):
            data = out["data"] = copy.deepcopy(data)
            if isinstance(data.get("bk_set_name"), str) and TOKEN_SLOT in data["bk_set_name"]:
                data["bk_set_name"] = data["bk_set_name"].replace(TOKEN_SLOT, self.token(), 1)
        return out

    # -- acting ----------------------------------------------------------------------------
    def send(self, request: Request) -> Exchange:
        """Send any request; a create_set is written to the ledger before it goes and after a success."""
        if request.api != "create_set":
            return self.target.send(request)
        name = _sent_name(request.params)
        biz = request.params.get("bk_biz_id") if isinstance(request.params, dict) else None
        key = None
        if name is not None and self.ledger is not None and _same_business(biz, self.ctx.bk_biz_id):
            key = self.ledger.pending(self.ctx.bk_biz_id, name)
        try:
            ex = self.target.send(request)
        except TargetUnavailable as err:
            if err.exchange is not None and err.exchange.status is None and key is not None:
                raise TargetUnavailable(err.reason + "; the create may have landed: its name is in the ledger, and cleanup "
                                        "looks it up with search_set", err.exchange) from None
            raise
        self._note_created(ex, key, name)
        self.coverage.request(request.params, request.auth, self.target.credentials_use_token)
        self.coverage.answer(ex)
        return ex

    def send_create(self, params: dict[str, Any], auth: Auth = BODY, raw_body: str | None = None) -> Exchange:
        return self.send(Request("create_set", params, auth=auth, raw_body=raw_body))

    def _note_created(self, ex: Exchange, key: int | None, name: str | None) -> None:
        """Only a create answered with result true is recorded from its answer."""
        body = ex.json
        if self.ledger is None or not isinstance(body, dict) or body.get("result") is not True or not isinstance(body.get("data"), dict):
            return
        data = body["data"]
        set_id, biz = data.get("bk_set_id"), data.get("bk_biz_id", self.ctx.bk_biz_id)
        if isinstance(set_id, str) and set_id.isdigit():
            set_id = int(set_id)
        if not isinstance(set_id, int) or isinstance(set_id, bool):
            return
        try:
            biz = int(biz)
        except (TypeError, ValueError):
            biz = self.ctx.bk_biz_id
        # The name as the server stores it (trimmed), from what we sent: an answer may echo it wrongly,
        # and cleanup deletes only a set whose stored name matches the ledger's.
        answered = data.get("bk_set_name")
        self.ledger.created(key or 0, biz, set_id, name if name is not None else (answered if isinstance(answered, str) else ""))

    # -- judging -----------------------------------------------------------------------------
    def judge(self, oracles: Sequence[Oracle], ex: Exchange, expect: Expectation) -> None:
        """Judge ``ex`` with ``oracles``, counting each rule checked."""
        __tracebackhide__ = True
        try:
            judge(oracles, ex, expect, self.counts)
        except ContractViolation:
            for listener in list(self.judge_listeners):
                listener(oracles, ex, expect, False)
            raise
        for listener in list(self.judge_listeners):
            listener(oracles, ex, expect, True)

    def create(self, case: ValidCase, because: str = "") -> tuple[Exchange, dict[str, Any]]:
        """Send a valid case and judge it with every success oracle (``because``: why the case is valid, for the report)."""
        sent = self.fill(case.params)
        ex = self.send_create(sent, auth=case.auth)
        self.judge(SUCCESS_ORACLES, ex, Expectation.success(sent, self.judging, because))
        return ex, sent

    def reject(self, case: InvalidCase, check_state: bool = False) -> Exchange:
        """Send an invalid case, judge the rejection, and where CMDB saw it prove that nothing was stored."""
        ec = self.judging.spec.error_class(case.error_class)
        sent = self.fill(case.params)
        ex = self.send_create(sent, auth=case.auth, raw_body=case.raw_body)
        self.coverage.defect(ec.id, ex)
        self.judge(REJECTION_ORACLES, ex, Expectation.rejection(sent if case.raw_body is None else None, self.judging, ec))
        name = _sent_name(sent)
        if check_state and case.raw_body is None and name is not None and isinstance(sent.get("bk_biz_id"), int):
            search = self.search(self.ctx.bk_biz_id, {"bk_set_name": name})
            self.judge((nothing_is_stored,), search, Expectation.state(sent, self.judging, what=ec.id))
        return ex

    def send_drawn(self, data: st.DataObject, cases: st.SearchStrategy[Any], act: Callable[[Any], Any], most: int) -> None:
        """Draw 1 to ``most`` cases and send each as soon as it is drawn (``as_drawn``); raise the first failure in order.

        Each case is judged on its own, so a failure names its own exchange and
        Hypothesis can shrink the batch to it.
        """
        with self.as_drawn(act) as send:
            for n in range(data.draw(st.integers(1, most), label="batch size")):
                send(data.draw(cases, label=f"case {n + 1}"))

    @contextmanager
    def as_drawn(self, act: Callable[[Any], Any]) -> Iterator[Callable[[Any], None]]:
        """Send cases as they are drawn, up to ``concurrency`` in flight; on leaving, raise the first failure in order.

        Drawing the next case overlaps the answers to the ones already sent (the
        generator and the target then work at the same time). At concurrency 1
        each case is sent at once and the first failure stops the batch. Nothing
        is left in flight when the block ends, whichever way it ends.
        """
        futures: list[Future[Any]] = []

        def send_now(case: Any) -> None:
            try:
                act(case)
            except BaseException as err:
                self._note_failure(err)
                raise

        def send_later(case: Any) -> None:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="contract-batch")
            futures.append(self._pool.submit(contextvars.copy_context().run, act, case))

        try:
            yield send_now if self.concurrency == 1 else send_later
        finally:
            wait(futures)
        first = next((e for e in (f.exception() for f in futures) if e is not None), None)
        if first is not None:
            self._note_failure(first)
            raise first

    @staticmethod
    def _note_failure(error: BaseException) -> None:
        # Hypothesis prints the drawn cases with the name slot; say what was actually sent.
        if not currently_in_test_context():
            return
        sent = getattr(getattr(error, "exchange", None), "request_json", None)
        if isinstance(sent, dict) and isinstance(sent.get("data"), dict):
            note(f"the failing request sent bk_set_name = {sent['data'].get('bk_set_name')!r}")

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    # -- state -------------------------------------------------------------------------
    def search(self, bk_biz_id: int, condition: dict[str, Any]) -> Exchange:
        """search_set, judged by the search oracles (succeeds, answers {count, info})."""
        ex = self.target.search_sets(bk_biz_id, condition, self.ctx.bk_supplier_account)
        self.judge(SEARCH_ORACLES, ex, Expectation.state(condition, self.judging))
        return ex

    def find_by_name(self, bk_biz_id: int, name: str) -> list[dict[str, Any]]:
        return search_info(self.search(bk_biz_id, {"bk_set_name": name}))

    def find_by_id(self, bk_biz_id: int, set_id: int) -> list[dict[str, Any]]:
        return search_info(self.search(bk_biz_id, {"bk_set_id": set_id}))

    def delete(self, bk_biz_id: int, set_id: int) -> Exchange:
        return self.target.delete_set(bk_biz_id, set_id)
