"""Throughput of the emulator's create_set against a minimal stdlib echo server.

Boundary: a stand-alone script (no pytest).  Both servers run in this process
on port 0 in background threads; each is driven by one keep-alive
`requests.Session` posting the same create_set body.  The two are measured in
alternating rounds (so background load on a shared machine hits both alike)
and the medians are compared.  Prints requests/s for both and the ratio
(target: emulator >= 70% of echo), by wall clock and by CPU time of this
process (client and servers share it): other processes loading a shared
machine swing the wall-clock ratio far more than the CPU one.

    .venv/bin/python benchmarks/emulator_bench.py [--rounds 5] [--seconds 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

from cmdb_emulator.server import DEFAULT_APP_CODE, DEFAULT_APP_SECRET, start_server

AUTH = {"bk_app_code": DEFAULT_APP_CODE, "bk_app_secret": DEFAULT_APP_SECRET, "bk_username": "admin"}


class _Echo(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive JSON echo: parse the body, answer it wrapped in an envelope."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        payload = json.loads(self.rfile.read(length) or b"{}")
        body = json.dumps({"result": True, "code": 0, "data": payload, "message": "success"},
                          ensure_ascii=False).encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _drive(session: requests.Session, url: str, seconds: float, make_body: Any) -> tuple[float, float]:
    """Requests per wall-clock second and per CPU second of one keep-alive session posting for `seconds`."""
    count = 0
    deadline = time.perf_counter() + seconds
    started, cpu_started = time.perf_counter(), time.process_time()
    while time.perf_counter() < deadline:
        response = session.post(url, data=make_body(count))
        assert response.status_code == 200
        count += 1
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return count / elapsed, count / cpu


def main() -> None:
    """Run both measurements and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds per server (default: 5)")
    parser.add_argument("--seconds", type=float, default=1.0, help="measuring time per round (default: 1)")
    args = parser.parse_args()

    echo = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    echo.daemon_threads = True
    threading.Thread(target=echo.serve_forever, daemon=True).start()
    emulator = start_server()
    run = time.time_ns()
    counter = iter(range(10**9))
    echo_rates: list[tuple[float, float]] = []
    emu_rates: list[tuple[float, float]] = []
    try:
        def create_body(i: int) -> bytes:
            return json.dumps({**AUTH, "bk_biz_id": 2, "data": {
                "bk_parent_id": 2, "bk_set_name": f"bench-{run}-{i}", "bk_capacity": 100,
                "bk_set_desc": "benchmark set", "description": "created by emulator_bench"}}).encode()

        echo_url = f"http://127.0.0.1:{echo.server_address[1]}/echo"
        create_url = f"{emulator.url}/api/c/compapi/v2/cc/create_set/"
        with requests.Session() as echo_session, requests.Session() as emu_session:
            # Warm-up: connection set-up and first-call costs are not what we measure.
            for _ in range(20):
                echo_session.post(echo_url, data=create_body(next(counter))).raise_for_status()
                check = emu_session.post(create_url, data=create_body(next(counter))).json()
                assert check["result"] is True, check
            for _ in range(args.rounds):
                echo_rates.append(_drive(echo_session, echo_url, args.seconds, lambda i: create_body(next(counter))))
                emu_rates.append(_drive(emu_session, create_url, args.seconds, lambda i: create_body(next(counter))))
    finally:
        emulator.stop()
        echo.shutdown()
        echo.server_close()
    echo_rps, emu_rps = statistics.median(r[0] for r in echo_rates), statistics.median(r[0] for r in emu_rates)
    echo_cpu, emu_cpu = statistics.median(r[1] for r in echo_rates), statistics.median(r[1] for r in emu_rates)
    print(f"rounds: {args.rounds} x {args.seconds:g} s each, alternating; medians:")
    print(f"echo server (stdlib http.server, keep-alive): {echo_rps:8.1f} requests/s  {echo_cpu:8.1f} per CPU second")
    print(f"emulator create_set (keep-alive):             {emu_rps:8.1f} requests/s  {emu_cpu:8.1f} per CPU second")
    print(f"ratio by CPU time: {emu_cpu / echo_cpu:.0%} (steadier when other processes load the machine)")
    print(f"ratio: {emu_rps / echo_rps:.0%} (target >= 70%)")


if __name__ == "__main__":
    main()
