"""ESB layer: routing, parameter sniffing, auth, forms, envelope, language.

Each test names the fact of research/esb_gateway.md (or the brief) it encodes.
"""

from __future__ import annotations

import json
import socket
from typing import Any
from urllib.parse import urlencode, urlparse

import pytest
import requests

from .helpers import AUTH, BIZ, HEX32, call, create, path, post, unique

VALID_DATA = {"bk_parent_id": BIZ, "bk_set_name": "x"}


def raw_post(url: str, component: str, body: str | bytes, headers: dict[str, str] | None = None
             ) -> requests.Response:
    """POST a raw body with exactly the given headers."""
    return requests.post(url + path(component), data=body, headers=headers or {}, timeout=10)


# ------------------------------------------------------------------ routing
def test_trailing_slash_is_optional(url: str) -> None:
    """research esb §1.1: router strips slashes, so create_set without the slash routes too."""
    response = requests.post(url + "/api/c/compapi/v2/cc/create_set",
                             json={**AUTH, "bk_biz_id": BIZ, "data": {"bk_parent_id": BIZ, "bk_set_name": unique()}},
                             timeout=10)
    assert response.json()["code"] == 0


def test_get_is_routed_and_data_is_a_string(url: str) -> None:
    """research esb §2.2: GET reads the query string only, so data is a string -> type prompt."""
    query = urlencode({**AUTH, "bk_biz_id": BIZ, "data": json.dumps(VALID_DATA)})
    body = requests.get(url + path("create_set") + "?" + query, timeout=10).json()
    assert body["code"] == 1306000
    assert body["message"] == "data [data] Must be the specified parameter data type dict"


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "PROPFIND"])
def test_other_methods_get_the_404_envelope(url: str, method: str) -> None:
    """research esb §1.1: methods other than GET/POST -> HTTP 404 handler_404_view body."""
    response = requests.request(method, url + path("create_set"), json={}, timeout=10)
    assert response.status_code == 404
    assert response.json() == {"result": False, "data": None, "message": "The content does not exist"}


def test_head_gets_404_without_body(url: str) -> None:
    """research esb §1.1: HEAD is not routed either (404, and HEAD carries no body)."""
    response = requests.head(url + path("create_set"), timeout=10)
    assert response.status_code == 404
    assert response.content == b""


def test_unknown_component_is_1306404_without_request_id(url: str) -> None:
    """research esb §1.4: COMPONENT_NOT_FOUND is raised outside the channel (no request_id)."""
    body = call(url, "no_such_thing", {})
    assert body == {"result": False, "code": 1306404, "data": None,
                    "message": "Not found, component class not found, generic.v2.cc.no_such_thing"}


@pytest.mark.parametrize("target", ["/", "/api/v3/set/2", "/api/c/compapi/v2/", "/favicon.ico"])
def test_other_paths_get_the_json_404(url: str, target: str) -> None:
    """Brief: any other path -> the 404 envelope, never HTML."""
    response = requests.post(url + target, json={}, timeout=10)
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.json()["message"] == "The content does not exist"


# ----------------------------------------------------------------- sniffing
@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_json_body_is_sniffed_whatever_the_content_type(url: str, content_type: str | None) -> None:
    """research esb §1.1: body parsed as JSON iff it starts with '{'; Content-Type ignored."""
    body = json.dumps({**AUTH, "bk_biz_id": BIZ, "data": {"bk_parent_id": BIZ, "bk_set_name": unique()}})
    headers = {"Content-Type": content_type} if content_type else {}
    assert raw_post(url, "create_set", "  \n" + body, headers).json()["code"] == 0


def test_malformed_json_is_1306000_without_request_id(url: str) -> None:
    """research esb §1.4: newer ESB raises the JSON error outside the channel (no request_id)."""
    body = raw_post(url, "create_set", '{"bk_app_code": ').json()
    assert body == {"result": False, "code": 1306000, "data": None,
                    "message": "Request JSON string is wrong in format, which cannot be analyzed."}


def test_deeply_nested_json_is_malformed_json(url: str) -> None:
    """Brief: RecursionError while decoding is treated like malformed JSON."""
    body = raw_post(url, "create_set", '{"a":' + "[" * 100000 + "]" * 100000 + "}").json()
    assert body["code"] == 1306000 and "cannot be analyzed" in body["message"]


def test_form_encoded_body_gives_form_params(url: str) -> None:
    """research esb §2.2: a form POST works for auth, but data is a string -> type prompt."""
    form = urlencode({**AUTH, "bk_biz_id": BIZ, "data": json.dumps(VALID_DATA)})
    body = raw_post(url, "create_set", form, {"Content-Type": "application/x-www-form-urlencoded"}).json()
    assert body["message"] == "data [data] Must be the specified parameter data type dict"


@pytest.mark.parametrize("raw", ["[1]", "text", "", "null"])
def test_non_object_body_gives_no_params(url: str, raw: str) -> None:
    """research esb §2.2: a body not starting with '{' -> kwargs {} -> the app-auth error first."""
    body = raw_post(url, "create_set", raw, {"Content-Type": "application/json"}).json()
    assert body["message"] == ("Signature [bk_signature] and APP Secret [bk_app_secret] "
                               "cannot be empty at the same time")


def test_post_without_content_length_is_an_empty_body(url: str) -> None:
    """Brief: a POST without Content-Length is treated as an empty body (auth error, no 500)."""
    parsed = urlparse(url)
    with socket.create_connection((parsed.hostname, parsed.port), timeout=10) as sock:
        sock.sendall(f"POST {path('create_set')} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, payload = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert json.loads(payload)["code"] == 1306000


def test_oversized_body_is_an_envelope_error(url: str) -> None:
    """Brief: bodies over 1 MiB get an envelope error, never a 500."""
    response = raw_post(url, "create_set", "{" + " " * (1024 * 1024 + 10) + "}")
    assert response.status_code == 200
    assert response.json()["code"] == 1306000


# --------------------------------------------------------------------- auth
AUTH_CASES = [
    ("no-secret", {"bk_app_code": AUTH["bk_app_code"], "bk_username": "admin"},
     "Signature [bk_signature] and APP Secret [bk_app_secret] cannot be empty at the same time"),
    ("empty-app-code", {"bk_app_code": "", "bk_app_secret": AUTH["bk_app_secret"], "bk_username": "a"},
     "APP Code [bk_app_code] cannot be empty"),
    ("unknown-app-code", {"bk_app_code": "other", "bk_app_secret": "s", "bk_username": "a"},
     "Invalid APP Code [bk_app_code=other], please confirm if the APP Code has been registered"),
    ("wrong-secret", {"bk_app_code": AUTH["bk_app_code"], "bk_app_secret": "nope", "bk_username": "a"},
     "APP Secret verification failed, pelase confirm if the APP Secret and APP Code "
     f"[bk_app_code={AUTH['bk_app_code']}] match"),
    ("invalid-token-beats-username", {**AUTH, "bk_token": "forged"},
     "User authentication failed, please check if the bk_token is valid"),
    ("no-user", {"bk_app_code": AUTH["bk_app_code"], "bk_app_secret": AUTH["bk_app_secret"]},
     "User authentication failed, please provide a valid user identity, such as bk_token, bk_username"),
]


@pytest.mark.parametrize(("auth", "message"), [c[1:] for c in AUTH_CASES], ids=[c[0] for c in AUTH_CASES])
def test_auth_failures_have_exact_messages(url: str, auth: dict[str, str], message: str) -> None:
    """research esb §1.3: AppAuthValidator then UserAuthValidator, code 1306000 with request_id."""
    body = call(url, "create_set", {**auth, "bk_biz_id": BIZ, "data": VALID_DATA}, auth=False)
    assert body["code"] == 1306000 and body["result"] is False and body["data"] is None
    assert body["message"] == message
    assert HEX32.fullmatch(body["request_id"])
    assert "permission" not in body


def test_auth_comes_before_the_form(url: str) -> None:
    """research esb §1.3: auth errors come before form errors."""
    body = call(url, "create_set", {"bk_biz_id": "abc"}, auth=False)
    assert body["message"].startswith("Signature [bk_signature]")


def test_legacy_auth_key_aliases_are_accepted(url: str) -> None:
    """research esb §1.2: app_code / app_secret / username are accepted aliases."""
    auth = {"app_code": AUTH["bk_app_code"], "app_secret": AUTH["bk_app_secret"], "username": "bob"}
    data = {"bk_parent_id": BIZ, "bk_set_name": unique()}
    body = call(url, "create_set", {**auth, "bk_biz_id": BIZ, "data": data}, auth=False)
    assert body["code"] == 0 and body["data"]["bk_created_by"] == "bob"


def test_header_authorization_is_accepted(url: str) -> None:
    """research esb §1.2: newer ESB reads auth from the X-Bkapi-Authorization header."""
    header = {"X-Bkapi-Authorization": json.dumps({**AUTH, "bk_username": "carol"})}
    body = call(url, "create_set", {"bk_biz_id": BIZ, "data": {"bk_parent_id": BIZ, "bk_set_name": unique()}},
                auth=False, headers=header)
    assert body["code"] == 0 and body["data"]["bk_created_by"] == "carol"


def test_header_authorization_is_the_only_source_when_present(url: str) -> None:
    """research esb §1.2: with the header present, body auth fields are ignored."""
    header = {"X-Bkapi-Authorization": json.dumps({"bk_app_code": AUTH["bk_app_code"]})}
    body = call(url, "create_set", {"bk_biz_id": BIZ, "data": VALID_DATA}, headers=header)
    assert body["message"].startswith("Signature [bk_signature]")


@pytest.mark.parametrize("header", ["{not json", "[1]", '"str"', "null"])
def test_bad_authorization_header_is_1306406(url: str, header: str) -> None:
    """research esb §1.2/§1.4: header not a JSON object -> 1306406, raised outside (no request_id)."""
    body = call(url, "create_set", {"bk_biz_id": BIZ, "data": VALID_DATA},
                headers={"X-Bkapi-Authorization": header})
    assert body == {"result": False, "code": 1306406, "data": None,
                    "message": "Parameters error, request header X-Bkapi-Authorization is not a "
                               "valid JSON format string"}


def test_seeded_token_identifies_the_user(make_server: Any) -> None:
    """Brief: bk_token values come from the seed's tokens; the user is the token's owner."""
    server = make_server(seed={"businesses": [{"bk_biz_id": 2, "bk_biz_name": "蓝鲸"}],
                               "tokens": {"tok-alice": "alice"}})
    auth = {"bk_app_code": AUTH["bk_app_code"], "bk_app_secret": AUTH["bk_app_secret"], "bk_token": "tok-alice"}
    body = call(server.url, "create_set", {**auth, "bk_biz_id": 2,
                                           "data": {"bk_parent_id": 2, "bk_set_name": "t"}}, auth=False)
    assert body["code"] == 0 and body["data"]["bk_created_by"] == "alice"


def test_env_token_maps_to_admin(make_server: Any) -> None:
    """Brief: BK_TOKEN at start is a valid bk_token for user admin."""
    server = make_server(env_token="env-tok")
    auth = {"bk_app_code": AUTH["bk_app_code"], "bk_app_secret": AUTH["bk_app_secret"], "bk_token": "env-tok"}
    body = call(server.url, "create_set", {**auth, "bk_biz_id": BIZ,
                                           "data": {"bk_parent_id": BIZ, "bk_set_name": "t"}}, auth=False)
    assert body["code"] == 0 and body["data"]["bk_created_by"] == "admin"


def test_app_credentials_come_from_the_environment(make_server: Any) -> None:
    """Brief: the accepted app is BK_APP_CODE / BK_APP_SECRET read at start."""
    server = make_server(app_code="my-app", app_secret="my-secret")
    body = call(server.url, "create_set", {"bk_app_code": "my-app", "bk_app_secret": "my-secret",
                                           "bk_username": "u", "bk_biz_id": BIZ,
                                           "data": {"bk_parent_id": BIZ, "bk_set_name": "t"}}, auth=False)
    assert body["code"] == 0
    assert call(server.url, "create_set", {"bk_biz_id": BIZ, "data": VALID_DATA})["message"].startswith(
        "Invalid APP Code")


# -------------------------------------------------------------------- forms
BIZ_ID_ERRORS: list[tuple[str, Any, str]] = [
    ("missing", ..., "This field is required."), ("null", None, "This field is required."),
    ("empty", "", "This field is required."), ("abc", "abc", "Enter a whole number."),
    ("float", 1.5, "Enter a whole number."), ("bool", True, "Enter a whole number."),
    ("list", [2], "Enter a whole number."),
]


@pytest.mark.parametrize(("value", "text"), [c[1:] for c in BIZ_ID_ERRORS], ids=[c[0] for c in BIZ_ID_ERRORS])
def test_bk_biz_id_form_errors(url: str, value: Any, text: str) -> None:
    """research esb §2.2: Django IntegerField errors prefixed with 'business id [bk_biz_id]'."""
    payload: dict[str, Any] = {"data": VALID_DATA}
    if value is not ...:
        payload["bk_biz_id"] = value
    body = call(url, "create_set", payload)
    assert body["code"] == 1306000 and body["message"] == f"business id [bk_biz_id] {text}"
    assert HEX32.fullmatch(body["request_id"])


@pytest.mark.parametrize("value", ["2", " 2 ", 2.0, "2.0"], ids=["str", "padded", "float", "float-str"])
def test_bk_biz_id_integer_forms_are_accepted(url: str, value: Any) -> None:
    """research esb §2.2: IntegerField accepts numeric strings with spaces and integral floats."""
    body = create(url, {"bk_parent_id": BIZ, "bk_set_name": unique()}, biz=value)
    assert body["code"] == 0 and body["data"]["bk_biz_id"] == BIZ


DATA_ERRORS: list[tuple[str, Any, str]] = [
    ("missing", ..., "This field is required."), ("null", None, "This field is required."),
    ("empty-dict", {}, "This field is required."), ("empty-list", [], "This field is required."),
    ("empty-str", "", "This field is required."),
    ("list", [1], "Must be the specified parameter data type dict"),
    ("string", '{"a":1}', "Must be the specified parameter data type dict"),
    ("number", 5, "Must be the specified parameter data type dict"),
]


@pytest.mark.parametrize(("value", "text"), [c[1:] for c in DATA_ERRORS], ids=[c[0] for c in DATA_ERRORS])
def test_data_form_errors(url: str, value: Any, text: str) -> None:
    """research esb §2.2: data is TypeCheckField(dict), required, {} counts as empty."""
    payload: dict[str, Any] = {"bk_biz_id": BIZ}
    if value is not ...:
        payload["data"] = value
    body = call(url, "create_set", payload)
    assert body["code"] == 1306000 and body["message"] == f"data [data] {text}"


def test_first_bad_field_in_declaration_order_wins(url: str) -> None:
    """research esb §2.2: with bk_biz_id and data both bad, only bk_biz_id is reported."""
    body = call(url, "create_set", {"bk_biz_id": "x", "data": 5})
    assert body["message"] == "business id [bk_biz_id] Enter a whole number."


# ----------------------------------------------------------------- envelope
def test_success_envelope_keys_and_headers(url: str) -> None:
    """research esb §2.3: success = result, code 0, data, message 'success', permission null, request_id."""
    response = post(url, "create_set", {"bk_biz_id": BIZ, "data": {"bk_parent_id": BIZ, "bk_set_name": unique()}})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    body = response.json()
    assert list(body) == ["result", "code", "data", "message", "permission", "request_id"]
    assert (body["result"], body["code"], body["message"], body["permission"]) == (True, 0, "success", None)
    assert HEX32.fullmatch(body["request_id"])


def test_cmdb_error_envelope_carries_permission_null(url: str) -> None:
    """research esb §2.3: CMDB errors pass through with data null and permission null."""
    body = create(url, {"bk_parent_id": BIZ})
    assert (body["result"], body["code"], body["data"], body["permission"]) == (False, 1199010, None, None)
    assert HEX32.fullmatch(body["request_id"])


def test_request_id_is_fresh_per_request(url: str) -> None:
    """research esb §4: request_id = uuid4().hex generated per request."""
    ids = {call(url, "search_business", {})["request_id"] for _ in range(5)}
    assert len(ids) == 5


def test_body_is_raw_utf8(url: str) -> None:
    """research esb §4: json.dumps(ensure_ascii=False): Chinese is sent as raw UTF-8."""
    response = post(url, "create_set", {"bk_biz_id": BIZ, "data": {"bk_parent_id": BIZ}}, lang="zh-cn")
    assert "未赋值".encode() in response.content


@pytest.mark.parametrize(("lang", "message"), [
    (None, "'bk_set_name' unassigned"), ("en", "'bk_set_name' unassigned"),
    ("zh-cn", "'bk_set_name' 未赋值"), ("zh", "'bk_set_name' 未赋值"), ("EN", "'bk_set_name' 未赋值"),
], ids=["absent", "en", "zh-cn", "zh", "EN-is-not-en"])
def test_language_selects_the_message(url: str, lang: str | None, message: str) -> None:
    """research cmdb §3: ESB defaults to 'en'; CMDB uses English only for exactly 'en'."""
    body = create(url, {"bk_parent_id": BIZ}, lang=lang)
    assert body["message"] == message
