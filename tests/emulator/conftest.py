"""Fixtures for the emulator tests: in-process servers on port 0 and the CLI.

Session servers are shared (tests use unique set names); `make_server`
starts a private server (faults, seeds) and always stops it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cmdb_emulator.server import Emulator, start_server
from cmdb_emulator.world import parse_world

from .rich_seed import RICH_SEED

REPO = Path(__file__).resolve().parents[2]
VERSIONS = ("3.13", "3.14")


@pytest.fixture(scope="session")
def servers() -> Iterator[dict[str, Emulator]]:
    """One default-world emulator per CMDB version."""
    started: dict[str, Emulator] = {}
    try:
        for version in VERSIONS:
            started[version] = start_server(cmdb_version=version)
        yield started
    finally:
        for emulator in started.values():
            emulator.stop()


@pytest.fixture(scope="session")
def url(servers: dict[str, Emulator]) -> str:
    """Base URL of the default (3.14) emulator."""
    return servers["3.14"].url


@pytest.fixture(params=VERSIONS, ids=[f"v{v}" for v in VERSIONS])
def version(request: pytest.FixtureRequest) -> str:
    """Each emulated CMDB version in turn."""
    value: str = request.param
    return value


@pytest.fixture
def vurl(servers: dict[str, Emulator], version: str) -> str:
    """Base URL of the emulator of the current `version`."""
    return servers[version].url


@pytest.fixture(scope="session")
def rich() -> Iterator[dict[str, Emulator]]:
    """One emulator per version whose set model holds every emulated attribute type."""
    started: dict[str, Emulator] = {}
    try:
        for version in ("3.13", "3.14"):
            started[version] = start_server(cmdb_version=version, world=parse_world(RICH_SEED))
        yield started
    finally:
        for emulator in started.values():
            emulator.stop()


@pytest.fixture
def rurl(rich: dict[str, Emulator], version: str) -> str:
    """Base URL of the rich emulator of the current `version`."""
    return rich[version].url


@pytest.fixture
def make_server() -> Iterator[Callable[..., Emulator]]:
    """Factory for private emulators (faults, seeds, versions); all stopped afterwards."""
    started: list[Emulator] = []

    def make(faults: tuple[str, ...] = (), seed: dict[str, Any] | None = None,
             **kwargs: Any) -> Emulator:
        world = parse_world(seed) if seed is not None else None
        emulator = start_server(faults=faults, world=world, **kwargs)
        started.append(emulator)
        return emulator

    try:
        yield make
    finally:
        for emulator in started:
            emulator.stop()


class Cli:
    """A `python -m cmdb_emulator` subprocess."""

    def __init__(self, *args: str, env: dict[str, str] | None = None, sigint_ignored: bool = False) -> None:
        # sigint_ignored: started the way a non-interactive shell starts a background job.
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cmdb_emulator", *args], cwd=REPO,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
            preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if sigint_ignored else None,
        )
        assert self.proc.stdout is not None
        self.first_line = self.proc.stdout.readline()
        self.url = self.first_line.strip().removeprefix("listening on ")

    def terminate(self, sig: int = signal.SIGTERM, timeout: float = 10) -> tuple[int, str, str]:
        """Send `sig`, wait, and return (exit code, rest of stdout, stderr)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out, err


@pytest.fixture
def cli() -> Iterator[Callable[..., Cli]]:
    """Factory for CLI subprocesses; each is killed and reaped afterwards."""
    started: list[Cli] = []

    def run(*args: str, env: dict[str, str] | None = None, sigint_ignored: bool = False) -> Cli:
        process = Cli(*args, env=env, sigint_ignored=sigint_ignored)
        started.append(process)
        return process

    try:
        yield run
    finally:
        for process in started:
            if process.proc.poll() is None:
                process.proc.kill()
            process.proc.communicate(timeout=10)
