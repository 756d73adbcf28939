"""Baselines: a run's exchanges, normalised so that the same behaviour always reads the same.

Boundary: pure data, no HTTP. It turns the exchanges a run sent (each with the
credential-free ``Request`` it was rendered from and how the suite judged its
answer) into *groups* of normalised *lines*, and reads and writes the baseline
file. Replaying lines is ``replay``'s job, comparing them ``differences``'.

Normalisation replaces what is not behaviour by a placeholder ``${kind...}``:

- run tokens inside any string: ``${token#N}``; the one-character boundary
  name, which cannot carry a token: ``${name#N}`` (N numbers them per group);
- set ids: ``${set-id#N:integer}`` (``:string`` when the server sent a
  string), numbered per group in the order they first appear;
- the run's configuration: ``${biz:integer}``, ``${parent:integer}``,
  ``${template:integer}``, ``${user}``, ``${app-code}``, ``${denied-user}``,
  ``${biz-name}``, so two installations with other ids still compare;
- in answers only: ``request_id`` as ``${request-id:hex32}`` (or ``:uuid``,
  ``:other``), every time as ``${time:<layout><zone>}`` (e.g.
  ``${time:rfc3339+08:00}``: the layout and zone are kept, the instant and its
  sub-second digits are not), and the ``info`` list of a search sorted.

A masked value keeps its JSON type in the placeholder, so a type change still
shows. Credentials never appear: a ``Request`` holds none and answers were
already redacted by the client.

Grouping: requests that share a token, a boundary name or a set id depend on
each other (create, duplicate, search, delete) and form one group, replayed
in order; groups are independent. Within a group, consecutive identical
requests (the concurrent creates of a race) are ordered by their answers, so
arrival order never shows. The file has a header line, then one line per
exchange, groups sorted by their normalised requests: two recordings of the
same requests and behaviour are the same file but for the header's date.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .client import Exchange, Request
from .credentials import Auth
from .oracles import ENVELOPE_ORACLES, REJECTION_ORACLES, SEARCH_ORACLES, SUCCESS_ORACLES, Expectation, Oracle, rule_of
from .spec import json_type, load_spec
from .strategies import TOKEN_LEN

FORMAT = 1
# Answers longer than this are compared on their first characters only (a non-JSON page).
TEXT_LIMIT = 2000
# Configuration strings shorter than this are not masked inside messages: they would match ordinary words.
MIN_MASKED_TEXT = 4
MASK = re.compile(r"^\$\{(?P<kind>[a-z-]+)(?:#(?P<n>\d+))?(?::(?P<detail>[^}]*))?\}$")
TOKEN_MASK = re.compile(r"\$\{token#(\d+)\}")
TIME = re.compile(r"^\d{4}-\d{2}-\d{2}(?P<sep>[T ])\d{2}:\d{2}:\d{2}(?:\.\d+)?(?P<zone>Z|[+-]\d{2}:?\d{2})?$")
HEX32 = re.compile(r"^[0-9a-f]{32}$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# Keys whose value is the run's configuration when it equals it.
CONFIG_KEYS = {"bk_biz_id": "biz", "bk_parent_id": "parent", "set_template_id": "template"}
USER_KEYS = frozenset({"bk_created_by", "bk_updated_by"})
WRITES = frozenset({"create_set", "update_set", "delete_set", "batch_delete_set"})
NAMED_ORACLES: dict[str, tuple[Oracle, ...]] = {
    "success": SUCCESS_ORACLES, "rejection": REJECTION_ORACLES, "search": SEARCH_ORACLES, "envelope": ENVELOPE_ORACLES,
}


class BaselineError(Exception):
    """A baseline file that cannot be read (the message is one line naming the file and the fix)."""


def canonical(value: Any) -> str:
    """The one text of a JSON value: sorted keys, no spaces, non-ASCII kept."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def json_kind(value: Any) -> str:
    """The JSON type of a normalised value; a placeholder counts as the type it stands for."""
    if isinstance(value, str):
        m = MASK.match(value)
        if m and m.group("detail") in ("integer", "string"):
            return str(m.group("detail"))
    return json_type(value)


def _int(value: Any) -> int | None:
    """An id as the server may send it: a JSON integer or a string of digits."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit() and len(value) < 20:
        return int(value)
    return None


def _typed(value: Any) -> str:
    return "string" if isinstance(value, str) else "integer"


def is_boundary_name(value: Any) -> bool:
    """The one-character boundary name: the only name the suite sends that cannot carry a run token."""
    return isinstance(value, str) and len(value.strip(" ")) == 1


@dataclass(frozen=True)
class SideValues:
    """What one target's requests and answers carry that is configuration, not behaviour."""

    bk_biz_id: int
    bk_parent_id: int
    template_id: int | None
    username: str
    app_code: str
    denied_user: str | None
    token_prefix: str

    def config(self, name: str) -> int | None:
        """The configured id a placeholder kind stands for (None: this target has none, e.g. no template)."""
        return {"biz": self.bk_biz_id, "parent": self.bk_parent_id, "template": self.template_id}[name]

    @property
    def token_pattern(self) -> re.Pattern[str]:
        """Any token this run's harness hands out: the prefix and the rest of TOKEN_LEN in base 36."""
        return re.compile(re.escape(self.token_prefix) + f"[0-9a-z]{{{TOKEN_LEN - len(self.token_prefix)}}}")


class Masks:
    """The placeholders of one group: tokens, boundary names and set ids, numbered in order of appearance."""

    def __init__(self, side: SideValues) -> None:
        self.side = side
        self._tokens = side.token_pattern
        self.tokens: dict[str, int] = {}
        self.names: dict[str, int] = {}
        self.ids: dict[int, int] = {}

    # -- numbering ---------------------------------------------------------------
    def token(self, literal: str) -> str:
        """The placeholder of one literal token, numbered the first time it is seen."""
        n = self.tokens.setdefault(literal, len(self.tokens) + 1)
        return f"${{token#{n}}}"

    def set_id(self, value: Any, learn: bool, neutral: bool = False) -> Any:
        """A set id's placeholder; an id not seen yet is numbered when ``learn``, else kept (or neutral, for sorting)."""
        n = _int(value)
        if n is None or n <= 0:
            return value
        if n not in self.ids:
            if neutral:
                return f"${{set-id#?:{_typed(value)}}}"
            if not learn:
                return value
            self.ids[n] = len(self.ids) + 1
        return f"${{set-id#{self.ids[n]}:{_typed(value)}}}"

    def name(self, value: str, register: bool) -> str | None:
        """The boundary name's placeholder (registered by the create that sends it), or None."""
        if not is_boundary_name(value):
            return None
        literal = value.strip(" ")
        if literal not in self.names:
            if not register:
                return None
            self.names[literal] = len(self.names) + 1
        return f"${{name#{self.names[literal]}}}"

    # -- text --------------------------------------------------------------------
    def text(self, value: str, message: bool = False) -> str:
        """Run tokens replaced wherever they are; in a message also the run's app code and users."""
        out = self._tokens.sub(lambda m: self.token(m.group(0)), value) if self.side.token_prefix in value else value
        if message:
            for literal, mask in ((self.side.app_code, "${app-code}"), (self.side.denied_user or "", "${denied-user}"),
                                  (self.side.username, "${user}")):
                if len(literal) >= MIN_MASKED_TEXT and literal in out:
                    out = out.replace(literal, mask)
        return out

    def config(self, key: str, value: Any) -> str | None:
        """``${biz:integer}`` and its kind for a configured id at its own key, else None."""
        name = CONFIG_KEYS.get(key)
        if name is None:
            return None
        want = self.side.config(name)
        if want is None or isinstance(value, bool) or not isinstance(value, (int, str)) or value == 0:
            return None
        if value == want or (isinstance(value, str) and value == str(want)):
            return f"${{{name}:{_typed(value)}}}"
        return None


# -- normalising one request and one answer ------------------------------------------------------


def _mask(value: Any, path: tuple[str, ...], m: Masks, answer: bool, learn: bool = True, neutral: bool = False) -> Any:
    key = path[-1] if path else ""
    if isinstance(value, dict):
        out = {k: _mask(v, (*path, str(k)), m, answer, learn, neutral) for k, v in value.items()}
        if answer and value.get("type") == "biz" and m.config("bk_biz_id", value.get("id")) is not None:
            # An IAM permission instance names this run's business: its id and name are the installation's.
            out["id"] = m.config("bk_biz_id", value.get("id"))
            if "name" in out:
                out["name"] = "${biz-name}"
        return out
    if isinstance(value, list):
        if key == "inst_ids":
            return [m.set_id(v, learn=answer and learn, neutral=neutral) for v in value]
        if answer and key == "info" and all(isinstance(v, dict) for v in value):
            # Server order is not behaviour: sort by the items with unseen ids made neutral, then number them in that order.
            value = sorted(value, key=lambda v: canonical(_mask(v, path, m, True, learn=False, neutral=True)))
        return [_mask(v, path, m, answer, learn, neutral) for v in value]
    if key == "bk_set_id":
        return m.set_id(value, learn=answer and learn, neutral=neutral)
    config = m.config(key, value)
    if config is not None:
        return config
    if not isinstance(value, str):
        return value
    if key == "bk_set_name":
        name = m.name(value, register=False)
        if name is not None:
            return name
    if answer:
        if key in USER_KEYS and m.side.username and value == m.side.username:
            return "${user}"
        if path == ("request_id",):
            shape = "hex32" if HEX32.match(value) else "uuid" if UUID.match(value) else "other"
            return f"${{request-id:{shape}}}"
        t = TIME.match(value)
        if t:
            layout = "rfc3339" if t.group("sep") == "T" else "datetime"
            return f"${{time:{layout}{t.group('zone') or ''}}}"
    return m.text(value, message=answer and path == ("message",))


def _auth(auth: Auth, m: Masks) -> dict[str, Any]:
    out: dict[str, Any] = {"where": auth.where}
    if auth.drop:
        out["drop"] = list(auth.drop)
    if auth.replace:
        out["replace"] = [[k, _auth_value(k, v, m)] for k, v in auth.replace]
    if auth.header_raw is not None:
        out["header"] = auth.header_raw
    return out


def _auth_value(key: str, value: str, m: Masks) -> str:
    if key == "bk_username" and m.side.denied_user and value == m.side.denied_user:
        return "${denied-user}"
    if key == "bk_username" and m.side.username and value == m.side.username:
        return "${user}"
    return value


def normalise_request(request: Request, m: Masks) -> dict[str, Any]:
    """A request as its description: api, method, params, where the credentials go; tokens, ids and config as placeholders."""
    data = request.params.get("data") if isinstance(request.params, Mapping) else None
    if request.api == "create_set" and isinstance(data, dict) and isinstance(data.get("bk_set_name"), str):
        m.name(data["bk_set_name"], register=True)
    out: dict[str, Any] = {"api": request.api, "method": request.method, "params": _mask(dict(request.params), (), m, answer=False),
                           "auth": _auth(request.auth, m)}
    if request.raw_body is not None:
        out["raw_body"] = m.text(request.raw_body)
    if request.headers:
        out["headers"] = [[k, m.text(v)] for k, v in request.headers]
    return out


def content_type(ex: Exchange) -> str:
    """The Content-Type without case or spaces (how it is spelt is not behaviour)."""
    return re.sub(r"\s+", "", ex.content_type.lower())


def normalise_answer(ex: Exchange, m: Masks) -> dict[str, Any]:
    """An answer as status, content type and the JSON body with volatile values masked (or its text)."""
    out: dict[str, Any] = {"status": ex.status, "content_type": content_type(ex)}
    if ex.status is None:
        out["error"] = "no answer"
        return out
    body = ex.json
    if body is None:
        out["text"] = m.text(ex.response_text[:TEXT_LIMIT], message=True)
    else:
        out["json"] = _mask(body, (), m, answer=True)
    return out


# -- lines and groups ---------------------------------------------------------------------------


@dataclass
class Line:
    """One normalised exchange: the request, the answer and how the suite judged it."""

    step: int
    request: dict[str, Any]
    answer: dict[str, Any]
    judged: list[dict[str, Any]] = field(default_factory=list)

    @property
    def api(self) -> str:
        return str(self.request.get("api", ""))

    @property
    def writes(self) -> bool:
        """Whether replaying it may change the target (a create the gateway does not reject by itself, a delete)."""
        if self.api not in WRITES:
            return False
        gateway = [j for j in self.judged if j.get("expect") == "rejection" and j.get("class")]
        return not any(not _reaches_cmdb(str(j["class"])) for j in gateway)

    @property
    def shape(self) -> str:
        """What kind of request this is, for noise: the API and what the suite judged it as."""
        for j in self.judged:
            what = j.get("class") or j.get("state") or (j.get("facts") or {}).get("what") or j.get("oracles")
            return f"{self.api} {j.get('expect')} {what if isinstance(what, str) else 'state'}"
        return f"{self.api} unjudged"


@dataclass
class Group:
    """Requests that depend on each other, in the order they must be replayed."""

    id: str
    lines: list[Line]

    @property
    def request_key(self) -> str:
        return canonical([ln.request for ln in self.lines])

    @property
    def answer_key(self) -> str:
        return canonical([ln.answer for ln in self.lines])


def sort_runs(requests: Sequence[Any], answers: Sequence[Any]) -> list[int]:
    """The order of a group's steps: consecutive identical requests ordered by their answers, the rest kept."""
    order = list(range(len(requests)))
    out: list[int] = []
    i = 0
    while i < len(order):
        j = i
        key = canonical(requests[i])
        while j + 1 < len(order) and canonical(requests[j + 1]) == key:
            j += 1
        out += sorted(order[i:j + 1], key=lambda k: canonical(answers[k]) if answers[k] is not None else "\uffff")
        i = j + 1
    return out


@dataclass
class Recorded:
    """One exchange a run sent while its tests ran, and every judgement of its answer."""

    index: int
    exchange: Exchange
    judgements: list[tuple[tuple[Oracle, ...], Expectation, bool]] = field(default_factory=list)


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _ids(value: Any, key: str = "") -> Iterable[int]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _ids(v, str(k))
    elif isinstance(value, list):
        for v in value:
            yield from _ids(v, "bk_set_id" if key == "inst_ids" else key)
    elif key == "bk_set_id":
        n = _int(value)
        if n is not None and n > 0:
            yield n


def _names(request: Request) -> tuple[str | None, str | None]:
    """(boundary name a create sends, boundary name a search looks for)."""
    params = request.params if isinstance(request.params, Mapping) else {}
    data, cond = params.get("data"), params.get("condition")
    sent = data.get("bk_set_name") if isinstance(data, dict) and request.api == "create_set" else None
    sought = cond.get("bk_set_name") if isinstance(cond, dict) and request.api == "search_set" else None
    return (sent.strip(" ") if isinstance(sent, str) and is_boundary_name(sent) else None,
            sought.strip(" ") if isinstance(sought, str) and is_boundary_name(sought) else None)


def group_records(records: Sequence[Recorded], side: SideValues) -> list[Group]:
    """The run's exchanges as groups of normalised lines (ids not yet assigned: see ``sort_groups``).

    A search for a boundary name before any create of it probes the target's
    own state (is this name taken?), not behaviour: it is left out.
    """
    tokens = side.token_pattern
    ordered = sorted((r for r in records if r.exchange.request is not None), key=lambda r: (r.exchange.started, r.index))
    created: set[str] = set()
    kept: list[Recorded] = []
    for r in ordered:
        assert r.exchange.request is not None
        sent, sought = _names(r.exchange.request)
        if sent:
            created.add(sent)
        if sought and sought not in created:
            continue
        kept.append(r)
    parent = list(range(len(kept)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[tuple[str, Any], int] = {}
    for i, r in enumerate(kept):
        req = r.exchange.request
        assert req is not None
        keys: set[tuple[str, Any]] = set()
        for s in [*_strings(dict(req.params)), req.raw_body or ""]:
            keys |= {("token", t) for t in tokens.findall(s)}
        keys |= {("name", n) for n in _names(req) if n}
        keys |= {("set", n) for n in _ids(dict(req.params))}
        keys |= {("set", n) for n in _ids(r.exchange.json)}
        for k in keys:
            if k in owner:
                parent[find(i)] = find(owner[k])
            else:
                owner[k] = i
    members: dict[int, list[Recorded]] = {}
    for i, r in enumerate(kept):
        members.setdefault(find(i), []).append(r)
    return [_group(rs, side) for rs in members.values()]


def _group(records: list[Recorded], side: SideValues) -> Group:
    m = Masks(side)
    requests, answers = [], []
    for r in records:
        assert r.exchange.request is not None
        requests.append(normalise_request(r.exchange.request, m))
        answers.append(normalise_answer(r.exchange, m))
    order = sort_runs(requests, answers)
    step_of = {id(records[k].exchange): pos + 1 for pos, k in enumerate(order)}
    lines = []
    for pos, k in enumerate(order):
        judged = [judgement(oracles, expect, passed, records, step_of, m) for oracles, expect, passed in records[k].judgements]
        lines.append(Line(pos + 1, requests[k], answers[k], judged))
    return Group("", lines)


def judgement(oracles: Sequence[Oracle], expect: Expectation, passed: bool, records: Sequence[Recorded],
              step_of: Mapping[int, int], m: Masks) -> dict[str, Any]:
    """How one answer was judged, as data a replay can judge again (other exchanges by step, set ids masked)."""
    named = next((n for n, o in NAMED_ORACLES.items() if tuple(oracles) == o), None)
    out: dict[str, Any] = {"oracles": named or [rule_of(o) for o in oracles], "passed": passed}
    if expect.kind == "success":
        out["expect"] = "success"
    elif expect.kind == "rejection" and expect.error_class is not None:
        out["expect"], out["class"] = "rejection", expect.error_class.id
    elif expect.kind == "rejection":
        out["expect"], out["state"] = "refusal", str(expect.facts.get("what"))
    else:
        out["expect"] = "state"
        try:
            if expect.stored is not None:
                stored = dict(expect.stored)
                step = next(step_of[id(r.exchange)] for r in records
                            if isinstance(r.exchange.json, dict) and r.exchange.json.get("data") == stored)
                out["stored"] = {"$step": step}
            out["facts"] = {k: _fact(v, step_of, m) for k, v in expect.facts.items()}
        except (StopIteration, _OutsideGroup):
            # The scenario's context is outside this group: kept as a record, not judged again.
            out.pop("stored", None)
            out["facts"] = {}
            out["rejudge"] = False
    if expect.sent is None:
        out["sent"] = None
    return out


class _OutsideGroup(Exception):
    pass


def _fact(value: Any, step_of: Mapping[int, int], m: Masks) -> Any:
    if isinstance(value, Exchange):
        if id(value) not in step_of:
            raise _OutsideGroup
        return {"$step": step_of[id(value)]}
    if isinstance(value, (list, tuple)):
        items = [_fact(v, step_of, m) for v in value]
        if all(isinstance(v, Exchange) for v in value):
            # The answers of a race: which thread sent which is arrival order, not behaviour.
            items.sort(key=lambda ref: int(ref["$step"]))
        return items
    if isinstance(value, bool) or value is None or isinstance(value, (str, float)):
        return value
    if isinstance(value, int):
        return m.set_id(value, learn=False)
    raise _OutsideGroup


def sort_groups(groups: Iterable[Group]) -> list[Group]:
    """Groups in their stable order, each with its id: a hash of its requests (``.2``, ``.3`` for identical ones)."""
    ordered = sorted(groups, key=lambda g: (g.request_key, g.answer_key))
    seen: dict[str, int] = {}
    for g in ordered:
        digest = hashlib.sha256(g.request_key.encode("utf-8")).hexdigest()[:12]
        seen[digest] = seen.get(digest, 0) + 1
        g.id = digest if seen[digest] == 1 else f"{digest}.{seen[digest]}"
    return ordered


# -- the file -------------------------------------------------------------------------------------


def header(*, suite: str, target: str, cmdb_version: str, error_codes: str, profile: str, seed: int, date: str,
           groups: Sequence[Group]) -> dict[str, Any]:
    """The baseline's first line: what produced it."""
    return {"baseline": FORMAT, "suite": suite, "target": target, "cmdb_version": cmdb_version, "error_codes": error_codes,
            "profile": profile, "seed": seed, "date": date, "groups": len(groups), "exchanges": sum(len(g.lines) for g in groups)}


def write_baseline(path: Path, head: Mapping[str, Any], groups: Sequence[Group]) -> None:
    """Write header and lines (groups in their stable order) atomically: a reader never sees half a baseline."""
    ordered = sort_groups(groups)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(canonical(dict(head)) + "\n")
        for g in ordered:
            for ln in g.lines:
                # Top-level keys in reading order (request before answer); everything inside is canonical.
                fh.write(f'{{"group":{canonical(g.id)},"step":{ln.step},"request":{canonical(ln.request)},'
                         f'"answer":{canonical(ln.answer)},"judged":{canonical(ln.judged)}}}\n')
    os.replace(tmp, path)


def read_baseline(path: Path) -> tuple[dict[str, Any], list[Group]]:
    """The header and the groups of a baseline file, or a BaselineError naming what is wrong."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise BaselineError(f"--baseline {path}: cannot read it ({exc})") from None
    try:
        head = json.loads(lines[0]) if lines else None
    except ValueError:
        head = None
    if not isinstance(head, dict) or "baseline" not in head:
        raise BaselineError(f"--baseline {path}: not a baseline (its first line is not a baseline header); record one with --record-baseline")
    if head["baseline"] != FORMAT:
        raise BaselineError(f"--baseline {path}: format {head['baseline']}, this suite reads format {FORMAT}; record it again")
    groups: dict[str, Group] = {}
    for number, text in enumerate(lines[1:], start=2):
        try:
            entry = json.loads(text)
            gid, line = str(entry["group"]), Line(int(entry["step"]), entry["request"], entry["answer"], list(entry.get("judged", [])))
        except (ValueError, KeyError, TypeError):
            raise BaselineError(f"--baseline {path}: line {number} is not an exchange line; the file is damaged, record it again") from None
        groups.setdefault(gid, Group(gid, [])).lines.append(line)
    for g in groups.values():
        g.lines.sort(key=lambda ln: ln.step)
    return head, list(groups.values())


def _reaches_cmdb(class_id: str) -> bool:
    """Whether a request of this error class gets past the gateway; a class the set model derived always does."""
    try:
        return load_spec().error_class(class_id).reaches_cmdb
    except KeyError:
        return class_id.startswith("model.")
