"""Envelope and data faults: post-processors of an answer the faithful code already built.

Boundary: `POSTPROCESSORS` maps each envelope-* and data-* fault that only
changes what the client receives (not what is stored) to one function over
an `Answer`; `apply` runs the switched-on ones in catalogue order.  `esb.py`
calls `apply` once per JSON answer, just before serialising it, and
`finish` once per HTTP reply.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from .faults import CATALOGUE, Faults

HTML_TYPE = "text/html; charset=utf-8"
NO_PERMISSION = 9900403


@dataclass
class Answer:
    """A JSON answer on its way out: who made it, the body, the HTTP status and the request it answers."""

    origin: Literal["cmdb", "esb", "page"]  # passed through from CMDB, an ESB error, a 404/500 handler page
    component: str | None
    body: dict[str, Any]
    status: int = 200
    request: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """A successful CMDB answer."""
        return self.origin == "cmdb" and self.body.get("code") == 0

    @property
    def created(self) -> dict[str, Any] | None:
        """The data of a successful create_set, else None."""
        data = self.body.get("data")
        return data if self.ok and self.component == "create_set" and isinstance(data, dict) else None


Post = Callable[[Answer], None]


def _on_error(change: Callable[[Answer], None]) -> Post:
    def post(answer: Answer) -> None:
        if answer.origin == "cmdb" and not answer.ok:
            change(answer)
    return post


def _on_created(change: Callable[[dict[str, Any], Answer], None]) -> Post:
    def post(answer: Answer) -> None:
        data = answer.created
        if data is not None:
            change(data, answer)
    return post


def _body(key: str, value: Callable[[Any], Any]) -> Post:
    def post(answer: Answer) -> None:
        if key in answer.body:
            answer.body[key] = value(answer.body[key])
    return post


def _set(key: str, value: Any) -> Callable[[Answer], None]:
    def change(answer: Answer) -> None:
        answer.body[key] = value
    return change


def _request_id_dashed(answer: Answer) -> None:
    rid = answer.body.get("request_id")
    if isinstance(rid, str) and len(rid) == 32:
        answer.body["request_id"] = str(uuid.UUID(rid))


def _code_one_on_create(answer: Answer) -> None:
    if answer.created is not None:
        answer.body["code"] = 1


def _no_request_id_on_create(answer: Answer) -> None:
    if answer.component == "create_set":
        answer.body.pop("request_id", None)


def _permission_on_success(answer: Answer) -> None:
    if answer.ok:
        answer.body["permission"] = {}


def _permission_null_on_403(answer: Answer) -> None:
    if answer.origin == "cmdb" and answer.body.get("code") == NO_PERMISSION:
        answer.body["permission"] = None


def _http_400(answer: Answer) -> None:
    answer.status = 400


def _capacity_string(data: dict[str, Any], answer: Answer) -> None:
    if data.get("bk_capacity") is not None:
        data["bk_capacity"] = str(data["bk_capacity"])


def _set_id_string(data: dict[str, Any], answer: Answer) -> None:
    data["bk_set_id"] = str(data["bk_set_id"])


def _name_untrimmed(data: dict[str, Any], answer: Answer) -> None:
    sent = answer.request.get("data")
    if isinstance(sent, dict) and "bk_set_name" in sent:
        data["bk_set_name"] = sent["bk_set_name"]


def _desc_dropped(data: dict[str, Any], answer: Answer) -> None:
    data["bk_set_desc"] = ""


def _default_missing(data: dict[str, Any], answer: Answer) -> None:
    data.pop("default", None)


def _template_version_array(data: dict[str, Any], answer: Answer) -> None:
    data["set_template_version"] = []


def _supplier_account_empty(answer: Answer) -> None:
    data = answer.body.get("data")
    if not answer.ok:
        return
    if answer.component == "create_set" and isinstance(data, dict):
        data["bk_supplier_account"] = ""
    elif answer.component == "search_set" and isinstance(data, dict):
        for row in data.get("info", []):
            if "bk_supplier_account" in row:
                row["bk_supplier_account"] = ""


POSTPROCESSORS: dict[str, Post] = {
    "envelope-result-string": _body("result", lambda v: "true" if v is True else "false"),
    "envelope-code-string": _body("code", str),
    "envelope-result-true-on-error": _on_error(_set("result", True)),
    "envelope-code-nonzero-on-success": _code_one_on_create,
    "envelope-no-request-id": _no_request_id_on_create,
    "envelope-request-id-dashed": _request_id_dashed,
    "envelope-empty-message-on-error": _on_error(_set("message", "")),
    "envelope-data-on-error": _on_error(_set("data", {})),
    "envelope-permission-null-on-403": _permission_null_on_403,
    "envelope-permission-on-success": _permission_on_success,
    "envelope-http-400-on-error": _on_error(_http_400),
    "data-capacity-string": _on_created(_capacity_string),
    "data-set-id-string": _on_created(_set_id_string),
    "data-name-untrimmed": _on_created(_name_untrimmed),
    "data-desc-dropped": _on_created(_desc_dropped),
    "data-default-missing": _on_created(_default_missing),
    "data-template-version-array": _on_created(_template_version_array),
    "data-supplier-account-empty": _supplier_account_empty,
}
# Reply-level post-processors (they also change non-JSON replies such as tracebacks).
REPLY_POSTPROCESSORS = frozenset({"envelope-content-type-html"})

# The envelope serialisation faults that reach the code/result of every JSON body come last,
# so that the faults above still see integers and booleans.
_LAST = ("envelope-result-string", "envelope-code-string")
_ORDER = [n for n in CATALOGUE if n in POSTPROCESSORS and n not in _LAST] + list(_LAST)


def apply(faults: Faults, answer: Answer) -> Answer:
    """Run the switched-on post-processors over `answer` (in place) and return it."""
    if faults:
        for name in _ORDER:
            if faults.on(name):
                POSTPROCESSORS[name](answer)
    return answer


def finish(faults: Faults, content_type: str) -> str:
    """The Content-Type an HTTP reply goes out with."""
    return HTML_TYPE if faults.on("envelope-content-type-html") else content_type
