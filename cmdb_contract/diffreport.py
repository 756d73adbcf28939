"""The report's differences section: one row per difference kind and field, the two answers side by side.

Boundary: pure rendering of a ``Regression``'s comparison into an HTML string
for pytest-html's summary (``plugin`` embeds it; ``report`` is not touched).
Noise that was cancelled is counted, never shown. Everything rendered comes
from normalised lines, which hold no credential; the caller still redacts.
"""

from __future__ import annotations

import html
import json
from typing import Any

from .baseline import canonical
from .differences import BROKEN, DRIFT, Compared, Difference, Row
from .regression import Regression, reference_text

STYLE = """
<style>
.ctd table{border-collapse:collapse;margin:.4em 0}.ctd td,.ctd th{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top}
.ctd pre{white-space:pre-wrap;word-break:break-all;overflow-wrap:anywhere;margin:0;font-size:.9em}
.ctd mark{background:#ffd24d;border-radius:2px}.ctd .broken{color:#a00;font-weight:bold}
.ctd-verdict{font-size:1.3em;font-weight:bold;padding:.3em .6em;border-radius:4px;display:inline-block;margin:.3em 0}
.ctd-same{background:#dff0d8;color:#1d5a1d}.ctd-drift{background:#fff3cd;color:#6b4e00}.ctd-broken{background:#f8d7da;color:#7a1620}
</style>
"""
_INDENT = "  "


def esc(text: Any) -> str:
    """Text made safe for HTML."""
    return html.escape(str(text))


def _parts(field: str) -> list[str]:
    """'data.info[].bk_set_env' -> ['data', 'info', '[]', 'bk_set_env']."""
    out: list[str] = []
    for piece in field.split("."):
        base = piece.rstrip("[]")
        if base:
            out.append(base)
        out += ["[]"] * ((len(piece) - len(base)) // 2)
    return out


def json_marked(value: Any, target: list[str] | None, depth: int = 0) -> str:
    """Pretty JSON as HTML, the value at ``target`` (a path, '[]' for every element) highlighted."""
    if target == []:
        return f"<mark>{json_marked(value, None, depth)}</mark>"
    pad = _INDENT * (depth + 1)
    if isinstance(value, dict) and value:
        items = []
        for k in sorted(value, key=str):
            sub = target[1:] if target and target[0] == str(k) else None
            items.append(f"{pad}{esc(json.dumps(str(k), ensure_ascii=False))}: {json_marked(value[k], sub, depth + 1)}")
        return "{\n" + ",\n".join(items) + "\n" + _INDENT * depth + "}"
    if isinstance(value, list) and value:
        sub = target[1:] if target and target[0] == "[]" else None
        return "[\n" + ",\n".join(pad + json_marked(v, sub, depth + 1) for v in value) + "\n" + _INDENT * depth + "]"
    return esc(json.dumps(value, ensure_ascii=False))


def answer_html(answer: dict[str, Any], d: Difference) -> str:
    """One normalised answer with the field of the difference highlighted."""
    status, ctype = f"HTTP {answer.get('status')}", f"Content-Type: {answer.get('content_type')}"
    if d.field == "HTTP status":
        status = f"<mark>{esc(status)}</mark>"
    else:
        status = esc(status)
    ctype = f"<mark>{esc(ctype)}</mark>" if d.field == "Content-Type" else esc(ctype)
    if "json" in answer:
        target = ["result"] if d.field == "result" else _parts(d.field)
        body = json_marked(answer["json"], target)
    else:
        text = answer.get("text", answer.get("error", ""))
        body = f"<mark>{esc(text)}</mark>" if d.field == "body" else esc(text)
    return f"<pre>{status}\n{ctype}\n{body}</pre>"


def _row(r: Row) -> str:
    c, d = r.example
    broken = (f'<span class="broken">{r.contract} of {r.requests}</span><br>' + "<br>".join(f"<code>{esc(x)}</code>" for x in r.contract_rules)
              if r.contract else "no (drift)")
    return (f"<tr><td><code>{esc(r.rule)}</code></td><td><code>{esc(r.field)}</code></td><td>{r.requests}</td><td>{broken}</td>"
            f"<td>{_request_html(c)}</td><td>{answer_html(c.line.answer, d)}</td><td>{answer_html(c.candidate, d)}</td></tr>")


def _request_html(c: Compared) -> str:
    req = c.line.request
    auth = req.get("auth") or {}
    params = json.dumps(req.get("params"), ensure_ascii=False, indent=1, sort_keys=True)
    extra = f"\nraw body: {req['raw_body']}" if "raw_body" in req else ""
    return (f"<small>group {esc(c.group)} step {c.step}</small><pre>{esc(req.get('method'))} {esc(req.get('api'))} "
            f"(credentials: {esc(canonical(auth))})\n{esc(params)}{esc(extra)}</pre>")


def section(regression: Regression) -> str:
    """The differences section: verdict, what was compared, the rows, and the counts of noise and skipped requests."""
    c = regression.comparison
    assert c is not None
    css = {BROKEN: "ctd-broken", DRIFT: "ctd-drift"}.get(c.verdict, "ctd-same")
    facts = [("Compared", reference_text(regression)), ("Requests compared", c.compared),
             ("Noise cancelled", f"{sum(c.noise.values())} difference(s) in {len(c.noise)} field(s) that differed between "
                                 "two answers of target A to the same request" if regression.b is not None
                                 else "none measured (a baseline is one sample; volatile values are masked)"),
             ("Fails the run", "every difference" if regression.options.fail_on == "drift" else "differences that break the contract")]
    facts += [(f"Not replayed ({n})", why) for why, n in sorted(c.skipped.items())]
    b = regression.b
    if b is not None and b.outcome.cleanup is not None:
        facts.append(("Target B cleanup", b.outcome.cleanup.summary()))
    if c.newly_broken:
        rules = sorted({v.rule_id for v, _ in c.newly_broken})
        facts.append(("Rules the reference kept, now broken", ", ".join(rules)))
    parts = [STYLE, '<div class="ctd"><h2>Differences from the reference</h2>',
             f'<div class="ctd-verdict {css}">{esc(c.verdict)}</div><table>',
             *(f"<tr><td>{esc(k)}</td><td>{esc(v)}</td></tr>" for k, v in facts), "</table>"]
    if c.rows:
        parts.append("<table><tr><th>difference</th><th>field</th><th>requests</th><th>breaks the contract</th>"
                     "<th>example request</th><th>reference answer</th><th>this answer</th></tr>")
        parts += [_row(r) for r in c.ordered_rows]
        parts.append("</table>")
    else:
        parts.append("<p>Every replayed answer is the reference's answer (after masking ids, times, tokens and request ids).</p>")
    parts.append("</div>")
    return "".join(parts)
