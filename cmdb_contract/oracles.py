"""Oracles: small pure functions that judge one exchange against the contract.

Every oracle has the same signature, ``(exchange, expect) -> None``, and raises
``ContractViolation`` (an ``AssertionError``) naming the rule, the documentation
row or research fact it encodes, whether a failure breaks the documented
promise or the known behaviour of the real server, and what was expected and
received. Boundary: no I/O, no requests; the state oracles judge the answers to
searches the test already made.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .client import Exchange
from .spec import DocRow, ErrorClass, load_spec, validator
from .strategies import GenContext, stored_when_absent

DOCUMENTATION = "documentation"
SERVER = "research (the real server's behaviour)"
ESB_CODE_FAMILY = range(1306000, 1307000)
NO_PERMISSION = 9900403
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")
REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")


class ContractViolation(AssertionError):
    """A response broke one rule of the contract."""

    def __init__(self, rule: str, source: str, breaks: str, expected: Any, received: Any, detail: str = "") -> None:
        self.rule = rule
        self.source = source
        self.breaks = breaks
        self.expected = expected
        self.received = received
        self.detail = detail
        self.exchange: Exchange | None = None
        super().__init__(self.render())

    def render(self) -> str:
        lines = [f"Contract broken: {self.rule}"]
        if self.detail:
            lines.append(self.detail)
        lines += [
            f"Breaks: {self.breaks}",
            f"Rule source: {self.source}",
            f"Expected: {_show(self.expected)}",
            f"Received: {_show(self.received)}",
        ]
        return "\n".join(lines)


def _show(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) < 2000 else text[:2000] + " …"


@dataclass
class Expectation:
    """What the suite expects of one create_set exchange."""

    ctx: GenContext
    version: str = "3.14"
    error_codes: str = "strict"
    sent: dict[str, Any] = field(default_factory=dict)
    error_class: ErrorClass | None = None
    expected_code: int | None = None
    code_source: str = ""
    seen_ids: SeenIds | None = None


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


Oracle = Callable[[Exchange, Expectation], None]


def _row(envelope: str, name: str) -> str:
    return str(load_spec().response_row(envelope, name))


def _fail(rule: str, source: str, breaks: str, expected: Any, received: Any, detail: str = "") -> None:
    __tracebackhide__ = True
    raise ContractViolation(rule, source, breaks, expected, received, detail)


# -- 1. the envelope ---------------------------------------------------------------------


def envelope_is_consistent(ex: Exchange, expect: Expectation) -> None:
    """HTTP 200, JSON, and the six envelope fields agree with each other."""
    gw = "research esb §1.4 / §4: every channel answer is HTTP 200, application/json; charset=utf-8"
    if ex.status != 200:
        _fail("the answer is HTTP 200", gw, SERVER, 200, ex.status)
    if "application/json" not in ex.content_type.lower():
        _fail("the answer has a JSON content type", gw, SERVER, "application/json; charset=utf-8", ex.content_type or "(none)")
    body = ex.json
    if not isinstance(body, dict):
        _fail("the answer is a JSON object", gw, SERVER, "a JSON object", ex.response_text[:300])
    result, code = body.get("result"), body.get("code")
    if not isinstance(result, bool):
        _fail("result is a boolean", _row("success", "result"), DOCUMENTATION, "true or false", result)
    if not isinstance(code, int) or isinstance(code, bool):
        _fail("code is an integer", _row("success", "code"), DOCUMENTATION, "an integer", code)
    if result != (code == 0):
        _fail("result is true exactly when code is 0", _row("success", "code"), DOCUMENTATION,
              f"result {str(code == 0).lower()} for code {code}", f"result {str(result).lower()}")
    message = body.get("message")
    if not isinstance(message, str):
        _fail("message is a string", _row("failure", "message"), DOCUMENTATION, "a string", message)
    if not result and not message:
        _fail("a failure carries a message", _row("failure", "message"), DOCUMENTATION, "a non-empty message", message)
    if "data" not in body:
        _fail("the envelope has data", _row("success", "data"), DOCUMENTATION, "a data key", sorted(body))
    if not result and body["data"] is not None:
        _fail("data is null on failure", "research esb §1.4 / §2.3: failures carry data null", SERVER, None, body["data"])
    rid = body.get("request_id")
    if rid is None and not (not result and code in ESB_CODE_FAMILY):
        # Only ESB middleware errors may omit it (deviation middleware-errors-without-request-id).
        _fail("the answer carries a request_id", _row("success", "request_id"), DOCUMENTATION, "32 lowercase hex characters", "(missing)")
    if rid is not None and not (isinstance(rid, str) and REQUEST_ID.match(rid)):
        _fail("request_id is 32 lowercase hex characters", "research esb §4: uuid4().hex", SERVER, "32 lowercase hex characters", rid)
    perm = body.get("permission")
    if result and ("permission" not in body or perm is not None):
        _fail("permission is null on success", _row("success", "permission"), DOCUMENTATION, None, perm if "permission" in body else "(missing)")
    if code == NO_PERMISSION:
        errors = list(validator("permission").iter_errors(perm))
        if errors:
            _fail("a 9900403 answer carries the permission to apply for", "research cmdb §3.2: IamPermission object",
                  SERVER, "an object {system_id, actions[...]}", perm, errors[0].message)
    elif not result and perm is not None:
        _fail("permission is null unless the code is 9900403", "research esb §2.3 / cmdb §3.2", SERVER, None, perm)


# -- 2. success -----------------------------------------------------------------------------


def success_matches_schema(ex: Exchange, expect: Expectation) -> None:
    """A success answer validates against the success schema, data included."""
    body = ex.json
    if not body.get("result"):
        _fail("a valid request succeeds", expect.code_source or "documentation: the request is valid per every data row",
              DOCUMENTATION, "result true, code 0", {"code": body.get("code"), "message": body.get("message")})
    for err in validator("success").iter_errors(body):
        path = "/".join(str(p) for p in err.absolute_path)
        node = err.schema if isinstance(err.schema, dict) else {}
        source = _path_row(list(err.absolute_path))
        if node.get("x-deviation"):
            source += f" (known deviation {node['x-deviation']}: {load_spec().deviation(node['x-deviation']).reason})"
        _fail(f"the success answer matches the schema at '{path or '(root)'}'", source, DOCUMENTATION,
              err.schema if isinstance(err.schema, dict) and len(json.dumps(err.schema, default=str)) < 400 else err.validator,
              err.instance, err.message)


def _path_row(path: list[Any]) -> str:
    spec = load_spec()
    try:
        if len(path) >= 2 and path[0] == "data":
            return str(spec.set_row(str(path[1])))
        if path:
            return str(spec.response_row("success", str(path[0])))
    except KeyError:
        pass
    return "spec/response.schema.json success envelope"


def expected_set(expect: Expectation) -> dict[str, Any]:
    """The set the server must store for the request sent (trimmed, defaults applied)."""
    spec = load_spec()
    sent = expect.sent
    data = sent["data"]
    out: dict[str, Any] = {"bk_biz_id": int(sent["bk_biz_id"]), "bk_parent_id": data["bk_parent_id"]}
    out["bk_set_name"] = data["bk_set_name"].strip(" ")
    for f in spec.fields:
        if f.required:
            continue
        if f.name in data:
            value = data[f.name]
            out[f.name] = value.strip() if isinstance(value, str) and f.research.get("trim") else value
        else:
            out[f.name] = stored_when_absent(f)
    out["bk_supplier_account"] = sent.get("bk_supplier_account") or load_spec().request["properties"]["bk_supplier_account"]["x-research"]["default"]
    return out


def created_set_echoes_request(ex: Exchange, expect: Expectation) -> None:
    """Every field sent comes back as stored: trimmed strings, same ids, defaults applied."""
    spec = load_spec()
    got = ex.json["data"]
    want = expected_set(expect)
    for name, value in want.items():
        if name in got and got[name] == value and type(got[name]) is type(value):
            continue
        sent = name in expect.sent["data"]
        sent_value = expect.sent["data"].get(name)
        row: DocRow | None
        try:
            f = spec.field(name)
            row, fact = f.row, f.fact
        except KeyError:
            row, fact = (spec.set_row(name) if name in spec.set_schema["properties"] else None), ""
        source = f"{row}; research: {fact}" if row and fact else str(row or name)
        if sent:
            # The doc promises the set is created from the data sent; trimming is the server's own rule.
            breaks = SERVER if sent_value != value else DOCUMENTATION
            rule, detail = f"{name} is echoed as stored", f"The request sent {name} = {_show(sent_value)}."
        else:
            breaks = DOCUMENTATION if row is not None and "default" in row.meaning else SERVER
            rule, detail = f"{name} gets its default", f"The request did not send {name}."
        _fail(rule, source, breaks, value, got.get(name, "(missing)"), detail)
    for name in expect.sent["data"]:
        if name not in spec.data_schema["properties"] and name in got:
            _fail(f"the unknown field {name} is dropped", "research cmdb §1.2 Unknown extra fields: dropped silently, not stored, not returned",
                  SERVER, "(absent)", got[name])


def set_id_is_new(ex: Exchange, expect: Expectation) -> None:
    """bk_set_id is a positive integer never seen before in this run."""
    set_id = ex.json["data"].get("bk_set_id")
    if not isinstance(set_id, int) or isinstance(set_id, bool) or set_id <= 0:
        _fail("bk_set_id is a positive integer", str(load_spec().set_row("bk_set_id")), DOCUMENTATION, "an integer > 0", set_id)
    if expect.seen_ids is not None and not expect.seen_ids.add_new(set_id):
            _fail("bk_set_id is never reused", "research cmdb §4: ids come from a sequence, global, monotonic, never reused",
                  SERVER, "an id not seen before in this run", set_id)


def times_are_rfc3339(ex: Exchange, expect: Expectation) -> None:
    """create_time and last_time are RFC 3339 timestamps."""
    data = ex.json["data"]
    for name in ("create_time", "last_time"):
        value = data.get(name)
        if not (isinstance(value, str) and RFC3339.match(value)):
            _fail(f"{name} is an RFC 3339 time", f"{load_spec().set_row(name)}; research cmdb §4: e.g. 2022-02-22T20:34:01.386+08:00",
                  SERVER, "YYYY-MM-DDThh:mm:ss[.fff](Z|±hh:mm)", value)


SUCCESS_ORACLES: tuple[Oracle, ...] = (
    envelope_is_consistent,
    success_matches_schema,
    created_set_echoes_request,
    set_id_is_new,
    times_are_rfc3339,
)


# -- 3. rejection -----------------------------------------------------------------------------


def invalid_request_is_rejected(ex: Exchange, expect: Expectation) -> None:
    """An invalid request fails with code > 0 and, in strict mode, the catalogued code."""
    body = ex.json
    ec = expect.error_class
    what = ec.id if ec else "the request"
    source = f"spec/errors.json {ec.id}: {ec.source}" if ec else expect.code_source
    if body.get("result") is not False or not isinstance(body.get("code"), int) or body.get("code", 0) <= 0:
        _fail(f"an invalid request is rejected ({what})", source, SERVER if ec and ec.layer == "cmdb" else DOCUMENTATION,
              f"result false, code {expect.expected_code}", {"result": body.get("result"), "code": body.get("code"), "message": body.get("message")})
    if expect.error_codes == "strict" and expect.expected_code is not None and body["code"] != expect.expected_code:
        _fail(f"the rejection carries CMDB {expect.version}'s code ({what})", source, SERVER,
              expect.expected_code, {"code": body["code"], "message": body.get("message")})
    if expect.error_codes == "strict" and ec is not None and ec.message_contains and ec.message_contains not in str(body.get("message")):
        _fail(f"the rejection names the rule it enforces ({what})", source, SERVER,
              f"a message containing '{ec.message_contains}'", body.get("message"))


REJECTION_ORACLES: tuple[Oracle, ...] = (envelope_is_consistent, invalid_request_is_rejected)


def run_oracles(oracles: tuple[Oracle, ...], ex: Exchange, expect: Expectation) -> None:
    __tracebackhide__ = True
    try:
        for oracle in oracles:
            oracle(ex, expect)
    except ContractViolation as violation:
        violation.exchange = ex  # the report shows the exchange that broke the rule
        raise


# -- 4. state (judging searches the test made) ---------------------------------------------------


def search_info(ex: Exchange) -> list[dict[str, Any]]:
    """The info list of a search_set answer (the envelope judged first)."""
    body = ex.json
    src = "research cmdb §6 search_set: returns {count, info}"
    if not isinstance(body, dict) or body.get("result") is not True:
        _fail("search_set succeeds", src, SERVER, "result true", body if isinstance(body, dict) else ex.response_text[:300])
    data = body.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("info"), list) or not isinstance(data.get("count"), int):
        _fail("search_set answers {count, info}", src, SERVER, "{count: int, info: [...]}", data)
    info: list[dict[str, Any]] = data["info"]
    return info


def stored_set_matches(created: dict[str, Any], found: list[dict[str, Any]]) -> None:
    """The set found by search_set has the fields the create answer returned."""
    src = "research cmdb §4/§6: create returns the stored document; search_set reads the same store"
    if len(found) != 1:
        _fail("a created set is found by search_set", src, SERVER, f"exactly one set with bk_set_id {created.get('bk_set_id')}", found)
    doc = found[0]
    for name in load_spec().set_schema["properties"]:
        if name in ("last_time",):
            continue
        if doc.get(name) != created.get(name):
            _fail(f"the stored {name} equals the created one", src, SERVER, created.get(name), doc.get(name))


def nothing_stored(found: list[dict[str, Any]], what: str) -> None:
    """A rejected request leaves no set behind."""
    if found:
        _fail(f"a rejected request leaves nothing behind ({what})", "research cmdb §5 / C9: a failed create is rolled back; nothing is stored",
              SERVER, "no set with that name", found)
