"""The emulator under load and faults: concurrent clients, racing duplicates, kill -9 mid-run.

Bounded loops against 127.0.0.1 only; each test stops by itself.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import requests

from .helpers import AUTH, BIZ, call, path, unique


def _create(session: requests.Session, url: str, name: str) -> requests.Response:
    body = {**AUTH, "bk_biz_id": BIZ, "data": {"bk_parent_id": BIZ, "bk_set_name": name}}
    return session.post(url + path("create_set"), data=json.dumps(body), timeout=10)


def test_concurrent_clients_racing_on_names_never_duplicate(url: str) -> None:
    """Research cmdb §5 (unique index): 8 clients racing on shared names: one winner per name, ids unique, no 5xx."""
    names = [unique("race") for _ in range(40)]
    results: list[tuple[str, int, dict[str, Any]]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def client(offset: int) -> None:
        session = requests.Session()
        barrier.wait()
        for i in range(len(names)):
            name = names[(i + offset) % len(names)]  # every name is sent by every client
            resp = _create(session, url, name)
            with lock:
                results.append((name, resp.status_code, resp.json()))

    threads = [threading.Thread(target=client, args=(k * 5,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 8 * len(names)
    assert {status for _, status, _ in results} == {200}
    winners = [(n, b["data"]["bk_set_id"]) for n, _, b in results if b["result"]]
    assert sorted(n for n, _ in winners) == sorted(names)
    assert len({i for _, i in winners}) == len(winners)
    assert {b["code"] for _, _, b in results if not b["result"]} == {1101108}
    for name in names[:5]:
        found = call(url, "search_set", {"bk_biz_id": BIZ, "condition": {"bk_set_name": name}})
        assert found["data"]["count"] == 1


def test_kill_9_mid_run_loses_no_acknowledged_set(cli: Any, tmp_path: Path) -> None:
    """Brief (--db): clients creating while the server is killed -9 lose nothing that was acknowledged."""
    db = str(tmp_path / "cmdb.sqlite")
    first = cli("--port", "0", "--db", db)
    acked: list[int] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(k: int) -> None:
        session = requests.Session()
        i = 0
        while not stop.is_set() and i < 2000:
            i += 1
            try:
                body = _create(session, first.url, f"kill-{k}-{i}").json()
            except (requests.RequestException, ValueError):
                return  # the server died under us: stop
            if body.get("result"):
                with lock:
                    acked.append(body["data"]["bk_set_id"])

    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(acked) < 50:
        time.sleep(0.02)
    first.proc.kill()  # kill -9 while requests are in flight
    first.proc.communicate(timeout=10)
    stop.set()
    for t in threads:
        t.join(15)
    assert len(acked) >= 50
    second = cli("--port", "0", "--db", db)
    found = call(second.url, "search_set", {"bk_biz_id": BIZ, "condition": {"bk_set_id": {"$in": acked}}, "page": {"start": 0, "limit": 5000}})
    assert sorted(s["bk_set_id"] for s in found["data"]["info"]) == sorted(acked)
    assert second.terminate()[0] == 0


def test_server_keeps_serving_after_malformed_traffic(url: str) -> None:
    """Research esb §1.1: garbage never kills the server; a valid create still works afterwards."""
    session = requests.Session()
    for body in (b"{", b"\xff\xfe", b"[" * 5000, b'{"data": ' + b"[" * 100000, b"{}" * 1000):
        resp = session.post(url + path("create_set"), data=body, timeout=10)
        assert resp.status_code < 500 and resp.headers["Content-Type"].startswith("application/json")
    assert _create(session, url, unique("after")).json()["result"] is True
