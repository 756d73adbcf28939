"""Baselines in memory: what is masked, how exchanges group, the file's stable order, and how differences are classified."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from cmdb_contract.baseline import (
    BaselineError,
    Group,
    Line,
    Masks,
    Recorded,
    SideValues,
    group_records,
    json_kind,
    normalise_answer,
    normalise_request,
    read_baseline,
    sort_groups,
    write_baseline,
)
from cmdb_contract.client import Exchange, Request, Target
from cmdb_contract.credentials import BODY, Auth, Credentials
from cmdb_contract.differences import compare, compare_answers, noise_of
from cmdb_contract.harness import Harness
from cmdb_contract.oracles import REJECTION_ORACLES, SUCCESS_ORACLES, Expectation, Judging
from cmdb_contract.replay import BoundaryNames, ReplayedGroup, ReplayedLine, Side, Unresolvable, build_request
from cmdb_contract.strategies import GenContext

SIDE = SideValues(bk_biz_id=2, bk_parent_id=2, template_id=1, username="admin", app_code="suite-app", denied_user="denied-one",
                  token_prefix="ctabc123")
TOKEN = "ctabc1230001"
SET = {"bk_biz_id": 2, "bk_capacity": 2, "bk_parent_id": 2, "bk_set_id": 105, "bk_set_name": f"{TOKEN}-x", "bk_set_env": "3",
       "create_time": "2026-12-01T10:00:00.123+08:00", "last_time": "2026-12-01T10:00:00+08:00", "bk_created_by": "admin",
       "set_template_id": 0, "default": 0}
SUCCESS = {"result": True, "code": 0, "message": "success", "permission": None, "data": SET, "request_id": "0" * 32}


def exchange(request: Request, body: Any, started: float = 0.0, status: int = 200) -> Exchange:
    return Exchange(request.api, "POST", f"http://t/{request.api}/", {}, "{}", status=status,
                    response_headers={"Content-Type": "application/json; charset=utf-8"},
                    response_text=json.dumps(body, ensure_ascii=False), started=started, request=request)


def create(name: str = f"{TOKEN}-x", **data: Any) -> Request:
    return Request("create_set", {"bk_biz_id": 2, "data": {"bk_parent_id": 2, "bk_set_name": name, **data}})


def search(name: str) -> Request:
    return Request("search_set", {"bk_biz_id": 2, "fields": [], "condition": {"bk_set_name": name}, "page": {"start": 0, "limit": 200}})


def test_volatile_values_are_masked_keeping_type_and_shape() -> None:
    """Request ids, set ids, times and run tokens become placeholders naming their JSON type and layout."""
    m = Masks(SIDE)
    answer = normalise_answer(exchange(create(), SUCCESS), m)["json"]
    data = answer["data"]
    assert answer["request_id"] == "${request-id:hex32}"
    assert data["bk_set_id"] == "${set-id#1:integer}" and json_kind(data["bk_set_id"]) == "integer"
    assert data["create_time"] == data["last_time"] == "${time:rfc3339+08:00}"
    assert data["bk_set_name"] == "${token#1}-x" and data["bk_created_by"] == "${user}"
    assert data["bk_biz_id"] == "${biz:integer}" and data["bk_parent_id"] == "${parent:integer}"
    assert data["bk_capacity"] == 2, "a configured value is masked only at its own key"
    string_id = normalise_answer(exchange(create(), {**SUCCESS, "data": {**SET, "bk_set_id": "105"}}), Masks(SIDE))["json"]["data"]
    assert string_id["bk_set_id"] == "${set-id#1:string}" and json_kind(string_id["bk_set_id"]) == "string"


@pytest.mark.parametrize(("value", "mask"), [
    ("2026-12-01T10:00:00Z", "${time:rfc3339Z}"), ("2026-12-01 10:00:00", "${time:datetime}"),
    ("2026-12-01T10:00:00.5-05:00", "${time:rfc3339-05:00}"),
])
def test_time_masks_keep_the_layout_and_zone(value: str, mask: str) -> None:
    """A time's instant goes, its layout and zone stay: a move from +08:00 to Z is still a difference."""
    body = {**SUCCESS, "data": {**SET, "create_time": value}}
    assert normalise_answer(exchange(create(), body), Masks(SIDE))["json"]["data"]["create_time"] == mask


def test_tokens_and_configured_names_are_masked_in_messages() -> None:
    """A message quoting the run's token, app code or user does not differ between runs or installations."""
    body = {"result": False, "code": 1306000, "data": None, "message": f"Invalid APP Code [bk_app_code=suite-app] for {TOKEN}"}
    assert normalise_answer(exchange(create(), body), Masks(SIDE))["json"]["message"] == "Invalid APP Code [bk_app_code=${app-code}] for ${token#1}"


def test_request_holds_placeholders_and_no_credential() -> None:
    """A normalised request names the auth variant; the denied user and config ids are placeholders."""
    req = Request("create_set", {"bk_biz_id": "2", "data": {"bk_parent_id": 2, "bk_set_name": f"  {TOKEN}-p ", "set_template_id": 1}},
                  auth=BODY.as_user("denied-one"))
    out = normalise_request(req, Masks(SIDE))
    assert out["params"] == {"bk_biz_id": "${biz:string}", "data": {"bk_parent_id": "${parent:integer}", "bk_set_name": "  ${token#1}-p ",
                                                                     "set_template_id": "${template:integer}"}}
    assert out["auth"] == {"where": "body", "drop": ["bk_token"], "replace": [["bk_username", "${denied-user}"]]}
    assert "secret" not in json.dumps(out)


def test_search_info_order_does_not_show() -> None:
    """Two servers listing the same sets in another order give the same normalised answer."""
    a, b = dict(SET, bk_set_id=7, bk_set_env="1"), dict(SET, bk_set_id=8, bk_set_env="2")
    one = {"result": True, "code": 0, "data": {"count": 2, "info": [a, b]}}
    two = {"result": True, "code": 0, "data": {"count": 2, "info": [b, a]}}
    assert normalise_answer(exchange(search(TOKEN), one), Masks(SIDE)) == normalise_answer(exchange(search(TOKEN), two), Masks(SIDE))


def _records(*pairs: tuple[Request, Any]) -> list[Recorded]:
    return [Recorded(i, exchange(req, body, started=float(i))) for i, (req, body) in enumerate(pairs)]


def test_dependent_requests_group_and_a_race_is_ordered_by_its_answers() -> None:
    """A create, its duplicates and a search share a group; identical requests are ordered by answer, not arrival."""
    dup = {"result": False, "code": 1101108, "data": None, "message": "the same set name exist"}
    found = {"result": True, "code": 0, "data": {"count": 1, "info": [SET]}}
    other = dict(SUCCESS, data=dict(SET, bk_set_id=106, bk_set_name="ctabc1230002-y"))
    first = _records((create(), dup), (create(), SUCCESS), (search(f"{TOKEN}-x"), found), (create("ctabc1230002-y"), other))
    second = _records((create(), SUCCESS), (create(), dup), (search(f"{TOKEN}-x"), found), (create("ctabc1230002-y"), other))
    a, b = sort_groups(group_records(first, SIDE)), sort_groups(group_records(second, SIDE))
    assert sorted(len(g.lines) for g in a) == [1, 3]
    assert [(g.id, [(ln.request, ln.answer) for ln in g.lines]) for g in a] == [(g.id, [(ln.request, ln.answer) for ln in g.lines]) for g in b]


def test_a_probe_for_a_taken_name_is_left_out() -> None:
    """A search for the one-character name before it is created probes the target's state: it is not recorded."""
    taken = {"result": True, "code": 0, "data": {"count": 1, "info": [dict(SET, bk_set_name="丁")]}}
    free = {"result": True, "code": 0, "data": {"count": 0, "info": []}}
    groups = group_records(_records((search("丁"), taken), (search("丙"), free), (create("丙"), dict(SUCCESS, data=dict(SET, bk_set_name="丙")))), SIDE)
    assert [[ln.api for ln in g.lines] for g in groups] == [["create_set"]]
    assert groups[0].lines[0].request["params"]["data"]["bk_set_name"] == "${name#1}"


def test_judgements_are_recorded_with_references_to_other_steps() -> None:
    """How each answer was judged is kept, a check against an earlier answer by that answer's step."""
    records = _records((create(), SUCCESS), (search(f"{TOKEN}-x"), {"result": True, "code": 0, "data": {"count": 1, "info": [SET]}}))
    sent = dict(records[0].exchange.request.params)  # type: ignore[union-attr]
    records[0].judgements.append((SUCCESS_ORACLES, Expectation.success(sent, Judging()), True))
    records[1].judgements.append((REJECTION_ORACLES[:1], Expectation.state(None, Judging(), stored=SET, deleted_id=105), False))
    (group,) = group_records(records, SIDE)
    assert group.lines[0].judged == [{"oracles": "success", "expect": "success", "passed": True}]
    judged = group.lines[1].judged[0]
    assert judged["stored"] == {"$step": 1} and judged["facts"] == {"deleted_id": "${set-id#1:integer}"} and judged["passed"] is False


def test_baseline_file_is_stable_whatever_the_arrival_order(tmp_path: Path) -> None:
    """Two recordings of the same exchanges in another arrival order write the same lines, and read back equal."""
    pairs = [(create(f"ctabc123000{i}-n"), dict(SUCCESS, data=dict(SET, bk_set_id=100 + i, bk_set_name=f"ctabc123000{i}-n")))
             for i in range(1, 6)]
    head = {"baseline": 1, "date": "x"}
    write_baseline(tmp_path / "a.jsonl", head, group_records(_records(*pairs), SIDE))
    write_baseline(tmp_path / "b.jsonl", head, group_records(_records(*reversed(pairs)), SIDE))
    assert (tmp_path / "a.jsonl").read_text(encoding="utf-8") == (tmp_path / "b.jsonl").read_text(encoding="utf-8")
    read_head, groups = read_baseline(tmp_path / "a.jsonl")
    assert read_head == head and [len(g.lines) for g in groups] == [1] * 5
    ids = sorted(g.id for g in groups)
    assert ids[1:] == [f"{ids[0]}.{n}" for n in range(2, 6)], "five independent creates that normalise alike share one id, numbered"


@pytest.mark.parametrize(("text", "says"), [("", "not a baseline"), ('{"baseline": 9}\n', "format 9"), ('{"baseline": 1}\n{"x": 1}\n', "line 2")])
def test_unreadable_baseline_names_the_problem(tmp_path: Path, text: str, says: str) -> None:
    """A file that is not a baseline of this format is one error line saying what is wrong."""
    path = tmp_path / "b.jsonl"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(BaselineError, match=says):
        read_baseline(path)


# -- classification ------------------------------------------------------------------------------------


def _answer(body: Any, status: int = 200, ctype: str = "application/json;charset=utf-8") -> dict[str, Any]:
    return {"status": status, "content_type": ctype, "json": body}


REQUEST = {"api": "create_set", "params": {"bk_biz_id": "${biz:integer}", "data": {"bk_set_name": "${token#1}", "bk_set_desc": "d"}}}
OK = {"result": True, "code": 0, "message": "success",
      "data": {"bk_set_desc": "d", "bk_set_env": "3", "bk_capacity": None, "create_time": "${time:rfc3339+08:00}"}}
NO = {"result": False, "code": 1199006, "message": "'x' bad", "data": None, "permission": None}


def _edit(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(body)
    node = out
    *keys, last = path.split(".")
    for k in keys:
        node = node[k]
    if value is _GONE:
        del node[last]
    else:
        node[last] = value
    return out


_GONE = object()
CASES = [
    ("outcome-flipped", "result", _answer(OK), _answer(NO)),
    ("code-changed", "code", _answer(NO), _answer(_edit(NO, "code", 1199011))),
    ("message-changed", "message", _answer(NO), _answer(_edit(NO, "message", "other"))),
    ("field-added", "data.bk_created_at", _answer(OK), _answer(_edit(OK, "data.bk_created_at", "${time:rfc3339Z}"))),
    ("field-removed", "data.bk_set_env", _answer(OK), _answer(_edit(OK, "data.bk_set_env", _GONE))),
    ("field-type-changed", "data.bk_capacity", _answer(OK), _answer(_edit(OK, "data.bk_capacity", 0))),
    ("stored-value-changed", "data.bk_set_desc", _answer(OK), _answer(_edit(OK, "data.bk_set_desc", ""))),
    ("default-changed", "data.bk_set_env", _answer(OK), _answer(_edit(OK, "data.bk_set_env", "2"))),
    ("stored-value-changed", "data.create_time", _answer(OK), _answer(_edit(OK, "data.create_time", "${time:rfc3339Z}"))),
    ("value-changed", "permission.system_id", _answer(_edit(NO, "permission", {"system_id": "bk_cmdb"})),
     _answer(_edit(NO, "permission", {"system_id": "other"}))),
    ("field-type-changed", "permission", _answer(NO), _answer(_edit(NO, "permission", {}))),
    ("field-removed", "permission", _answer(NO), _answer(_edit(NO, "permission", _GONE))),
    ("http-status-changed", "HTTP status", _answer(NO), _answer(NO, status=400)),
    ("content-type-changed", "Content-Type", _answer(NO), _answer(NO, ctype="text/html;charset=utf-8")),
]


@pytest.mark.parametrize(("kind", "field", "ref", "new"), CASES, ids=[f"{c[0]}:{c[1]}" for c in CASES])
def test_each_kind_of_difference_is_named_with_its_field(kind: str, field: str, ref: dict[str, Any], new: dict[str, Any]) -> None:
    """One change to an answer is exactly one difference of its kind in its field."""
    assert [(d.kind, d.field) for d in compare_answers(REQUEST, ref, new)] == [(kind, field)]


def test_identical_answers_have_no_difference() -> None:
    """An answer compared with itself (key order aside) has no difference."""
    assert compare_answers(REQUEST, _answer(OK), _answer(dict(reversed(list(OK.items()))))) == []


def _replayed(ref: dict[str, Any], new: dict[str, Any], shape_class: str = "data.x") -> ReplayedGroup:
    line = Line(1, REQUEST, ref, [{"expect": "rejection", "class": shape_class, "oracles": "rejection", "passed": True}])
    return ReplayedGroup(Group("g", [line]), [ReplayedLine(new)])


def test_noise_of_target_a_cancels_that_field_for_that_shape_only() -> None:
    """A field A answered differently twice is noise for requests of that shape, counted and not shown; other shapes still differ."""
    ref, moved = _answer(NO), _answer(_edit(NO, "message", "moved"))
    noise = noise_of([_replayed(ref, moved, "data.a.type:integer")])
    same_shape = compare([_replayed(ref, moved, "data.a.type:integer")], noise)
    other_shape = compare([_replayed(ref, moved, "data.b.type:integer")], noise)
    assert not same_shape.rows and sum(same_shape.noise.values()) == 1 and same_shape.verdict == "no behavioural change"
    assert [(r.kind, r.field) for r in other_shape.ordered_rows] == [("message-changed", "message")] and other_shape.verdict == "drift only"


# -- filling placeholders on replay -------------------------------------------------------------------


def _side(template: int | None = 1) -> Side:
    target = Target("http://127.0.0.1:9", Credentials("app", "not-a-real-secret"))
    harness = Harness(target, GenContext(bk_biz_id=5, bk_parent_id=6), Judging(), run_id="fff000")
    values = SideValues(5, 6, template, "someone", "app", None, "ctfff000")
    return Side("B", harness, values, True, BoundaryNames(1))


def test_replay_fills_fresh_tokens_and_this_targets_ids() -> None:
    """A replayed request gets a fresh token (the same one for the same placeholder) and the target's own business and parent."""
    side, m = _side(), Masks(SideValues(5, 6, 1, "someone", "app", None, "ctfff000"))
    desc = {"api": "create_set", "params": {"bk_biz_id": "${biz:integer}", "data": {"bk_parent_id": "${parent:integer}",
                                             "bk_set_name": "${token#1}-a", "set_template_id": "${template:integer}"}}, "auth": {"where": "header"}}
    first, again = build_request(desc, m, side), build_request(desc, m, side)
    assert first.params["bk_biz_id"] == 5 and first.params["data"]["bk_parent_id"] == 6 and first.params["data"]["set_template_id"] == 1
    name = first.params["data"]["bk_set_name"]
    assert name.startswith("ctfff000") and name.endswith("-a") and len(name) == len(f"{TOKEN}-a") and again.params == first.params
    assert first.auth == Auth("header")
    assert normalise_request(first, m)["params"] == desc["params"], "normalising the filled request gives back the line"


@pytest.mark.parametrize(("desc", "needs"), [
    ({"api": "delete_set", "params": {"bk_biz_id": 5, "bk_set_id": "${set-id#1:integer}"}}, "set #1"),
    ({"api": "create_set", "params": {"data": {"set_template_id": "${template:integer}"}}}, "set template"),
    ({"api": "create_set", "params": {}, "auth": {"where": "body", "replace": [["bk_username", "${denied-user}"]]}}, "without permission"),
])
def test_a_placeholder_the_target_cannot_fill_says_what_it_needs(desc: dict[str, Any], needs: str) -> None:
    """A step needing a set the target did not create, a template or a denied user it lacks is skipped with the reason."""
    with pytest.raises(Unresolvable, match=needs):
        build_request(desc, Masks(_side(template=None).values), _side(template=None))
