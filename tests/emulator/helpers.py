"""Small helpers shared by the emulator tests: auth, calls, unique names.

Boundary: test-side HTTP only; nothing here starts servers (see conftest.py).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import requests

from cmdb_emulator.server import DEFAULT_APP_CODE, DEFAULT_APP_SECRET

AUTH: dict[str, str] = {"bk_app_code": DEFAULT_APP_CODE, "bk_app_secret": DEFAULT_APP_SECRET,
                        "bk_username": "admin"}
BIZ = 2
IDLE_SET_ID = 2
HEX32 = re.compile(r"[0-9a-f]{32}")
TIME_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?\+08:00")
BUILT_IN_KEYS = {
    "bk_biz_id", "bk_capacity", "bk_created_at", "bk_created_by", "bk_parent_id",
    "bk_service_status", "bk_set_desc", "bk_set_env", "bk_set_id", "bk_set_name",
    "bk_supplier_account", "bk_updated_at", "bk_updated_by", "create_time", "default",
    "description", "last_time", "set_template_id", "set_template_version",
}
# The default world's custom attributes a set of business 2 carries (idc belongs to business 1).
MODEL_FILLS: dict[str, Any] = {
    "region": "", "cost_centre": None, "service_level": "silver", "weight": None, "owner": None,
    "launch_date": None, "monitored": True, "zone": "cn",
}
SUCCESS_KEYS = BUILT_IN_KEYS | set(MODEL_FILLS)

REPO = Path(__file__).resolve().parents[2]

_counter = itertools.count()
_RUN = os.getpid()


def unique(prefix: str = "set") -> str:
    """A set name no other test uses."""
    return f"{prefix}-{_RUN}-{next(_counter)}"


def path(component: str) -> str:
    """URL path of an ESB cc component."""
    return f"/api/c/compapi/v2/cc/{component}/"


def post(url: str, component: str, payload: dict[str, Any], *, auth: bool = True,
         lang: str | None = None, headers: dict[str, str] | None = None,
         session: requests.Session | None = None) -> requests.Response:
    """POST a JSON body (auth fields merged in unless auth=False)."""
    body = {**AUTH, **payload} if auth else payload
    sent_headers = {"Content-Type": "application/json"}
    if lang is not None:
        sent_headers["Blueking-Language"] = lang
    sent_headers.update(headers or {})
    sender = session or requests
    return sender.post(url + path(component), data=json.dumps(body), headers=sent_headers, timeout=10)


def call(url: str, component: str, payload: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """POST and return the parsed envelope (asserting HTTP 200)."""
    response = post(url, component, payload, **kwargs)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def create(url: str, data: dict[str, Any], biz: Any = BIZ, **kwargs: Any) -> dict[str, Any]:
    """create_set with `data` in business `biz`; returns the envelope."""
    return call(url, "create_set", {"bk_biz_id": biz, "data": data}, **kwargs)


def create_ok(url: str, data: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
    """create_set a valid set (with overrides) and return its data, asserting success."""
    payload = {"bk_parent_id": BIZ, "bk_set_name": unique(), **(data or {})}
    body = create(url, payload, **kwargs)
    assert body["result"] is True and body["code"] == 0, body
    result: dict[str, Any] = body["data"]
    return result


def find_set(url: str, set_id: int, biz: int = BIZ, lang: str | None = None) -> dict[str, Any] | None:
    """The stored set with this id via search_set, or None."""
    body = call(url, "search_set", {"bk_biz_id": biz, "condition": {"bk_set_id": set_id}}, lang=lang)
    assert body["result"] is True, body
    info = body["data"]["info"]
    return info[0] if info else None


def wrapped(version: str, code: int, en_inner: str) -> tuple[int, str]:
    """Expected (code, en message) of a C3-C8 error in `version` (3.14 wraps into 1199011)."""
    if version == "3.14":
        return 1199011, f"'{en_inner}' the parameter is invalid or does not exist"
    return code, en_inner


def run_cli(*args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    """Run the CLI to completion (for options that exit)."""
    return subprocess.run([sys.executable, "-m", "cmdb_emulator", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


def write_seed(tmp_path: Path, seed: Any, name: str = "seed.json") -> str:
    """Write a seed document (or raw text) and return its path."""
    target = tmp_path / name
    target.write_text(seed if isinstance(seed, str) else json.dumps(seed), "utf-8")
    return str(target)
