"""Fixtures for the suite's own tests: a real target (the emulator in-process) and suite runs."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from cmdb_emulator.server import Emulator, start_server

REPO = Path(__file__).resolve().parents[2]
APP_CODE = "suite-tests"
APP_SECRET = "suite-tests-secret-0001"


@pytest.fixture
def real_target() -> Iterator[Emulator]:
    """An emulator standing in for a real CMDB, with its own credentials."""
    emu = start_server(app_code=APP_CODE, app_secret=APP_SECRET)
    try:
        yield emu
    finally:
        emu.stop()


def creds_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BK_", "CMDB_TARGET"))}
    env.update({"BK_APP_CODE": APP_CODE, "BK_APP_SECRET": APP_SECRET, "BK_USERNAME": "admin"})
    env.pop("CI", None)
    env.update(extra)
    return env


def run_suite(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run ``python -m pytest contract_tests`` as a user would."""
    cmd = [sys.executable, "-m", "pytest", "contract_tests", "-p", "no:cacheprovider", "--hypothesis-profile=quick", *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env if env is not None else creds_env(), timeout=timeout)


def esb(url: str, api: str, params: dict[str, Any]) -> dict[str, Any]:
    """Call the emulator directly with the test credentials."""
    body = {"bk_app_code": APP_CODE, "bk_app_secret": APP_SECRET, "bk_username": "admin", **params}
    answer: dict[str, Any] = requests.post(f"{url}/api/c/compapi/v2/cc/{api}/", json=body, timeout=10).json()
    return answer


def sets_in(url: str, biz: int = 2) -> list[dict[str, Any]]:
    """Every set of a business, through search_set."""
    info: list[dict[str, Any]] = esb(url, "search_set", {"bk_biz_id": biz, "fields": [], "condition": {}, "page": {"start": 0, "limit": 500}})["data"]["info"]
    return info
