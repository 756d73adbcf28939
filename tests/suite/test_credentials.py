"""Credentials: where they go, what the record shows instead, the second-net redaction, and a replay line that really replays."""

from __future__ import annotations

import base64
import json
import os
import pickle
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from cmdb_contract.client import Request, Target
from cmdb_contract.credentials import BODY, HEADER, REDACTED, Auth, Credentials
from cmdb_contract.spec import load_spec

HOSTILE = [
    'Cq"7\\x%2B é+z',
    "quote'single\"double\\back",
    "ctrl\x01\x1f\ttab\nline",
    "非ASCII秘密é😀",
    "per%cent%41%2b",
    "plus+and space+",
    "  padded  ",
    "$(touch pwned)`id`${HOME}",
]
AUTH_CLASSES = [ec for ec in load_spec().error_classes if ec.target == "auth"]
OK = {"result": True, "code": 0, "data": None, "message": "success", "permission": None, "request_id": "0" * 32}


def forms(secret: str) -> dict[str, str]:
    """Every form of a secret the second net must catch, by name."""
    raw = secret.encode("utf-8")
    return {
        "raw": secret,
        "json": json.dumps(secret)[1:-1],
        "json-utf8": json.dumps(secret, ensure_ascii=False)[1:-1],
        "url-quote": quote(secret, safe=""),
        "url-quote-plus": quote_plus(secret),
        "base64": base64.b64encode(raw).decode().rstrip("="),
        "repr": repr(secret)[1:-1],
    }


@pytest.mark.parametrize("secret", HOSTILE)
def test_redact_removes_every_form_of_a_hostile_secret(secret: str) -> None:
    """redact replaces the raw, JSON-escaped (both modes), URL-encoded, base64 and repr forms of the secret and of the token."""
    creds = Credentials("app", secret, "admin", token=secret[::-1] + "-token")
    for owner in (secret, secret[::-1] + "-token"):
        for name, form in forms(owner).items():
            text = f"before {form} after"
            redacted = creds.redact(text)
            assert form not in redacted, name
            assert redacted.startswith("before ") and redacted.endswith(" after") and REDACTED in redacted, name
    everything = " | ".join(forms(secret).values())
    assert not [f for f in forms(secret).values() if f in creds.redact(everything)]


@pytest.mark.parametrize("secret", ["e", "é", "%", "ab", "abc"])
def test_a_short_secret_does_not_blank_out_text(secret: str) -> None:
    """A secret shorter than four characters is kept out of records by construction, not redacted: the text stays as it is."""
    text = f"the letters e, é, %, ab and abc stay where they are: {secret}"
    assert Credentials("app", secret, "admin", token=secret).redact(text) == text


@pytest.mark.parametrize("secret", HOSTILE)
def test_repr_and_str_never_show_a_secret(secret: str) -> None:
    """Neither repr nor str of Credentials or of an Auth replacing a secret shows any form of it, and Credentials cannot be pickled."""
    token = secret + "-tok"
    creds = Credentials("app", secret, "admin", token=token)
    shown = " ".join([repr(creds), str(creds), f"{creds!r}", repr(creds.placeholders()),
                      repr(Auth(replace=(("bk_app_secret", secret),))), repr(BODY.as_user("other"))])
    assert not [f for s in (secret, token) for f in forms(s).values() if f in shown]
    assert "app_secret=<redacted>" in repr(creds) and "token=<redacted>" in repr(creds)
    with pytest.raises(TypeError):
        pickle.dumps(creds)


@pytest.mark.parametrize(("values", "phrase"), [
    (("", "", "", ""), "BK_APP_CODE, BK_APP_SECRET, and BK_USERNAME or BK_TOKEN"),
    (("app", "", "", ""), "BK_APP_SECRET, and BK_USERNAME or BK_TOKEN"),
    (("", "s3cret", "admin", ""), "BK_APP_CODE"),
    (("app", "s3cret", "", ""), "BK_USERNAME or BK_TOKEN"),
    (("app", "s3cret", "admin", ""), ""),
    (("app", "s3cret", "", "tok3n"), ""),
])
def test_missing_names_the_variables_still_to_set(values: tuple[str, str, str, str], phrase: str) -> None:
    """missing() names the unset variables in one phrase, a user name or a token being one requirement."""
    assert Credentials(*values).missing() == phrase


def test_empty_environment_variables_are_unset() -> None:
    """An empty variable (what CI gives for a missing secret) counts as unset, and an empty token does not replace the user name."""
    env = {"BK_APP_CODE": "app", "BK_APP_SECRET": "", "BK_USERNAME": "", "BK_TOKEN": ""}
    assert Credentials.from_env(env).missing() == "BK_APP_SECRET, and BK_USERNAME or BK_TOKEN"
    creds = Credentials.from_env({**env, "BK_APP_SECRET": "s3cret", "BK_USERNAME": "admin"})
    assert creds.missing() == "" and not creds.uses_token
    assert creds.fields() == {"bk_app_code": "app", "bk_app_secret": "s3cret", "bk_username": "admin"}
    assert Credentials.from_env({**env, "BK_APP_SECRET": "s3cret", "BK_TOKEN": "tok3n"}).uses_token


def test_every_auth_class_has_an_auth_object() -> None:
    """Every error class aimed at authentication says in errors.json how its credentials are edited."""
    assert AUTH_CLASSES
    assert [ec.id for ec in AUTH_CLASSES if not ec.auth] == []


@pytest.mark.parametrize("ec", AUTH_CLASSES, ids=[ec.id for ec in AUTH_CLASSES])
def test_auth_from_spec_applies_the_catalogued_edit(ec: Any) -> None:
    """Auth.from_spec reads where, drop, replace and header of the class, and the request carries exactly that edit."""
    entry = ec.auth or {}
    auth = Auth.from_spec(entry)
    assert auth == Auth(where=entry.get("where", "body"), drop=tuple(entry.get("drop", ())),
                        replace=tuple(sorted(entry.get("replace", {}).items())), header_raw=entry.get("header"))
    for creds in (Credentials("app", "s3cret", "admin"), Credentials("app", "s3cret", "", token="tok3n")):
        headers, body = Request("create_set", {"bk_biz_id": 2}, auth=auth).render(creds)
        if auth.header_raw is not None:
            assert headers["X-Bkapi-Authorization"] == auth.header_raw
            assert json.loads(body) == {"bk_biz_id": 2}, "with header credentials the body carries none"
            continue
        fields = json.loads(body) if auth.where == "body" else json.loads(headers["X-Bkapi-Authorization"])
        assert not set(auth.drop) & set(fields)
        assert all(fields[k] == v for k, v in auth.replace)
        untouched = {k: v for k, v in creds.fields().items() if k not in auth.drop and k not in dict(auth.replace)}
        assert untouched.items() <= fields.items()


def test_as_user_acts_as_another_user_even_with_a_token() -> None:
    """Auth.as_user sends the other user name and drops the token, which would otherwise win."""
    fields = Credentials("app", "s3cret", "", token="tok3n").fields(HEADER.as_user("denied"))
    assert fields == {"bk_app_code": "app", "bk_app_secret": "s3cret", "bk_username": "denied"}
    assert HEADER.as_user("denied").where == "header"


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A loopback server that records the body and headers of every request and answers success."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            received.append({"headers": dict(self.headers), "body": raw.decode("utf-8")})
            data = json.dumps(OK).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}", received
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
@pytest.mark.parametrize("auth", [BODY, HEADER], ids=["body", "header"])
@pytest.mark.parametrize("secret", HOSTILE)
def test_curl_line_replays_the_secret_from_the_environment(recorder: tuple[str, list[dict[str, Any]]], auth: Auth, secret: str) -> None:
    """The replay line of a recorded exchange, run by bash with the secret in the environment, sends exactly that secret and token."""
    url, received = recorder
    token = secret[::-1] + "-tok"
    target = Target(url, Credentials("app", secret, "", token=token))
    try:
        ex = target.send(Request("create_set", {"bk_biz_id": 2, "data": {"bk_set_name": "a$b`c'd\"e"}}, auth=auth))
    finally:
        target.close()
    line = ex.curl()
    assert not [f for s in (secret, token) for f in forms(s).values() if f in line]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "BK_APP_SECRET": secret, "BK_TOKEN": token}
    done = subprocess.run(["bash", "-c", line], env=env, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == OK
    assert len(received) == 2
    wire, replayed = received
    assert json.loads(replayed["body"]) == json.loads(wire["body"])
    if auth.where == "body":
        fields = json.loads(replayed["body"])
    else:
        fields = json.loads(replayed["headers"]["X-Bkapi-Authorization"])
        assert fields == json.loads(wire["headers"]["X-Bkapi-Authorization"])
    assert fields["bk_app_secret"] == secret and fields["bk_token"] == token
    assert json.loads(replayed["body"])["data"]["bk_set_name"] == "a$b`c'd\"e"
