"""The HTML report's parts: the verdict and the run, the rules table, coverage, and each failure.

Boundary: pure rendering. It reads the run's facts, outcome, rule counts and
coverage, and the violations and exchanges of failed tests, and returns HTML
strings that pytest-html embeds (its summary prefix and each test's extras).
Everything it renders was built from credential-free records; the plugin
still passes it through the credentials' redaction as a second net.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from typing import Any

from .client import Exchange
from .harness import Coverage
from .oracles import BREAKS, ContractViolation, RuleCounts
from .outcomes import Outcome
from .spec import Spec, doc_rows, load_spec

STYLE = """
<style>
.ct-verdict{font-size:1.4em;font-weight:bold;padding:.4em .6em;border-radius:4px;display:inline-block;margin:.3em 0}
.ct-pass{background:#dff0d8;color:#1d5a1d}.ct-broken{background:#f8d7da;color:#7a1620}.ct-unavailable{background:#fff3cd;color:#6b4e00}
.ct table{border-collapse:collapse;margin:.4em 0}.ct td,.ct th{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top}
.ct pre,.ct code{white-space:pre-wrap;word-break:break-all;overflow-wrap:anywhere}
.ct .zero{background:#fff3cd}.ct .failed{color:#a00;font-weight:bold}
.ct .sp{background:#ffe8a8;border-radius:2px}
</style>
"""


def esc(text: Any) -> str:
    return html.escape(str(text))


def json_html(value: Any) -> str:
    """A value as JSON with its type visible (strings quoted) and spaces inside strings marked."""
    try:
        text = json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True)
    except (TypeError, ValueError):
        text = repr(value)
    out = esc(text)
    # Make leading/trailing and inner spaces of string literals visible.
    return re.sub(r"&quot;(.*?)&quot;", lambda m: "&quot;" + m.group(1).replace(" ", '<span class="sp"> </span>') + "&quot;", out)


def verdict_class(verdict: str) -> str:
    if verdict.startswith("PASS"):
        return "ct-pass"
    if verdict.startswith("TARGET UNAVAILABLE"):
        return "ct-unavailable"
    return "ct-broken"


def header(facts: dict[str, Any], verdict: str, cleanup: str, duration: float, requests: int, notes: Sequence[str]) -> str:
    """The verdict, then the run facts a reviewer needs first."""
    rows = [("Target", facts["target"]), ("CMDB version", facts["cmdb_version"]), ("Error codes", facts["error_codes"]),
            ("Hypothesis profile", facts["profile"]), ("Seed", f"{facts['seed']} (replay the run with --hypothesis-seed={facts['seed']})"),
            ("Writes", facts["writes"]), ("Business", facts["business"]), ("Concurrency", facts["concurrency"]),
            ("Rate limit", facts["rate_limit"]), ("Cleanup", cleanup or "not run"), ("Duration", f"{duration:.1f} s"),
            ("Requests sent", requests)]
    rows += [("Note", n) for n in notes]
    return (f'{STYLE}<div class="ct"><div class="ct-verdict {verdict_class(verdict)}">{esc(verdict)}</div>'
            "<h2>Run</h2><table>" + "".join(f"<tr><td>{esc(k)}</td><td>{esc(v)}</td></tr>" for k, v in rows) + "</table></div>")


def rules_table(counts: RuleCounts, outcome: Outcome) -> str:
    """Every rule id with its checks passed and failed, and what it protects; never-exercised rules flagged."""
    spec = load_spec()
    failing_tests = outcome.broken_rules
    trs = []
    for rule in spec.rules.values():
        passed, failed = counts.passed.get(rule.id, 0), counts.failed.get(rule.id, 0)
        cls = "failed" if failed or failing_tests.get(rule.id) else ("zero" if not passed else "")
        protects = rule.doc or ""
        if rule.fact:
            protects += (" · " if protects else "") + rule.fact
        links = " ".join(f'<a href="{esc(spec.sources[s].url)}">{esc(spec.sources[s].symbol)}</a>' for s in rule.sources)
        trs.append(f'<tr class="{cls}"><td><code>{esc(rule.id)}</code></td><td>{esc(rule.says("…"))}</td><td>{passed}</td>'
                   f"<td>{failed}</td><td>{failing_tests.get(rule.id, 0)}</td><td>{esc(BREAKS[rule.breaks])}</td>"
                   f"<td>{esc(protects)} {links}</td></tr>")
    return ('<div class="ct"><h2>Rules</h2><table><tr><th>rule</th><th>says</th><th>checks passed</th><th>checks failed</th>'
            "<th>failing tests</th><th>breaking it breaks</th><th>protects</th></tr>" + "".join(trs) + "</table></div>")


def coverage_tables(coverage: Coverage) -> str:
    """Documentation rows (request and response tables as the documentation has them) and error classes exercised."""
    spec = load_spec()
    parts = ['<div class="ct"><h2>Documentation rows exercised</h2>',
             f"<p>{coverage.creates} create_set requests; {sum(coverage.classes.values())} of them invalid "
             f"({len(coverage.classes)} of {len(spec.error_classes)} error classes).</p>"]
    for side, tables in (("request", ("通用参数", "接口参数", "data")), ("response", ("response", "data (response)"))):
        rows = [r for r in doc_rows(side) if r.table in tables]
        for table in tables:
            mine = [r for r in rows if r.table == table]
            if not mine:
                continue
            head = "<tr><th>field</th><th>type</th>" + ("<th>required</th>" if side == "request" else "") + "<th>requests</th></tr>"
            trs = []
            for r in mine:
                n = coverage.rows.get(f"{side}:{r.key}", 0)
                req = f"<td>{'yes' if r.required else 'no'}</td>" if side == "request" else ""
                trs.append(f'<tr class="{"zero" if not n else ""}"><td>{esc(r.field)}</td><td>{esc(r.type)}</td>{req}<td>{n}</td></tr>')
            parts.append(f"<h3>{esc(side)} table {esc(table)}</h3><table>{head}{''.join(trs)}</table>")
    trs = []
    for ec in spec.error_classes:
        n = coverage.classes.get(ec.id, 0)
        codes = ", ".join(f"{c} × {k}" for c, k in sorted(coverage.codes.get(ec.id, {}).items(), key=lambda x: str(x[0])))
        trs.append(f'<tr class="{"zero" if not n else ""}"><td><code>{esc(ec.id)}</code></td><td>{esc(ec.layer)}</td><td>{n}</td><td>{esc(codes)}</td></tr>')
    parts.append("<h3>Error classes</h3><table><tr><th>class</th><th>rejected by</th><th>requests</th><th>codes received</th></tr>"
                 + "".join(trs) + "</table></div>")
    return "".join(parts)


def _pretty(text: str) -> str:
    try:
        return json.dumps(json.loads(text), ensure_ascii=False, indent=2)
    except ValueError:
        return text


def exchange_html(i: int, ex: Exchange, open_: bool = False) -> str:
    """One exchange, collapsible: request, status, headers, body, time, and its curl line."""
    req_headers = "".join(f"{k}: {v}\n" for k, v in ex.request_headers.items())
    resp_headers = "".join(f"{k}: {v}\n" for k, v in ex.response_headers.items())
    answer = f"HTTP {ex.status}" if ex.status is not None else f"no answer ({ex.error})"
    return (
        f"<details{' open' if open_ else ''}><summary><b>Exchange {i}</b>: {esc(ex.method)} {esc(ex.api)} → "
        f"{esc(answer)} in {ex.elapsed_ms:.0f} ms</summary>"
        f"<p><b>Request</b></p><pre>{esc(ex.method)} {esc(ex.url)}\n{esc(req_headers)}\n{esc(_pretty(ex.request_body))}</pre>"
        f"<p><b>Response</b></p><pre>{esc(answer)}\n{esc(resp_headers)}\n{esc(_pretty(ex.response_text[:20000]))}</pre>"
        "<p><b>Replay with curl</b> (export BK_APP_SECRET / BK_TOKEN first; they are never written here)</p>"
        f"<pre>{esc(ex.curl())}</pre></details>"
    )


def violation_html(v: ContractViolation) -> str:
    """The broken rule, why it exists, what was sent, expected and received."""
    links = "".join(f'<br><a href="{esc(s.url)}">{esc(s)}</a>' for s in v.sources)
    rows = [("Broken rule", f"<code>{esc(v.rule_id)}</code>: {esc(v.headline)}"), ("Breaks", esc(BREAKS.get(v.breaks, v.breaks))),
            ("Rule source", esc(v.source) + links)]
    if v.detail:
        rows.append(("Detail", esc(v.detail)))
    if v.sent is not None:
        rows.append(("What was sent", f"<pre>{json_html(v.sent)}</pre>"))
    rows += [("Expected", f"<pre>{json_html(v.expected)}</pre>"), ("Received", f"<pre>{json_html(v.received)}</pre>")]
    return "<table>" + "".join(f"<tr><td><b>{k}</b></td><td>{val}</td></tr>" for k, val in rows) + "</table>"


def failure_html(violations: Sequence[ContractViolation], exchanges: Sequence[Exchange], replay: str, unavailable: str = "") -> str:
    """A failed test's extras: each broken rule, the replay command, then the exchanges (the breaking one first)."""
    parts = ['<div class="ct">']
    if unavailable:
        parts.append(f"<p><b>TARGET UNAVAILABLE</b> (not a contract violation): {esc(unavailable)}</p>")
    parts += [violation_html(v) for v in violations]
    parts.append(f"<p><b>Replay this test:</b></p><pre>{esc(replay)}</pre>")
    shown: list[Exchange] = [v.exchange for v in violations if v.exchange is not None]
    shown += [e for e in exchanges if all(e is not s for s in shown)]
    parts += [exchange_html(i, ex, open_=i == 1) for i, ex in enumerate(shown[:4], 1)]
    parts.append("</div>")
    return "".join(parts)


def model_table(spec: Spec, coverage: Coverage) -> str:
    """The target's set model beside the documentation rows: each attribute, its definition, the requests that sent it."""
    model = spec.model
    parts = ['<div class="ct"><h2>Set model attributes exercised</h2>']
    if model is None:
        return parts[0] + "<p>No set model read: the target was not reached.</p></div>"
    parts.append(f"<p>Model: {esc(model.origin)}. {len(spec.model_fields)} attributes beyond the built-in schema exercised, "
                 f"{len(spec.model_skipped)} skipped, {len(spec.foreign_fields)} of other businesses sent to prove they are dropped.</p>")
    by_attr: dict[str, list[str]] = {}
    for ec in spec.model_classes:
        by_attr.setdefault(ec.target.split(".", 1)[1], []).append(ec.id)
    trs = []
    for f in spec.model_fields:
        a = f.attribute
        assert a is not None
        n = coverage.model.get(f.name, 0)
        classes = by_attr.get(f.name, [])
        sent = [c for c in classes if coverage.model_classes.get(c)]
        codes = "; ".join(f"{c.rsplit('.', 1)[1]}: " + ", ".join(f"{k} × {v}" for k, v in sorted(coverage.codes.get(c, {}).items(), key=lambda x: str(x[0])))
                          for c in sent)
        note = "recorded field: the server overwrites the value sent (not judged)" if a.overwritten else ""
        trs.append(f'<tr class="{"zero" if not n else ""}"><td><code>{esc(f.name)}</code></td><td>{esc(a.attribute.name)}</td>'
                   f"<td>{esc(a.attribute.describe())}</td><td>{n}</td><td>{len(sent)} of {len(classes)}</td><td>{esc(codes)}</td>"
                   f"<td>exercised{esc('; ' + note if note else '')}</td></tr>")
    for f in spec.foreign_fields:
        a = f.attribute
        assert a is not None
        n = coverage.model.get(f.name, 0)
        trs.append(f'<tr class="{"zero" if not n else ""}"><td><code>{esc(f.name)}</code></td><td>{esc(a.attribute.name)}</td>'
                   f"<td>{esc(a.attribute.describe())}</td><td>{n}</td><td>–</td><td></td><td>another business's: sent to be dropped</td></tr>")
    for attr, reason in spec.model_skipped:
        trs.append(f'<tr class="zero"><td><code>{esc(attr.id)}</code></td><td>{esc(attr.name)}</td><td>{esc(attr.describe())}</td>'
                   f"<td>0</td><td>–</td><td></td><td>skipped: {esc(reason)}</td></tr>")
    if not trs:
        parts.append("<p>The model defines no attribute beyond the built-in schema.</p>")
    else:
        parts.append("<table><tr><th>attribute</th><th>name</th><th>definition</th><th>requests</th><th>defects sent</th>"
                     "<th>codes received</th><th>status</th></tr>" + "".join(trs) + "</table>")
    parts.append("</div>")
    return "".join(parts)
