"""The HTML report's parts: verdict and run, charts, rules, failures grouped by rule, coverage.

Boundary: pure rendering. It reads a ``ReportView`` (the run's facts, outcome,
rule counts, coverage and the evidence of failed tests) and returns HTML
strings that pytest-html embeds: its summary prefix, each test's extras and
its log area. No I/O, no JavaScript, no external asset: the page stays
self-contained. Everything it renders was built from credential-free
records; the plugin still passes it through the credentials' redaction as a
second net.
"""

from __future__ import annotations

import difflib
import hashlib
import html
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .client import Exchange
from .harness import ANSWER_BUCKETS_MS, Coverage
from .oracles import BREAKS, MISSING, ContractViolation, RuleCounts, show
from .outcomes import DEVIATION_GONE, SUITE_ERROR, UNAVAILABLE, VIOLATION, Outcome
from .spec import REQUEST_TABLES, RESPONSE_TABLES, Rule, Spec, doc_rows, json_type, load_spec

# Contrast: every text colour below is at least 4.5:1 on its background (WCAG AA).
STYLE = """
<style>
#environment-header,#environment{display:none}
body{color:#1a1a1a;font-size:13px}a{color:#0b4f9c}
#results-table{color:#1a1a1a;table-layout:fixed;width:100%;max-width:1260px}
#results-table th:nth-child(1){width:7em}#results-table th:nth-child(3){width:6em}#results-table th:nth-child(4){width:5em}
#results-table td,.logwrapper .log{overflow-wrap:anywhere;word-break:break-word}
.filters button,.collapse button{color:#1a1a1a}
.ct{font-family:system-ui,-apple-system,"Segoe UI","Noto Sans","Noto Sans CJK SC",sans-serif;color:#1a1a1a;max-width:1240px;line-height:1.4}
.ct h2{margin:1.2em 0 .3em;border-bottom:2px solid #444;padding-bottom:2px}.ct h3{margin:1em 0 .3em}.ct h4{margin:.6em 0 .2em}
.ct-verdict{font-size:1.6em;font-weight:700;padding:.35em .7em;border-radius:4px;display:inline-block;margin:.2em 0 .4em}
.ct-pass{background:#d7eed3;color:#14461a;border:2px solid #2e7d32}.ct-broken{background:#fbdde0;color:#6e1019;border:2px solid #b3261e}
.ct-unavailable{background:#fff0c2;color:#5a4100;border:2px solid #a07800}.ct-error{background:#ece0f5;color:#3d1560;border:2px solid #6a3d9a}
.ct table{border-collapse:collapse;margin:.4em 0;max-width:100%}
.ct td,.ct th{border:1px solid #b5b5b5;padding:3px 7px;text-align:left;vertical-align:top;overflow-wrap:anywhere}
.ct th{background:#ececec}.ct td.nw{white-space:nowrap;overflow-wrap:normal}
.ct .ct-run th{white-space:nowrap;width:10em}.ct td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.ct pre,.ct code{font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:.92em}
.ct pre{white-space:pre-wrap;overflow-wrap:anywhere;word-break:break-word;background:#f5f5f5;border:1px solid #d0d0d0;padding:6px 8px;margin:.2em 0}
.ct tr.zero td{background:#fff4cc}.ct tr.failed td{background:#fde4e6}.ct .flag{font-weight:700;color:#7a4b00}.ct .bad{font-weight:700;color:#8b1a1a}
.ct .ok{color:#1d5a22}.ct .muted{color:#555}
.ct .ws{color:#7a4b00;background:#ffe9a8;border-radius:2px}
.ct .d-del{background:#f8c4c9;color:#5c0a12;text-decoration:line-through}.ct .d-ins{background:#bfe6c3;color:#0c3d12;text-decoration:underline}
.ct .evr{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:8px}.ct .evr > div{min-width:0}
.ct .type{font-size:.85em;color:#444;margin-left:.4em}
.ct .rule-box{border-left:4px solid #b3261e;padding:.2em .8em;margin:.8em 0 1.2em}
.ct .group{border:1px solid #c8c8c8;border-radius:4px;padding:.3em .8em .6em;margin:.6em 0}
.ct .count{display:inline-block;background:#6e1019;color:#fff;border-radius:10px;padding:0 .6em;font-weight:700}
.ct details > summary{cursor:pointer;font-weight:600}.ct details{margin:.3em 0}
.ct dl{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:2px 10px;margin:.3em 0}.ct dt{font-weight:700}.ct dd{margin:0;min-width:0}
.ct p,.ct dd,.ct li,.ct h3,.ct h4,.ct summary{overflow-wrap:anywhere}
.ct svg text{font-family:inherit}.ct .charts{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start}.ct figure{margin:.6em 0}
.ct a{color:#0b4f9c}
@media print{
 .summary__reload,.controls,.filters,.filter,#results-table,.run-count{display:none!important}
 .ct{max-width:none}.ct pre{border:1px solid #888}.ct .group,.ct .rule-box,.ct tr{break-inside:avoid}
 .ct a{color:#000}.ct a[href^="http"]::after{content:" <" attr(href) ">";font-size:.8em;overflow-wrap:anywhere}
}
</style>
"""

SPACE_GLYPH = "␣"  # what a space inside a JSON string looks like in expected/received
_DIFF_LIMIT = 4000  # characters per side: beyond this a character diff costs more than it shows


def esc(text: Any) -> str:
    return html.escape(str(text))


# -- the data the report renders --------------------------------------------------------------------


@dataclass(frozen=True)
class FailedTest:
    """A failed test's evidence: how it ended, what it broke, what it sent and how to replay it."""

    nodeid: str
    kind: str
    violations: tuple[ContractViolation, ...] = ()
    exchanges: tuple[Exchange, ...] = ()
    replay: str = ""
    reason: str = ""


@dataclass(frozen=True)
class ReportView:
    """Everything the summary shows, gathered by the plugin at the end of the run."""

    facts: Mapping[str, Any]
    verdict: str
    outcome: Outcome
    counts: RuleCounts | None
    coverage: Coverage | None
    failed: Sequence[FailedTest]
    cleanup: str = ""
    cleanup_lines: Sequence[str] = ()
    duration: float = 0.0
    requests: int = 0
    notes: Sequence[str] = ()
    spec: Spec | None = None  # the run's spec, the target's set model included


@dataclass
class Group:
    """Identical failures: one rule, subject, expected and received, in one or more tests."""

    anchor: str
    rule_id: str
    violation: ContractViolation
    tests: list[FailedTest] = field(default_factory=list)


def _key(v: ContractViolation) -> tuple[str, str, str, str]:
    return (v.rule_id, str(v.subject), show(v.expected, 10**6), show(v.received, 10**6))


def group_anchor(v: ContractViolation) -> str:
    """The HTML id of the group a violation belongs to: stable, so a test's row can link to it before the run ends."""
    digest = hashlib.sha1(json.dumps(_key(v), ensure_ascii=False).encode("utf-8")).hexdigest()[:12]
    return f"fail-{digest}"


def group_failures(failed: Sequence[FailedTest]) -> dict[str, list[Group]]:
    """Violations grouped by rule (rules in order of first failure), identical ones collapsed into one group."""
    by_rule: dict[str, list[Group]] = {}
    index: dict[tuple[str, str, str, str], Group] = {}
    for test in failed:
        for v in test.violations:
            key = _key(v)
            group = index.get(key)
            if group is None:
                group = index[key] = Group(group_anchor(v), v.rule_id, v)
                by_rule.setdefault(v.rule_id, []).append(group)
            if all(t.nodeid != test.nodeid for t in group.tests):
                group.tests.append(test)
    return by_rule


# -- values: JSON with visible whitespace, visible types and the difference marked ---------------


def _json_text(value: Any) -> str:
    try:
        indent = 2 if isinstance(value, dict | list) and len(json.dumps(value, ensure_ascii=False)) > 60 else None
        return json.dumps(value, ensure_ascii=False, indent=indent, sort_keys=True)
    except (TypeError, ValueError):
        return repr(value)


def _in_string(text: str) -> list[bool]:
    """For each character of a JSON text, whether it lies inside a string literal (quotes excluded)."""
    out: list[bool] = []
    inside = escaped = False
    for ch in text:
        if inside:
            if escaped:
                escaped = False
                out.append(True)
            elif ch == "\\":
                escaped = True
                out.append(True)
            elif ch == '"':
                inside = False
                out.append(False)
            else:
                out.append(True)
        else:
            if ch == '"':
                inside = True
            out.append(False)
    return out


def _char_html(ch: str, in_string: bool) -> str:
    if in_string and ch == " ":
        return f'<span class="ws" title="a space">{SPACE_GLYPH}</span>'
    if in_string and ch.isspace():
        return f'<span class="ws" title="U+{ord(ch):04X}">⟨U+{ord(ch):04X}⟩</span>'
    return esc(ch)


def _render(text: str, changed: Sequence[bool], css: str) -> str:
    """``text`` with spaces inside strings made visible and the ``changed`` characters wrapped in ``css``."""
    marks = _in_string(text)
    out: list[str] = []
    run: list[str] = []
    state = False
    for i, ch in enumerate(text):
        if changed[i] != state and run:
            out.append(f'<span class="{css}">{"".join(run)}</span>' if state else "".join(run))
            run = []
        state = changed[i]
        run.append(_char_html(ch, marks[i]))
    if run:
        out.append(f'<span class="{css}">{"".join(run)}</span>' if state else "".join(run))
    return "".join(out)


def changes(expected: str, received: str) -> tuple[list[bool], list[bool]]:
    """Per character of each text, whether a character-level diff of the two marks it as changed."""
    a_changed = [False] * len(expected)
    b_changed = [False] * len(received)
    if len(expected) <= _DIFF_LIMIT and len(received) <= _DIFF_LIMIT and expected != received:
        matcher = difflib.SequenceMatcher(None, expected, received, autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag != "equal":
                a_changed[i1:i2] = [True] * (i2 - i1)
                b_changed[j1:j2] = [True] * (j2 - j1)
    return a_changed, b_changed


def diff_html(expected: str, received: str) -> tuple[str, str]:
    """Both JSON texts as HTML, the characters that differ marked (deleted on the expected side, inserted on the received)."""
    a_changed, b_changed = changes(expected, received)
    return _render(expected, a_changed, "d-del"), _render(received, b_changed, "d-ins")


def _type_of(value: Any) -> str:
    if value == MISSING:
        return "absent (no such key)"
    return json_type(value)


def value_html(value: Any) -> str:
    """One value as JSON in a block, spaces inside strings visible, with its JSON type."""
    text = MISSING if value == MISSING else _json_text(value)
    return f'<pre class="val">{_render(text, [False] * len(text), "")}</pre><span class="type">type: {esc(_type_of(value))}</span>'


def expected_received_html(expected: Any, received: Any, labels: tuple[str, str] = ("Expected", "Received")) -> str:
    """Expected and received side by side: JSON, types, whitespace visible, the difference highlighted."""
    a = MISSING if expected == MISSING else _json_text(expected)
    b = MISSING if received == MISSING else _json_text(received)
    a_html, b_html = diff_html(a, b)
    same_text = a == b and _type_of(expected) != _type_of(received)
    note = '<p class="bad">Same text, different JSON type.</p>' if same_text else ""
    return (f'<div class="evr"><div><b>{labels[0]}</b> <span class="type">type: {esc(_type_of(expected))}</span>'
            f'<pre class="val expected">{a_html}</pre></div>'
            f'<div><b>{labels[1]}</b> <span class="type">type: {esc(_type_of(received))}</span>'
            f'<pre class="val received">{b_html}</pre></div></div>{note}'
            f'<p class="muted">{SPACE_GLYPH} marks a space inside a string; '
            '<span class="d-del">struck</span> characters are expected but missing, '
            '<span class="d-ins">underlined</span> ones were received instead.</p>')


def _pretty(text: str) -> str:
    try:
        return json.dumps(json.loads(text), ensure_ascii=False, indent=2)
    except ValueError:
        return text


# -- the top: verdict and run ----------------------------------------------------------------------


def verdict_class(verdict: str) -> str:
    if verdict.startswith("PASS"):
        return "ct-pass"
    if verdict.startswith(("TARGET UNAVAILABLE", "INTERRUPTED")):
        return "ct-unavailable"
    if verdict.startswith("SUITE ERROR"):
        return "ct-error"
    return "ct-broken"


def header(view: ReportView) -> str:
    """The verdict, one sentence of what it means, then the run facts a reviewer needs first."""
    f = view.facts
    rows: list[tuple[str, Any]] = [
        ("Target", f["target"]), ("CMDB version", f"{f['cmdb_version']} (error codes: {f['error_codes']})"),
        ("Hypothesis profile", f["profile"]), ("Seed", f"{f['seed']} (replay the run with --hypothesis-seed={f['seed']})"),
        ("Writes", f["writes"]), ("Business", f["business"]), ("Concurrency", f"{f['concurrency']} requests in flight"),
        ("Rate limit", f["rate_limit"]), ("Cleanup", view.cleanup or "not run"), ("Duration", f"{view.duration:.1f} s"),
        ("Requests sent", view.requests), ("Run id", f["run_id"]),
    ]
    rows += [("Note", n) for n in view.notes]
    cleanup_lines = ""
    if view.cleanup_lines:
        items = "".join(f"<li>{esc(line.strip())}</li>" for line in view.cleanup_lines[1:])
        n = len(view.cleanup_lines) - 1
        if items:
            cleanup_lines = f'<details><summary>cleanup, set by set ({n} line{"s" if n != 1 else ""})</summary><ul>{items}</ul></details>'
    return (f'<div class="ct" id="ct-top"><div class="ct-verdict {verdict_class(view.verdict)}" id="ct-verdict">{esc(view.verdict)}</div>'
            f'<p class="lede">{_lede(view)} Jump to: <a href="#ct-rules">rules</a> · <a href="#ct-failures">failures</a> · '
            '<a href="#ct-coverage">coverage</a> · <a href="#results-table">every test</a>.</p>'
            '<h2 id="ct-run">Run</h2><table class="ct-run">'
            + "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}{cleanup_lines if k == 'Cleanup' else ''}</td></tr>" for k, v in rows)
            + "</table></div>")


def _lede(view: ReportView) -> str:
    o = view.outcome
    broken = o.broken_rules
    parts = []
    if broken:
        parts.append(f"{len(broken)} rule{'s' if len(broken) != 1 else ''} broken in {len(o.of(VIOLATION))} test(s): "
                     + ", ".join(f'<a href="#rule-{esc(r)}"><code>{esc(r)}</code></a>' for r in broken) + ".")
    if o.of(DEVIATION_GONE):
        parts.append(f"{len(o.of(DEVIATION_GONE))} known deviation(s) no longer seen: the server now keeps the promise.")
    if o.unavailable is not None or o.of(UNAVAILABLE):
        parts.append("The target did not answer like a server: this is not a contract violation.")
    if o.of(SUITE_ERROR):
        parts.append(f"{len(o.of(SUITE_ERROR))} test(s) ended in a suite error (a bug or a health check of the suite, not of the target).")
    if not parts:
        parts.append("Every rule checked held.")
    return " ".join(parts)


# -- the picture ----------------------------------------------------------------------------------


def family(rule_id: str) -> str:
    return rule_id.split(".", 1)[0]


def rules_chart(counts: RuleCounts, broken: Mapping[str, int]) -> str:
    """An inline SVG bar chart: the share of checks passed, failed, and failed as known deviations, per rule family."""
    spec = load_spec()
    fams: dict[str, list[int]] = {}
    for rule_id in spec.rules:
        cell = fams.setdefault(family(rule_id), [0, 0, 0])
        cell[0] += counts.passed.get(rule_id, 0)
        # Failed checks of a rule no failing test broke come from strict expected failures.
        cell[1 if broken.get(rule_id) else 2] += counts.failed.get(rule_id, 0)
    width, bar, row, left = 620, 260, 26, 90
    height = 34 + row * len(fams)
    out = [f'<svg role="img" aria-labelledby="chart-rules-t" width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
           '<title id="chart-rules-t">Checks passed and failed per rule family</title>'
           f'<text x="0" y="16" font-size="14" font-weight="700">Checks per rule family</text>']
    for i, (name, (ok, bad, known)) in enumerate(fams.items()):
        y = 28 + i * row
        total = ok + bad + known
        out.append(f'<text x="{left - 6}" y="{y + 14}" font-size="13" text-anchor="end">{esc(name)}</text>')
        if total:
            x = left
            for n, colour, what in ((ok, "#2e7d32", "passed"), (bad, "#b3261e", "failed"), (known, "#c99700", "failed as known deviations")):
                if n:
                    w = max(3, round(bar * n / total))
                    out.append(f'<rect x="{x}" y="{y}" width="{w}" height="18" fill="{colour}"><title>{n} {what}</title></rect>')
                    x += w
        else:
            out.append(f'<rect x="{left}" y="{y}" width="{bar}" height="18" fill="none" stroke="#a07800" stroke-dasharray="4 3"/>')
        said = [f"{ok} passed", f"{bad} failed"] + ([f"{known} known deviation{'s' if known != 1 else ''}"] if known else [])
        label = ", ".join(said) if total else "never exercised"
        out.append(f'<text x="{left + bar + 8}" y="{y + 14}" font-size="12">{label}</text>')
    out.append("</svg>")
    return "".join(out)


def _bucket_label(i: int) -> str:
    edges = ANSWER_BUCKETS_MS
    def ms(x: float) -> str:
        return f"{x / 1000:g}s" if x >= 1000 else f"{x:g}"
    if i == 0:
        return f"<{ms(edges[0])}"
    if i >= len(edges):
        return f"≥{ms(edges[-1])}"
    return f"{ms(edges[i - 1])}–{ms(edges[i])}"


def answer_time_chart(coverage: Coverage) -> str:
    """An inline SVG histogram of create_set answer times (milliseconds, fixed buckets)."""
    times = coverage.answer_times
    total = sum(times.values())
    if not total:
        return ""
    first = min(times)
    last = max(times)
    shown = list(range(first, last + 1))
    width, plot, colw = 540, 150, max(18, min(48, 500 // max(1, len(shown))))
    top = 40  # room for the title and the tallest bar's count
    height = top + plot + 24
    peak = max(times.values())
    out = [f'<svg role="img" aria-labelledby="chart-times-t" width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
           '<title id="chart-times-t">create_set answer times</title>'
           f'<text x="0" y="16" font-size="14" font-weight="700">create_set answer times (ms), {total} answers</text>']
    for k, i in enumerate(shown):
        count = times.get(i, 0)
        h = round(plot * count / peak) if peak else 0
        x = 10 + k * colw
        y = top + plot - h
        out.append(f'<rect x="{x}" y="{y}" width="{colw - 4}" height="{h}" fill="#0b4f9c"><title>{_bucket_label(i)} ms: {count}</title></rect>')
        if count:
            out.append(f'<text x="{x + (colw - 4) / 2}" y="{y - 3}" font-size="10" text-anchor="middle">{count}</text>')
        out.append(f'<text x="{x + (colw - 4) / 2}" y="{top + plot + 14}" font-size="10" text-anchor="middle">{esc(_bucket_label(i))}</text>')
    out.append("</svg>")
    return "".join(out)


def charts(view: ReportView) -> str:
    parts = []
    if view.counts is not None:
        parts.append(rules_chart(view.counts, view.outcome.broken_rules))
    if view.coverage is not None:
        parts.append(answer_time_chart(view.coverage))
    parts = [p for p in parts if p]
    if not parts:
        return ""
    return '<div class="ct"><div class="charts" id="ct-charts">' + "".join(f"<figure>{p}</figure>" for p in parts) + "</div></div>"


# -- the rules table ------------------------------------------------------------------------------


def _links(ids: Iterable[str]) -> str:
    spec = load_spec()
    return " ".join(f'<a href="{esc(spec.sources[s].url)}" title="{esc(spec.sources[s].says)}">{esc(spec.sources[s].symbol)}</a>'
                    for s in ids if s in spec.sources)


def protects(rule: Rule) -> str:
    """What a rule protects: its documentation row and its research fact, each with the public source to open."""
    spec = load_spec()
    parts = []
    if rule.doc:
        row = spec.doc_row(rule.doc)
        parts.append(f"documentation row <b>{esc(rule.doc)}</b>" + (f": {esc(row.meaning)}" if row else ""))
    if rule.fact:
        parts.append(f"research: {esc(rule.fact)}")
    links = _links(rule.sources)
    return "<br>".join(parts) + (f"<br>source: {links}" if links else "")


BROKEN, KNOWN, NEVER, HELD = "broken", "known deviation", "never exercised", "held"


def rule_states(counts: RuleCounts | None, outcome: Outcome) -> dict[str, str]:
    """Each rule's state in this run: broken (a failing test broke it), known deviation (its checks failed only
    in strict expected failures), never exercised (no check ran), or held."""
    counts = counts or RuleCounts()
    broken = outcome.broken_rules
    out = {}
    for rule_id in load_spec().rules:
        if broken.get(rule_id):
            out[rule_id] = BROKEN
        elif counts.failed.get(rule_id):
            out[rule_id] = KNOWN
        elif not counts.passed.get(rule_id):
            out[rule_id] = NEVER
        else:
            out[rule_id] = HELD
    return out


def _tally(states: Mapping[str, str]) -> str:
    n = Counter(states.values())
    return (f"{len(states)} rules: {n[HELD]} held, {n[BROKEN]} broken, {n[KNOWN]} known deviation{'s' if n[KNOWN] != 1 else ''} "
            f"(failing as expected), {n[NEVER]} never exercised")


def rules_table(view: ReportView, groups: Mapping[str, list[Group]]) -> str:
    """Every rule id with its checks passed and failed, what it protects and a link to its first failure; unexercised rules flagged."""
    spec = load_spec()
    counts = view.counts or RuleCounts()
    failing = view.outcome.broken_rules
    states = rule_states(view.counts, view.outcome)
    look = {BROKEN: ("failed", '<span class="bad">BROKEN</span>'), KNOWN: ("", '<span class="flag">known deviation</span> (expected failures)'),
            NEVER: ("zero", '<span class="flag">never exercised</span>'), HELD: ("", '<span class="ok">held</span>')}
    trs = []
    for rule in spec.rules.values():
        passed, failed = counts.passed.get(rule.id, 0), counts.failed.get(rule.id, 0)
        tests = failing.get(rule.id, 0)
        first = groups.get(rule.id)
        cls, state = look[states[rule.id]]
        link = f'<br><a href="#{first[0].anchor}">→ first failure</a>' if first else ""
        trs.append(f'<tr class="{cls}" id="rule-{esc(rule.id)}" data-rule="{esc(rule.id)}"><td><code>{esc(rule.id)}</code></td>'
                   f"<td>{state}{link}</td><td>{esc(rule.says('…'))}</td><td class=\"n\">{passed}</td><td class=\"n\">{failed}</td>"
                   f'<td class="n">{tests}</td><td class="nw" title="{esc(BREAKS[rule.breaks])}">{esc(rule.breaks)}</td><td>{protects(rule)}</td></tr>')
    return (f'<div class="ct"><h2 id="ct-rules">Rules</h2><p>{_tally(states)} in this run (flagged: a rule no request reached '
            "proves nothing).</p>"
            "<p>Breaking a <i>documentation</i> rule breaks the documented promise; breaking a <i>research</i> rule breaks "
            "the real server's known behaviour (the source links say where it is read from).</p>"
            '<table class="rules"><tr><th>rule</th><th>state</th><th>says</th><th>checks passed</th><th>checks failed</th>'
            "<th>failing tests</th><th>breaks</th><th>protects</th></tr>" + "".join(trs) + "</table></div>")


# -- one failure ------------------------------------------------------------------------------------


def exchange_html(i: int, ex: Exchange, open_: bool = False) -> str:
    """One exchange, collapsible: request, status, headers, body, time, and its curl line."""
    req_headers = "".join(f"{k}: {v}\n" for k, v in ex.request_headers.items())
    resp_headers = "".join(f"{k}: {v}\n" for k, v in ex.response_headers.items())
    answer = f"HTTP {ex.status}" if ex.status is not None else f"no answer ({ex.error})"
    body = ex.json
    code = f", code {body.get('code')}" if isinstance(body, dict) and "code" in body else ""
    return (
        f'<details class="exchange"{" open" if open_ else ""}><summary>Exchange {i}: {esc(ex.method)} {esc(ex.api)} → '
        f"{esc(answer)}{esc(code)} in {ex.elapsed_ms:.0f} ms</summary>"
        f"<p><b>Request</b></p><pre>{esc(ex.method)} {esc(ex.url)}\n{esc(req_headers)}\n{esc(_pretty(ex.request_body))}</pre>"
        f"<p><b>Response</b> ({ex.elapsed_ms:.1f} ms)</p><pre>{esc(answer)}\n{esc(resp_headers)}\n{esc(_pretty(ex.response_text[:20000]))}</pre>"
        "<p><b>Replay this request with curl</b> (export BK_APP_SECRET / BK_TOKEN first; they are never written here)</p>"
        f"<pre>{esc(ex.curl())}</pre></details>"
    )


def _schema_parts(v: ContractViolation) -> tuple[str, str] | None:
    """(schema path, validator message) of a schema failure, from its detail."""
    prefix = "Schema path: "
    if not v.detail.startswith(prefix):
        return None
    path, _, message = v.detail[len(prefix):].partition(": ")
    return path, message


def violation_html(v: ContractViolation) -> str:
    """The broken rule and why it exists, what was sent, expected and received (or the schema's verdict)."""
    spec = load_spec()
    rule = spec.rules.get(v.rule_id)
    links = " · ".join(f'<a href="{esc(s.url)}">{esc(s.repo)} {esc(s.path)} ({esc(s.symbol)})</a>' for s in v.sources)
    items = [("Broken rule", f"<code>{esc(v.rule_id)}</code>: {esc(v.headline)}"),
             ("Breaking it breaks", esc(BREAKS.get(v.breaks, v.breaks))),
             ("Why the rule exists", esc(v.source) + (f"<br>{links}" if links else ""))]
    if rule is not None and rule.fact and rule.fact not in v.source:
        items.append(("The rule in general", esc(rule.fact)))
    schema = _schema_parts(v)
    if schema is not None:
        items += [("Where in the answer", f"<code>{esc(v.subject)}</code>"), ("Schema path", f"<code>{esc(schema[0])}</code>"),
                  ("Schema says", esc(schema[1]))]
    elif v.detail:
        items.append(("Detail", esc(v.detail)))
    out = ["<dl>" + "".join(f"<dt>{k}</dt><dd>{val}</dd>" for k, val in items) + "</dl>"]
    if schema is not None:
        out.append(expected_received_html(v.expected, v.received, ("Constraint", "Offending value")))
    else:
        out.append(expected_received_html(v.expected, v.received))
    if v.sent is not None:
        out.append(f"<p><b>What was sent</b> (the request, credential-free)</p>{value_html(v.sent)}")
    return "".join(out)


def _test_list(tests: Sequence[FailedTest]) -> str:
    items = "".join(f"<li><code>{esc(t.nodeid)}</code></li>" for t in tests)
    if len(tests) == 1:
        return f"<p>In <code>{esc(tests[0].nodeid)}</code>.</p>"
    return f'<details class="tests"><summary>the {len(tests)} test ids</summary><ul>{items}</ul></details>'


def group_html(group: Group) -> str:
    """One group of identical failures: the count and test ids, the evidence of its first test, its replay command."""
    first = group.tests[0]
    n = len(group.tests)
    head = (f'<span class="count">× {n}</span> {n} identical failures (same rule, subject, expected and received)' if n > 1
            else "1 failure")
    shown: list[Exchange] = [group.violation.exchange] if group.violation.exchange is not None else []
    shown += [e for e in first.exchanges if all(e is not s for s in shown)]
    exchanges = "".join(exchange_html(i, ex) for i, ex in enumerate(shown[:4], 1))
    return (f'<div class="group" id="{group.anchor}" data-count="{n}"><h4>{head}: <code>{esc(group.violation.subject or "the answer")}</code></h4>'
            f"{_test_list(group.tests)}{violation_html(group.violation)}"
            f"<p><b>Exchanges</b> (the one that broke the rule first)</p>{exchanges or '<p class=muted>none recorded</p>'}"
            f"<p><b>Replay the test</b> ({esc(first.nodeid)})</p><pre>{esc(first.replay)}</pre></div>")


def failures_html(view: ReportView, groups: Mapping[str, list[Group]]) -> str:
    """Failures grouped by rule, identical ones collapsed; then unavailability, suite errors and deviations no longer seen."""
    spec = load_spec()
    parts = ['<div class="ct"><h2 id="ct-failures">Failures by rule</h2>']
    if not groups and not any(t.kind != VIOLATION for t in view.failed):
        parts.append("<p>No failure.</p>")
    for rule_id, gs in groups.items():
        rule = spec.rules.get(rule_id)
        tests = sum(len(g.tests) for g in gs)
        says = ", ".join(dict.fromkeys(g.violation.headline for g in gs))[:300]
        why = protects(rule) if rule else ""
        parts.append(f'<section class="rule-box" id="failures-{esc(rule_id)}"><h3><code>{esc(rule_id)}</code>: {esc(says)} — '
                     f"{tests} failing test{'s' if tests != 1 else ''}, {len(gs)} distinct failure{'s' if len(gs) != 1 else ''}</h3>"
                     f"<p>{why}</p>" + "".join(group_html(g) for g in gs) + "</section>")
    others = [t for t in view.failed if t.kind != VIOLATION]
    for kind, title, text in ((UNAVAILABLE, "Target unavailable (not a contract violation)", "The target did not answer like a server."),
                              (SUITE_ERROR, "Suite errors", "The suite itself failed here (a Hypothesis health check, a crash): "
                                                            "the traceback is in the test's log below."),
                              (DEVIATION_GONE, "Known deviations no longer seen",
                               "A strict expected failure passed: the server now keeps a promise it was known to break.")):
        mine = [t for t in others if t.kind == kind]
        if not mine:
            continue
        parts.append(f"<h3>{esc(title)}</h3><p>{esc(text)}</p>")
        for t in mine:
            ex = "".join(exchange_html(i, e, open_=i == 1) for i, e in enumerate(t.exchanges[-2:], 1)) if kind == UNAVAILABLE else ""
            parts.append(f'<div class="group"><p><code>{esc(t.nodeid)}</code>: {esc(t.reason)}</p>{ex}'
                         f"<p><b>Replay</b></p><pre>{esc(t.replay)}</pre></div>")
    parts.append("</div>")
    return "".join(parts)


# -- coverage ----------------------------------------------------------------------------------------


def coverage_tables(coverage: Coverage, spec: Spec | None = None) -> str:
    """Documentation rows as the documentation's tables have them, counted per request or answer; zeros flagged; error classes.

    ``spec`` is the run's (the target's set model included), so the derived model classes are listed too.
    """
    spec = spec or load_spec()
    parts = ['<div class="ct"><h2 id="ct-coverage">Coverage</h2>',
             f"<p>{coverage.creates} create_set requests sent ({sum(coverage.classes.values())} invalid, of "
             f"{len(coverage.classes)} of {len(spec.error_classes)} error classes); {coverage.answers} JSON answers, "
             f"{coverage.successes} of them successes. Rows never exercised are flagged.</p>"]
    for side, tables, what in (("request", REQUEST_TABLES, "requests that sent it"),
                               ("response", RESPONSE_TABLES, "answers that carried it")):
        for table in tables:
            mine = [r for r in doc_rows(side) if r.table == table]
            if not mine:
                continue
            # Response tables have no 必选 column in the documentation: none here either.
            head = "<tr><th>field</th><th>type</th>" + ("<th>required</th>" if side == "request" else "") + f"<th>{what}</th></tr>"
            trs = []
            for r in mine:
                n = coverage.rows.get(f"{side}:{r.key}", 0)
                req = f"<td>{'yes' if r.required else 'no'}</td>" if side == "request" else ""
                flag = ' <span class="flag">never</span>' if not n else ""
                trs.append(f'<tr class="{"zero" if not n else ""}"><td><code>{esc(r.field)}</code></td><td>{esc(r.type)}</td>{req}'
                           f'<td class="n">{n}{flag}</td></tr>')
            caption = " (only successful answers carry these rows)" if table == "data (response)" else ""
            parts.append(f"<h3>{esc(side)} table <i>{esc(table)}</i>{esc(caption)}</h3><table>{head}{''.join(trs)}</table>")
        if side == "request":
            parts.append(_model_fields_in_request(coverage))
    trs = []
    version = None
    for ec in spec.error_classes:
        n = coverage.classes.get(ec.id, 0)
        version = version or next(iter(ec.codes))
        codes = ", ".join(f"{c} × {k}" for c, k in sorted(coverage.codes.get(ec.id, {}).items(), key=lambda x: str(x[0])))
        expected = " / ".join(f"{v}: {c}" for v, c in ec.codes.items())
        flag = ' <span class="flag">never</span>' if not n else ""
        trs.append(f'<tr class="{"zero" if not n else ""}"><td><code>{esc(ec.id)}</code></td><td>{esc(ec.layer)}</td>'
                   f'<td class="n">{n}{flag}</td><td>{esc(expected)}</td><td>{esc(codes)}</td><td>{_links(ec.sources)}</td></tr>')
    parts.append("<h3>Error classes</h3><table><tr><th>class</th><th>rejected by</th><th>requests sent</th><th>catalogued code</th>"
                 "<th>codes received</th><th>source</th></tr>" + "".join(trs) + "</table></div>")
    return "".join(parts)


def _model_fields_in_request(coverage: Coverage) -> str:
    """Fields the request's data accepts because the set model defines them (the doc's data table does not list them)."""
    spec = load_spec()
    rows = [f for f in spec.fields if f.row.table not in REQUEST_TABLES]
    if not rows:
        return ""
    trs = "".join(f'<tr class="{"zero" if not coverage.rows.get(f"request:{f.row.key}", 0) else ""}"><td><code>{esc(f.name)}</code></td>'
                  f'<td>{esc(f.row.type)}</td><td class="n">{coverage.rows.get(f"request:{f.row.key}", 0)}</td></tr>' for f in rows)
    return ("<h3>model fields sent in <i>data</i> (\"other fields are defined by the model\"; documented in <i>data (response)</i>)</h3>"
            f"<table><tr><th>field</th><th>type</th><th>requests that sent it</th></tr>{trs}</table>")


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


# -- the whole summary and each test's row ------------------------------------------------------------


def summary_parts(view: ReportView) -> list[str]:
    """The report's summary, in reading order: verdict and run, the picture, rules, failures, coverage."""
    groups = group_failures([t for t in view.failed if t.kind == VIOLATION])
    parts = [STYLE, header(view), charts(view), rules_table(view, groups), failures_html(view, groups)]
    if view.coverage is not None:
        parts.append(coverage_tables(view.coverage, view.spec))
        if view.spec is not None:
            parts.append(model_table(view.spec, view.coverage))
    return [p for p in parts if p]


def row_extras_html(test: FailedTest) -> str:
    """A failed test's row in pytest-html's results table: what broke, a link to its failure group, the replay command."""
    parts = ['<div class="ct">']
    for v in test.violations:
        parts.append(f"<p><b>Broken rule</b> <code>{esc(v.rule_id)}</code>: {esc(v.headline)} — expected, received and the exchange "
                     f'in <a href="#{group_anchor(v)}">its failure group</a> above.</p>')
    if test.kind == UNAVAILABLE:
        parts.append(f"<p><b>TARGET UNAVAILABLE</b> (not a contract violation): {esc(test.reason)}</p>")
        parts += [exchange_html(i, e, open_=i == 1) for i, e in enumerate(test.exchanges[-2:], 1)]
    parts.append(f"<p><b>Replay this test:</b></p><pre>{esc(test.replay)}</pre></div>")
    return "".join(parts)


def log_text(violations: Sequence[ContractViolation], notes: Sequence[str], lead: str = "") -> str:
    """The test's log area: a few lines per broken rule and Hypothesis' notes, not a repeat of the evidence above."""
    lines = [lead] if lead else []
    for v in violations:
        lines += [f"[{v.rule_id}] {v.headline}", *([f"  {v.detail}"] if v.detail else []),
                  f"  expected: {show(v.expected, 300)}", f"  received: {show(v.received, 300)}"]
    lines += [f"  {n}" for note in notes for n in note.splitlines()]
    # pytest-html paints lines starting with "E" red: every line here is indented or bracketed.
    return esc("\n".join(lines))


def terminal_rules(counts: RuleCounts | None, outcome: Outcome) -> list[str]:
    """The rules table for the terminal: one count line, then each broken rule once with its source and first link."""
    spec = load_spec()
    states = rule_states(counts, outcome)
    counts = counts or RuleCounts()
    broken = outcome.broken_rules
    never = [r for r, s in states.items() if s == NEVER]
    lines = [_tally(states)]
    for rule_id, n in broken.most_common():
        rule = spec.rule(rule_id)
        passed, failed = counts.passed.get(rule_id, 0), counts.failed.get(rule_id, 0)
        lines.append(f"  BROKEN {rule_id}: {rule.says('…')} ({n} test(s); checks {passed} passed, {failed} failed)")
        what = f"documentation row {rule.doc}" if rule.doc else ""
        if rule.fact:
            what += ("; " if what else "") + f"research: {rule.fact}"
        first = next((spec.sources[s] for s in rule.sources if s in spec.sources), None)
        lines.append(f"    protects {what[:200]}" + (f" — {first.url}" if first else ""))
    if never:
        lines.append("  never exercised: " + ", ".join(never[:8]) + (f", … {len(never) - 8} more" if len(never) > 8 else ""))
    return lines
