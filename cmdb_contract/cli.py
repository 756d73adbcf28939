"""``cmdb-contract``: the suite's command line besides pytest.

Subcommands: ``drift`` (compare a BlueKing apidoc Markdown file with spec/),
``export-openapi`` (spec/ as an OpenAPI 3.1 document for other tools),
``selftest`` (the mutation self-test: the suite against every injected fault).
Boundary: argument parsing and printing; the work is in the named modules.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _drift(args: argparse.Namespace) -> int:
    from .drift import find_drift
    from .spec import load_spec

    path = Path(args.file)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        print(f"cmdb-contract drift: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return 2
    drifts = find_drift(text, load_spec())
    for d in drifts:
        print(d)
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
    from .selftest import main as selftest_main

    return selftest_main(workers=args.workers, faults=args.fault or None, profile=args.profile)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cmdb-contract", description="The create_set contract suite's tools besides pytest.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("drift", help="report every doc table row that spec/ does not encode, or encodes differently")
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
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
