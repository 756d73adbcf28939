"""``cmdb-contract``: the suite's command line besides pytest.

Subcommands: ``run`` (the contract suite, keeping its exit code), ``diff``
(two targets compared, ``diffcli``), ``drift``
(compare a BlueKing apidoc Markdown file with spec/), ``export-openapi``
(spec/ as an OpenAPI 3.1 document for other tools), ``selftest`` (the
mutation self-test: the suite against every injected fault), ``model``
(save a target's set model for ``--set-model``).
Boundary: argument parsing and printing; the work is in the named modules.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import threading
from pathlib import Path


def _drift(args: argparse.Namespace) -> int:
    """Exit 0 no drift, 1 drifts listed, 2 nothing to compare (unreadable file, or no apidoc table in it)."""
    from .drift import NoDocumentationTables, find_drift, uses_common_placeholder
    from .spec import load_spec

    path = Path(args.file)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"cmdb-contract drift: cannot read {path}: {getattr(exc, 'strerror', None) or exc}", file=sys.stderr)
        return 2
    try:
        drifts = find_drift(text, load_spec())
    except NoDocumentationTables as exc:
        print(f"cmdb-contract drift: {path}: {exc}; is it a BlueKing apidoc Markdown file?", file=sys.stderr)
        return 2
    for d in drifts:
        print(d)
    if uses_common_placeholder(text):
        print("(the page's {{ common_args_desc }} placeholder stands for the common parameters: spec/'s 通用参数 rows were not compared)")
    print(f"{len(drifts)} drift(s) between {path} and spec/")
    return 1 if drifts else 0


def _export(args: argparse.Namespace) -> int:
    from .openapi import export_openapi
    from .spec import load_spec

    doc = json.dumps(export_openapi(load_spec(), server=args.server), ensure_ascii=False, indent=2)
    if args.output == "-":
        print(doc)
    else:
        Path(args.output).write_text(doc + "\n", encoding="utf-8")
        print(f"wrote {args.output}")
    return 0


def _selftest(args: argparse.Namespace) -> int:
    from .selftest import UnknownFault
    from .selftest import main as selftest_main

    try:
        return selftest_main(workers=args.workers, faults=args.fault or None, profile=args.profile)
    except UnknownFault as exc:
        print(f"cmdb-contract selftest: {exc}", file=sys.stderr)
        return 4


def _model(args: argparse.Namespace) -> int:
    """Read a target's set model (read-only) and save it for --set-model; credentials from the environment only."""
    import os

    from .client import Target
    from .credentials import Credentials
    from .modelread import read_model, save_model

    creds = Credentials.from_env(os.environ)
    missing = creds.missing()
    if missing:
        print(f"cmdb-contract model: missing {missing}: export BK_APP_CODE=... BK_APP_SECRET=... BK_USERNAME=...", file=sys.stderr)
        return 4
    target = Target(args.target_url, creds, timeout=args.request_timeout)
    try:
        model = read_model(target, args.bk_biz_id, args.bk_supplier_account)
    finally:
        target.close()
    if not model.read:
        print(f"cmdb-contract model: {creds.redact(model.origin)}", file=sys.stderr)
        return 3
    save_model(model, Path(args.output))
    for note in model.notes:
        print(creds.redact(f"note: {note}"))
    print(f"wrote {args.output}: {len(model.attributes)} attributes of business {args.bk_biz_id}, "
          f"{len(model.foreign)} of other businesses ({model.origin})")
    return 0


ROOT = Path(__file__).resolve().parent.parent


def _run(args: argparse.Namespace, extra: list[str]) -> int:
    """The contract suite with pytest's exit code kept (make would turn every failure into 2)."""
    if not (ROOT / "contract_tests").is_dir():
        print(f"cmdb-contract run: no contract_tests/ beside {ROOT}: run it from a checkout of this project", file=sys.stderr)
        return 4
    return subprocess.call([sys.executable, "-m", "pytest", "contract_tests", *extra], cwd=ROOT)


def _url(value: str) -> str:
    from .options import url_type

    return url_type(value)


def _positive(value: str) -> int:
    from .options import positive_int

    return positive_int(value)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if threading.current_thread() is threading.main_thread():
        # Started as a background job of a non-interactive shell, SIGINT arrives ignored; Ctrl-C's signal still stops us.
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if argv[:1] == ["diff"]:
        # Its own parser: its usage errors exit 4 and its exit codes are its own (diffcli).
        from .diffcli import main as diff_main

        return diff_main(argv[1:])
    parser = argparse.ArgumentParser(prog="cmdb-contract", description="The create_set contract suite's tools besides pytest.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("drift", help="report every doc table row that spec/ does not encode, or encodes differently",
                       description="Exit codes: 0 no drift, 1 drifts listed (one line each), 2 nothing to compare "
                                   "(the file cannot be read, or it has no apidoc field table).")
    p.add_argument("file", help="a BlueKing apidoc Markdown file, e.g. create_set.md")
    p.set_defaults(func=_drift)
    p = sub.add_parser("export-openapi", help="write spec/ as an OpenAPI 3.1 document (for Schemathesis, Postman, ...)")
    p.add_argument("-o", "--output", default="-", help="output file (default: standard output)")
    p.add_argument("--server", default="http://127.0.0.1:8000", help="server URL to put in the document (default: %(default)s)")
    p.set_defaults(func=_export)
    p = sub.add_parser("selftest", help="mutation self-test: run the suite against the emulator with every injected fault")
    p.add_argument("--workers", type=int, default=2, help="parallel suite runs (default: %(default)s)")
    p.add_argument("--fault", action="append", help="only this fault (repeatable; default: all)")
    p.add_argument("--profile", default="quick", help="Hypothesis profile for each run (default: %(default)s)")
    p.set_defaults(func=_selftest)
    sub.add_parser("diff", add_help=False, help="do two targets behave the same? the suite against A, replayed against B; "
                   "exit 0 same, 1 different (cmdb-contract diff --help)")
    p = sub.add_parser("model", help="save a target's set model (search_object_attribute, read-only) for --set-model FILE",
                       description="Credentials come from the environment only (BK_APP_CODE, BK_APP_SECRET, BK_USERNAME or BK_TOKEN); "
                                   "the file holds the attribute items and the target URL, never a secret. "
                                   "Exit codes: 0 written, 3 the model could not be read, 4 usage error.")
    p.add_argument("--target-url", required=True, type=_url, help="base URL of the ESB in front of CMDB")
    p.add_argument("--bk-biz-id", required=True, type=_positive, help="the business whose set model to read")
    p.add_argument("--bk-supplier-account", default=None, help="bk_supplier_account to send (default: not sent)")
    p.add_argument("--request-timeout", type=float, default=15.0, help="seconds per request (default: %(default)s)")
    p.add_argument("-o", "--output", required=True, help="the file to write")
    p.set_defaults(func=_model)
    p = sub.add_parser("run", help="run the contract suite (python -m pytest contract_tests ...) and keep its exit code",
                       description="Every option after 'run' goes to pytest, e.g. cmdb-contract run --allow-writes --bk-biz-id 3. "
                                   "Exit codes: 0 pass, 1 contract broken, 2 interrupted, 3 target unavailable, 4 usage error, "
                                   "5 no test selected, 6 suite error.")
    p.set_defaults(func=None)
    args, extra = parser.parse_known_args(argv)
    if args.command == "run":
        return _run(args, extra)
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
