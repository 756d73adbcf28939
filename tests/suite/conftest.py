"""Fixtures for the suite's own tests: a real target (the emulator in-process) and suite runs."""

from __future__ import annotations

import html
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from cmdb_emulator.server import Emulator, start_server
from cmdb_emulator.world import parse_world

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


# The emulator's default world (its custom set model included) plus a user IAM denies: the same world
# the embedded emulator runs, so a stand-in and the embedded one compare as equals.
SEED = {**json.loads((REPO / "cmdb_emulator" / "default_seed.json").read_text(encoding="utf-8")),
        "users_without_permission": ["contract-denied-user"]}
# What a real run passes against this stand-in: writes allowed, the business, its template, the denied user.
REAL_ARGS = ("--allow-writes", "--bk-biz-id", "2", "--set-template-id", "1", "--denied-username", "contract-denied-user")


class Watched:
    """An in-process emulator standing in for a real CMDB, slowed down and watched (in-flight count, arrival times)."""

    def __init__(self, emulator: Emulator, latency: float = 0.0) -> None:
        self.emulator = emulator
        self.url = emulator.url
        self.latency = latency
        self.in_flight = 0
        self.max_in_flight = 0
        self.arrivals: list[float] = []
        self.paths: list[str] = []
        self._lock = threading.Lock()
        original = emulator.httpd.esb.handle

        def handle(method: str, path: str, query: str, headers: Any, body: bytes | None) -> Any:
            with self._lock:
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
                self.arrivals.append(time.monotonic())
                self.paths.append(path)
            try:
                if self.latency:
                    time.sleep(self.latency)
                return original(method, path, query, headers, body)
            finally:
                with self._lock:
                    self.in_flight -= 1

        emulator.httpd.esb.handle = handle  # type: ignore[method-assign]


@pytest.fixture
def watched() -> Iterator[Callable[..., Watched]]:
    """Factory: an emulator with the test credentials, a denied user, optional latency and faults; stopped afterwards."""
    started: list[Emulator] = []

    def make(latency: float = 0.0, faults: tuple[str, ...] = (), secret: str = APP_SECRET) -> Watched:
        emu = start_server(app_code=APP_CODE, app_secret=secret, world=parse_world(SEED), faults=faults)
        started.append(emu)
        return Watched(emu, latency)

    try:
        yield make
    finally:
        for emu in started:
            emu.stop()


def start_suite(*args: str, env: dict[str, str] | None = None, sigint_ignored: bool = False) -> subprocess.Popen[str]:
    """Start ``python -m pytest contract_tests`` in the background, as CI would (or, sigint_ignored, as a shell's background job)."""
    cmd = [sys.executable, "-m", "pytest", "contract_tests", "-p", "no:cacheprovider", "--hypothesis-profile=quick", *args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO,
                            env=env if env is not None else creds_env(),
                            preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if sigint_ignored else None)


def run_sets(url: str, prefix: str, biz: int = 2) -> list[dict[str, Any]]:
    """The sets of a business whose name starts with ``prefix`` (a run's sets)."""
    return [s for s in sets_in(url, biz) if str(s.get("bk_set_name", "")).startswith(prefix)]


def report_text(path: Path) -> str:
    """What the HTML report holds, as text: its page plus every string of pytest-html's JSON data blob, unescaped."""
    raw = path.read_text(encoding="utf-8")
    match = re.search(r'data-jsonblob="([^"]*)"', raw)
    strings: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, str):
            for _ in range(3):  # extras are HTML inside JSON inside an attribute: unescape to what a reader sees
                node = html.unescape(node)
            strings.append(node)
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    if match:
        walk(json.loads(html.unescape(match.group(1))))
    page = re.sub(r'data-jsonblob="[^"]*"', "", raw)
    return "\n".join(strings) + "\n" + html.unescape(page)
