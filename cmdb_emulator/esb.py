"""The ESB layer: what BlueKing's (newer) ESB does in front of CMDB.

Boundary: HTTP-independent request handling (research esb_gateway.md §1-§4):
routing of `/api/c/compapi/v2/cc/<name>/`, parameter sniffing, app and user
authentication, the Django component forms, and the response envelope.  It
takes (method, path, headers, body) and returns (status, content type, body
bytes); `server.py` does the sockets and `cmdb.py` the business rules.
"""

from __future__ import annotations

import json
import re
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from . import postprocess
from .cmdb import Call, Cmdb, CmdbResponse
from .faults import Faults
from .postprocess import Answer
from .world import World

JSON_TYPE = "application/json; charset=utf-8"
HTML_TYPE = postprocess.HTML_TYPE
TEXT_TYPE = "text/plain; charset=utf-8"
MAX_BODY = 1024 * 1024
PREFIX = "/api/c/compapi/"
COMMON_ERROR = 1306000
COMPONENT_NOT_FOUND = 1306404
ARGUMENT_ERROR = 1306406

NOT_FOUND_BODY = {"result": False, "data": None, "message": "The content does not exist"}
ABNORMAL_BODY = {"result": False, "data": None,
                 "message": "Request is abnormal, please contact the component developer"}
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_CC_PATH = re.compile(r"/v2/cc/(\w+)/")
_DECIMAL_TAIL = re.compile(r"\.0*\s*$")  # Django IntegerField.re_decimal


def _no_constants(name: str) -> Any:
    raise ValueError(f"JSON constant {name} is not allowed")


_decoder = json.JSONDecoder(parse_constant=_no_constants)


@dataclass
class Reply:
    """An HTTP answer: status, content type, body."""

    status: int
    content_type: str
    body: bytes


class FormError(Exception):
    """A Django form validation failure, already rendered as the ESB prompt."""


class EsbError(Exception):
    """An ESB error: code + message; `in_channel` decides whether request_id is added."""

    def __init__(self, code: int, message: str, in_channel: bool = True) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.in_channel = in_channel


def _fix_surrogates(value: Any) -> Any:
    """Go's JSON decoder turns lone surrogates into U+FFFD; do the same."""
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, list):
        return [_fix_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {_fix_surrogates(k): _fix_surrogates(v) for k, v in value.items()}
    return value


def dumps(obj: Any) -> bytes:
    """json.dumps(ensure_ascii=False) as ESB does, always valid UTF-8."""
    text = json.dumps(obj, ensure_ascii=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate slipped through: escape it
        return json.dumps(obj).encode("ascii")


# ------------------------------------------------------------------ form fields
def _is_empty(value: Any) -> bool:
    """Django's `value in field.empty_values` (0 and False are not empty)."""
    return value is None or (isinstance(value, (str, list, tuple, dict)) and len(value) == 0)


def int_field(params: Mapping[str, Any], name: str, label: str, required: bool) -> int | None:
    """Django IntegerField: int, numeric strings, integral floats; bool/1.5/'abc' invalid."""
    value = params.get(name)
    if _is_empty(value):
        if required:
            raise FormError(f"{label} [{name}] This field is required.")
        return None
    text = value if isinstance(value, str) else str(value)
    try:
        return int(_DECIMAL_TAIL.sub("", text))
    except (ValueError, TypeError):
        raise FormError(f"{label} [{name}] Enter a whole number.") from None


def type_field(params: Mapping[str, Any], name: str, label: str, kind: type,
               required: bool, allow_empty: bool = False) -> Any:
    """ESB TypeCheckField(promise_type=kind): empty -> required, wrong type -> prompt."""
    value = params.get(name)
    if _is_empty(value) and not (allow_empty and value == {} and isinstance(value, dict)):
        if required:
            raise FormError(f"{label} [{name}] This field is required.")
        return None
    if not isinstance(value, kind):
        raise FormError(f"{label} [{name}] Must be the specified parameter data type {kind.__name__}")
    return value


def char_field(params: Mapping[str, Any], name: str) -> str:
    """Django CharField(required=False, strip=True)."""
    value = params.get(name)
    if _is_empty(value):
        return ""
    return (value if isinstance(value, str) else str(value)).strip()


# ------------------------------------------------------------------ the gateway
Handler = Callable[[dict[str, Any], Call], CmdbResponse]


class Esb:
    """Routing, auth, forms and envelopes in front of a `Cmdb`."""

    def __init__(self, cmdb: Cmdb, world: World, faults: Faults, app_code: str,
                 app_secret: str, env_token: str | None = None) -> None:
        self.cmdb = cmdb
        self.faults = faults
        self.app_code = app_code
        self.app_secret = app_secret
        self.log_errors = False
        self.tokens = dict(world.tokens)
        if env_token:
            self.tokens[env_token] = "admin"
        self.components: dict[str, Handler] = {
            "create_set": self._create_set,
            "search_set": self._search_set,
            "update_set": self._update_set,
            "delete_set": self._delete_set,
            "batch_delete_set": self._batch_delete_set,
            "search_business": self._search_business,
            "list_set_template": self._list_set_template,
            "search_biz_inst_topo": self._search_biz_inst_topo,
            "search_object_attribute": self._search_object_attribute,
        }

    # -------------------------------------------------------------- entry point
    def handle(self, method: str, path: str, query: str, headers: Mapping[str, str],
               body: bytes | None) -> Reply:
        """Answer one HTTP request; never raises."""
        try:
            reply = self._handle(method, path, query, headers, body)
        except Exception:  # the ESB 500 handler; the fuzz tests aim for zero of these
            if self.log_errors:
                traceback.print_exc()
            reply = Reply(500, JSON_TYPE, dumps(ABNORMAL_BODY))
        reply.content_type = postprocess.finish(self.faults, reply.content_type)
        return reply

    def _handle(self, method: str, path: str, query: str, headers: Mapping[str, str],
                body: bytes | None) -> Reply:
        if not path.startswith(PREFIX):
            return self._reply(Answer("page", None, dict(NOT_FOUND_BODY), 404))
        channel = "/" + path[len(PREFIX):].strip("/") + "/"
        if method not in ("GET", "POST"):
            return self._reply(Answer("page", None, dict(NOT_FOUND_BODY), 404))
        match = _CC_PATH.fullmatch(channel)
        if match is None:
            return self._reply(Answer("page", None, dict(NOT_FOUND_BODY), 404))
        name = match.group(1)
        handler = self.components.get(name)
        if handler is None:
            codename = "generic" + channel.rstrip("/").replace("/", ".")
            return self._esb_error(EsbError(
                COMPONENT_NOT_FOUND, f"Not found, component class not found, {codename}", False), name)
        if body is None:
            return self._esb_error(EsbError(
                COMMON_ERROR, f"Request body is too large, the limit is {MAX_BODY} bytes", False), name)
        request_id = uuid.uuid4().hex
        try:
            authorization = self._header_authorization(headers)
            params = self._params(method, query, headers, body)
            if isinstance(params, Reply):
                return params
            if authorization is None or self.faults.on("reject-header-auth"):
                authorization = {} if self.faults.on("reject-body-auth") else params
            user = self._authenticate(authorization)
            lang = "en" if headers.get("blueking-language", "en") == "en" else "zh"
            response = handler(params, Call(user=user, lang=lang,
                                            owner=char_field(params, "bk_supplier_account") or "0",
                                            rid=request_id))
        except EsbError as error:
            return self._esb_error(error, name, request_id if error.in_channel else None)
        except FormError as error:
            return self._esb_error(EsbError(COMMON_ERROR, str(error)), name, request_id)
        except _Robust500 as crash:
            return crash.reply
        return self._passthrough(response, name, request_id, params)

    # ------------------------------------------------------------------- params
    def _header_authorization(self, headers: Mapping[str, str]) -> dict[str, Any] | None:
        raw = headers.get("x-bkapi-authorization")
        if raw is None or self.faults.on("reject-header-auth"):
            return None
        try:
            value = _decoder.decode(raw)
        except (ValueError, RecursionError):
            value = None
        if not isinstance(value, dict):
            raise EsbError(ARGUMENT_ERROR, "Parameters error, request header X-Bkapi-Authorization "
                           "is not a valid JSON format string", in_channel=False)
        return value

    def _params(self, method: str, query: str, headers: Mapping[str, str],
                body: bytes) -> dict[str, Any] | Reply:
        """get_request_params: GET -> query; POST -> sniffed JSON object or form."""
        if method == "GET":
            return dict(parse_qsl(query, keep_blank_values=True))
        content_type = headers.get("content-type", "")
        text = body.decode("utf-8", "replace")
        stripped = text.strip()
        if stripped.startswith("{") and not (
                self.faults.on("reject-no-content-type")
                and not content_type.lower().startswith("application/json")):
            try:
                value = _decoder.decode(stripped)
            except (ValueError, RecursionError) as exc:
                if self.faults.on("robust-html-500-on-bad-json"):
                    return _html_traceback(exc)
                raise EsbError(COMMON_ERROR, "Request JSON string is wrong in format, which cannot "
                               "be analyzed.", in_channel=False) from None
            if _SURROGATE_ESCAPE.search(stripped):
                value = _fix_surrogates(value)
            return value  # type: ignore[no-any-return]
        if content_type.lower().startswith("application/x-www-form-urlencoded"):
            return dict(parse_qsl(text, keep_blank_values=True))
        return {}

    def _authenticate(self, auth: Mapping[str, Any]) -> str:
        """AppAuthValidator then UserAuthValidator (research §1.3); returns the user."""
        app_code = auth.get("bk_app_code") or auth.get("app_code") or ""
        secret = auth.get("bk_app_secret") or auth.get("app_secret")
        if not secret:
            raise EsbError(COMMON_ERROR, "Signature [bk_signature] and APP Secret [bk_app_secret] "
                           "cannot be empty at the same time")
        if not app_code:
            raise EsbError(COMMON_ERROR, "APP Code [bk_app_code] cannot be empty")
        if app_code != self.app_code:
            raise EsbError(COMMON_ERROR, f"Invalid APP Code [bk_app_code={app_code}], please confirm "
                           "if the APP Code has been registered")
        if secret != self.app_secret and not self.faults.on("accept-wrong-secret"):
            raise EsbError(COMMON_ERROR, "APP Secret verification failed, pelase confirm if the APP "
                           f"Secret and APP Code [bk_app_code={app_code}] match")
        token = auth.get("bk_token")
        if token:
            user = self.tokens.get(token) if isinstance(token, str) else None
            if user is None:
                raise EsbError(COMMON_ERROR, "User authentication failed, please check if the "
                               "bk_token is valid")
            return user
        username = auth.get("bk_username") or auth.get("username")
        if username:
            return username if isinstance(username, str) else str(username)
        if self.faults.on("accept-missing-user"):
            return "admin"
        raise EsbError(COMMON_ERROR, "User authentication failed, please provide a valid user "
                       "identity, such as bk_token, bk_username")

    # ---------------------------------------------------------------- envelopes
    def _reply(self, answer: Answer) -> Reply:
        """Every JSON answer leaves through here: post-processed (envelope and data faults), serialised."""
        postprocess.apply(self.faults, answer)
        return Reply(answer.status, JSON_TYPE, dumps(answer.body))

    def _esb_error(self, error: EsbError, component: str, request_id: str | None = None) -> Reply:
        body: dict[str, Any] = {"result": False, "code": error.code, "data": None,
                                "message": error.message}
        if request_id is not None:
            body["request_id"] = request_id
        return self._reply(Answer("esb", component, body))

    def _passthrough(self, resp: CmdbResponse, component: str, request_id: str,
                     params: dict[str, Any]) -> Reply:
        """CCClient.format_response + request_id (research esb §2.3)."""
        body: dict[str, Any] = {"result": resp.code == 0, "code": resp.code, "data": resp.data,
                                "message": resp.message, "permission": resp.permission,
                                "request_id": request_id}
        return self._reply(Answer("cmdb", component, body, request=params))

    # --------------------------------------------------------------- components
    @staticmethod
    def _biz(params: Mapping[str, Any]) -> int:
        value = int_field(params, "bk_biz_id", "business id", True)
        assert value is not None
        return value

    def _create_set(self, params: dict[str, Any], call: Call) -> CmdbResponse:
        if isinstance(params.get("data"), list) and self.faults.on("robust-500-on-list-data"):
            raise _Robust500(_text_traceback())
        biz_id = self._biz(params)
        data = type_field(params, "data", "data", dict, True,
                          allow_empty=self.cmdb.rules.empty_data_accepted)
        data = dict(data)
        data["bk_supplier_account"] = call.owner
        return self.cmdb.create_set(call, biz_id, data)

    def _search_set(self, params: dict[str, Any], call: Call) -> CmdbResponse:
        biz_id = self._biz(params)
        fields = type_field(params, "fields", "fields", list, False)
        condition = type_field(params, "condition", "condition", dict, False)
        filter_ = type_field(params, "filter", "filter", dict, False)
        page = type_field(params, "page", "page", dict, False)
        return self.cmdb.search_set(call, biz_id, fields, condition, filter_, page)

    def _update_set(self, params: dict[str, Any], call: Call) -> CmdbResponse:
        biz_id = self._biz(params)
        set_id = int_field(params, "bk_set_id", "set id", True)
        assert set_id is not None
        data = type_field(params, "data", "data", dict, True)
        return self.cmdb.update_set(call, biz_id, set_id, data)

    def _delete_set(self, params: dict[str, Any], call: Call) -> CmdbResponse:
        biz_id = self._biz(params)
        set_id = int_field(params, "bk_set_id", "set id", True)
        assert set_id is not None
        return self.cmdb.delete_sets(call, biz_id, [set_id])

    def _batch_delete_set(self, params: dict[str, Any], call: Call) -> CmdbResponse:
        biz_id = self._biz(params)
        delete = type_field(params, "delete", "delete", dict, True)
        ids = delete.get("inst_ids")
        if not isinstance(ids, list) or not all(type(i) is int for i in ids):
            return CmdbResponse(1199000, "Deserializing JSON data failed" if call.lang == "en"
                                else "反序列化JSON数据失败")
        if not ids:
            return CmdbResponse(1199006, "'inst_ids' data parameter verification does not pass"
                                if call.lang == "en" else "'inst_ids' 数据参数校验不通过")
        return self.cmdb.delete_sets(call, biz_id, ids)

    def _search_business(self, params: dict[str, Any], call: Call) -> CmdbResponse:
        fields = type_field(params, "fields", "fields", list, False)
        condition = type_field(params, "condition", "condition", dict, False)
        page = type_field(params, "page", "page", dict, False)
        return self.cmdb.search_business(call, fields, condition, page)

    def _list_set_template(self, params: dict[str, Any], call: Call) -> CmdbResponse:
        biz_id = self._biz(params)
        ids = type_field(params, "set_template_ids", "set template ids", list, False)
        page = type_field(params, "page", "page", dict, False)
        return self.cmdb.list_set_template(call, biz_id, ids, page)

    def _search_biz_inst_topo(self, params: dict[str, Any], call: Call) -> CmdbResponse:
        biz_id = self._biz(params)
        level = int_field(params, "level", "level", False)
        return self.cmdb.search_biz_inst_topo(call, biz_id, level)

    def _search_object_attribute(self, params: dict[str, Any], call: Call) -> CmdbResponse:
        # A generic ConfComponent (cc.yaml): no form; every parameter but the auth ones is the
        # CMDB body, and bk_supplier_account travels as the owner header.
        condition = {k: v for k, v in params.items() if k not in _NOT_FORWARDED}
        return self.cmdb.search_object_attribute(call, condition)


# Parameters a generic CC component does not forward into the CMDB body.
_NOT_FORWARDED = frozenset({
    "bk_app_code", "bk_app_secret", "app_code", "app_secret", "bk_token", "bk_username", "username",
    "bk_access_token", "access_token", "bk_signature", "bk_nonce", "bk_timestamp", "bk_supplier_account",
})


class _Robust500(Exception):
    """Carries the deliberately broken reply of a robust-* fault."""

    def __init__(self, reply: Reply) -> None:
        super().__init__("robust fault")
        self.reply = reply


def _html_traceback(exc: BaseException) -> Reply:
    tb = "".join(traceback.format_exception(exc)).replace("&", "&amp;").replace("<", "&lt;")
    page = (f"<!DOCTYPE html><html><head><title>{type(exc).__name__} at /api/c/compapi/</title></head>"
            f"<body><h1>Server Error (500)</h1><pre>{tb}</pre></body></html>")
    return Reply(500, HTML_TYPE, page.encode("utf-8"))


def _text_traceback() -> Reply:
    text = ("Traceback (most recent call last):\n"
            '  File "esb/components/bk/apisv2/cc/create_set.py", line 41, in clean\n'
            "    data['data']['bk_supplier_account'] = data['bk_supplier_account']\n"
            "TypeError: list indices must be integers or slices, not str\n")
    return Reply(500, TEXT_TYPE, text.encode("utf-8"))
