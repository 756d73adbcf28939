"""Command line: `cmdb-emulator [--host] [--port] [--cmdb-version] [--db] [--seed]
[--fault NAME]... [--list-faults] [--log] [--idle-timeout S] [--max-connections N]
[--latency-ms N] [--jitter-ms M]`.

Boundary: argument parsing, start-up errors (exit 2, one line, no traceback),
the `listening on http://HOST:PORT` line and the credential lines after it,
and clean shutdown on Ctrl-C or SIGTERM (exit 0).  Everything else is in
`server.py`.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
from types import FrameType
from typing import NoReturn

from .faults import CATALOGUE
from .server import (
    DEFAULT_APP_CODE,
    DEFAULT_APP_SECRET,
    DEFAULT_IDLE_TIMEOUT,
    MAX_LATENCY_MS,
    Emulator,
    default_max_connections,
)
from .store import StoreError
from .world import SeedError, World, load_world

EPILOG = f"""\
environment (an empty variable counts as unset):
  BK_APP_CODE    the one registered app code (default: {DEFAULT_APP_CODE})
  BK_APP_SECRET  its app secret (default: {DEFAULT_APP_SECRET})
  BK_TOKEN       an extra valid bk_token, mapped to user "admin" (default: none)

Any bk_username is accepted (the app is on the skip-user-auth whitelist);
bk_token values come from the seed's "tokens" plus BK_TOKEN.
"""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: no usage block, just the message and exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _port(text: str) -> int:
    if not text.isascii() or not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"must be an integer from 0 to 65535, not {text!r}")
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text!r}")
    return value


def _positive(text: str) -> int:
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text!r}")
    return int(text)


def _milliseconds(text: str) -> int:
    if not text.isascii() or not text.isdigit() or int(text) > MAX_LATENCY_MS:
        raise argparse.ArgumentTypeError(f"must be an integer from 0 to {MAX_LATENCY_MS}, not {text!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser (also used for --help)."""
    parser = _Parser(
        prog="cmdb-emulator",
        description="Reference emulator of BlueKing ESB + CMDB create_set and related components "
                    "(/api/c/compapi/v2/cc/...).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    opts = parser.add_argument_group("emulator options")
    opts.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    opts.add_argument("--port", type=_port, default=8000,
                      help="port to bind; 0 picks a free one (default: %(default)s)")
    opts.add_argument("--cmdb-version", choices=("3.13", "3.14"), default="3.14",
                      help="CMDB error-code behaviour to emulate (default: %(default)s)")
    opts.add_argument("--db", metavar="PATH", default=None,
                      help="SQLite file to persist state in (default: in memory)")
    opts.add_argument("--seed", metavar="FILE", default=None,
                      help="JSON world seed (default: the packaged default_seed.json)")
    opts.add_argument("--fault", metavar="NAME", action="append", default=[],
                      help="switch on a named server bug; repeatable (see --list-faults)")
    opts.add_argument("--list-faults", action="store_true", help="print the fault catalogue and exit")
    opts.add_argument("--log", action="store_true",
                      help="log one line per answer to stderr: method, path, HTTP status, "
                           "code=<BlueKing code>, time (never a query string, body or secret)")
    opts.add_argument("--idle-timeout", metavar="SECONDS", type=_seconds, default=DEFAULT_IDLE_TIMEOUT,
                      help="close a connection that has not sent a complete request within this time, "
                           "idle keep-alive included (default: %(default)g)")
    opts.add_argument("--max-connections", metavar="N", type=_positive, default=None,
                      help="open connections at most; more are refused with HTTP 503 and a JSON "
                           f"envelope (default: half the descriptor limit, at most 1024; here {default_max_connections()})")
    opts.add_argument("--latency-ms", metavar="N", type=_milliseconds, default=0,
                      help="delay every answer under /api/c/compapi/ by N ms, as a loaded CMDB (default: 0)")
    opts.add_argument("--jitter-ms", metavar="M", type=_milliseconds, default=0,
                      help="vary that delay uniformly by up to M ms either way, never below 0 (default: 0)")
    return parser


def _fail(message: str) -> int:
    """One line on stderr, argparse's exit status 2."""
    sys.stderr.write(f"cmdb-emulator: error: {message}\n")
    return 2


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Entry point of `cmdb-emulator` / `python -m cmdb_emulator`."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list_faults:
        try:
            for name, description in CATALOGUE.items():
                print(f"{name}  {description}")
            sys.stdout.flush()
        except BrokenPipeError:  # e.g. `| head`
            sys.stdout = None
        return 0
    unknown = [name for name in args.fault if name not in CATALOGUE]
    if unknown:
        return _fail(f"unknown fault {unknown[0]!r} (see --list-faults for the names)")
    try:
        world: World = load_world(args.seed)
    except SeedError as exc:
        return _fail(f"bad --seed: {exc}")
    try:
        emulator = Emulator(host=args.host, port=args.port, cmdb_version=args.cmdb_version,
                            db=args.db, world=world, faults=args.fault, log=args.log,
                            idle_timeout=args.idle_timeout, max_connections=args.max_connections,
                            latency_ms=args.latency_ms, jitter_ms=args.jitter_ms)
    except StoreError as exc:
        return _fail(f"bad --db: {exc}")
    except (OSError, OverflowError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return _fail(f"cannot listen on {args.host}:{args.port}: {reason}")
    signal.signal(signal.SIGTERM, _on_sigterm)
    # Started in the background of a non-interactive shell, SIGINT arrives ignored; it still stops the emulator.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        # Scripts and the suite parse the first line; the rest is for people.
        print(f"listening on {emulator.url}", flush=True)
        print("\n".join(emulator.credentials.describe()), flush=True)
        emulator.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.httpd.server_close()
        emulator.store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
