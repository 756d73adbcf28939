"""Oracles: small pure functions that judge one answer against one rule of the contract.

Every oracle has the same signature, ``(exchange, expect) -> None``, judges one
rule of ``spec/rules.json`` and raises ``ContractViolation`` for it at its own
line, carrying the stable rule id, the headline, whether the failure breaks the
documented promise or the real server's known behaviour, the documentation row
or research fact (with its public sources), what was sent, expected and
received. Each rule (and subject) raises its own subclass, so Hypothesis tells
two broken rules apart as two bugs. Boundary: no I/O, no requests, no
generation; the state oracles judge answers to searches a test already made.

The spec an oracle judges against is the run's (``expect.judging.spec``):
with the target's set model read, it knows the model's attributes, their
stored forms and fill values, and other businesses' attributes.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from types import MappingProxyType
from typing import Any

from .client import Exchange, search_rows
from .setmodel import same_value
from .spec import ErrorClass, Source, Spec, json_type, load_spec, validator

DOCUMENTATION = "documentation"
SERVER = "research"
# The drift.* rules of a replay (regression.py): behaviour a reference showed, not a promise.
REFERENCE = "reference"
BREAKS = {DOCUMENTATION: "documentation (the promise)", SERVER: "research (the real server's known behaviour)",
          REFERENCE: "the reference (a baseline, or target A of a differential run)"}
ESB_CODE_FAMILY = range(1306000, 1307000)
NO_PERMISSION = 9900403
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")
REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")
MISSING = "(missing)"


def show(value: Any, limit: int = 2000) -> str:
    """A value as JSON (strings quoted, types visible), shortened for the text form."""
    try:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[:limit] + " …"


class ContractViolation(AssertionError):
    """An answer broke one rule of the contract (each rule and subject has its own subclass)."""

    rule_id: str = ""
    subject: str | None = None

    def __init__(self, *, headline: str, breaks: str, source: str, sources: tuple[Source, ...],
                 expected: Any, received: Any, detail: str = "") -> None:
        self.headline = headline
        self.breaks = breaks
        self.source = source
        self.sources = sources
        self.expected = expected
        self.received = received
        self.detail = detail
        self.exchange: Exchange | None = None
        self.sent: Any = None
        super().__init__(self.render())

    @property
    def rule(self) -> str:
        return self.rule_id

    def attach(self, exchange: Exchange | None, sent: Any) -> None:
        """Record the exchange that broke the rule and the request (credential-free) that caused it."""
        self.exchange = exchange
        self.sent = sent
        self.args = (self.render(),)

    def render(self) -> str:
        lines = [f"Contract broken: {self.headline} [{self.rule_id}]"]
        if self.detail:
            lines.append(self.detail)
        lines += [f"Breaks: {BREAKS.get(self.breaks, self.breaks)}", f"Rule source: {self.source}"]
        lines += [f"  see {s.url} ({s.symbol})" for s in self.sources]
        lines += [f"Expected: {show(self.expected)}", f"Received: {show(self.received)}"]
        return "\n".join(lines)

    def __reduce__(self) -> Any:
        # Keeps the per-rule class across pickling (pytest-xdist, multiprocessing).
        return (_rebuild, (self.rule_id, self.subject, self.headline, self.breaks, self.source,
                           tuple(s.id for s in self.sources), self.expected, self.received, self.detail))


def _rebuild(rule_id: str, subject: str | None, headline: str, breaks: str, source: str, source_ids: tuple[str, ...],
             expected: Any, received: Any, detail: str) -> ContractViolation:
    spec_sources = load_spec().sources
    return violation_class(rule_id, subject)(headline=headline, breaks=breaks, source=source,
                                              sources=tuple(spec_sources[i] for i in source_ids if i in spec_sources),
                                              expected=expected, received=received, detail=detail)


_CLASS_LOCK = threading.Lock()


@cache
def _class_for(rule_id: str, subject: str | None) -> type[ContractViolation]:
    name = "Violation_" + re.sub(r"\W", "_", rule_id if subject is None else f"{rule_id}__{subject}")
    return type(name, (ContractViolation,), {"rule_id": rule_id, "subject": subject, "__module__": __name__})


def violation_class(rule_id: str, subject: str | None = None) -> type[ContractViolation]:
    """The exception class of one rule (and subject): what ``xfail(raises=...)`` and Hypothesis tell apart."""
    load_spec().rule(rule_id)  # an unknown rule id is a bug in the suite, not a violation
    with _CLASS_LOCK:
        return _class_for(rule_id, subject)


def describe(rule_id: str) -> tuple[str, tuple[Source, ...]]:
    """The rule's source as text (documentation row, research fact) and its public sources."""
    spec = load_spec()
    rule = spec.rule(rule_id)
    parts: list[str] = []
    if rule.doc:
        row = spec.doc_row(rule.doc)
        parts.append(str(row) if row else f"documentation row {rule.doc}")
    if rule.fact:
        parts.append(f"research: {rule.fact}")
    return "; ".join(parts), tuple(spec.sources[s] for s in rule.sources)


def violation(rule_id: str, *, expected: Any, received: Any, subject: str | None = None, detail: str = "",
              breaks: str | None = None, source: str | None = None, source_ids: Sequence[str] = (), **params: Any) -> ContractViolation:
    """A violation of ``rule_id`` (raise it at the line of the check); ``source_ids`` cite the fact behind ``source``."""
    spec = load_spec()
    rule = spec.rule(rule_id)
    text, sources = describe(rule_id)
    # The specific fact (an error class, a field) comes first: it is what a reviewer opens.
    specific = tuple(spec.sources[i] for i in source_ids if i in spec.sources)
    sources = (*specific, *(s for s in sources if s not in specific))
    cls = violation_class(rule_id, subject)
    return cls(headline=rule.says(subject, **params), breaks=breaks or rule.breaks, source=source or text,
               sources=sources, expected=expected, received=received, detail=detail)


# -- what the suite expects of an answer ---------------------------------------------------------


class SeenIds:
    """The bk_set_ids seen in this run; safe to share between threads."""

    def __init__(self) -> None:
        self._ids: set[int] = set()
        self._lock = threading.Lock()

    def add_new(self, set_id: int) -> bool:
        """Record ``set_id``; False when it had been seen before."""
        with self._lock:
            if set_id in self._ids:
                return False
            self._ids.add(set_id)
            return True

    def __contains__(self, set_id: object) -> bool:
        with self._lock:
            return set_id in self._ids

    def __repr__(self) -> str:
        return f"SeenIds({len(self._ids)} ids)"


@dataclass(frozen=True)
class Judging:
    """How this run judges: the CMDB version, the error-code mode, the ids seen so far and the spec (set model included)."""

    version: str = "3.14"
    error_codes: str = "strict"
    seen_ids: SeenIds = field(default_factory=SeenIds)
    spec: Spec = field(default_factory=load_spec)


@dataclass(frozen=True)
class Expectation:
    """What the suite expects of one answer; built by the named constructors, never changed."""

    kind: str
    sent: Any
    judging: Judging
    stored: Mapping[str, Any] | None = None
    error_class: ErrorClass | None = None
    code: int | None = None
    code_source: str = ""
    code_sources: tuple[str, ...] = ()
    facts: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def success(cls, sent: dict[str, Any], judging: Judging, because: str = "") -> Expectation:
        """A valid create: accepted, and the set stored as the spec says it must be (``because``: why it is valid)."""
        return cls("success", sent, judging, stored=MappingProxyType(judging.spec.expected_set(sent)), code_source=because)

    @classmethod
    def rejection(cls, sent: Any, judging: Judging, error_class: ErrorClass) -> Expectation:
        """An invalid create of a catalogued class: rejected with that class's code for the version."""
        # A model class is derived from a type-level rule: its source names the attribute and the rule.
        source = error_class.source if error_class.attribute_type else f"spec/errors.json {error_class.id}: {error_class.source}"
        return cls("rejection", sent, judging, error_class=error_class, code=error_class.code_for(judging.version), code_source=source,
                   code_sources=error_class.sources)

    @classmethod
    def refusal(cls, sent: Any, judging: Judging, state_id: str) -> Expectation:
        """A valid-looking create the target's state refuses (a duplicate name, no permission)."""
        spec = load_spec()
        return cls("rejection", sent, judging, code=spec.state_code(state_id, judging.version),
                   code_source=f"spec/errors.json {state_id}: {spec.state_source(state_id)}", code_sources=spec.state_sources(state_id),
                   facts=MappingProxyType({"what": state_id}))

    @classmethod
    def state(cls, sent: Any, judging: Judging, **facts: Any) -> Expectation:
        """A check of what the target stores, with the facts the scenario established."""
        stored = facts.pop("stored", None)
        return cls("state", sent, judging, stored=MappingProxyType(dict(stored)) if stored is not None else None,
                   facts=MappingProxyType(facts))

    @property
    def subject(self) -> str:
        if self.error_class is not None:
            return self.error_class.id
        return str(self.facts.get("what", "the request"))


Oracle = Callable[[Exchange, Expectation], None]


class RuleCounts:
    """Checks passed and failed per rule id, from every thread (the report's rules table)."""

    def __init__(self) -> None:
        self.passed: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self._lock = threading.Lock()

    def record(self, rule_id: str, ok: bool) -> None:
        with self._lock:
            (self.passed if ok else self.failed)[rule_id] += 1


def rule_of(oracle: Oracle) -> str:
    rule: str = getattr(oracle, "rule_id")  # noqa: B009 - set by @judges
    return rule


def judges(rule_id: str) -> Callable[[Oracle], Oracle]:
    """Mark an oracle with the rule it judges (checked against spec/rules.json at import)."""
    load_spec().rule(rule_id)

    def mark(fn: Oracle) -> Oracle:
        fn.rule_id = rule_id  # type: ignore[attr-defined]
        return fn
    return mark


def judge(oracles: Sequence[Oracle], ex: Exchange, expect: Expectation, counts: RuleCounts | None = None) -> None:
    """Run ``oracles`` in order; the first violation gets the exchange and the request attached and is raised."""
    __tracebackhide__ = True
    for oracle in oracles:
        try:
            oracle(ex, expect)
        except ContractViolation as broken:
            if counts is not None:
                counts.record(broken.rule_id, False)
            broken.attach(ex, ex.request_json if expect.sent is None else expect.sent)
            raise
        if counts is not None:
            counts.record(rule_of(oracle), True)


def _body(ex: Exchange) -> dict[str, Any]:
    body = ex.json
    return body if isinstance(body, dict) else {}


def _row(name: str, table: str = "response") -> str:
    row = load_spec().doc_row(f"{table}.{name}")
    return str(row) if row else f"documentation row {table}.{name}"


# -- 1. the envelope ----------------------------------------------------------------------------


@judges("envelope.http-200")
def answer_is_http_200(ex: Exchange, expect: Expectation) -> None:
    """Every channel answer is HTTP 200."""
    if ex.status != 200:
        raise violation("envelope.http-200", expected=200, received=ex.status)


@judges("envelope.json-content-type")
def answer_has_json_content_type(ex: Exchange, expect: Expectation) -> None:
    """The answer says it is JSON."""
    if "application/json" not in ex.content_type.lower():
        raise violation("envelope.json-content-type", expected="application/json; charset=utf-8", received=ex.content_type or MISSING)


@judges("envelope.json-object")
def answer_is_json_object(ex: Exchange, expect: Expectation) -> None:
    """The body is one strict JSON object."""
    if not isinstance(ex.json, dict):
        raise violation("envelope.json-object", expected="a JSON object", received=ex.response_text[:300])


@judges("envelope.result-boolean")
def result_is_boolean(ex: Exchange, expect: Expectation) -> None:
    """result is true or false."""
    result = _body(ex).get("result", MISSING)
    if not isinstance(result, bool):
        raise violation("envelope.result-boolean", expected="true or false", received=result)


@judges("envelope.code-integer")
def code_is_integer(ex: Exchange, expect: Expectation) -> None:
    """code is a JSON integer (not a string, not a boolean)."""
    code = _body(ex).get("code", MISSING)
    if not isinstance(code, int) or isinstance(code, bool):
        raise violation("envelope.code-integer", expected="an integer", received=code)


@judges("envelope.result-matches-code")
def result_matches_code(ex: Exchange, expect: Expectation) -> None:
    """result is true exactly when code is 0."""
    body = _body(ex)
    result, code = body.get("result"), body.get("code")
    if result != (code == 0):
        raise violation("envelope.result-matches-code", expected={"code": code, "result": code == 0},
                        received={"code": code, "result": result})


@judges("envelope.message-string")
def message_is_string(ex: Exchange, expect: Expectation) -> None:
    """message is a string."""
    message = _body(ex).get("message", MISSING)
    if not isinstance(message, str):
        raise violation("envelope.message-string", expected="a string", received=message)


@judges("envelope.failure-has-message")
def failure_has_message(ex: Exchange, expect: Expectation) -> None:
    """A failure says what failed."""
    body = _body(ex)
    if body.get("result") is False and not body.get("message"):
        raise violation("envelope.failure-has-message", expected="a non-empty message", received=body.get("message"))


@judges("envelope.has-data")
def envelope_has_data(ex: Exchange, expect: Expectation) -> None:
    """The envelope has a data key."""
    body = _body(ex)
    if "data" not in body:
        raise violation("envelope.has-data", expected="a data key", received=sorted(body))


@judges("envelope.data-null-on-failure")
def data_is_null_on_failure(ex: Exchange, expect: Expectation) -> None:
    """A failure carries data null."""
    body = _body(ex)
    if body.get("result") is False and body.get("data") is not None:
        raise violation("envelope.data-null-on-failure", expected=None, received=body.get("data"))


@judges("envelope.request-id-present")
def request_id_is_present(ex: Exchange, expect: Expectation) -> None:
    """Every answer but an ESB middleware error carries a request_id."""
    body = _body(ex)
    middleware = body.get("result") is False and body.get("code") in ESB_CODE_FAMILY
    if "request_id" not in body and not middleware:
        # Only ESB middleware errors may omit it (deviation middleware-errors-without-request-id).
        raise violation("envelope.request-id-present", expected="32 lowercase hex characters", received=MISSING)


@judges("envelope.request-id-format")
def request_id_is_hex(ex: Exchange, expect: Expectation) -> None:
    """request_id is uuid4().hex."""
    body = _body(ex)
    rid = body.get("request_id")
    if "request_id" in body and not (isinstance(rid, str) and REQUEST_ID.match(rid)):
        raise violation("envelope.request-id-format", expected="32 lowercase hex characters", received=rid)


@judges("envelope.permission-null-on-success")
def permission_is_null_on_success(ex: Exchange, expect: Expectation) -> None:
    """A success has permission null."""
    body = _body(ex)
    if body.get("result") is True and ("permission" not in body or body["permission"] is not None):
        raise violation("envelope.permission-null-on-success", expected=None, received=body.get("permission", MISSING))


@judges("envelope.permission-on-no-permission")
def no_permission_carries_permission(ex: Exchange, expect: Expectation) -> None:
    """A 9900403 answer carries the IAM permission to apply for."""
    body = _body(ex)
    if body.get("code") == NO_PERMISSION:
        errors = list(validator("permission").iter_errors(body.get("permission")))
        if errors:
            raise violation("envelope.permission-on-no-permission", expected="an object {system_id, actions[...]}",
                            received=body.get("permission"), detail=f"Schema: {errors[0].message}")


@judges("envelope.permission-null-otherwise")
def permission_is_null_otherwise(ex: Exchange, expect: Expectation) -> None:
    """An error other than 9900403 carries no permission."""
    body = _body(ex)
    if body.get("result") is False and body.get("code") != NO_PERMISSION and body.get("permission") is not None:
        raise violation("envelope.permission-null-otherwise", expected=None, received=body.get("permission"))


ENVELOPE_ORACLES: tuple[Oracle, ...] = (
    answer_is_http_200, answer_has_json_content_type, answer_is_json_object, result_is_boolean, code_is_integer,
    result_matches_code, message_is_string, failure_has_message, envelope_has_data, data_is_null_on_failure,
    request_id_is_present, request_id_is_hex, permission_is_null_on_success, no_permission_carries_permission,
    permission_is_null_otherwise,
)


# -- 2. success ---------------------------------------------------------------------------------


@judges("success.accepted")
def valid_request_succeeds(ex: Exchange, expect: Expectation) -> None:
    """A request valid per every documented row is accepted."""
    body = _body(ex)
    if body.get("result") is not True:
        raise violation("success.accepted", expected={"code": 0, "result": True},
                        received={"code": body.get("code"), "message": body.get("message"), "result": body.get("result")},
                        source=expect.code_source or None, source_ids=expect.code_sources)


def _path_row(path: list[Any], spec: Spec) -> str:
    try:
        if len(path) >= 2 and path[0] == "data":
            return str(spec.set_row(str(path[1])))
        if path:
            return str(spec.response_row("success", str(path[0])))
    except KeyError:
        pass
    return "spec/response.schema.json success envelope"


@judges("success.schema")
def success_matches_schema(ex: Exchange, expect: Expectation) -> None:
    """The success answer validates against the success schema, data included."""
    for err in expect.judging.spec.validator("success").iter_errors(ex.json):
        where = "/".join(str(p) for p in err.absolute_path) or "(root)"
        constraint = {err.validator: err.validator_value} if isinstance(err.validator, str) else {}
        detail = f"Schema path: {'/'.join(map(str, err.absolute_schema_path))}: {err.message}"
        raise violation("success.schema", subject=where, expected=constraint, received=err.instance,
                        source=_path_row(list(err.absolute_path), expect.judging.spec), detail=detail + _deviation_note(err.schema, err.instance))


def _deviation_note(node: Any, value: Any) -> str:
    """Name the node's deviation only when the answer has the documented type: then the spec follows the server, not the doc.

    Any other break of such a node is a real break, and must not read as "the known deviation".
    """
    dev_id = node.get("x-deviation") if isinstance(node, dict) else None
    if not dev_id:
        return ""
    dev = load_spec().deviation(dev_id)
    documented = (dev.doc_check or {}).get("type")
    if documented is None or json_type(value) != documented:
        return ""
    return (f" The answer has the documented type ({documented}); the schema follows the real server here "
            f"(known deviation {dev.id}: {dev.reason}).")


def _field_source(name: str, spec: Spec) -> str:
    try:
        f = spec.field(name)
        return f"{f.row}; research: {f.fact}" if f.fact else str(f.row)
    except KeyError:
        return str(spec.set_row(name)) if name in spec.set_schema["properties"] else name


def _field_sources(name: str) -> tuple[str, ...]:
    try:
        return load_spec().field(name).sources
    except KeyError:
        return ()


def _same(got: Any, want: Any) -> bool:
    """Equal JSON of the same type (true is not 1), or the property a model value must have."""
    return same_value(got, want)


def _built_in(spec: Spec, name: str) -> bool:
    # A model attribute is judged by the model.* rules, with the attribute's provenance.
    return spec.model_field(name) is None


@judges("data.echoed-as-stored")
def fields_are_echoed_as_stored(ex: Exchange, expect: Expectation) -> None:
    """Every field sent comes back as the server stores it (trimmed, same type)."""
    got = _body(ex).get("data") or {}
    assert expect.stored is not None
    spec = expect.judging.spec
    sent_data = expect.sent["data"]
    for name, value in expect.stored.items():
        if not _built_in(spec, name):
            continue
        if name in sent_data or name in spec.stored_from_top_level:
            if name in got and _same(got[name], value):
                continue
            sent_value = sent_data.get(name, expect.sent.get(name, MISSING))
            # The doc promises the set is created from the data sent; trimming is the server's own rule.
            breaks = SERVER if sent_value != value else DOCUMENTATION
            raise violation("data.echoed-as-stored", subject=name, expected=value, received=got.get(name, MISSING),
                            breaks=breaks, source=_field_source(name, spec), source_ids=_field_sources(name),
                            detail=f"The request sent {name} = {show(sent_value)}.")


@judges("data.default-applied")
def absent_fields_get_defaults(ex: Exchange, expect: Expectation) -> None:
    """Every optional field left out gets its documented or researched default."""
    spec = expect.judging.spec
    got = _body(ex).get("data") or {}
    assert expect.stored is not None
    for name, value in expect.stored.items():
        if name in expect.sent["data"] or name in spec.stored_from_top_level or not _built_in(spec, name):
            continue
        if name in got and _same(got[name], value):
            continue
        row = spec.set_row(name) if name in spec.set_schema["properties"] else None
        breaks = DOCUMENTATION if row is not None and "default" in row.meaning else SERVER
        raise violation("data.default-applied", subject=name, expected=value, received=got.get(name, MISSING),
                        breaks=breaks, source=_field_source(name, spec), source_ids=_field_sources(name),
                        detail=f"The request did not send {name}.")


@judges("data.unknown-field-dropped")
def unknown_fields_are_dropped(ex: Exchange, expect: Expectation) -> None:
    """A field the set model does not define is neither stored nor returned."""
    spec = expect.judging.spec
    got = _body(ex).get("data") or {}
    for name in expect.sent["data"]:
        # Another business's attribute has its own rule (model.other-business-attribute-dropped).
        if name not in spec.data_schema["properties"] and spec.foreign_field(name) is None and name in got:
            raise violation("data.unknown-field-dropped", subject=name, expected=MISSING, received=got[name])


@judges("model.attribute-echoed-as-stored")
def model_attributes_are_echoed_as_stored(ex: Exchange, expect: Expectation) -> None:
    """Every model attribute sent comes back in its stored form (trimmed, float strings kept, times converted)."""
    got = _body(ex).get("data") or {}
    assert expect.stored is not None
    spec = expect.judging.spec
    for f in spec.model_fields:
        if f.name not in expect.sent["data"] or f.name not in expect.stored:
            continue
        want = expect.stored[f.name]
        if f.name not in got or not _same(got[f.name], want):
            raise violation("model.attribute-echoed-as-stored", subject=f.name, expected=want, received=got.get(f.name, MISSING),
                            source=f"{f.row}; research: {f.fact}",
                            detail=f"The request sent {f.name} = {show(expect.sent['data'][f.name])}.")


@judges("model.attribute-default-filled")
def absent_model_attributes_are_filled(ex: Exchange, expect: Expectation) -> None:
    """Every model attribute left out is filled with its default, else its type's empty value."""
    got = _body(ex).get("data") or {}
    assert expect.stored is not None
    for f in expect.judging.spec.model_fields:
        if f.name in expect.sent["data"] or f.name not in expect.stored:
            continue
        want = expect.stored[f.name]
        if f.name not in got or not _same(got[f.name], want):
            raise violation("model.attribute-default-filled", subject=f.name, expected=want, received=got.get(f.name, MISSING),
                            source=str(f.row), detail=f"The request did not send {f.name}.")


@judges("model.other-business-attribute-dropped")
def other_business_attributes_are_dropped(ex: Exchange, expect: Expectation) -> None:
    """An attribute of another business sent here is neither stored nor returned."""
    got = _body(ex).get("data") or {}
    for f in expect.judging.spec.foreign_fields:
        if f.name in expect.sent["data"] and f.name in got:
            raise violation("model.other-business-attribute-dropped", subject=f.name, expected=MISSING, received=got[f.name],
                            source=str(f.row), detail=f"The request sent {f.name} = {show(expect.sent['data'][f.name])}.")


@judges("data.set-id-positive")
def set_id_is_positive(ex: Exchange, expect: Expectation) -> None:
    """bk_set_id is a positive JSON integer."""
    set_id = (_body(ex).get("data") or {}).get("bk_set_id", MISSING)
    if json_type(set_id) != "integer" or set_id <= 0:
        raise violation("data.set-id-positive", expected="an integer > 0", received=set_id)


@judges("data.set-id-new")
def set_id_is_new(ex: Exchange, expect: Expectation) -> None:
    """bk_set_id was never seen before in this run."""
    set_id = (_body(ex).get("data") or {}).get("bk_set_id")
    if isinstance(set_id, int) and not expect.judging.seen_ids.add_new(set_id):
        raise violation("data.set-id-new", expected="an id not seen before in this run", received=set_id)


@judges("data.time-rfc3339")
def times_are_rfc3339(ex: Exchange, expect: Expectation) -> None:
    """The set's times (create_time, last_time: the date-time fields of the set schema) are RFC 3339 timestamps."""
    data = _body(ex).get("data") or {}
    for name in load_spec().time_fields:
        value = data.get(name, MISSING)
        if not (isinstance(value, str) and RFC3339.match(value)):
            raise violation("data.time-rfc3339", subject=name, expected="YYYY-MM-DDThh:mm:ss[.fff](Z|±hh:mm)", received=value)


SUCCESS_ORACLES: tuple[Oracle, ...] = (
    *ENVELOPE_ORACLES, valid_request_succeeds, success_matches_schema, fields_are_echoed_as_stored,
    absent_fields_get_defaults, unknown_fields_are_dropped, model_attributes_are_echoed_as_stored,
    absent_model_attributes_are_filled, other_business_attributes_are_dropped, set_id_is_positive, set_id_is_new, times_are_rfc3339,
)


# -- 3. rejection -------------------------------------------------------------------------------


def _outcome(ex: Exchange) -> Any:
    """An answer's result, code and message, or its first bytes when it is not a JSON object."""
    body = ex.json
    return _failure(body) if isinstance(body, dict) else ex.response_text[:300]


def _failure(body: dict[str, Any]) -> dict[str, Any]:
    return {"code": body.get("code"), "message": body.get("message"), "result": body.get("result")}


@judges("rejection.rejected")
def invalid_request_is_rejected(ex: Exchange, expect: Expectation) -> None:
    """An invalid request fails: result false, code > 0."""
    body = _body(ex)
    ec = expect.error_class
    code = body.get("code")
    if body.get("result") is not False or not isinstance(code, int) or isinstance(code, bool) or code <= 0:
        breaks = SERVER if ec is None or ec.reaches_cmdb else DOCUMENTATION
        raise violation("rejection.rejected", subject=expect.subject, expected={"code": expect.code, "result": False},
                        received=_failure(body), breaks=breaks, source=expect.code_source, source_ids=expect.code_sources)


@judges("rejection.code")
def rejection_code_matches_version(ex: Exchange, expect: Expectation) -> None:
    """In strict mode the rejection carries the catalogued code of the CMDB version."""
    body = _body(ex)
    if expect.judging.error_codes == "strict" and expect.code is not None and body.get("code") != expect.code:
        raise violation("rejection.code", subject=expect.subject, expected=expect.code, received=_failure(body),
                        source=expect.code_source, source_ids=expect.code_sources, version=expect.judging.version)


@judges("rejection.message")
def rejection_message_names_rule(ex: Exchange, expect: Expectation) -> None:
    """In strict mode the message names the rule where the catalogue says it does."""
    body = _body(ex)
    ec = expect.error_class
    if expect.judging.error_codes == "strict" and ec is not None and ec.message_contains and ec.message_contains not in str(body.get("message")):
        raise violation("rejection.message", subject=expect.subject, expected=f"a message containing {show(ec.message_contains)}",
                        received=body.get("message"), source=expect.code_source, source_ids=expect.code_sources)


REJECTION_ORACLES: tuple[Oracle, ...] = (*ENVELOPE_ORACLES, invalid_request_is_rejected, rejection_code_matches_version, rejection_message_names_rule)


# -- 4. state (judging answers to searches and deletes the test made) ---------------------------


@judges("state.search-succeeds")
def search_succeeds(ex: Exchange, expect: Expectation) -> None:
    """search_set answers a well-formed search with result true."""
    body = ex.json
    if not isinstance(body, dict) or body.get("result") is not True:
        raise violation("state.search-succeeds", expected={"result": True}, received=_outcome(ex))


@judges("state.search-shape")
def search_answers_count_and_info(ex: Exchange, expect: Expectation) -> None:
    """search_set answers {count, info}."""
    data = _body(ex).get("data")
    if not isinstance(data, dict) or not isinstance(data.get("info"), list) or json_type(data.get("count")) != "integer":
        raise violation("state.search-shape", expected="{count: integer, info: [...]}", received=data)


SEARCH_ORACLES: tuple[Oracle, ...] = (search_succeeds, search_answers_count_and_info)


def _ids(found: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The id and name of each set found: what a reviewer needs of a set that should not be there."""
    return [{k: d.get(k) for k in ("bk_set_id", "bk_set_name")} for d in found]


def search_info(ex: Exchange) -> list[dict[str, Any]]:
    """The info list of a search_set answer already judged by SEARCH_ORACLES."""
    rows = search_rows(ex)
    return rows[0] if rows is not None else []


@judges("state.created-is-found")
def created_set_is_found(ex: Exchange, expect: Expectation) -> None:
    """The search finds exactly the set the create answered with."""
    assert expect.stored is not None
    found = [d for d in search_info(ex) if d.get("bk_set_id") == expect.stored.get("bk_set_id")]
    if len(found) != 1:
        raise violation("state.created-is-found", expected=f"exactly one set with bk_set_id {expect.stored.get('bk_set_id')}",
                        received=search_info(ex))


@judges("state.stored-equals-created")
def stored_set_equals_created(ex: Exchange, expect: Expectation) -> None:
    """Every documented field of the stored set equals the create answer (last_time may move)."""
    assert expect.stored is not None
    found = [d for d in search_info(ex) if d.get("bk_set_id") == expect.stored.get("bk_set_id")]
    doc = found[0] if found else {}
    for name in expect.judging.spec.set_schema["properties"]:
        if name == "last_time":
            continue
        if doc.get(name, MISSING) != expect.stored.get(name, MISSING):
            raise violation("state.stored-equals-created", subject=name, expected=expect.stored.get(name, MISSING),
                            received=doc.get(name, MISSING))


@judges("state.nothing-stored-on-rejection")
def nothing_is_stored(ex: Exchange, expect: Expectation) -> None:
    """A rejected request leaves no set with its name behind."""
    found = search_info(ex)
    if found:
        raise violation("state.nothing-stored-on-rejection", subject=expect.subject, expected="no set with that name",
                        received=_ids(found))


@judges("state.delete-acknowledged")
def delete_is_acknowledged(ex: Exchange, expect: Expectation) -> None:
    """delete_set answers success for a set the suite created."""
    body = ex.json
    if not isinstance(body, dict) or body.get("result") is not True:
        raise violation("state.delete-acknowledged", expected={"result": True}, received=_outcome(ex))


@judges("state.deleted-set-is-gone")
def deleted_set_is_gone(ex: Exchange, expect: Expectation) -> None:
    """After delete_set the set is no longer found."""
    found = search_info(ex)
    if found:
        raise violation("state.deleted-set-is-gone", expected="no set", received=_ids(found))


@judges("state.id-not-reused-after-delete")
def new_id_is_not_the_deleted_one(ex: Exchange, expect: Expectation) -> None:
    """A set created after a delete does not get the deleted set's id."""
    new_id = (_body(ex).get("data") or {}).get("bk_set_id")
    if new_id == expect.facts["deleted_id"]:
        raise violation("state.id-not-reused-after-delete", expected=f"an id other than {expect.facts['deleted_id']}", received=new_id)


@judges("state.one-concurrent-create-wins")
def one_concurrent_create_wins(ex: Exchange, expect: Expectation) -> None:
    """Of the concurrent creates of one name exactly one succeeded, and search_set finds exactly one set."""
    answers: Sequence[Exchange] = expect.facts["answers"]
    outcome = [{"request": i + 1, **_failure(_body(a))} if isinstance(a.json, dict) else {"request": i + 1, "http": a.status}
               for i, a in enumerate(answers)]
    wins = [o for o in outcome if o.get("result") is True]
    found = search_info(ex)
    if len(wins) != 1 or len(found) != 1:
        raise violation("state.one-concurrent-create-wins",
                        expected={"creates": f"1 success, {len(answers) - 1} × 1101108", "search_set finds": 1},
                        received={"creates": outcome, "search_set finds": _ids(found)})


@judges("envelope.request-id-fresh")
def request_ids_differ(ex: Exchange, expect: Expectation) -> None:
    """Two answers never share a request_id."""
    first: Exchange = expect.facts["first"]
    if _body(ex).get("request_id") == _body(first).get("request_id"):
        raise violation("envelope.request-id-fresh", expected="two different request ids",
                        received=[_body(first).get("request_id"), _body(ex).get("request_id")])


_JSON_TYPES = {"array": "array", "integer": "integer", "string": "string", "object": "object"}


@judges("deviation.documented-type-holds")
def documented_type_holds(ex: Exchange, expect: Expectation) -> None:
    """The documented type of a response field holds (known not to, for a registered deviation)."""
    name, want = expect.facts["field"], expect.facts["type"]
    value = (_body(ex).get("data") or {}).get(name, MISSING)
    if json_type(value) != _JSON_TYPES[want]:
        dev = load_spec().deviation(expect.facts["deviation"])
        raise violation("deviation.documented-type-holds", subject=name, expected=f"a JSON {want}", received=value,
                        detail=f"Known deviation {dev.id}: {dev.server}. {dev.reason}")


ALL_ORACLES: tuple[Oracle, ...] = (
    *SUCCESS_ORACLES, *REJECTION_ORACLES[len(ENVELOPE_ORACLES):], *SEARCH_ORACLES, created_set_is_found, stored_set_equals_created,
    nothing_is_stored, delete_is_acknowledged, deleted_set_is_gone, new_id_is_not_the_deleted_one, one_concurrent_create_wins,
    request_ids_differ, documented_type_holds,
)
