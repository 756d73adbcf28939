"""Start and stop the embedded emulator: ``python -m cmdb_emulator`` in a subprocess.

Boundary: a process and its first output line; the suite never imports the
emulator (the two implement the documentation and the research
independently). The seed it starts with is the emulator's packaged default
plus the user the 9900403 test acts as; the temporary seed file is removed as
soon as the emulator has read it, so no run leaves anything in /tmp.
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SEED = ROOT / "cmdb_emulator" / "default_seed.json"


class EmulatorFailed(Exception):
    """The embedded emulator did not start (the message is its last words, credentials redacted by the caller)."""


class EmbeddedEmulator:
    """A running emulator subprocess on a free loopback port."""

    def __init__(self, version: str, faults: tuple[str, ...], denied_user: str, env: dict[str, str]) -> None:
        self.version = version
        self.faults = faults
        self.denied_user = denied_user
        self._env = env
        self.process: subprocess.Popen[str] | None = None
        self._drains: list[threading.Thread] = []
        self.url = ""
        self._stderr: collections.deque[str] = collections.deque(maxlen=50)

    def __repr__(self) -> str:
        return f"EmbeddedEmulator({self.url or 'not started'})"

    def start(self) -> str:
        seed = json.loads(DEFAULT_SEED.read_text(encoding="utf-8"))
        seed["users_without_permission"] = sorted({*seed.get("users_without_permission", []), self.denied_user})
        with tempfile.TemporaryDirectory(prefix="cmdb-contract-") as tmp:
            seed_file = Path(tmp) / "emulator-seed.json"
            seed_file.write_text(json.dumps(seed, ensure_ascii=False), encoding="utf-8")
            cmd = [sys.executable, "-m", "cmdb_emulator", "--host", "127.0.0.1", "--port", "0",
                   "--cmdb-version", self.version, "--seed", str(seed_file)]
            for fault in self.faults:
                cmd += ["--fault", fault]
            env = {**os.environ, "PYTHONUNBUFFERED": "1", **self._env}
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                    text=True, env=env, cwd=ROOT)
            self.process = proc
            assert proc.stdout is not None and proc.stderr is not None
            line = proc.stdout.readline().strip()
        if not line.startswith("listening on "):
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
            err = " | ".join(ln.strip() for ln in proc.stderr.read().splitlines()[-5:] if ln.strip())
            proc.stdout.close()
            proc.stderr.close()
            self.process = None
            raise EmulatorFailed(err or line or f"exit code {proc.returncode}")
        # Drain both pipes so a chatty emulator never blocks on a full pipe.
        self._drains = [threading.Thread(target=self._drain, args=(proc.stderr, self._stderr), daemon=True),
                        threading.Thread(target=self._drain, args=(proc.stdout, None), daemon=True)]
        for t in self._drains:
            t.start()
        self.url = line.split("listening on ", 1)[1]
        return self.url

    @staticmethod
    def _drain(stream: object, keep: collections.deque[str] | None) -> None:
        try:
            for text in stream:  # type: ignore[attr-defined]
                if keep is not None:
                    keep.append(text.rstrip())
        except (OSError, ValueError):
            pass

    def last_words(self) -> str:
        return " | ".join(self._stderr)

    def stop(self) -> None:
        proc = self.process
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        for t in self._drains:
            t.join(timeout=5)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        self.process = None
